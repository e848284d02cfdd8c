"""``share VARIANT --to APPS``: make an installed variant usable by other apps without new bytes.

For each app the layout (:mod:`.layouts`) is carried out in an order that is safe to
interrupt: first the bytes get their new names (each made under a temporary name and
renamed into place), then the links and small files that make them visible (an Ollama
manifest, a snapshot link, ``refs/main``), each renamed into place too. A process killed
at any point leaves every app seeing either nothing new or the whole model, never a
manifest naming a missing blob. A file shared by hard link is made read-only (a write
through one name would change every app's copy). The links are recorded on the entry
(:mod:`.records`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import attrs

from imageworks.core.config import Config
from imageworks.core.disk_inventory import sha256_file
from imageworks.core.errors import ImageworksError
from imageworks.core.model import RegistryEntry
from imageworks.core.registry import Registry
from imageworks.services.share import records
from imageworks.services.share.layouts import Layout, LayoutRefused, hf_cache_layout, lmstudio_layout, ollama_layout
from imageworks.services.share.linking import (
    Method,
    ShareRefused,
    human,
    link_into_place,
    make_folders,
    make_read_only,
    same_file,
    sweep_temporaries,
    symlink_into_place,
    write_small_file,
)
from imageworks.services.share.sources import SourceFile, variant_files
from imageworks.services.share.stores import App, AppStores, app_stores

Status = Literal["shared", "already", "refused", "would share"]


@attrs.define
class AppResult:
    """What sharing did (or would do) for one app."""

    app: App
    status: Status
    name: str | None = None
    opens: list[str] = attrs.field(factory=list)
    methods: list[str] = attrs.field(factory=list)
    new_bytes: int = 0  # file data written (manifests, refs): the weights themselves are never copied
    message: str = ""
    notes: list[str] = attrs.field(factory=list)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return attrs.asdict(self)


def build_layout(app: App, entry: RegistryEntry, files: list[SourceFile], stores: AppStores) -> Layout:
    """The layout of ``entry`` in ``app``'s store."""
    if app == "ollama":
        return ollama_layout(entry, files, stores.ollama)
    if app == "lmstudio":
        return lmstudio_layout(entry, files, stores.lmstudio)
    return hf_cache_layout(entry, files, stores.hf_cache)


def _device_of(path: Path) -> int | None:
    """The device of ``path`` or of its nearest existing folder."""
    for candidate in (path, *path.parents):
        try:
            return candidate.stat().st_dev
        except OSError:
            continue
    return None


def _predicted(source: SourceFile, target: Path, symlink_ok: bool) -> str:
    if _device_of(target.parent) == source.path.stat().st_dev:
        return "hardlink"
    return "symlink" if symlink_ok else "reflink (or refused)"


def _existing(source: SourceFile, target: Path, app: App) -> str | None:
    """What to do with a name that exists already: None to (re)link it, else a note and keep it."""
    if not os.path.lexists(target):
        return None
    if same_file(source.path, target):
        return "linked already"
    if app == "ollama" or (app == "hf-cache" and target.name == source.sha256):
        return f"{target} holds these bytes as its own copy (named by their digest); `dedupe --apply` folds it"
    try:
        if target.is_file() and target.stat().st_size == source.size and sha256_file(target) == source.sha256:
            return f"{target} holds the same bytes as its own copy; `dedupe --apply` folds it"
    except OSError:
        pass
    raise ShareRefused(f"{target} exists and holds other bytes; it is not replaced", "move it away and share again")


def share_with(app: App, entry: RegistryEntry, files: list[SourceFile], stores: AppStores,
               host: str, dry_run: bool) -> tuple[AppResult, list[dict[str, Any]]]:
    """Share ``entry`` with one app; returns the result and the link records made."""
    try:
        layout = build_layout(app, entry, files, stores)
    except LayoutRefused as error:
        return AppResult(app=app, status="refused", message=str(error)), []
    result = AppResult(app=app, status="would share" if dry_run else "shared", name=layout.name,
                       opens=[str(p) for p in layout.opens], notes=list(layout.notes))
    if layout.already:
        result.status, result.message = "already", layout.already
        return result, []
    made: list[dict[str, Any]] = []
    try:
        if not dry_run:
            touched = {t.parent for _, t in layout.blobs} | {p.parent for _, p in layout.symlinks}
            sweep_temporaries(touched | {p.parent for p, _ in layout.small_files})  # what a killed run left
            for folder in layout.folders:
                make_folders(folder)
        for source, target in layout.blobs:
            kept = _existing(source, target, app)
            if kept is not None:
                result.methods.append("hardlink" if kept == "linked already" else "own copy")
                if kept != "linked already":
                    result.notes.append(kept)
                else:
                    made.append(_record(app, layout, source, target, "hardlink", host))
                continue
            if dry_run:
                result.methods.append(_predicted(source, target, layout.symlink_ok))
                continue
            method: Method = link_into_place(source.path, target, symlink_ok=layout.symlink_ok, what=_label(app))
            result.methods.append(method)
            if method == "hardlink":
                note = make_read_only(target)
                if note:
                    result.notes.append(note)
            made.append(_record(app, layout, source, target, method, host))
        if not dry_run:
            for pointing_to, link in layout.symlinks:
                symlink_into_place(pointing_to, link)
            for path, data in layout.small_files:
                write_small_file(path, data)
                result.new_bytes += len(data)
    except ShareRefused as error:
        result.status, result.message = "refused", str(error)
        return result, made
    except OSError as error:  # a folder we may not write, a full disk: this app is left as it was found
        result.status, result.message = "refused", f"{error.filename or ''}: {error.strerror or error}".lstrip(": ")
        return result, made
    result.message = f"{layout.name}: " + ", ".join(sorted(set(result.methods)))
    return result, made


def _label(app: App) -> str:
    return {"ollama": "Ollama", "lmstudio": "LM Studio", "hf-cache": "the Hugging Face cache"}[app]


def _record(app: App, layout: Layout, source: SourceFile, target: Path, method: str, host: str) -> dict[str, Any]:
    return {
        "app": app,
        "path": str(target),
        "name": layout.name,
        "opens": [str(p) for p in layout.opens if p == target or app != "lmstudio"],
        "source": source.relative,
        "method": method,
        "sha256": source.sha256,
        "size": source.size,
        "host": host,
    }


def share_variant(registry: Registry, config: Config, variant: str, apps: list[App],
                  dry_run: bool = False) -> list[AppResult]:
    """Share ``variant`` with each of ``apps``; record the links (unless ``dry_run``)."""
    entry = registry.get(variant)
    if entry.host and config.host and entry.host != config.host:
        raise ImageworksError(f"{entry.name} is installed on host {entry.host}, not on this host ({config.host})",
                              "run share on that host")
    files = variant_files(entry)
    stores = app_stores(config)
    results: list[AppResult] = []
    made: list[dict[str, Any]] = []
    for app in apps:
        result, records_made = share_with(app, entry, files, stores, config.host, dry_run)
        results.append(result)
        made.extend(records_made)
    if made and not dry_run:
        registry.update(entry.name, lambda current: {records.FIELD: records.merged(current or entry, made)})
    return results


def refusal_summary(results: list[AppResult]) -> str | None:
    """One line naming every refused app and why, or None."""
    refused = [r for r in results if r.status == "refused"]
    return "; ".join(f"{r.app}: {r.message}" for r in refused) if refused else None


__all__ = ["AppResult", "human", "refusal_summary", "share_variant"]
