"""What is on disk under a download path: files, sizes, sha256 digests and one checksum.

The directory checksum is the sha256 of one ``path<TAB>size<TAB>sha256`` line per file,
sorted by path, so it changes when any file is added, removed, renamed or altered, and
it can be recomputed from recorded per-file digests without reading the files again.
Each record keeps the file's size, modification time (ns) and inode as hashed, so a
later inventory given those records (``recorded``) reads only files whose stat changed.
Transfer leftovers (``*.aria2``, ``*.incomplete``, ``*.part``) and tool folders
(``.cache``, ``.git``) are not part of a model.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from imageworks.core.model import ArtifactFile, FileRecord, Inventory
from imageworks.core.regular_files import open_regular

SKIPPED_DIRS = frozenset({".cache", ".git", ".huggingface", "__pycache__"})
# transfer leftovers: partial files and their resume state (the Python engine's sidecar and its scratch copy)
SKIPPED_SUFFIXES = (".aria2", ".incomplete", ".part", ".imageworks-partial", ".imageworks-partial.json",
                    ".imageworks-partial.json.tmp", ".lock")
HASH_CHUNK = 8 * 1024 * 1024

ProgressCallback = Callable[[int], None]


def list_files(root: Path, max_depth: int | None = None) -> list[str]:
    """Relative POSIX paths of the model files under ``root`` (or ``[name]`` for a file),
    descending at most ``max_depth`` folders when given."""
    if root.is_file():
        return [root.name]
    found: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        depth = len(Path(folder).relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and (max_depth is None or depth < max_depth))
        for name in files:
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            full = Path(folder, name)
            if full.is_file():  # follows file symlinks (HF cache snapshots), skips dangling ones
                found.append(full.relative_to(root).as_posix())
    return sorted(found)


def sha256_file(path: Path, progress: ProgressCallback | None = None) -> str:
    """sha256 of a file, read in large chunks; ``progress`` gets the bytes of each chunk."""
    digest = hashlib.sha256()
    with open_regular(path, buffering=0) as handle:  # a FIFO swapped in after listing must not hang us
        buffer = bytearray(HASH_CHUNK)
        view = memoryview(buffer)
        while count := handle.readinto(buffer):
            digest.update(view[:count])
            if progress:
                progress(count)
    return digest.hexdigest()


def directory_checksum(records: Iterable[FileRecord]) -> str:
    """The checksum summarising a set of file records (order does not matter)."""
    digest = hashlib.sha256()
    for record in sorted(records, key=lambda r: r.path):
        digest.update(f"{record.path}\t{record.size}\t{record.sha256}\n".encode())
    return digest.hexdigest()


def take_inventory(
    root: Path,
    known_digests: Mapping[str, str] | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 2,
    only: Iterable[str] | None = None,
    recorded: Mapping[str, FileRecord] | None = None,
) -> Inventory:
    """Inventory ``root`` (a folder or one file), hashing every file not in ``known_digests``.

    ``known_digests`` maps relative path -> sha256 already established (for example the
    Hub's LFS digest verified at download); those files are not read again. ``recorded``
    maps relative path -> an earlier record: its sha256 is reused when the file's
    (size, mtime_ns, inode) is unchanged. ``only`` limits the inventory to those relative
    paths (the files one entry owns in a folder it shares with another, such as two GGUF
    quants of one repo); missing ones are left out.
    """
    known = known_digests or {}
    earlier = recorded or {}
    base = root.parent if root.is_file() else root
    paths = list_files(root)
    if only is not None:
        wanted = set(only)
        paths = [p for p in paths if p in wanted]

    found: dict[str, FileRecord] = {}
    to_read: list[tuple[str, os.stat_result]] = []
    for relative in paths:
        stat = (base / relative).stat()  # taken before any read: a file changing meanwhile is read again next time
        before = earlier.get(relative)
        if before is not None and before.same_file(stat.st_size, stat.st_mtime_ns, stat.st_ino):
            found[relative] = before
        elif relative in known:
            found[relative] = _record(relative, stat, known[relative])
        else:
            to_read.append((relative, stat))

    def hashed(item: tuple[str, os.stat_result]) -> FileRecord:
        return _record(item[0], item[1], sha256_file(base / item[0], progress))

    if len(to_read) > 1:  # threads only where there is hashing to share (hashlib releases the GIL)
        from concurrent.futures import ThreadPoolExecutor  # threads only when files are hashed

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            found.update((record.path, record) for record in pool.map(hashed, to_read))
    else:
        found.update((record.path, record) for record in map(hashed, to_read))
    records = tuple(found[p] for p in paths)
    return Inventory(
        files=records,
        total_size=sum(r.size for r in records),
        checksum=directory_checksum(records),
    )


def _record(relative: str, stat: os.stat_result, sha256: str) -> FileRecord:
    return FileRecord(path=relative, size=stat.st_size, sha256=sha256, mtime_ns=stat.st_mtime_ns, inode=stat.st_ino)


def artifact_files(inventory: Inventory) -> list[ArtifactFile]:
    """The per-file records of ``inventory`` as an entry stores them (``artifacts.files``)."""
    return [
        ArtifactFile(path=f.path, size=f.size, sha256=f.sha256, mtime_ns=f.mtime_ns, inode=f.inode)
        for f in inventory.files
    ]


def recorded_files(files: Iterable[ArtifactFile]) -> dict[str, FileRecord]:
    """An entry's ``artifacts.files`` as ``recorded`` for :func:`take_inventory` (digested ones only)."""
    return {
        f.path: FileRecord(path=f.path, size=f.size, sha256=f.sha256, mtime_ns=f.mtime_ns, inode=f.inode)
        for f in files
        if f.sha256
    }
