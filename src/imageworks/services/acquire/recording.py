"""Recording what was installed (guide 9.2): the one path every source and tool records through.

``record_download`` names the variant (guide 4.2), takes the file inventory (size,
checksum, files), and writes the entry to the discovered layer at once; a second record
with the same (family, backend, format, quant) updates that entry. No explicit save is
needed. A record is this host's install: another host's install of the same variant
stays in the entry's ``installs`` (core.installs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from imageworks.core.convert import to_compact_dict
from imageworks.core.errors import ImageworksError
from imageworks.core.installs import recorded_installs
from imageworks.core.model import Artifacts, BackendConfig, EntryMetadata, RegistryEntry
from imageworks.core.naming import display_name, family_from_repo, ollama_family_and_quant, slug, variant_name
from imageworks.core.registry import Registry
from imageworks.services.inventory import artifact_files, take_inventory
from imageworks.services.listing.query import ListQuery, select
from imageworks.services.timestamps import utc_now

RECORDED_FIELDS = (
    "family",
    "display_name",
    "slug",
    "backend",
    "backend_config",
    "served_model_id",
    "hf_id",
    "revision",
    "source_provider",
    "quantization",
    "download_path",
    "download_root",
    "download_location",
    "host",
    "download_format",
    "download_size_bytes",
    "download_directory_checksum",
    "download_files_count",
    "download_files",
    "downloaded_at",
    "artifacts",
)


def _family(hf_id: str | None, served_model_id: str | None, path: str) -> str:
    if hf_id:
        repo, _, branch = hf_id.partition("@")
        return family_from_repo(repo, branch or None)
    if served_model_id:
        return ollama_family_and_quant(served_model_id)[0]
    return family_from_repo(Path(path).name)


def record_download(
    hf_id: str | None,
    backend: str,
    format_type: str | None,
    quantization: str | None,
    path: str | Path,
    location: str | None,
    *,
    root: str | Path | None = None,
    files: Sequence[str] | None = None,
    family: str | None = None,
    served_model_id: str | None = None,
    source_provider: str | None = None,
    metadata: EntryMetadata | None = None,
    known_digests: Mapping[str, str] | None = None,
    revision: str | None = None,
    downloaded_at: str | None = None,
    registry: Registry,
) -> RegistryEntry:
    """Record an installed model and return the stored (merged) entry.

    ``path`` is the model folder (or single file). Its files are inventoried now unless
    they are missing (an ``ollama://`` path, for example, records a logical entry).
    ``known_digests`` (relative path -> sha256) spares re-hashing files already verified;
    ``revision`` is the commit the files came from, when a Hub said; ``root`` the store
    root the download went into (it lets ``remove --delete-files`` delete what
    ``download --location PATH`` put there).
    Recording the same content again keeps the first ``downloaded_at``, so a repeated
    import leaves the registry bytes unchanged; ``downloaded_at`` given (a scan that found
    the download's own provenance record) is kept as it is. ``registry`` may be inside
    ``Registry.batch()`` to record many models in one transaction.
    """
    path_text = str(path)
    local = "://" not in path_text
    if local:
        path_text = str(Path(path_text).expanduser().absolute())
    family = family or _family(hf_id, served_model_id, path_text)
    quant = quantization.lower() if quantization else None
    entry = RegistryEntry(
        name=variant_name(family, backend, format_type, quant),
        family=family,
        display_name=display_name(family, quant, format_type),
        slug=slug(family, quant, format_type),
        backend=backend,
        backend_config=BackendConfig(model_path=path_text),
        served_model_id=served_model_id,
        hf_id=hf_id,
        revision=revision,
        source_provider=source_provider or ("huggingface" if hf_id else "local"),
        quantization=quant,
        download_path=path_text,
        download_root=str(Path(root).expanduser().absolute()) if root else None,
        download_location=location,
        host=registry.view.host_for(path_text),
        download_format=format_type,
        downloaded_at=downloaded_at or utc_now(),
    )
    if local and Path(path_text).exists():
        inventory = take_inventory(Path(path_text), known_digests=known_digests, only=files)
        entry.download_size_bytes = inventory.total_size
        entry.download_directory_checksum = inventory.checksum
        entry.download_files_count = len(inventory.files)
        entry.download_files = [f.path for f in inventory.files]
        entry.artifacts = Artifacts(files=artifact_files(inventory))
    fields = list(RECORDED_FIELDS)
    if metadata is not None:
        entry.metadata = metadata
        fields.append("metadata")
    values = to_compact_dict(entry)

    def change(current: RegistryEntry | None) -> dict[str, object]:
        updates = {field: values.get(field) for field in fields}
        updates.update(recorded_installs(current, entry.host, path_text, registry.view))  # other hosts' stay
        if downloaded_at is None and current is not None and _same_install(current, entry):
            updates["downloaded_at"] = current.downloaded_at
        return updates

    return registry.update(entry.name, change)


def _same_install(old: RegistryEntry, new: RegistryEntry) -> bool:
    """Whether ``new`` records the very files ``old`` already recorded."""
    return (
        old.download_path == new.download_path
        and old.host == new.host
        and old.download_directory_checksum == new.download_directory_checksum
        and old.served_model_id == new.served_model_id
        and old.downloaded_at is not None
    )


def list_downloads(registry: Registry, only_installed: bool = True) -> list[RegistryEntry]:
    """Entries that record local files; with ``only_installed``, only those present now."""
    query = ListQuery(include_testing=True, show_deprecated=True, only_installed=only_installed)
    return select(registry.entries(), query, registry.config.test_model_patterns)


def remove_download(
    registry: Registry, name: str, keep_entry: bool = True, delete: bool = False
) -> RegistryEntry | None:
    """Forget (and with ``delete``, delete) the files of ``name``.

    With ``keep_entry`` the entry stays, marked not installed, and is returned;
    otherwise it is removed from the registry and None is returned. Deletion follows
    the safety rules of :mod:`imageworks.services.maintain.removal`; with many hosts, only this
    host's install goes (other hosts' stay), unless the entry is removed.
    """
    from imageworks.services.maintain.removal import cleared_download_fields, delete_installation, plan_removal

    entry = registry.get(name)
    plan = plan_removal(entry, registry.entries(), registry.config, delete_files=delete, purge=not keep_entry)
    if plan.refusal or (delete and plan.delete_path is None):
        raise ImageworksError(f"{'not deleting files' if delete else f'not removing {entry.name}'}: {plan.refusal}")
    if plan.delete_path is not None:
        delete_installation(plan.delete_path, plan.roots, only=plan.only_files)
    if keep_entry:
        return registry.update(entry.name, lambda _: cleared_download_fields())
    registry.delete(entry.name)
    return None
