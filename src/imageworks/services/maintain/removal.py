"""Removing variants safely: what may be deleted, and the registry change that follows.

Files are deleted only when the entry's path lies strictly inside a configured store
root, is not an Ollama blob (shared between tags; use ``ollama rm``) and is not shared
with another registry entry. "Inside" is judged after resolving every link, twice: the
recorded path itself (its folders resolved, so a link outside the roots pointing into
one does not count) and what it leads to must both lie inside a root. A symlinked path
loses only the link, and emptied parent folders are removed only while they lie
strictly inside a root.

With many hosts on one registry, a removal is this host's: it clears (and deletes) the
install this host sees and leaves the other hosts' installs of the variant recorded
(core.installs); a variant installed only on another host is refused, except
``--purge``, which drops the whole entry, every host's installs with it. Only the
entries this host sees can share its files.

The roots are the configured store roots plus, for one entry, the root its download
went into (``download_root``, a ``--location PATH``), but only when the recorded path is
exactly ``<download_root>/<owner>/<repo>[@branch]`` for the entry's ``hf_id``: the
layout the downloader itself builds, so a root cannot be made up for another folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import attrs

from imageworks.core.config import Config
from imageworks.core.errors import UnsafePathError
from imageworks.core.hosts import HostView
from imageworks.core.installs import elsewhere
from imageworks.core.model import RegistryEntry
from imageworks.core.routing import target_directory
from imageworks.core.safe_paths import link_location
from imageworks.services.maintain.verify import DOWNLOAD_FIELDS


@attrs.define(kw_only=True)
class RemovalPlan:
    """What ``remove`` will do to one variant."""

    entry: RegistryEntry
    delete_path: Path | None
    purge: bool
    refusal: str | None = None
    roots: list[Path] = attrs.field(factory=list)
    only_files: list[str] | None = None  # set when the folder is shared: delete just these
    shared_with: list[str] = attrs.field(factory=list)
    other_hosts: list[str] = attrs.field(factory=list)  # hosts whose installs of the variant stay (or, purged, go)

    def describe(self) -> list[str]:
        """Human lines, one per action."""
        lines = []
        if self.delete_path and self.only_files is not None:
            lines.append(
                f"delete {len(self.only_files)} file(s) of {self.delete_path} "
                f"(the folder is shared with {', '.join(self.shared_with)}, whose files stay)"
            )
        elif self.delete_path:
            lines.append(f"delete files at {self.delete_path}")
        hosts = ", ".join(self.other_hosts)
        if self.purge:
            lines.append(f"remove registry entry {self.entry.name}" + (f" (with the installs on {hosts})" if hosts else ""))
        elif hosts:
            lines.append(f"clear this host's install of {self.entry.name} (the installs on {hosts} stay)")
        else:
            lines.append(f"clear the download metadata of {self.entry.name} (the entry stays)")
        return lines


def _inside(path: Path, root: Path) -> bool:
    """Lexical test on paths the caller has already resolved."""
    return path != root and path.is_relative_to(root)


def _in_a_root(path: Path, roots: Iterable[Path]) -> bool:
    return any(_inside(path, root) for root in roots)


def entry_root(entry: RegistryEntry) -> Path | None:
    """The root ``download --location PATH`` recorded for ``entry``, when its path matches the layout."""
    if not (entry.download_root and entry.download_path and entry.hf_id):
        return None
    repo, _, branch = entry.hf_id.partition("@")
    try:
        expected = target_directory(entry.download_root, repo, branch or None)
    except UnsafePathError:
        return None
    root = Path(entry.download_root)
    return root if root.is_absolute() and Path(entry.download_path) == expected else None


def removal_roots(entry: RegistryEntry, config: Config) -> list[Path]:
    """The roots inside which the files of ``entry`` may be deleted."""
    own = entry_root(entry)
    return [*config.locations.values(), *([own] if own is not None else [])]


def deletion_refusal(entry: RegistryEntry, others: Iterable[RegistryEntry], config: Config) -> str | None:
    """Why the files of ``entry`` must not be deleted, or None when they may be."""
    if entry.is_logical:
        return f"{entry.name} has no local files to delete"
    raw = Path(entry.download_path or "")
    if not raw.is_absolute():
        return f"recorded path {raw} is not absolute; refusing to guess where it is"
    if not raw.exists() and not raw.is_symlink():
        return f"{raw} does not exist"
    location, real = link_location(raw), raw.resolve()
    ollama_store = config.ollama_models.resolve()
    if entry.source_provider == "ollama" or any(p.is_relative_to(ollama_store) for p in (location, real)):
        served = entry.served_model_id or entry.name
        return f"{raw} is in the Ollama store; run `ollama rm {served}` instead"
    roots = [root.resolve() for root in removal_roots(entry, config)]
    listed = ", ".join(str(r) for r in roots)
    if not _in_a_root(location, roots):
        return f"{raw} is outside every store root ({listed}); refusing to delete it"
    if not _in_a_root(real, roots):
        return f"{raw} links to {real}, outside every store root ({listed}); refusing to delete it"
    kept: set[str] = set()
    for other in others:
        if other.name == entry.name or other.is_logical:
            continue
        other_real = Path(other.download_path or "").resolve()
        if other_real == real and entry.download_files and other.download_files:
            kept.update(other.download_files)  # one folder, separate files (two quants): only ours go
            continue
        if other_real == real or other_real.is_relative_to(real) or real.is_relative_to(other_real):
            return f"{raw} is shared with {other.name}; remove that variant first or keep the files"
    if kept and not set(entry.download_files) - kept:
        return f"every file of {raw} is shared with another variant; remove that variant first or keep the files"
    return None


def _sharing(entry: RegistryEntry, others: Iterable[RegistryEntry]) -> list[RegistryEntry]:
    real = Path(entry.download_path or "").resolve()
    return [
        o for o in others
        if o.name != entry.name and not o.is_logical and Path(o.download_path or "").resolve() == real
    ]


def plan_removal(
    entry: RegistryEntry, others: Iterable[RegistryEntry], config: Config, delete_files: bool, purge: bool
) -> RemovalPlan:
    """Work out a removal without changing anything (refused for another host's install,
    unless ``purge`` without ``delete_files``)."""
    view = HostView.of(config)
    plan = RemovalPlan(entry=entry, delete_path=None, purge=purge, roots=removal_roots(entry, config))
    plan.other_hosts = sorted({i.host or "?" for i in elsewhere(entry, view)})
    if entry.download_path and not view.sees(entry) and (delete_files or not purge):
        plan.refusal = (
            f"it is installed on host {entry.host}, not on this host ({view.host}); "
            "run remove on that host, or --purge to drop the entry for every host"
        )
        return plan
    if delete_files:
        others = [o for o in others if view.sees(o)]  # another host's files are not ours to share
        plan.refusal = deletion_refusal(entry, others, config)
        if plan.refusal is None:
            plan.delete_path = Path(entry.download_path or "")
            sharing = _sharing(entry, others)
            if sharing:
                kept = {name for other in sharing for name in other.download_files}
                plan.only_files = sorted(set(entry.download_files) - kept)
                plan.shared_with = sorted(o.name for o in sharing)
    return plan


def delete_installation(path: Path, roots: Iterable[Path], only: Iterable[str] | None = None) -> None:
    """Delete ``path`` (a link, a file or a folder), then empty parents up to the root.

    With ``only`` (paths relative to ``path``), delete just those files, then the folders
    they leave empty. Refuse (:class:`UnsafePathError`) a ``path`` that is not, with its
    folders resolved, strictly inside one of ``roots``; a parent folder is removed only
    while it is.
    """
    resolved_roots = [root.resolve() for root in roots]
    location = link_location(path)
    target_inside = path.is_symlink() or _in_a_root(path.resolve(), resolved_roots)  # a link loses only itself
    if not _in_a_root(location, resolved_roots) or not target_inside:
        raise UnsafePathError(f"not deleting {path}: it is not inside a store root")
    if only is not None:
        _delete_files(path.resolve(), only)
        if any(path.iterdir()):
            return
        path.rmdir()
    elif path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)
    parent = location.parent  # resolved already, so each rmdir removes the folder that was checked
    while _in_a_root(parent, resolved_roots):
        try:
            os.rmdir(parent)  # only succeeds when empty
        except OSError:
            break
        parent = parent.parent


def _delete_files(folder: Path, names: Iterable[str]) -> None:
    """Unlink ``names`` under ``folder`` (each judged where it really sits), then empty subfolders."""
    emptied: set[Path] = set()
    for name in names:
        file = folder / name
        where = link_location(file)
        if not where.is_relative_to(folder) or where == folder:
            raise UnsafePathError(f"not deleting {file}: it is not inside {folder}")
        if file.is_symlink() or file.is_file():
            file.unlink()
            emptied.add(where.parent)
    for sub in sorted(emptied, key=lambda p: len(p.parts), reverse=True):
        while sub != folder and sub.is_relative_to(folder):
            try:
                sub.rmdir()
            except OSError:
                break
            sub = sub.parent


def cleared_download_fields() -> dict[str, None]:
    """The updates that turn an installed entry into a not-installed one."""
    return {field: None for field in DOWNLOAD_FIELDS}
