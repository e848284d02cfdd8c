"""Where a variant is served, and under which id: what the chat proxy and the router exports send to.

Pure functions of an entry (and the configured Ollama URL):

- an Ollama variant is served by Ollama under its ``name:tag`` (``served_model_id``, else
  the tag of an ``ollama://`` path), at Ollama's OpenAI-compatible API, ``<ollama>/v1``;
- any other variant at ``backend_config.base_url`` when the registry records where its
  server lives, else where :mod:`imageworks.services.serve.commands` would start it (loopback,
  ``backend_config.port`` or the stack's default port), under its served id
  (``served_model_id``, else the variant name: what ``serve-vllm`` passes as
  ``--served-model-name``);
- ``backend_config.api_key_env`` names the environment variable holding the server's API
  key (the key itself is never in the registry).
"""

from __future__ import annotations

import re

import attrs

from imageworks.core.model import RegistryEntry
from imageworks.services.serve.commands import default_base_url, served_name

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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


def api_key_env(entry: RegistryEntry) -> str | None:
    """``backend_config.api_key_env``, when it is an environment variable name."""
    name = entry.backend_config.extra.get("api_key_env")
    return name if isinstance(name, str) and _ENV_NAME.match(name) else None


def endpoint_for(entry: RegistryEntry, ollama_url: str) -> Endpoint | None:
    """Where ``entry`` is served; ``None`` when nothing says (an unassigned backend without a base URL,
    an Ollama variant without a ``name:tag``)."""
    if entry.backend.lower() == "ollama":
        tag = ollama_tag(entry)
        base = recorded_base_url(entry) or f"{ollama_url.rstrip('/')}/v1"
        return Endpoint(base_url=base, model=tag, api_key_env=api_key_env(entry)) if tag else None
    root = recorded_base_url(entry) or default_base_url(entry)
    return Endpoint(base_url=root, model=served_name(entry), api_key_env=api_key_env(entry)) if root else None
