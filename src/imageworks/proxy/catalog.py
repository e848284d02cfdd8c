"""``GET /v1/models``: the registry's variants in OpenAI's list shape, with vLLM / LM Studio style extras.

Which variants: those ``list`` shows by default (the core's :func:`~imageworks.services.listing.query.select`:
installed, on this host (``core/hosts.py``), not deprecated, not testing placeholders), widened by
``CHAT_PROXY_INCLUDE_NON_INSTALLED`` (logical entries, missing paths, other hosts' installs too) and
``CHAT_PROXY_INCLUDE_TEST_MODELS``. Only variants the proxy can send a request to are
listed (an unassigned backend without ``backend_config.base_url``, or one whose
``base_url`` is not http(s), is left out).

Each card has OpenAI's ``id`` (the served id: ``served_model_id``, else the variant
name), ``object``, ``created`` (the download time, else 0) and ``owned_by`` (the
producer, else ``imageworks``), plus ``name`` (the variant), ``display_name``,
``backend``, ``format``, ``quantization``, ``installed``, ``roles``, ``capabilities``,
``aliases``, ``max_model_len`` (``backend_config.max_model_len``, vLLM's field) and
``context_length`` (the trained context, read from the GGUF or config.json header of an
installed variant once per installation, then kept in memory) when known, and
``header_problem`` when those headers are damaged or hostile (that card only: every
other variant is listed as usual).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from typing import Any

from imageworks.core.config import Config
from imageworks.core.hosts import HostView
from imageworks.core.model import RegistryEntry
from imageworks.proxy.settings import ProxySettings
from imageworks.services.listing.query import ListQuery, is_installed, select
from imageworks.services.memory.local_facts import entry_facts
from imageworks.services.serve.commands import served_name
from imageworks.services.serve.endpoints import Endpoint, endpoint_for, web_url

log = logging.getLogger("imageworks.proxy")


def visible(entries: Iterable[RegistryEntry], settings: ProxySettings, config: Config) -> list[RegistryEntry]:
    """The variants the proxy lists and serves, sorted by name."""
    query = ListQuery(
        include_logical=settings.include_non_installed,
        include_testing=settings.include_testing,
        only_installed=not settings.include_non_installed,
        host_view=None if settings.include_non_installed else HostView.of(config),
    )
    return select(entries, query, config.test_model_patterns)


def routable(entries: Iterable[RegistryEntry], ollama_url: str) -> list[tuple[RegistryEntry, Endpoint]]:
    """``(entry, endpoint)`` for each entry the proxy can send a request to (an http(s) API root)."""
    pairs = []
    for entry in entries:
        endpoint = endpoint_for(entry, ollama_url)
        if endpoint is None:
            continue
        if not web_url(endpoint.base_url):
            log.debug("%s left out: its base_url is not an http(s) URL", entry.name)
            continue
        pairs.append((entry, endpoint))
    return pairs


def model_list(entries: Iterable[RegistryEntry]) -> dict[str, Any]:
    """``{"object": "list", "data": [card, ...]}``, one card per served id: of variants sharing one,
    the variant a request for that id goes to (installed first, then by name; see ``services/serve/roles.py``)."""
    by_id: dict[str, RegistryEntry] = {}
    for entry in sorted(entries, key=lambda e: (not is_installed(e), e.name)):
        by_id.setdefault(served_name(entry), entry)
    return {"object": "list", "data": [model_card(entry) for entry in sorted(by_id.values(), key=lambda e: e.name)]}


def model_card(entry: RegistryEntry) -> dict[str, Any]:
    """One OpenAI model object for ``entry``, with the extras (see the module docstring)."""
    card: dict[str, Any] = {
        "id": served_name(entry),
        "object": "model",
        "created": _created(entry.downloaded_at),
        "owned_by": entry.producer or "imageworks",
        "name": entry.name,
        "display_name": entry.display_name or entry.name,
        "backend": entry.backend,
        "format": entry.download_format,
        "quantization": entry.quantization,
        "installed": is_installed(entry),
        "roles": list(entry.roles),
        "capabilities": dict(entry.capabilities),
        "aliases": list(entry.model_aliases),
    }
    max_len = entry.backend_config.extra.get("max_model_len")
    if isinstance(max_len, int) and not isinstance(max_len, bool) and max_len > 0:
        card["max_model_len"] = max_len
    context, problem = _header_context(entry)
    if context:
        card["context_length"] = context
    if problem:
        card["header_problem"] = problem  # a damaged or hostile header file: this card only
    return card


def context_length(entry: RegistryEntry) -> int | None:
    """The trained context of an installed variant, from its headers; ``None`` when unknown."""
    return _header_context(entry)[0]


def _header_context(entry: RegistryEntry) -> tuple[int | None, str | None]:
    """(trained context, why its headers could not be read) of an installed variant."""
    path = entry.download_path or ""
    if entry.backend.lower() == "ollama" or not is_installed(entry) or not os.path.isdir(path):
        return None, None
    found = entry_facts(entry)  # remembered while the files are unchanged; never raises
    if found is None:
        return None, None
    if found.problem:
        log.debug("no context length for %s: %s", path, found.problem)
    return (found.facts.context_length if found.facts else None), found.problem


def _created(downloaded_at: str | None) -> int:
    try:
        return int(dt.datetime.fromisoformat(downloaded_at or "").timestamp())
    except ValueError:
        return 0
