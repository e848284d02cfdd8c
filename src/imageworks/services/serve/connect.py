"""``connect``: record where a variant is served, in the curated layer.

The chat proxy and the router exports send a variant's requests to
``backend_config.base_url`` under its served id (``backend_config.served_model_id``,
else the recorded ``served_model_id``, else the variant name), with the key from the
environment variable ``backend_config.api_key_env`` names
(:mod:`imageworks.services.serve.endpoints`). These are a person's settings, so they live
in ``backend_config`` in the curated layer, where a later scan or download keeps them
(a top-level ``served_model_id`` is the source's, and a download rewrites it); :func:`connection_change` is the change ``Registry.set_curated``
applies under its write lock, keeping the curated ``backend_config`` keys it does not set
(``model_path``, ``port``, ``max_model_len``, ...).

Only the variable's *name* is stored, never a key; the proxy decides which variables it
reads (docs/serving.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs

from imageworks.core.errors import ImageworksError

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
MAX_SERVED_ID = 256
CONNECTION_KEYS = ("base_url", "api_key_env", "served_model_id")  # the backend_config keys connect owns


@attrs.frozen(kw_only=True)
class Connection:
    """What ``connect`` sets: each ``None`` leaves the curated value as it is."""

    base_url: str | None = None
    api_key_env: str | None = None
    served_id: str | None = None


def checked_connection(base_url: str | None, api_key_env: str | None, served_id: str | None) -> Connection:
    """The options, validated: one clear :class:`ImageworksError` for the first bad one."""
    return Connection(
        base_url=None if base_url is None else checked_base_url(base_url),
        api_key_env=None if api_key_env is None else checked_env_name(api_key_env),
        served_id=None if served_id is None else checked_served_id(served_id),
    )


def checked_base_url(value: str) -> str:
    """An ``http(s)://host[:port][/path]`` URL without credentials, query or fragment (trailing ``/`` dropped).

    Messages never repeat the value: a URL typed by mistake may hold a password or key.
    """
    text = value.strip()
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        raise ImageworksError("--base-url is not a URL (it holds spaces or control characters)", "for example --base-url http://gpu-box:8000/v1")
    try:
        parts = urlsplit(text)
        if parts.port == 0:  # .port raises ValueError for a port that is not a number in range
            raise ValueError("port 0")
    except ValueError:
        raise ImageworksError("--base-url is not a valid URL (its port is not 1-65535)", "for example --base-url http://gpu-box:8000/v1") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageworksError(
            "--base-url is not an http(s) URL with a host", "give the server's OpenAI API root, e.g. http://gpu-box:8000/v1"
        )
    if parts.username is not None or parts.password is not None:
        raise ImageworksError(
            "--base-url holds a user name or password, which would be written to the registry",
            "leave credentials out of the URL; put the key in an environment variable and name it with --api-key-env",
        )
    if parts.query or parts.fragment:
        raise ImageworksError("--base-url has a query or fragment", "give the API root only, e.g. http://gpu-box:8000/v1")
    return text.rstrip("/")


def checked_env_name(value: str) -> str:
    """An environment variable name (letters, digits, ``_``; not starting with a digit)."""
    if not ENV_NAME.fullmatch(value):
        raise ImageworksError(
            "--api-key-env is not an environment variable name (the value is not shown: it may be the key itself)",
            "give the variable's name, not the key (e.g. --api-key-env IMAGEWORKS_BACKEND_KEY_GPU)",
        )
    return value


def checked_served_id(value: str) -> str:
    """A served model id: not empty, no spaces or control characters, at most 256 characters."""
    if not value or len(value) > MAX_SERVED_ID or any(c.isspace() or not c.isprintable() for c in value):
        raise ImageworksError(
            f"--served-id {value[:40]!r} is not a model id",
            f"give the id the server lists under /v1/models (no spaces, at most {MAX_SERVED_ID} characters)",
        )
    return value


def check_servable_id(backend: str, connection: Connection | None) -> None:
    """Refuse ``--served-id`` for an Ollama variant: Ollama serves it under its own ``name:tag``."""
    if connection is not None and connection.served_id is not None and backend.lower() == "ollama":
        raise ImageworksError(
            "an Ollama variant is served under its Ollama name:tag, not an id set here",
            "connect it without --served-id (--base-url points at another Ollama's /v1)",
        )


def connection_change(connection: Connection | None) -> Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]:
    """The curated change that sets ``connection`` (``None``: clears what connect sets)."""

    def change(curated: Mapping[str, Any], discovered: Mapping[str, Any]) -> dict[str, Any]:
        kept = curated.get("backend_config")
        config = dict(kept) if isinstance(kept, Mapping) else {}
        if connection is None:
            for key in CONNECTION_KEYS:
                config.pop(key, None)
        else:
            for key, value in zip(CONNECTION_KEYS, (connection.base_url, connection.api_key_env, connection.served_id), strict=True):
                if value is not None:
                    config[key] = value
        return {"backend_config": config or None}

    return change
