"""The ``local`` source plugin: model folders under a base directory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imageworks.core.config import given_config
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Source
from imageworks.core.model import RegistryEntry

if TYPE_CHECKING:  # the scan machinery loads only when a scan runs, not at every start-up
    from imageworks.core.plans import SourceContext
    from imageworks.core.registry import Registry
    from imageworks.providers.local.report import ScanReport


class LocalSource(Source):
    """Folders laid out as ``<owner>/<repo>`` under a base directory."""

    name = "local"
    description = "Model folders already on disk (<owner>/<repo>), imported by `scan`"

    def import_models(self, registry: Registry, options: Mapping[str, Any], context: SourceContext) -> ScanReport:
        """Scan ``options["base"]`` and record its model folders (``scan``, ``ingest-local-hf``).

        Options: ``base`` (required), ``update_existing``, ``include_testing``,
        ``fallback_format``, ``backend``, ``all_roots`` (also scan every store root the
        configuration knows: the weights root, the LM Studio root and the extra
        locations; a root that is not a folder is reported as skipped).
        """
        from imageworks.providers.local.report import ScanReport
        from imageworks.providers.local.scan import ScanOptions, apply_scan, plan_scan

        base = Path(options["base"]).expanduser()
        roots, skipped = store_roots(base, registry.config.locations) if options.get("all_roots") else ([base], [])
        problems: list[str] = list(skipped)
        items = []
        for root in roots:
            scan = ScanOptions(
                base=root,
                include_testing=bool(options.get("include_testing")),
                update_existing=bool(options.get("update_existing")),
                fallback_format=options.get("fallback_format"),
                backend=options.get("backend"),
            )
            items.extend(plan_scan(scan, registry, registry.config, problems, context.plugins.detectors()))
        work = sum(1 for i in items if i.action in {"add", "update"})
        if context.progress_bar is not None and not registry.is_scratch:
            with context.progress_bar("Scanning", work) as advance:
                apply_scan(items, registry, registry.config, progress=lambda _item: advance(1))
        else:
            apply_scan(items, registry, registry.config)
        return ScanReport(items=items, warnings=problems, dry_run=registry.is_scratch,
                          roots=[str(r) for r in roots], skipped_roots=skipped)

    def discover(self, options: Mapping[str, Any]) -> Iterator[RegistryEntry]:
        """Unsaved entries for the folders under ``options["base"]`` that scan would add.

        The caller supplies what a provider may not look up itself: ``detectors`` (or
        ``plugins``, a plugin host to take them from) and optionally ``registry`` (the
        opened registry to compare with; without one every folder is new) and ``config``.
        """
        registry = options.get("registry")
        config = options.get("config") or given_config(registry.config if registry is not None else None)
        if registry is None:
            from imageworks.core.registry import Registry
            from imageworks.core.scratch import MemoryStore

            registry = Registry(MemoryStore(), config)
        detectors = options.get("detectors")
        if detectors is None and options.get("plugins") is not None:
            detectors = options["plugins"].detectors()
        if detectors is None:
            raise ImageworksError("the local source needs options['detectors'] or options['plugins'] to discover")
        from imageworks.providers.local.scan import ScanOptions, plan_scan

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


def store_roots(base: Path, locations: Mapping[str, Path]) -> tuple[list[Path], list[str]]:
    """``base`` and every configured store root that is a folder (each once), and one
    line per configured root that was skipped, saying why."""
    roots, seen, skipped = [base], {base.resolve()}, []
    for label, root in sorted(locations.items()):
        real = root.resolve()
        if real in seen:
            continue
        seen.add(real)
        if root.is_dir():
            roots.append(root)
        else:
            reason = "does not exist" if not root.exists() else "is not a folder"
            skipped.append(f"skipped the {label} root {root}: it {reason}")
    return roots, skipped


@hookimpl
def imageworks_register_sources() -> list[Source]:
    """Provide the local source."""
    return [LocalSource()]
