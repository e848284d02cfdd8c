"""``dedupe``: find weight files held more than once across the stores, and fold them into one copy.

The stores are this tool's roots (every configured location), Ollama's blobs, the
Hugging Face cache and every folder the registry records on this host. Files are
grouped by size first; only sizes held by two or more inodes get a digest, and a digest
already known is reused: the registry's own (when the file still stats as it did when
hashed) or the one in a content-addressed name (an Ollama ``sha256-<hex>`` blob, a
Hugging Face LFS blob). A digest known only from a name is checked by hashing before a
fold relies on it.

A fold keeps one inode (the keeper: a file this user owns, with the most names) and
replaces each other copy on the same file system with a hard link to it (a reflink
where hard links are refused and the file system clones), made under a temporary name
and renamed over the copy: the copy's path holds the old file or the link, never
nothing. It never touches a file in a folder this user may not write (a read-only
store is reported), nor one owned by another user (the link would change its owner).
Each step goes in a :class:`~.journal.Journal` first, so ``--undo`` can restore copies.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import attrs

from imageworks.core.config import Config
from imageworks.core.disk_inventory import sha256_file
from imageworks.core.model import RegistryEntry
from imageworks.core.registry import Registry
from imageworks.services.share import records
from imageworks.services.share.journal import Journal
from imageworks.services.share.linking import (
    TEMP_PREFIX,
    ShareRefused,
    link_into_place,
    make_read_only,
    same_file,
    sweep_temporaries,
    temporary_name,
    writable,
)
from imageworks.services.share.sources import variant_folder
from imageworks.services.share.stores import app_stores

MIN_SIZE = 1024 * 1024  # weights are megabytes at least; small files are not worth a link
# files still being written (ours, aria2c's, huggingface_hub's, LM Studio's): never a keeper, never folded
SKIPPED_SUFFIXES = (".incomplete", ".part", ".partial", ".aria2", ".lock", ".tmp", ".imageworks-partial",
                    ".imageworks-partial.json", ".downloading")
HEX64 = frozenset("0123456789abcdef")


@attrs.define
class Found:
    """One name of a candidate file."""

    path: Path
    store: str
    size: int
    dev: int
    inode: int
    nlink: int
    uid: int
    mtime_ns: int
    sha256: str | None = None
    digest_from: str | None = None  # "registry", "name" or "hashed"

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {"path": str(self.path), "store": self.store, "inode": self.inode, "digest_from": self.digest_from}


@attrs.define
class Group:
    """Files with one content on one file system: a keeper and the copies to fold."""

    sha256: str
    size: int
    keeper: Found
    fold: list[Found] = attrs.field(factory=list)
    skipped: list[tuple[Found, str]] = attrs.field(factory=list)
    reclaimable_bytes: int = 0

    def to_json(self) -> dict[str, Any]:
        """Plain JSON."""
        return {
            "sha256": self.sha256, "size": self.size, "keeper": self.keeper.to_json(),
            "duplicates": [{**f.to_json(), "action": "fold"} for f in self.fold]
            + [{**f.to_json(), "action": "skip", "reason": why} for f, why in self.skipped],
            "reclaimable_bytes": self.reclaimable_bytes,
        }


@attrs.define
class DedupeReport:
    """The groups, the bytes a fold reclaims, and what a fold did."""

    groups: list[Group]
    files_scanned: int
    hashed_bytes: int
    notes: list[str] = attrs.field(factory=list)
    applied: bool = False
    journal: str | None = None
    folded: int = 0
    failures: list[str] = attrs.field(factory=list)

    @property
    def reclaimable_bytes(self) -> int:
        """Bytes a fold frees, summed over the groups."""
        return sum(g.reclaimable_bytes for g in self.groups)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the total is ``reclaimable_bytes``)."""
        return {
            "reclaimable_bytes": self.reclaimable_bytes, "groups": [g.to_json() for g in self.groups],
            "files_scanned": self.files_scanned, "hashed_bytes": self.hashed_bytes, "notes": self.notes,
            "applied": self.applied, "journal": self.journal, "folded": self.folded, "failures": self.failures,
        }


