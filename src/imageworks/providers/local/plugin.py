"""The ``local`` source plugin: model folders under a base directory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from imageworks.core.config import load_config
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Source
from imageworks.core.model import RegistryEntry
from imageworks.providers.local.scan import ScanOptions, plan_scan


class LocalSource(Source):
    """Folders laid out as ``<owner>/<repo>`` under a base directory."""

    name = "local"
    description = "Model folders already on disk (<owner>/<repo>), imported by `scan`"

    def discover(self, options: Mapping[str, Any]) -> Iterator[RegistryEntry]:
        """Unsaved entries for the folders under ``options["base"]`` that scan would add."""
        config = load_config()
        base = Path(options.get("base") or config.model_root)
        from imageworks.app import open_registry, plugins  # interim: issue 9 gives discover a context

        registry = open_registry(config)
        plan = plan_scan(ScanOptions(base=base), registry, config, [], plugins().detectors())
        for item in plan:
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
