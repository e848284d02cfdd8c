"""Checks that an installed variant is still what the registry says it is.

A check compares the path, the file inventory (missing and unexpected files), the total
size and, unless ``quick``, the directory checksum against the recorded values, and the
version lock's expected digest when the entry is locked.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import attrs

from imageworks.core.disk_inventory import ProgressCallback, list_files
from imageworks.core.model import RegistryEntry
from imageworks.services.inventory import take_inventory

DOWNLOAD_FIELDS = (
    "download_path",
    "download_root",
    "download_size_bytes",
    "download_directory_checksum",
    "download_files_count",
    "download_files",
)


#: ``ok``: files match the record; ``logical``: nothing on disk to check; ``missing``: the
#: path is gone; ``drift``: files differ from what was recorded.
VerifyStatus = Literal["ok", "logical", "missing", "drift"]


@attrs.define(kw_only=True)
class VerifyResult:
    """The outcome for one variant. ``status`` is ``ok``, ``logical``, ``missing`` or ``drift``."""

    name: str
    status: VerifyStatus
    path: str | None
    problems: list[str] = attrs.field(factory=list)
    missing_files: list[str] = attrs.field(factory=list)
    unexpected_files: list[str] = attrs.field(factory=list)
    checksum: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing needs attention."""
        return self.status in {"ok", "logical"}


def verify_entry(
    entry: RegistryEntry,
    quick: bool = False,
    progress: ProgressCallback | None = None,
    neighbours: Iterable[RegistryEntry] = (),
) -> VerifyResult:
    """Verify one entry against the disk.

    Size and checksum cover the files the entry records. Files in its folder that other
    entries of the same folder record (``neighbours``: pass the registry's entries) are
    theirs, not unexpected: two GGUF quants of one repo share a folder.
    """
    if entry.is_logical:
        return VerifyResult(name=entry.name, status="logical", path=entry.download_path)
    path = Path(entry.download_path or "")
    if not path.exists():
        return VerifyResult(
            name=entry.name, status="missing", path=str(path), problems=[f"path {path} does not exist"]
        )
    result = VerifyResult(name=entry.name, status="ok", path=str(path))
    on_disk = list_files(path)
    theirs = {
        name
        for other in neighbours
        if other.name != entry.name and other.download_path == entry.download_path
        for name in other.download_files
    }
    scope = [f for f in on_disk if f not in theirs]
    if entry.download_files:
        recorded = set(entry.download_files)
        scope = [f for f in on_disk if f in recorded]
        result.missing_files = sorted(recorded - set(on_disk))
        result.unexpected_files = sorted(set(on_disk) - recorded - theirs)
        if result.missing_files:
            result.problems.append(f"{len(result.missing_files)} recorded file(s) missing: {', '.join(result.missing_files[:5])}")
        if result.unexpected_files:
            result.problems.append(f"{len(result.unexpected_files)} file(s) not in the inventory: {', '.join(result.unexpected_files[:5])}")
    if quick:
        size = sum((path.parent if path.is_file() else path).joinpath(f).stat().st_size for f in scope)
    else:
        inventory = take_inventory(path, progress=progress, only=scope)
        size = inventory.total_size
        result.checksum = inventory.checksum
        recorded_checksum = entry.download_directory_checksum
        if recorded_checksum and recorded_checksum != inventory.checksum and not result.problems:
            result.problems.append("directory checksum differs from the recorded one (files changed after download)")
        expected = entry.version_lock.expected_aggregate_sha256
        if entry.version_lock.locked and expected and expected != inventory.checksum:
            result.problems.append("locked variant: content no longer matches the locked digest")
    if entry.download_size_bytes is not None and entry.download_size_bytes != size:
        result.problems.append(f"size is {size} bytes, {entry.download_size_bytes} recorded")
    if result.problems:
        result.status = "drift"
    return result