# -- finding ----------------------------------------------------------------------------
def store_roots(config: Config, entries: Iterable[RegistryEntry]) -> list[tuple[str, Path]]:
    """(label, folder) of every store to look in, most specific label first."""
    stores = app_stores(config)
    roots: list[tuple[str, Path]] = [("ollama", stores.ollama / "blobs"), ("hf-cache", stores.hf_cache),
                                     ("lmstudio", stores.lmstudio)]
    roots += [(label, path) for label, path in sorted(config.locations.items()) if label != "windows_lmstudio"]
    for entry in entries:
        if not entry.is_logical and (not entry.host or not config.host or entry.host == config.host):
            roots.append(("scanned", variant_folder(entry)))
    return roots


def _label(path: Path, roots: list[tuple[str, Path]]) -> str:
    for label, root in roots:
        if path.is_relative_to(root):
            return label
    return "scanned"


def find_files(roots: list[tuple[str, Path]], min_size: int) -> list[Found]:
    """Every regular file of at least ``min_size`` bytes under ``roots`` (links not followed)."""
    seen: set[Path] = set()
    found: list[Found] = []
    resolved = [(label, Path(os.path.realpath(root))) for label, root in roots]
    for _, root in resolved:
        for folder, dirs, names in os.walk(root):
            dirs[:] = sorted(d for d in dirs if not d.startswith(".") or d == ".cache")
            for name in names:
                if name.startswith(TEMP_PREFIX) or name.endswith(SKIPPED_SUFFIXES) or "-partial" in name:
                    continue
                path = Path(folder, name)
                if path in seen:
                    continue
                seen.add(path)
                try:
                    info = path.lstat()
                except OSError:
                    continue
                if not stat.S_ISREG(info.st_mode) or info.st_size < min_size:
                    continue
                found.append(Found(path=path, store=_label(path, resolved), size=info.st_size, dev=info.st_dev,
                                   inode=info.st_ino, nlink=info.st_nlink, uid=info.st_uid, mtime_ns=info.st_mtime_ns))
    return found


def recorded_digests(entries: Iterable[RegistryEntry]) -> dict[Path, tuple[int, int | None, int | None, str]]:
    """Real path -> (size, mtime_ns, inode, sha256) for every file the registry hashed."""
    known = {}
    for entry in entries:
        if entry.is_logical:
            continue
        folder = variant_folder(entry)
        for record in entry.artifacts.files:
            if record.sha256:
                known[Path(os.path.realpath(folder / record.path))] = (record.size, record.mtime_ns, record.inode, record.sha256)
    return known


def _name_digest(found: Found) -> str | None:
    name = found.path.name
    if found.store == "ollama" and name.startswith(("sha256-", "sha256:")):
        hexdigest = name[7:]
    elif found.store == "hf-cache" and found.path.parent.name == "blobs":
        hexdigest = name
    else:
        return None
    return hexdigest if len(hexdigest) == 64 and set(hexdigest) <= HEX64 else None


def _digest(found: Found, known: dict[Path, tuple[int, int | None, int | None, str]]) -> tuple[str, str, int]:
    """(sha256, where it came from, bytes hashed)."""
    record = known.get(found.path)
    if record is not None and record[:3] == (found.size, found.mtime_ns, found.inode):
        return record[3], "registry", 0
    named = _name_digest(found)
    if named:
        return named, "name", 0
    return sha256_file(found.path), "hashed", found.size


def _keeper_order(found: Found, me: int) -> tuple[bool, bool, int, bool, str]:
    """Own files first, then in a writable folder, with the most names, with a checked digest."""
    return (found.uid != me, not writable(found.path.parent), -found.nlink, found.digest_from == "name", str(found.path))


