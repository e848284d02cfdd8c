"""``scan``: bring model folders already on disk into the registry (guide 6.2 and 7.1).

Every folder is detected on disk (headers, configs, names), inventoried and recorded
through :func:`record_download`, all in one batch of the :class:`Registry` the caller
opened (a dry run passes :meth:`Registry.scratch`). Placeholders (testing patterns) are
skipped unless asked for; a folder already registered under backend ``unassigned``
migrates to the detected backend instead of gaining a twin.

A folder a download made keeps its provenance: the download's record in the folder
(:mod:`imageworks.services.acquire.provenance`), else the entry already registered for the path,
gives ``source_provider``, ``hf_id``, ``revision``, ``downloaded_at`` and the location
label, so a purge and re-scan (guide 6.7) does not turn a Hub download into ``local``.

Scan writes the discovered layer only. A replaced entry that lives only in discovered
is removed; one the curated layer holds is left there and overlaid in discovered as
deprecated, with ``superseded_by`` naming its replacement, so the hand-kept file keeps
its bytes and the merged view shows the new entry.

With many hosts on one registry, a folder is matched only against the installs this
host sees: another host's install at the same path (the same layout on its own disk)
is another copy, so scanning records this host's install beside it (core.installs).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from imageworks.core.config import Config
from imageworks.core.detection import FormatDetector
from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import Detector
from imageworks.core.model import Detection, EntryMetadata, RegistryEntry
from imageworks.core.naming import default_backend, family_from_repo, variant_name
from imageworks.core.registry import Registry
from imageworks.providers.local.folders import find_model_folders
from imageworks.providers.local.locations import location_label_for
from imageworks.services.acquire.chat_template import chat_template_status
from imageworks.services.acquire.provenance import Provenance, provenance_for
from imageworks.services.acquire.readme import capture_readme
from imageworks.services.acquire.recording import record_download
from imageworks.services.listing.query import is_testing
from imageworks.services.maintain.removal import cleared_download_fields

log = logging.getLogger("imageworks.scan")


@attrs.define(kw_only=True)
class ScanItem:
    """What scan found in one folder and what it will do about it."""

    model_id: str
    path: str
    action: str  # add, update, unchanged, skip
    reason: str = ""
    name: str | None = None
    backend: str | None = None
    format_type: str | None = None
    quantization: str | None = None
    replaces: str | None = None
    evidence: list[str] = attrs.field(factory=list)
    provenance: str | None = None  # where source, Hub id, times and location came from: record, registry
    detections: list[Detection] = attrs.field(factory=list, repr=False)
    kept: Provenance | None = attrs.field(default=None, repr=False)

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return attrs.asdict(self, filter=lambda attribute, _: attribute.name not in {"detections", "kept"})


@attrs.define(kw_only=True)
class ScanOptions:
    """The flags of ``scan``."""

    base: Path
    include_testing: bool = False
    update_existing: bool = False
    fallback_format: str | None = None
    backend: str | None = None


def _by_path(entries: list[RegistryEntry]) -> dict[str, RegistryEntry]:
    found: dict[str, RegistryEntry] = {}
    for entry in sorted(entries, key=lambda e: (e.deprecated, e.backend == "unassigned")):
        if entry.download_path and not entry.is_logical:
            found.setdefault(os.path.normpath(entry.download_path), entry)
    return found


def plan_scan(
    options: ScanOptions, registry: Registry, config: Config, problems: list[str], detectors: Sequence[Detector]
) -> list[ScanItem]:
    """Work out what scanning ``options.base`` would do; changes nothing."""
    if not options.base.is_dir():
        raise ImageworksError(f"scan base {options.base} is not a folder")
    existing = _by_path([e for e in registry.entries() if registry.view.sees(e)])  # another host's copy is not this one
    detector = FormatDetector(detectors)
    items = []
    for folder in find_model_folders(options.base, problems):
        path = str(folder.path.absolute())
        probe = RegistryEntry(name=folder.model_id, hf_id=folder.model_id, family=folder.model_id)
        if not options.include_testing and is_testing(probe, config.test_model_patterns):
            items.append(ScanItem(model_id=folder.model_id, path=path, action="skip", reason="testing placeholder"))
            continue
        detections = detector.detect_directory(folder.path, model_name=folder.model_id)
        best = detections[0] if detections else None
        format_type = (best.format_type if best else None) or options.fallback_format
        quant = best.quantization if best else None
        current = existing.get(os.path.normpath(path))
        backend = options.backend or (
            current.backend if current and current.backend != "unassigned" else default_backend(format_type)
        )
        repo, _, branch = folder.model_id.partition("@")
        name = variant_name(family_from_repo(repo, branch or None), backend, format_type, quant)
        item = ScanItem(
            model_id=folder.model_id,
            path=path,
            action="add",
            name=name,
            backend=backend,
            format_type=format_type,
            quantization=quant,
            evidence=list(best.evidence) if best else [],
            detections=detections,
        )
        item.kept, item.provenance = _provenance(folder.path, folder.model_id, name, current)
        if current is not None:
            if current.backend == "unassigned":
                item.action, item.replaces, item.reason = "update", current.name, f"migrates {current.name} from backend unassigned"
            elif not options.update_existing:
                item.action, item.reason = "unchanged", f"already registered as {current.name} (use --update-existing)"
            else:
                item.action, item.reason = "update", f"refreshes {current.name}"
                item.replaces = current.name if current.name != name else None
        items.append(item)
    return items


def _provenance(
    folder: Path, model_id: str, name: str, current: RegistryEntry | None
) -> tuple[Provenance | None, str | None]:
    """What to keep of where the folder came from: the download's own record in the
    folder first, else the entry a download already recorded for this path."""
    record = provenance_for(folder, model_id, name)
    if record is not None:
        return record, "record"
    if current is not None and current.source_provider not in (None, "local"):
        # without its time: recording keeps the entry's downloaded_at only for the same install
        return attrs.evolve(Provenance.of(current), downloaded_at=None), "registry"
    return None, None


def apply_scan(
    items: list[ScanItem], registry: Registry, config: Config, progress: Callable[[ScanItem], None] | None = None
) -> list[RegistryEntry]:
    """Record the ``add``/``update`` items in one transaction; return the stored entries."""
    stored = []
    with registry.batch():
        for item in items:
            if item.action not in {"add", "update"}:
                continue
            folder = Path(item.path)
            readme = capture_readme(folder)
            metadata = EntryMetadata(
                readme_file=readme.get("readme_file"),
                readme_sha256=readme.get("readme_sha256"),
                readme_signals=readme.get("readme_signals") or {},
                license=readme.get("license"),
                chat_template=chat_template_status(folder, item.detections),
                detection_evidence=item.evidence,
                quant_scheme=item.detections[0].details.get("quant_scheme") if item.detections else None,
            )
            kept = item.kept or Provenance(name=item.name or "")
            entry = record_download(
                hf_id=kept.hf_id or item.model_id,
                backend=item.backend or "vllm",
                format_type=item.format_type,
                quantization=item.quantization,
                path=folder,
                location=kept.download_location or location_label_for(folder, config) or "custom",
                root=kept.download_root,
                source_provider=kept.source_provider or "local",
                metadata=metadata,
                revision=kept.revision,
                downloaded_at=kept.downloaded_at,
                registry=registry,
            )
            if item.replaces and item.replaces != entry.name:
                retire(registry, item.replaces, entry.name)
            stored.append(entry)
            if progress:
                progress(item)
    return stored


def retire(registry: Registry, name: str, replacement: str) -> None:
    """Take ``name`` out of the merged view in favour of ``replacement``, in discovered only;
    of an entry other hosts also hold, only this host's install goes (core.installs)."""
    layers = registry.layers()
    old = registry.find(name)
    if old is not None and old.installs and registry.view.sees(old):
        registry.update(name, lambda _: cleared_download_fields())
    elif name in layers.curated:
        registry.update(name, lambda _: {"deprecated": True, "superseded_by": replacement})
    elif name in layers.discovered:
        registry.delete(name, backup=False, layers=("discovered",))
