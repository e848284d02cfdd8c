"""The guide's import path for the download adapter (guide 9.2).

The recording policy itself (naming, inventory, merge) is core machinery and lives in
:mod:`imageworks.services.acquire.recording`; these wrappers keep the guide's calls working
(``record_download(...)`` with no registry argument opens the configured registry).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from imageworks.app import open_registry
from imageworks.core.config import Config
from imageworks.core.model import RegistryEntry
from imageworks.core.registry import Registry
from imageworks.services.acquire import recording
from imageworks.services.acquire.recording import RECORDED_FIELDS

__all__ = ["RECORDED_FIELDS", "list_downloads", "record_download", "remove_download"]


def record_download(
    hf_id: str | None,
    backend: str,
    format_type: str | None,
    quantization: str | None,
    path: str | Path,
    location: str | None,
    *,
    config: Config | None = None,
    registry: Registry | None = None,
    **details: Any,
) -> RegistryEntry:
    """Record an installed model (see :func:`imageworks.services.acquire.recording.record_download`)."""
    return recording.record_download(
        hf_id, backend, format_type, quantization, path, location,
        registry=registry or open_registry(config), **details,
    )


def list_downloads(only_installed: bool = True, config: Config | None = None) -> list[RegistryEntry]:
    """Entries that record local files; with ``only_installed``, only those present now."""
    return recording.list_downloads(open_registry(config), only_installed=only_installed)


def remove_download(
    name: str, keep_entry: bool = True, delete: bool = False, config: Config | None = None
) -> RegistryEntry | None:
    """Forget (and with ``delete``, delete) the files of ``name`` (guide 9.2)."""
    return recording.remove_download(open_registry(config), name, keep_entry=keep_entry, delete=delete)
