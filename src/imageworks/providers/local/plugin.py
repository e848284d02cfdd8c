"""The ``local`` source plugin: model folders under a base directory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from imageworks.core.config import load_config
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Source
from imageworks.core.model import RegistryEntry
from imageworks.core.registry import Registry
from imageworks.core.scratch import MemoryStore
from imageworks.providers.local.scan import ScanOptions, plan_scan


class LocalSource(Source):
    """Folders laid out as ``<owner>/<repo>`` under a base directory."""

    name = "local"
    description = "Model folders already on disk (<owner>/<repo>), imported by `scan`"

    def discover(self, options: Mapping[str, Any]) -> Iterator[RegistryEntry]:
        """Unsaved entries for the folders under ``options["base"]`` that scan would add.

        The caller supplies what a provider may not look up itself: ``detectors`` (or
        ``plugins``, a plugin host to take them from) and optionally ``registry`` (the
        opened registry to compare with; without one every folder is new) and ``config``.
        """
        registry = options.get("registry")
        config = options.get("config") or (registry.config if registry is not None else load_config())
        if registry is None:
            registry = Registry(MemoryStore(), config)
        detectors = options.get("detectors")
        if detectors is None and options.get("plugins") is not None:
            detectors = options["plugins"].detectors()
        if detectors is None:
            raise ImageworksError("the local source needs options['detectors'] or options['plugins'] to discover")
        base = Path(options.get("base") or config.model_root)
        for item in plan_scan(ScanOptions(base=base), registry, config, [], detectors):
            if item.action == "add" and item.name:
                yield RegistryEntry(
                    name=item.name,
                    backend=item.backend or "vllm",
                    hf_id=item.model_id,
                    download_path=item.path,
                    download_format=item.format_type,
                    quantization=item.quantization,
                    source_provider="local",
                )


@hookimpl
def imageworks_register_sources() -> list[Source]:
    """Provide the local source."""
    return [LocalSource()]
