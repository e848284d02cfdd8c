"""Which ``download`` identifiers name an Ollama model, and the name to pull for each.

The rule (also in ``docs/plugins.md``):

- ``ollama://<name>`` is always Ollama's; ``<name>`` is what ``ollama pull`` takes:
  ``model``, ``model:tag``, ``namespace/model[:tag]`` or ``host/namespace/model[:tag]``
  (``hf.co/owner/repo:Q4_K_M``; the host may carry a port here). No tag means
  ``latest``, as for Ollama.
- A plain identifier is Ollama's only when it cannot be anything else: it has no
  ``://`` and no ``@``, its last segment carries a ``:tag``, and it is ``model:tag``,
  ``namespace/model:tag`` or ``host/namespace/model:tag`` where ``host`` contains a dot
  (``hf.co``, ``registry.ollama.ai``). A Hugging Face repo id never contains ``:``, so
  ``owner/repo`` and ``owner/repo@branch`` (no tag) stay with the Hub source.
"""

from __future__ import annotations

import functools
import re

SCHEME = "ollama://"
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_DOTTED_HOST = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"


@functools.cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """(plain, schemed), compiled when an identifier first needs them: every start loads this
    plugin to build the CLI, and a Hugging Face repo id never needs them."""
    plain = re.compile(rf"^(?:(?:{_DOTTED_HOST}/)?{_SEGMENT}/)?{_SEGMENT}:{_TAG}$")
    schemed = re.compile(
        rf"^(?:(?:{_DOTTED_HOST}(?::[0-9]{{1,5}})?/|localhost(?::[0-9]{{1,5}})?/)?{_SEGMENT}/)?{_SEGMENT}(?::{_TAG})?$"
    )
    return plain, schemed


def pull_name(identifier: str) -> str | None:
    """The name to hand ``ollama pull`` for ``identifier``, or ``None`` when it is not Ollama's."""
    text = identifier.strip()
    if text.startswith(SCHEME):
        body = text[len(SCHEME) :].strip("/")
        return body if _patterns()[1].match(body) and ".." not in body else None
    if "://" in text or "@" in text or ".." in text or ":" not in text:  # a plain name carries a :tag
        return None
    return text if _patterns()[0].match(text) else None


def is_scheme(identifier: str) -> bool:
    """Whether ``identifier`` uses the ``ollama://`` scheme (valid or not)."""
    return identifier.strip().startswith(SCHEME)
