"""Where a variant is served, and under which id: what the chat proxy and the router exports send to.

Pure functions of an entry (and the configured Ollama URL):

- an Ollama variant is served by Ollama under its ``name:tag`` (``served_model_id``, else
  the tag of an ``ollama://`` path), at Ollama's OpenAI-compatible API, ``<ollama>/v1``;
- any other variant at ``backend_config.base_url`` when the registry records where its
  server lives, else where :mod:`imageworks.services.serve.commands` would start it (loopback,
  ``backend_config.port``, else the variant's own port from the port plan below), under its served id
  (``served_model_id``, else the variant name: what ``serve-vllm`` passes as
  ``--served-model-name``);
- ``backend_config.api_key_env`` names the environment variable holding the server's API
  key (the key itself is never in the registry). Only names the operator set aside for
  backend keys count (:data:`BACKEND_KEY_PREFIX`): a registry, maybe shared, never decides
  that ``HF_TOKEN`` or any other secret of this machine goes to a server it names.
- a ``base_url`` is used only when it is an http(s) URL (:func:`web_url`), and shown only
  without its credentials (:func:`shown_url`).

**The port plan.** Every variant has one port that ``serve-vllm``, ``serve-lmdeploy``,
``serve-llama-server``, the chat proxy, both exports and the GUI use:
``backend_config.port`` when the registry records one, else :func:`variant_port`, a
stable hash (CRC-32) of the variant name into a range of ports, ``18000-18999`` unless
``IMAGEWORKS_SERVE_PORTS=FIRST-LAST`` says otherwise (away from vLLM's 8000, llama-server's
8080, LMDeploy's 23333 and Ollama's 11434). Two variants that land on one port are a
clash (:func:`port_clashes`): ``serve-*`` refuses to start either and the exports leave
them out, each naming the other and the fix (``backend_config.port`` on one of them).
"""

from __future__ import annotations

import os
import re
import zlib
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.model import RegistryEntry
from imageworks.services.serve.commands import default_base_url, served_name, server_for

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The only environment variables whose values go to a backend as its API key (and into exported configs).
BACKEND_KEY_PREFIX = "IMAGEWORKS_BACKEND_KEY_"
_BACKEND_KEY = re.compile(rf"^{BACKEND_KEY_PREFIX}[A-Z0-9_]+$")


PORT_RANGE_ENV = "IMAGEWORKS_SERVE_PORTS"
DEFAULT_PORT_RANGE = (18000, 18999)
_RANGE = re.compile(r"^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$")


def port_range(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """The ports variants are spread over: ``IMAGEWORKS_SERVE_PORTS`` (``FIRST-LAST``), else 18000-18999.

    Raises :class:`ImageworksError` for a value that is not a range of ports.
    """
    text = (os.environ if environ is None else environ).get(PORT_RANGE_ENV, "").strip()
    if not text:
        return DEFAULT_PORT_RANGE
    match = _RANGE.match(text)
    if not match or not (1024 <= int(match[1]) <= int(match[2]) <= 65535):
        raise ImageworksError(f"{PORT_RANGE_ENV}={text!r} is not a port range", "write it like 18000-18999 (ports 1024-65535)")
    return int(match[1]), int(match[2])


def variant_port(name: str, ports: tuple[int, int] | None = None) -> int:
    """The port the plan gives a variant without ``backend_config.port``: CRC-32 of its name into the range."""
    first, last = ports or port_range()
    return first + zlib.crc32(name.encode("utf-8")) % (last - first + 1)


def planned_port(entry: RegistryEntry) -> int:
    """The entry's port: ``backend_config.port``, else :func:`variant_port`."""
    recorded = entry.backend_config.extra.get("port")
    if isinstance(recorded, int) and not isinstance(recorded, bool) and 0 < recorded < 65536:
        return recorded
    return variant_port(entry.name)


def port_clashes(entries: Iterable[RegistryEntry]) -> dict[str, str]:
    """Variant name -> the other variant planned on its port, for every variant started here (not
    Ollama, no recorded ``base_url``) that shares its port with another."""
    by_port: dict[int, list[str]] = {}
    for entry in entries:
        if entry.backend.lower() == "ollama" or recorded_base_url(entry) or server_for(entry) is None:
            continue
        by_port.setdefault(planned_port(entry), []).append(entry.name)
    clashes: dict[str, str] = {}
    for names in by_port.values():
        for name in names:
            others = [other for other in names if other != name]
            if others:
                clashes[name] = others[0]
    return clashes


@attrs.frozen(kw_only=True)
class Endpoint:
    """An OpenAI-compatible API root (ending in ``/v1``), the model id it knows, and the
    name of the environment variable holding its API key (if it wants one)."""

    base_url: str
    model: str
    api_key_env: str | None = None


def ollama_tag(entry: RegistryEntry) -> str | None:
    """The ``name:tag`` Ollama serves an Ollama variant under: ``served_model_id``, else the tag of an ``ollama://`` path."""
    path = entry.download_path or ""
    return entry.served_model_id or (path.removeprefix("ollama://") if path.startswith("ollama://") else None)


def recorded_base_url(entry: RegistryEntry) -> str | None:
    """``backend_config.base_url`` when the registry records where the variant's server lives."""
    recorded = entry.backend_config.extra.get("base_url")
    return recorded.rstrip("/") if isinstance(recorded, str) and recorded.strip() else None


def allowed_key_env(name: str) -> bool:
    """Whether ``name`` is a variable the operator set aside for backend keys (``IMAGEWORKS_BACKEND_KEY_*``)."""
    return bool(_BACKEND_KEY.match(name))


def api_key_env(entry: RegistryEntry) -> str | None:
    """``backend_config.api_key_env``, when it names an allowed backend-key variable (:func:`allowed_key_env`)."""
    name = entry.backend_config.extra.get("api_key_env")
    return name if isinstance(name, str) and allowed_key_env(name) else None


def refused_key_env(entry: RegistryEntry) -> str | None:
    """``backend_config.api_key_env`` when it is set but not an allowed name (what a front end warns about)."""
    name = entry.backend_config.extra.get("api_key_env")
    if not isinstance(name, str) or not name or allowed_key_env(name):
        return None
    return name if _ENV_NAME.match(name) else repr(name)


def web_url(url: str) -> bool:
    """Whether ``url`` is an ``http://`` or ``https://`` URL with a host (the only kind a request is sent to)."""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return False
    try:
        parts = urlsplit(url)
        _ = parts.port  # an invalid port raises
    except ValueError:
        return False
    return parts.scheme.lower() in {"http", "https"} and bool(parts.hostname)


def shown_url(url: str) -> str:
    """``url`` without user name, password, query or fragment: what messages and logs may carry."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<an unparsable URL>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme}://{netloc}{parts.path}"


def endpoint_for(entry: RegistryEntry, ollama_url: str) -> Endpoint | None:
    """Where ``entry`` is served; ``None`` when nothing says (an unassigned backend without a base URL,
    an Ollama variant without a ``name:tag``)."""
    if entry.backend.lower() == "ollama":
        tag = ollama_tag(entry)
        base = recorded_base_url(entry) or f"{ollama_url.rstrip('/')}/v1"
        return Endpoint(base_url=base, model=tag, api_key_env=api_key_env(entry)) if tag else None
    root = recorded_base_url(entry) or default_base_url(entry)
    return Endpoint(base_url=root, model=served_name(entry), api_key_env=api_key_env(entry)) if root else None