def plan_dedupe(config: Config, entries: list[RegistryEntry], min_size: int = MIN_SIZE) -> DedupeReport:
    """The report: every duplicated content, its keeper, its copies and the bytes a fold frees."""
    roots = store_roots(config, entries)
    files = find_files(roots, min_size)
    by_size: dict[int, list[Found]] = defaultdict(list)
    for found in files:
        by_size[found.size].append(found)
    known = recorded_digests(entries)
    hashed = 0
    by_content: dict[tuple[str, int], list[Found]] = defaultdict(list)
    digests: dict[tuple[int, int], tuple[str, str]] = {}
    for _size, same_size in sorted(by_size.items()):
        if len({(f.dev, f.inode) for f in same_size}) < 2:
            continue
        for found in same_size:
            key = (found.dev, found.inode)
            if key not in digests:
                digest, source, cost = _digest(found, known)
                digests[key] = (digest, source)
                hashed += cost
            found.sha256, found.digest_from = digests[key]
            by_content[(found.sha256, found.dev)].append(found)
    me = os.getuid()
    groups: list[Group] = []
    notes: list[str] = []
    contents: dict[str, set[int]] = defaultdict(set)
    for (digest, dev), names in sorted(by_content.items(), key=lambda item: (item[0][0], item[0][1])):
        contents[digest].add(dev)
        inodes = {f.inode for f in names}
        if len(inodes) < 2:
            continue
        keeper = min(names, key=lambda f: _keeper_order(f, me))
        group = Group(sha256=digest, size=keeper.size, keeper=keeper)
        names_of: dict[int, list[Found]] = defaultdict(list)
        for found in names:
            if found.inode != keeper.inode:
                names_of[found.inode].append(found)
        for inode_names in names_of.values():
            foldable = []
            for found in inode_names:
                why = _refusal(found, keeper)
                if why:
                    group.skipped.append((found, why))
                else:
                    foldable.append(found)
            group.fold.extend(foldable)
            if foldable and len(foldable) == len(inode_names) and inode_names[0].nlink == len(inode_names):
                group.reclaimable_bytes += keeper.size
            elif foldable:
                notes.append(f"{inode_names[0].path} has names outside the stores or not foldable: its bytes stay")
        groups.append(group)
    for digest, devices in contents.items():
        if len(devices) > 1:
            notes.append(f"content {digest[:12]} is also held on another file system: a link cannot join them")
    return DedupeReport(groups=groups, files_scanned=len(files), hashed_bytes=hashed, notes=notes)


def _refusal(found: Found, keeper: Found) -> str | None:
    if not writable(found.path.parent):
        return f"read-only store ({found.path.parent} is not writable): reported, not touched"
    if found.uid != keeper.uid:
        return f"owned by uid {found.uid}, the keeper by uid {keeper.uid}: a link would change its owner"
    return None


# -- folding ----------------------------------------------------------------------------
def _confirmed(found: Found, expected: str) -> bool:
    """The file still stats as found and (when its digest came from a name) hashes as named."""
    try:
        info = found.path.lstat()
    except OSError:
        return False
    if (info.st_size, info.st_ino, info.st_mtime_ns) != (found.size, found.inode, found.mtime_ns):
        return False
    return found.digest_from != "name" or sha256_file(found.path) == expected


def apply_dedupe(config: Config, registry: Registry, report: DedupeReport,
                 before_rename: Callable[[Path], None] | None = None) -> DedupeReport:
    """Fold every group of ``report``, journalled; returns the report with what was done."""
    sweep_temporaries({f.path.parent for g in report.groups for f in [g.keeper, *g.fold]})
    journal = Journal.create(config)
    report.applied, report.journal = True, journal.id
    made: list[list[Found]] = []
    for group in report.groups:
        if not group.fold:
            continue
        if not _confirmed(group.keeper, group.sha256):
            report.failures.append(f"{group.keeper.path} changed since it was examined; its group was left alone")
            continue
        keeper_mode = stat.S_IMODE(group.keeper.path.stat().st_mode)
        journal.data["keepers"].setdefault(str(group.keeper.path), keeper_mode)
        members = [group.keeper]
        for found in group.fold:
            if not _confirmed(found, group.sha256):
                report.failures.append(f"{found.path} changed since it was examined; left alone")
                continue
            info = found.path.stat()
            step = journal.add({"path": str(found.path), "keeper": str(group.keeper.path), "sha256": group.sha256,
                                "size": group.size, "mode": stat.S_IMODE(info.st_mode),
                                "atime_ns": info.st_atime_ns, "mtime_ns": info.st_mtime_ns, "store": found.store})
            if before_rename is not None:
                before_rename(found.path)
            try:
                method = link_into_place(group.keeper.path, found.path, symlink_ok=False, what=found.store)
            except (ShareRefused, OSError) as error:
                journal.mark(step, "failed", error=str(error))
                report.failures.append(f"{found.path}: {error}")
                continue
            journal.mark(step, "done", method=method)
            report.folded += 1
            members.append(found)
            if method == "hardlink":
                note = make_read_only(group.keeper.path)
                if note:
                    report.notes.append(note)
        if len(members) > 1:
            made.append(members)
    journal.data["state"] = "applied"
    journal.save()
    _record_links(registry, config, made, journal.id)
    return report


