"""Import the Ollama models on this machine into the registry (guide 6.3, Strategy A).

``<name>:<tag>`` becomes ``<family>-<backend>-gguf[-<quant>]`` (family from name and tag,
quant from the GGUF header, the config blob or the tag), ``served_model_id`` keeps the
Ollama name and the path is the GGUF model blob (``ollama://<name:tag>`` when only the
server knows the model). Every entry is recorded inside one registry batch of the
:class:`Registry` the caller opened, with the blob's digest passed as known so no blob
is re-hashed; importing twice leaves the registry bytes identical. ``downloaded_at`` is
when Ollama wrote the model's manifest (the pull), so it survives ``rebuild-ollama``. A dry run runs the
same code on :meth:`Registry.scratch` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from imageworks.core.config import Config
from imageworks.core.convert import converter, to_compact_dict
from imageworks.core.errors import ImageworksError
from imageworks.core.model import EntryMetadata, RegistryEntry
from imageworks.core.naming import ollama_family_and_quant, variant_name
from imageworks.core.registry import Registry
from imageworks.providers.ollama.catalog import Catalog, FoundModel, build_catalog
from imageworks.providers.ollama.store import canonical_name
from imageworks.services.acquire.recording import record_download

ACTIONS = ("add", "update", "unchanged", "skip", "deprecate", "restore")


@attrs.define(kw_only=True)
class ImportItem:
    """What happened (or, in a dry run, would happen) to one model or entry."""

    served_model_id: str | None
    variant: str | None
    action: str
    reason: str = ""
    path: str | None = None
    quantization: str | None = None
    origin: str | None = None


@attrs.define(kw_only=True)
class ImportReport:
    """The outcome of an import; :meth:`to_json` gives its plain JSON form."""

    dry_run: bool
    backend: str
    location: str | None
    stores: list[str] = attrs.field(factory=list)
    api_url: str | None = None
    api_reachable: bool = False
    items: list[ImportItem] = attrs.field(factory=list)
    warnings: list[str] = attrs.field(factory=list)

    def counts(self) -> dict[str, int]:
        """Number of items per action."""
        return {action: sum(1 for i in self.items if i.action == action) for action in ACTIONS}

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict (used by ``--json``)."""
        data: dict[str, Any] = converter.unstructure(self)
        data["counts"] = self.counts()
        return data

    def headers(self) -> list[str]:
        """Columns of the report table."""
        return ["Action", "Variant", "Served id", "Quant", "Detail"]

    def rows(self) -> list[list[str]]:
        """One row per model and what was (or would be) done with it."""
        return [
            [i.action, i.variant or "", i.served_model_id or "", i.quantization or "", i.reason or i.path or ""]
            for i in self.items
        ]

    def summary(self) -> str:
        """Counts per action, prefixed for a dry run."""
        counts = ", ".join(f"{n} {action}" for action, n in self.counts().items() if n) or "nothing to do"
        return f"{'Dry run (nothing written): ' if self.dry_run else ''}{counts}"


def working_registry(registry: Registry, dry_run: bool) -> Registry:
    """``registry`` itself, or for a dry run a scratch copy of it (already scratch: itself)."""
    return registry.scratch() if dry_run and not registry.is_scratch else registry


def is_ollama_entry(entry: RegistryEntry) -> bool:
    """Whether ``entry`` stands for an Ollama model."""
    return (
        entry.source_provider == "ollama"
        or entry.backend == "ollama"
        or (entry.download_path or "").startswith("ollama://")
    )


def variant_for(model: FoundModel, backend: str) -> tuple[str, str]:
    """(family, variant name) of ``model`` under Strategy A."""
    family = ollama_family_and_quant(model.name)[0]
    return family, variant_name(family, backend, model.format, model.quantization)


