"""Parsing what users type for a Hugging Face model: ``owner/repo[@branch]`` or a URL.

Accepted: ``owner/repo``, ``owner/repo@branch``, ``https://huggingface.co/owner/repo``,
``.../tree/<rev>``, ``.../blob/<rev>/<file>``, ``.../resolve/<rev>/<file>``,
``hf://owner/repo[@rev][/file]`` (huggingface_hub's file-system form), and the same
URLs on the ``HF_ENDPOINT`` host (a mirror). Anything else is one clear error.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlparse

import attrs

from imageworks.core.errors import ImageworksError

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
REPO_ID = re.compile(rf"^{_NAME}/{_NAME}$")
KNOWN_HOSTS = {"huggingface.co", "www.huggingface.co", "hf.co"}


@attrs.frozen
class ModelRef:
    """A parsed model reference. ``revision`` is None for the default branch."""

    repo_id: str
    revision: str | None = None
    filename: str | None = None

    @property
    def display(self) -> str:
        """``owner/repo`` or ``owner/repo@revision``."""
        return f"{self.repo_id}@{self.revision}" if self.revision else self.repo_id


def branch_of(ref: ModelRef) -> str | None:
    """The branch that names the folder (``@branch``); None for the default branch."""
    return ref.revision if ref.revision and ref.revision != "main" else None


def _checked(repo_id: str, original: str) -> str:
    if not REPO_ID.match(repo_id) or ".." in repo_id or "--" in repo_id:
        raise ImageworksError(
            f"{original!r} is not a Hugging Face model id",
            "use owner/repo, owner/repo@branch or a https://huggingface.co/owner/repo URL",
        )
    return repo_id


def parse_model_ref(text: str, endpoint: str | None = None) -> ModelRef:
    """Parse ``text``; raise :class:`ImageworksError` when it is not a model reference."""
    value = text.strip()
    if value.startswith("hf://"):
        return _parse_hf_uri(value)
    if "://" in value:
        return _parse_url(value, endpoint)
    repo_id, _, revision = value.partition("@")
    if "@" in value and not revision:
        raise ImageworksError(f"{text!r} names no branch after '@'")
    return ModelRef(repo_id=_checked(repo_id.strip("/"), text), revision=revision or None)


def _parse_hf_uri(value: str) -> ModelRef:
    """``hf://owner/repo[@revision][/path/in/repo]``, as huggingface_hub's HfFileSystem writes them."""
    body = value[len("hf://") :]
    if body.startswith("models/"):
        body = body[len("models/") :]
    owner, _, rest = body.partition("/")
    name_and_rev, _, filename = rest.partition("/")
    name, at, revision = name_and_rev.partition("@")
    if at and not revision:
        raise ImageworksError(f"{value!r} names no revision after '@'")
    repo_id = _checked(f"{owner}/{name}", value)
    return ModelRef(repo_id=repo_id, revision=revision or None, filename=unquote(filename) or None)


def _parse_url(value: str, endpoint: str | None) -> ModelRef:
    url = urlparse(value)
    hosts = set(KNOWN_HOSTS)
    if endpoint:
        hosts.add(urlparse(endpoint).netloc)
    if url.scheme not in {"http", "https"} or url.netloc not in hosts:
        raise ImageworksError(f"{value!r} is not a Hugging Face URL", f"expected a URL on {', '.join(sorted(hosts))}")
    base_path = urlparse(endpoint).path.rstrip("/") if endpoint else ""
    path = unquote(url.path)
    if base_path and path.startswith(base_path):
        path = path[len(base_path) :]
    parts = [p for p in path.split("/") if p]
    if parts and parts[0] in {"models", "api"}:
        parts = parts[1:] if parts[0] == "models" else parts
    if len(parts) < 2:
        raise ImageworksError(f"{value!r} does not name a model (owner/repo)")
    repo_id = _checked(f"{parts[0]}/{parts[1]}", value)
    rest = parts[2:]
    if not rest:
        return ModelRef(repo_id=repo_id)
    kind, *tail = rest
    if kind == "tree" and tail:
        return ModelRef(repo_id=repo_id, revision="/".join(tail))
    if kind in {"blob", "resolve"} and len(tail) >= 2:
        return ModelRef(repo_id=repo_id, revision=tail[0], filename="/".join(tail[1:]))
    raise ImageworksError(f"{value!r}: cannot read '{'/'.join(rest)}' in a model URL")
