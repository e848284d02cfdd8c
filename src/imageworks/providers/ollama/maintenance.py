"""Registry upkeep for Ollama entries: ``backfill-ollama-paths`` and ``restore-ollama`` (guide 7.2).

- Backfill gives logical-only Ollama entries (no path, or ``ollama://``) whose model is
  in a visible store their blob path, format, location label and file inventory (from
  the blob's own digest, never re-hashed). Entry names are kept.
- Restore brings back Ollama entries that exist in a registry backup (the newest the
  backend lists by default; any id or path its ``read_backup`` accepts otherwise) but
  are missing now. Unknown fields come back too: the raw entry is restored, not a
  re-typed copy.

Both work on the :class:`Registry` the caller opened, share the importer's report type
and, for a dry run, run on its scratch copy.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from imageworks.core.config import Config
from imageworks.core.convert import converter, to_compact_dict
from imageworks.core.errors import ImageworksError
from imageworks.core.hosts import HostView
from imageworks.core.layers import merge_layers
from imageworks.core.model import ArtifactFile, Artifacts, RegistryEntry
from imageworks.core.registry import Registry
from imageworks.providers.ollama.catalog import FoundModel, build_catalog
from imageworks.providers.ollama.importer import (
    ImportItem,
    ImportReport,
    _location_label,
    is_ollama_entry,
    working_registry,
)
from imageworks.providers.ollama.store import canonical_name
from imageworks.services.inventory import take_inventory

log = logging.getLogger("imageworks.ollama")


def backfill_ollama_paths(registry: Registry, *, dry_run: bool = False, set_format: bool = True) -> ImportReport:
    """Fill the local blob path of logical-only Ollama entries whose model is in the store
    (deprecated entries are skipped: they stay deprecated placeholders)."""
    registry = working_registry(registry, dry_run)
    config = registry.config
    catalog = build_catalog(config, use_api=False)
    report = ImportReport(
        dry_run=registry.is_scratch, backend="ollama", location=None, stores=catalog.stores, warnings=list(catalog.warnings)
    )
    local = {key: m for key, m in catalog.by_name().items() if m.is_local and not m.problem}
    with registry.batch():
        for entry in registry.entries():
            if not entry.is_logical or not is_ollama_entry(entry):
                continue
            served_id = entry.served_model_id or (entry.download_path or "").removeprefix("ollama://")
            if entry.deprecated:  # a path would bring it back to life: purge-deprecated could no longer remove it
                report.items.append(ImportItem(served_model_id=served_id or None, variant=entry.name, action="skip",
                                               reason="deprecated (left as it is)"))
                continue
            model = local.get(canonical_name(served_id)) if served_id else None
            if model is None:
                report.items.append(
                    ImportItem(
                        served_model_id=served_id or None,
                        variant=entry.name,
                        action="skip",
                        reason="not in a visible Ollama store",
                    )
                )
                continue
            changes = _backfill_fields(entry, model, config, set_format)
            registry.update(entry.name, lambda _, values=changes: values)  # type: ignore[misc]  # mypy cannot infer a lambda with a default
            report.items.append(
                ImportItem(
                    served_model_id=served_id,
                    variant=entry.name,
                    action="update",
                    reason=f"path from {model.store}",
                    path=model.path,
                    quantization=entry.quantization or model.quantization,
                )
            )
    return report


def _backfill_fields(entry: RegistryEntry, model: FoundModel, config: Config, set_format: bool) -> dict[str, Any]:
    blob = Path(model.path or "")
    inventory = take_inventory(blob, known_digests={blob.name: model.digest} if model.digest else None)
    backend_config = to_compact_dict(entry.backend_config)
    if not entry.backend_config.model_path or "://" in entry.backend_config.model_path:
        backend_config["model_path"] = str(blob)
    changes: dict[str, Any] = {
        "download_path": str(blob),
        "host": HostView.of(config).host_for(str(blob)),  # the blob is in this host's Ollama store
        "download_location": entry.download_location or _location_label(config, model),
        "backend_config": backend_config,
        "download_size_bytes": inventory.total_size,
        "download_directory_checksum": inventory.checksum,
        "download_files_count": len(inventory.files),
        "download_files": [f.path for f in inventory.files],
        "artifacts": to_compact_dict(
            Artifacts(files=[ArtifactFile(path=f.path, size=f.size, sha256=f.sha256) for f in inventory.files])
        ),
    }
    if set_format:
        changes["download_format"] = model.format
    if not entry.quantization and model.quantization:
        changes["quantization"] = model.quantization
    return changes


def load_backup(registry: Registry, backup: str | None) -> tuple[str, dict[str, dict[str, Any]]]:
    """(where it came from, entry name -> raw merged entry) of ``backup`` (default: the newest)."""
    if backup is None:
        sets = registry.list_backups()
        if not sets:
            raise ImageworksError(
                f"no registry backups under {registry.store.description}",
                "pass --backup PATH to a backup folder or file",
            )
        backup, where = sets[0].id, sets[0].location
    else:  # a backup id is shown by where its set lives; a path as given
        where = next((s.location for s in registry.list_backups() if s.id == backup), backup)
    layers = registry.read_backup(backup)
    return where, merge_layers(layers.curated, layers.discovered)


def restore_ollama(
    registry: Registry, *, dry_run: bool = False, backup: str | Path | None = None, include_deprecated: bool = False
) -> ImportReport:
    """Bring back the Ollama entries of ``backup`` (default: the newest backup) that are missing now.

    ``backup`` is a backup id of the registry's backend or, for the JSON backend, the
    path of a backup folder or of one registry file.
    """
    registry = working_registry(registry, dry_run)
    source, saved = load_backup(registry, None if backup is None else str(backup))
    report = ImportReport(dry_run=registry.is_scratch, backend="ollama", location=None, stores=[source])
    with registry.batch():
        present = {e.name for e in registry.entries()}
        for name, raw in sorted(saved.items()):
            try:
                entry = converter.structure(raw, RegistryEntry)
            except Exception as error:  # one bad entry must not stop the rest
                report.warnings.append(f"backup entry {name!r} is malformed ({type(error).__name__}); skipped")
                log.warning("%s", report.warnings[-1])
                continue
            if not is_ollama_entry(entry):
                continue
            item = ImportItem(
                served_model_id=entry.served_model_id,
                variant=name,
                action="restore",
                path=entry.download_path,
                quantization=entry.quantization,
            )
            if name in present:
                item.action, item.reason = "unchanged", "already in the registry"
            elif entry.deprecated and not include_deprecated:
                item.action, item.reason = "skip", "deprecated in the backup (use --include-deprecated)"
            else:
                fields = {key: value for key, value in raw.items() if key != "name"}
                registry.update(name, lambda _, values=fields: values)  # type: ignore[misc]  # mypy cannot infer a lambda with a default
                item.reason = f"from {source}"
            report.items.append(item)
    return report