def _owners(registry: Registry, config: Config) -> dict[Path, tuple[str, str]]:
    """Real path -> (variant, relative name) for every file the registry records on this host."""
    owners = {}
    for entry in registry.entries():
        if entry.is_logical or (entry.host and config.host and entry.host != config.host):
            continue
        folder = variant_folder(entry)
        for name in entry.download_files:
            owners[Path(os.path.realpath(folder / name))] = (entry.name, name)
    return owners


def _record_links(registry: Registry, config: Config, made: list[list[Found]], journal_id: str) -> None:
    """Record each fold on the variants whose files took part, so remove and verify know of it."""
    owners = _owners(registry, config)
    new: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for members in made:
        for mine in members:
            owner = owners.get(mine.path)
            if owner is None:
                continue
            for other in members:
                if other is mine:
                    continue
                new[owner[0]].append({"app": other.store, "path": str(other.path), "name": f"dedupe {journal_id}",
                                      "opens": [str(other.path)], "source": owner[1], "method": "hardlink",
                                      "sha256": mine.sha256, "size": mine.size, "host": config.host,
                                      "journal": journal_id})
    if not new:
        return
    with registry.batch():
        for name, links in new.items():
            registry.update(name, _adding(links))


def undo_dedupe(config: Config, registry: Registry, journal_id: str,
                before_rename: Callable[[Path], None] | None = None) -> tuple[int, list[str]]:
    """Give every file the fold ``journal_id`` linked its own copy again; (restored, problems)."""
    journal = Journal.load(config, journal_id)
    restored, problems = 0, []
    for step in reversed(journal.steps):
        if step.get("state") not in ("done", "pending"):
            continue
        path, keeper = Path(step["path"]), Path(step["keeper"])
        if not path.exists():
            problems.append(f"{path} is gone; nothing to restore")
            journal.mark(step, "gone")
            continue
        if step.get("method") == "reflink" or not same_file(path, keeper):
            journal.mark(step, "undone")  # its own inode already (never folded, or a reflink: copy on write)
            continue
        temporary = temporary_name(path)
        try:
            shutil.copyfile(path, temporary)
            os.chmod(temporary, int(step["mode"]))
            os.utime(temporary, ns=(int(step["atime_ns"]), int(step["mtime_ns"])))
            if before_rename is not None:
                before_rename(path)
            os.replace(temporary, path)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            problems.append(f"{path}: {error.strerror or error}")
            continue
        journal.mark(step, "undone")
        restored += 1
    for keeper_path, mode in journal.data.get("keepers", {}).items():
        try:
            os.chmod(keeper_path, int(mode))
        except OSError as error:
            problems.append(f"could not restore the mode of {keeper_path}: {error.strerror or error}")
    journal.data["state"] = "undone" if not problems else "undone with problems"
    journal.save()
    _forget_links(registry, journal_id)
    return restored, problems


def _forget_links(registry: Registry, journal_id: str) -> None:
    touched = [e for e in registry.entries() if any(r.get("journal") == journal_id for r in records.links_of(e))]
    if not touched:
        return
    with registry.batch():
        for entry in touched:
            kept = [r for r in records.links_of(entry) if r.get("journal") != journal_id]
            registry.update(entry.name, _setting(kept))


def _adding(links: list[dict[str, Any]]) -> Callable[[RegistryEntry | None], dict[str, Any]]:
    def change(current: RegistryEntry | None) -> dict[str, Any]:
        return {records.FIELD: records.merged(current, links)} if current else {}

    return change


def _setting(kept: list[dict[str, Any]]) -> Callable[[RegistryEntry | None], dict[str, Any]]:
    def change(_: RegistryEntry | None) -> dict[str, Any]:
        return {records.FIELD: kept or None}

    return change
