"""Open only regular files, and read small ones with a bound.

A model folder or a store may hold a FIFO, a device or a symlink to one where a file
is expected (``config.json -> /dev/zero``). Opening a FIFO blocks until a writer
appears and reading ``/dev/zero`` never ends, so every file we read from a model
folder or a store is opened here: its type is checked before opening (a device is never
opened at all), the open does not block (``O_NONBLOCK``), and the open descriptor is
checked again with ``fstat``, so a file swapped in between is caught too. Symlinks are
followed: only the final target must be a regular file (the Hugging Face cache links
every snapshot file to a blob).
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import BinaryIO, Literal, overload

from imageworks.core.errors import UnreadableFileError

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # configs and index files are far smaller than this

_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _require_regular(path: Path, mode: int) -> None:
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "of an unknown type")
        raise UnreadableFileError(f"{path} is {kind}, not a regular file")


def require_regular_file(path: str | Path) -> None:
    """Raise :class:`UnreadableFileError` unless ``path`` (followed through links) is a regular file.

    A missing file raises :class:`FileNotFoundError`. Nothing is opened.
    """
    _require_regular(Path(path), os.stat(path).st_mode)


@overload
def open_regular(path: str | Path, buffering: Literal[0]) -> io.FileIO: ...
@overload
def open_regular(path: str | Path, buffering: int = -1) -> BinaryIO: ...
def open_regular(path: str | Path, buffering: int = -1) -> BinaryIO | io.FileIO:
    """Open ``path`` for binary reading when it (or its final symlink target) is a regular file.

    Raise :class:`UnreadableFileError` for anything else; a missing file raises
    :class:`FileNotFoundError` as :func:`open` does.
    """
    path = Path(path)
    require_regular_file(path)  # before opening: opening some devices has side effects
    descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        _require_regular(path, os.fstat(descriptor).st_mode)
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb", buffering=buffering)
    except BaseException:
        os.close(descriptor)
        raise


def read_regular_file(path: str | Path, max_bytes: int) -> bytes:
    """All bytes of the regular file ``path``; refuse (never truncate) one above ``max_bytes``.

    Raise :class:`UnreadableFileError` when ``path`` is not a regular file or is larger
    than ``max_bytes`` (also when it grows past that while being read).
    """
    with open_regular(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise UnreadableFileError(f"{path} is {size} bytes, more than the {max_bytes} allowed")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UnreadableFileError(f"{path} grew past the {max_bytes} bytes allowed while being read")
    return data
