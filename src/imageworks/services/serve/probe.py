"""Is a model server up, and what does it serve? One short GET per server.

An Ollama server answers ``GET /api/tags`` with ``{"models": [{"name": ...}, ...]}``; an
OpenAI-style server (vLLM, LMDeploy, llama.cpp's server, a proxy) answers ``GET
/v1/models`` with ``{"data": [{"id": ...}, ...]}``. :func:`probe` asks one of them with
a short timeout and never raises: a server that is down, slow or answers something else
gives ``reachable=False`` and the reason. Front ends (the GUI's Backends tab, a proxy)
share it; it reads no registry and no configuration.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Literal

import attrs

ServerKind = Literal["ollama", "openai"]
MAX_BODY = 4 * 1024 * 1024  # a model list is small; a huge answer is not one
# Local servers must not be asked through a proxy configured for the outside world.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@attrs.frozen
class ProbeResult:
    """What one server said: reachable or not (and why), and the model ids it lists."""

    kind: ServerKind
    url: str  # the URL asked
    reachable: bool
    models: tuple[str, ...] = ()
    error: str | None = None


def models_url(base_url: str, kind: ServerKind) -> str:
    """The model-list URL of a server at ``base_url``.

    ``http://h:11434`` gives ``http://h:11434/api/tags`` for Ollama; ``http://h:8000``
    and ``http://h:8000/v1`` both give ``http://h:8000/v1/models`` for OpenAI-style.
    """
    root = base_url.strip().rstrip("/")
    if kind == "ollama":
        return root + "/api/tags"
    return root + ("/models" if root.endswith("/v1") else "/v1/models")


def probe(base_url: str, kind: ServerKind, timeout: float = 1.5) -> ProbeResult:
    """Ask the server at ``base_url`` for its models within ``timeout`` seconds."""
    url = models_url(base_url, kind)
    try:
        with _OPENER.open(url, timeout=timeout) as response:
            body = json.loads(response.read(MAX_BODY + 1)[:MAX_BODY])
    except urllib.error.HTTPError as error:
        return ProbeResult(kind, url, False, error=f"HTTP {error.code} {error.reason}")
    except (OSError, ValueError) as error:  # refused, timed out, bad URL, not JSON
        return ProbeResult(kind, url, False, error=_reason(error))
    listed = _listed(body, kind)
    if listed is None:
        key = "models" if kind == "ollama" else "data"
        return ProbeResult(kind, url, False, error=f"the answer has no {key!r} list")
    return ProbeResult(kind, url, True, models=tuple(listed))


def _listed(body: object, kind: ServerKind) -> list[str] | None:
    """The model ids in a model-list answer, or ``None`` when it is not one."""
    items = body.get("models" if kind == "ollama" else "data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        return None
    field = "name" if kind == "ollama" else "id"
    return [str(item[field]) for item in items if isinstance(item, dict) and item.get(field)]


def _reason(error: BaseException) -> str:
    """A short reason for a failed request (``urllib`` wraps the socket error)."""
    inner = getattr(error, "reason", None)
    if isinstance(inner, BaseException):
        error = inner
    if isinstance(error, TimeoutError):
        return "timed out"
    return str(error) or type(error).__name__
