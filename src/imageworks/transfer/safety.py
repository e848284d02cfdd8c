"""Checks done before the first byte is written: safe names, free space, partial-file layout.

Partial data lives beside its target as ``<name>.imageworks-partial`` (plus an engine's own
state file next to it) and is renamed over the target only once verified, so files in the
target folder that are not part of a job are never touched.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import unicodedata
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

import attrs

from imageworks.core.disk_inventory import sha256_file
from imageworks.core.errors import UnsafePathError
from imageworks.core.transfers import RemoteFile, TransferJob
from imageworks.transfer.errors import NotEnoughSpaceError

PARTIAL_SUFFIX = ".imageworks-partial"
NAME_MAX = 255  # bytes per path segment on the usual Linux file systems
# the longest name built from a remote one: the Python engine's scratch state file
_LONGEST_SIDECAR = len(PARTIAL_SUFFIX + ".json.tmp")
_DRIVE = re.compile(r"^[A-Za-z]:")
# Cc: C0, DEL and C1 controls; Cf: format (bidi, zero-width); Zl/Zp: separators; Cs: surrogates
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


@attrs.frozen
class PlannedFile:
    """A job file with its final and partial paths."""

    remote: RemoteFile
    final: Path
    partial: Path


def safe_relative_path(name: str) -> PurePosixPath:
    """Return ``name`` as a relative POSIX path, or raise :class:`UnsafePathError`.

    This is the one check of remote file names, shared by the planner and both engines.
    Refused: empty names, absolute paths, drive letters, backslashes, ``.``/``..`` and
    empty segments, names that would collide with our partial files, and any character
    that has no business in a repository file name: control characters (C0, DEL, C1:
    newlines would inject options into aria2c's input file, escapes rewrite the terminal),
    Unicode format characters (bidi overrides and zero-width characters disguise a name),
    line/paragraph separators and lone surrogates (not encodable on disk). A segment must
    also leave room for our partial-file suffixes within the usual 255-byte name limit, so
    a name fails here rather than half way through a transfer.
    """
    reason = _unsafe_reason(name)
    if reason:
        raise UnsafePathError(
            f"refusing remote file name {name!r}: {reason}",
            "the repository lists a hostile or malformed file name; nothing was written",
        )
    return PurePosixPath(name)


def _unsafe_reason(name: str) -> str | None:
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or _DRIVE.match(name) is not None
        or any(part in ("", ".", "..") for part in name.split("/"))
    ):
        return "it is not a plain relative path"
    bad = next((c for c in name if unicodedata.category(c) in _FORBIDDEN_CATEGORIES), None)
    if bad is not None:
        return f"it contains the character U+{ord(bad):04X}"
    if PARTIAL_SUFFIX in name:
        return "it would collide with our partial files"
    if any(len(part.encode()) > NAME_MAX - _LONGEST_SIDECAR for part in name.split("/")):
        return "a part of it is too long for a file name"
    return None


def plan(job: TransferJob) -> list[PlannedFile]:
    """Validate every name of ``job`` (before anything is written) and place its files."""
    root = job.target_dir.absolute()
    resolved_root = root.resolve()
    planned, seen = [], set()
    for remote in job.files:
        relative = safe_relative_path(remote.relative_path)
        final = root.joinpath(*relative.parts)
        if not final.resolve().is_relative_to(resolved_root):
            raise UnsafePathError(f"refusing {remote.relative_path!r}: it would land outside {root}")
        if relative in seen:
            raise UnsafePathError(f"the job lists {remote.relative_path!r} twice")
        seen.add(relative)
        planned.append(PlannedFile(remote, final, final.with_name(final.name + PARTIAL_SUFFIX)))
    return planned


def already_complete(item: PlannedFile) -> bool:
    """Whether the final file is in place with the right size and digest (a finished earlier run).

    Only a regular file counts: a link planted at the final path is replaced, not trusted.
    """
    try:
        info = item.final.lstat()
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size != item.remote.size:
        return False
    return item.remote.sha256 is None or sha256_file(item.final) == item.remote.sha256


def check_free_space(target_dir: Path, needed: int) -> None:
    """Raise :class:`NotEnoughSpaceError` unless the file system of ``target_dir`` has ``needed`` bytes free."""
    probe = target_dir.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise NotEnoughSpaceError(str(target_dir), needed, free)


def partial_bytes(path: Path) -> int:
    """Allocated bytes of a partial file (sparse files count only what was written; a link counts nothing)."""
    try:
        info = path.lstat()
    except OSError:
        return 0
    return min(info.st_size, info.st_blocks * 512) if stat.S_ISREG(info.st_mode) else 0


def remove_quietly(*paths: Path) -> None:
    """Delete files that may not exist."""
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def bytes_still_needed(items: Sequence[PlannedFile], on_disk: dict[Path, int]) -> int:
    """Bytes left to write for ``items`` given what partial files already hold."""
    return sum(max(item.remote.size - on_disk.get(item.partial, 0), 0) for item in items)