def import_ollama(
    registry: Registry,
    *,
    dry_run: bool = False,
    backend: str = "ollama",
    location: str | None = None,
    deprecate_placeholders: bool = False,
    use_api: bool = True,
    catalog: Catalog | None = None,
) -> ImportReport:
    """Record every Ollama model found (store and server) in ``registry``.

    The store and server come from ``registry.config``. With ``dry_run`` (or a scratch
    ``registry``) the same work is done on a scratch copy and the report says so.
    ``location`` is the label recorded as ``download_location`` (default: the label the
    entry already has, else that of the configured root holding the store, else ``ollama``). With
    ``deprecate_placeholders``, older logical-only Ollama entries are marked deprecated
    when a real import now covers their ``served_model_id`` or their model is gone; a
    covered placeholder's roles, role priorities and capabilities pass to the entry that
    covers it (``superseded_by`` names it), so ``list-roles`` still finds them.
    """
    registry = working_registry(registry, dry_run)
    config = registry.config
    catalog = catalog or build_catalog(config, use_api=use_api)
    report = ImportReport(
        dry_run=registry.is_scratch,
        backend=backend,
        location=location,
        stores=catalog.stores,
        api_url=catalog.api_url,
        api_reachable=catalog.api_reachable,
        warnings=list(catalog.warnings),
    )
    with registry.batch():
        before = {e.name: to_compact_dict(e) for e in registry.entries()}
        recorded = _record_all(registry, catalog, report, before, config, backend, location)
        if deprecate_placeholders:
            _deprecate(registry, catalog, report, recorded)
    return report


def _groups(catalog: Catalog, backend: str) -> dict[str, list[FoundModel]]:
    """Variant name -> models that map to it, the one to record first."""
    groups: dict[str, list[FoundModel]] = {}
    for model in catalog.models:
        if not model.problem:
            groups.setdefault(variant_for(model, backend)[1], []).append(model)
    for members in groups.values():
        members.sort(key=lambda m: (not m.is_local, m.name))
    return groups


def _record_all(
    registry: Registry,
    catalog: Catalog,
    report: ImportReport,
    before: dict[str, Any],
    config: Config,
    backend: str,
    location: str | None,
) -> dict[str, FoundModel]:
    """Record each variant once; return variant name -> the model recorded for it."""
    for model in catalog.models:
        if model.problem:
            report.items.append(
                ImportItem(
                    served_model_id=model.name, variant=None, action="skip", reason=model.problem, origin=model.origin
                )
            )
    recorded: dict[str, FoundModel] = {}
    for name, (primary, *others) in sorted(_groups(catalog, backend).items()):
        aliases = [m.name for m in others if m.content_id and m.content_id == primary.content_id]
        for other in others:
            if other.name not in aliases:
                report.items.append(
                    ImportItem(
                        served_model_id=other.name,
                        variant=name,
                        action="skip",
                        reason=f"{primary.name} has the same variant name and different weights; retag one in Ollama",
                        origin=other.origin,
                    )
                )
        # Without --location, an entry keeps the label it has (rebuild-ollama --location, then discover-all).
        label = location or (before.get(name) or {}).get("download_location") or _location_label(config, primary)
        entry = _record(registry, primary, config, backend, label)
        if aliases:
            entry = registry.update(name, _add_aliases(aliases))
        after = to_compact_dict(entry)
        action = "add" if name not in before else ("unchanged" if before[name] == after else "update")
        before[name] = after
        reason = (
            f"also served as {', '.join(aliases)}"
            if aliases
            else f"quant from {primary.quantization_source or 'nowhere'}"
        )
        report.items.append(
            ImportItem(
                served_model_id=primary.name,
                variant=name,
                action=action,
                reason=reason,
                path=primary.path,
                quantization=primary.quantization,
                origin=primary.origin,
            )
        )
        recorded[name] = primary
    return recorded


def _add_aliases(aliases: list[str]) -> Callable[[RegistryEntry | None], dict[str, Any]]:
    """A registry change adding ``aliases`` to ``model_aliases`` (hand-kept ones stay)."""
    return lambda current: {"model_aliases": sorted(set(current.model_aliases if current else []) | set(aliases))}


def _record(registry: Registry, model: FoundModel, config: Config, backend: str, location: str) -> RegistryEntry:
    family = variant_for(model, backend)[0]
    known = {model.blob_name: model.digest} if model.blob_name and model.digest else None
    extra = {
        key: value
        for key, value in {
            "manifest_digest": model.manifest_digest,
            "parameter_size": model.parameter_size,
            "model_family": model.model_family,
            "quantization_source": model.quantization_source,
        }.items()
        if value
    }
    metadata = EntryMetadata(license=model.license, chat_template=model.chat_template, extra={"ollama": extra})
    return record_download(
        None,
        backend,
        model.format,
        model.quantization,
        model.path or f"ollama://{model.name}",
        location,
        family=family,
        served_model_id=model.name,
        source_provider="ollama",
        metadata=metadata,
        known_digests=known,
        downloaded_at=model.pulled_at,  # the pull's time, so a purge and re-import keeps it
        registry=registry,
    )


