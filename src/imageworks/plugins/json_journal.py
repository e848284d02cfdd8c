"""Replacing several registry files as one: a roll-forward journal for the JSON backend.

One write usually changes two or three files (a layer, the other layer, the merged
snapshot). Renaming each into place is atomic per file, not for the set: a process
killed between two renames would leave a layer new and the snapshot old. So a commit
first writes every new file beside its target (fsynced), then a journal naming the
renames (written to a temporary file, fsynced, renamed into place: it exists whole or
not at all), then renames, then deletes the journal. A process killed before the journal
exists leaves the old files; once it exists, the next process that opens the registry
finishes the renames (:func:`recover`, under the registry lock), as SQLite does with a
hot journal. Either way every file is as before or as after, never a mixture.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from imageworks.core.errors import ImageworksError, RegistryCorruptError

JOURNAL = ".model_registry.journal"
TEMP_SUFFIX = ".tmp"


def _fsync_folder(folder: Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def _write_temp(folder: Path, name: str, data: bytes) -> Path:
    """``data`` in a new fsynced temporary file beside ``folder/name``."""
    handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return Path(temporary)


def _failure(path: Path, error: OSError) -> ImageworksError:
    reason = "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
    return ImageworksError(f"cannot write registry file {path}: {reason}; the previous files are intact")


def commit(folder: Path, files: Mapping[Path, bytes | None]) -> None:
    """Replace the files of ``files`` (path in ``folder`` -> new bytes, ``None`` deletes)
    so that a crash at any point leaves all of them old or, after :func:`recover`, all new."""
    if not files:
        return
    folder.mkdir(parents=True, exist_ok=True)
    operations: list[tuple[str, str | None]] = []  # (target name, temporary name or None to delete)
    temporaries: list[Path] = []
    current: Path = folder
    try:
        for target, data in files.items():
            current = target
            if data is None:
                operations.append((target.name, None))
            else:
                temporary = _write_temp(folder, target.name, data)
                temporaries.append(temporary)
                operations.append((target.name, temporary.name))
        if len(operations) > 1:  # one file needs no journal: its rename is atomic by itself
            current = folder / JOURNAL
            record = json.dumps({"version": 1, "operations": operations}).encode()
            os.replace(_write_temp(folder, JOURNAL, record), folder / JOURNAL)
            _fsync_folder(folder)
    except OSError as error:
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)
        raise _failure(current, error) from error
    try:
        _apply(folder, operations)
        (folder / JOURNAL).unlink(missing_ok=True)
        _fsync_folder(folder)
    except OSError as error:  # the journal stays: the next command finishes the renames
        raise _failure(folder, error) from error


def _apply(folder: Path, operations: list[tuple[str, str | None]]) -> None:
    for target, temporary in operations:
        if temporary is None:
            (folder / target).unlink(missing_ok=True)
        elif (folder / temporary).exists():  # gone: renamed before a crash
            os.replace(folder / temporary, folder / target)
    _fsync_folder(folder)


def pending(folder: Path) -> bool:
    """Whether an interrupted commit waits to be finished in ``folder``."""
    return (folder / JOURNAL).exists()


def recover(folder: Path, prefixes: tuple[str, ...]) -> bool:
    """Finish an interrupted commit, then delete leftover temporary files whose names start
    with one of ``prefixes``. Call it holding the registry lock. True when it finished one."""
    journal = folder / JOURNAL
    finished = False
    if journal.exists():
        try:
            record = json.loads(journal.read_text(encoding="utf-8"))
            operations = [(str(t), None if n is None else str(n)) for t, n in record["operations"]]
        except (ValueError, KeyError, TypeError) as error:
            raise RegistryCorruptError(journal, None, None, f"unreadable commit journal ({error})") from error
        if any("/" in t or (n is not None and "/" in n) for t, n in operations):
            raise RegistryCorruptError(journal, None, None, "the commit journal names a file outside the registry folder")
        _apply(folder, operations)
        journal.unlink()
        _fsync_folder(folder)
        finished = True
    for leftover in folder.glob(f".*{TEMP_SUFFIX}"):
        if leftover.name.startswith(prefixes):
            leftover.unlink(missing_ok=True)
    return finished
