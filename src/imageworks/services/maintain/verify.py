"""Checks that an installed variant is still what the registry says it is.

A check compares the path, the file inventory (missing and unexpected files), the total
size and, unless ``quick``, the directory checksum against the recorded values, and the
version lock's expected digest when the entry is locked. Each file that differs is named
with its expected and actual size and sha256 (:class:`FileDrift`), as ``hf cache verify``
does, so the remedy can be limited to those files.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import attrs

from imageworks.core.disk_inventory import ProgressCallback, list_files, sha256_file
from imageworks.core.model import Inventory, RegistryEntry
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


@attrs.define(kw_only=True, frozen=True)
class FileDrift:
    """One file that is not what was recorded: ``changed``, ``missing`` or ``extra``.

    Digests and sizes are ``None`` where there is nothing to compare (a missing file has
    no actual digest, an extra one no expected digest, ``--quick`` hashes nothing).
    """

    path: str
    problem: Literal["changed", "missing", "extra"]
    expected_sha256: str | None = None
    actual_sha256: str | None = None
    expected_size: int | None = None
    actual_size: int | None = None


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
    files: list[FileDrift] = attrs.field(factory=list)

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
    folder = path.parent if path.is_file() else path
    if quick:
        size = sum(folder.joinpath(f).stat().st_size for f in scope)
        result.files = _drifts(entry, result, folder, None)
    else:
        size = _check_digests(entry, result, path, scope, progress)
    if entry.download_size_bytes is not None and entry.download_size_bytes != size:
        result.problems.append(f"size is {size} bytes, {entry.download_size_bytes} recorded")
    if result.problems:
        result.status = "drift"
    return result


def _check_digests(
    entry: RegistryEntry, result: VerifyResult, path: Path, scope: list[str], progress: ProgressCallback | None
) -> int:
    """Hash the files in ``scope``: name each that changed, compare the directory checksum
    and the locked digest; returns their total size."""
    folder = path.parent if path.is_file() else path
    inventory = take_inventory(path, progress=progress, only=scope)
    result.files = _drifts(entry, result, folder, inventory)
    result.checksum = inventory.checksum
    recorded_checksum = entry.download_directory_checksum
    changed = [d.path for d in result.files if d.problem == "changed"]
    if changed:
        result.problems.append(f"directory checksum differs from the recorded one: {len(changed)} file(s) changed"
                               f" since download: {', '.join(changed[:5])}")
    elif recorded_checksum and recorded_checksum != inventory.checksum and not result.problems:
        result.problems.append("directory checksum differs from the recorded one (files changed after download)")
    expected = entry.version_lock.expected_aggregate_sha256
    if entry.version_lock.locked and expected and expected != inventory.checksum:
        result.problems.append("locked variant: content no longer matches the locked digest")
    return inventory.total_size


def _drifts(entry: RegistryEntry, result: VerifyResult, folder: Path, inventory: Inventory | None) -> list[FileDrift]:
    """Each missing, extra and (with an inventory) changed file, with both digests where known."""
    recorded = {a.path: a for a in entry.artifacts.files}
    found: list[FileDrift] = []
    if inventory is not None:
        for file in inventory.files:
            was = recorded.get(file.path)
            if was is not None and ((was.sha256 and was.sha256 != file.sha256) or was.size != file.size):
                found.append(FileDrift(path=file.path, problem="changed", expected_sha256=was.sha256,
                                       actual_sha256=file.sha256, expected_size=was.size, actual_size=file.size))
    for name in result.missing_files:
        was = recorded.get(name)
        found.append(FileDrift(path=name, problem="missing", expected_sha256=was.sha256 if was else None,
                               expected_size=was.size if was else None))
    for name in result.unexpected_files:
        extra = folder / name
        found.append(FileDrift(path=name, problem="extra", actual_size=extra.stat().st_size,
                               actual_sha256=None if inventory is None else sha256_file(extra)))
    return found