def _location_label(config: Config, model: FoundModel) -> str:
    """The label of the configured root that holds the blob, else ``ollama``."""
    if model.is_local:
        path = Path(model.path or "")
        for label, root in sorted(config.locations.items()):
            if path.is_relative_to(root):
                return label
    return "ollama"


def _deprecate(registry: Registry, catalog: Catalog, report: ImportReport, recorded: dict[str, FoundModel]) -> None:
    """Mark logical-only Ollama placeholders deprecated when covered by a real import or gone."""
    real = {canonical_name(m.name): name for name, m in recorded.items() if m.is_local}
    present = catalog.by_name()
    for entry in registry.entries():
        if entry.deprecated or entry.name in recorded or not entry.is_logical or not is_ollama_entry(entry):
            continue
        served_id = entry.served_model_id or (entry.download_path or "").removeprefix("ollama://") or None
        served = canonical_name(served_id) if served_id else None
        replacement = real.get(served) if served else None
        if replacement is not None:
            reason = f"covered by {replacement}"
            registry.update(replacement, _inherit_serving_intent(entry))
        elif served and catalog.authoritative and served not in present:
            reason = "no longer in Ollama"
        else:
            continue
        changes: dict[str, Any] = {"deprecated": True, "superseded_by": replacement}
        registry.update(entry.name, lambda _, values=changes: values)  # type: ignore[misc]  # mypy cannot infer a lambda with a default
        report.items.append(
            ImportItem(served_model_id=entry.served_model_id, variant=entry.name, action="deprecate", reason=reason)
        )


def _inherit_serving_intent(placeholder: RegistryEntry) -> Callable[[RegistryEntry | None], dict[str, Any]]:
    """A change giving the entry that replaces ``placeholder`` its roles, role priorities
    and capabilities (the entry's own values first), so deprecating loses none."""

    def change(current: RegistryEntry | None) -> dict[str, Any]:
        own = current or RegistryEntry(name=placeholder.name)
        roles = list(dict.fromkeys([*own.roles, *placeholder.roles]))
        return {
            "roles": roles,
            "role_priorities": {**placeholder.role_priorities, **own.role_priorities},
            "capabilities": {**placeholder.capabilities, **own.capabilities},
        }

    return change


def import_model(
    registry: Registry,
    config: Config,
    name: str,
    *,
    backend: str = "ollama",
    location: str | None = None,
    catalog: Catalog | None = None,
) -> RegistryEntry:
    """Record the one Ollama model ``name`` into ``registry`` as :func:`import_ollama` would.

    Same naming, fields and location label; the other tags that share its variant name
    are handled as the full import handles them (aliases or skipped). Used after
    ``download ollama://<name>`` pulled the model. Raise :class:`ImageworksError` when
    neither the store nor the server shows the model, or it cannot be read.
    """
    catalog = catalog or build_catalog(config)
    wanted = canonical_name(name)
    model = catalog.by_name().get(wanted) or next(  # Ollama compares names case-insensitively
        (m for m in catalog.models if canonical_name(m.name).casefold() == wanted.casefold()), None
    )
    if model is None:
        where = ", ".join(catalog.stores) or "no store"
        raise ImageworksError(
            f"{name} is not in the Ollama store ({where}) nor listed by the server at {catalog.api_url}",
            "set OLLAMA_MODELS to the store the server writes, or run `imageworks-download import-ollama`",
        )
    if model.problem:
        raise ImageworksError(f"cannot import {name}: {model.problem}")
    variant = variant_for(model, backend)[1]
    scoped = attrs.evolve(
        catalog, models=[m for m in catalog.models if not m.problem and variant_for(m, backend)[1] == variant]
    )
    report = ImportReport(dry_run=False, backend=backend, location=location)
    with registry.batch():
        before = {e.name: to_compact_dict(e) for e in registry.entries()}
        _record_all(registry, scoped, report, before, config, backend, location)
    return registry.get(variant)
