"""File operations inside a target folder that never follow a symbolic link planted there.

The target folder itself is opened as given (the user may have made it a link, say to
another disk). Below it every folder is entered with ``O_NOFOLLOW`` through a directory
descriptor, so a folder swapped for a link after planning is refused instead of
followed, and files are opened, read, renamed and deleted relative to that descriptor:
a link in place of a file is removed (never its target), and ``os.replace`` onto a link
replaces the link itself.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Self

from imageworks.core.errors import UnsafePathError

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


class Folder:
    """An open folder under the target; ``where`` names it in messages. Use with ``with``."""

    def __init__(self, fd: int, where: str) -> None:
        self.fd, self.where = fd, where

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the folder's descriptor."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def path(self, name: str) -> str:
        """``name`` relative to the target folder, for messages."""
        return name if self.where == "." else f"{self.where}/{name}"

    def lstat(self, name: str) -> os.stat_result | None:
        """``name``'s own status (a link is not followed), or ``None`` when it is absent."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def is_plain_file(self, name: str) -> bool:
        """Whether ``name`` is a regular file with no other hard link (nothing outside shares it)."""
        info = self.lstat(name)
        return info is not None and stat.S_ISREG(info.st_mode) and info.st_nlink == 1

    def discard(self, name: str) -> None:
        """Delete ``name`` if present; a link is removed, never what it points at."""
        try:
            os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            pass

    def open_file(self, name: str, flags: int, mode: int = 0o644) -> int:
        """Open ``name`` without following a link; refuse anything but a plain regular file."""
        fd = os.open(name, flags | _NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=self.fd)  # O_NONBLOCK: a FIFO must not hang us
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            os.close(fd)
            raise UnsafePathError(
                f"refusing to write {self.path(name)}: it is not a plain file",
                "remove it; downloads write only plain files inside the target folder",
            )
        os.set_blocking(fd, True)
        return fd

    def read_small(self, name: str, limit: int = 1 << 20) -> bytes | None:
        """Up to ``limit`` bytes of the plain file ``name``; ``None`` when it is absent, a link or not plain."""
        if not self.is_plain_file(name):
            return None
        try:
            fd = self.open_file(name, os.O_RDONLY)
        except (UnsafePathError, OSError):
            return None
        try:
            return os.read(fd, limit)
        finally:
            os.close(fd)

    def write_atomic(self, name: str, data: bytes) -> None:
        """Replace ``name`` with ``data`` through a scratch file created fresh (``O_EXCL``: no link is followed)."""
        scratch = name + ".tmp"
        self.discard(scratch)
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644, dir_fd=self.fd)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        self.replace(scratch, name)

    def replace(self, source: str, target: str) -> None:
        """Rename ``source`` over ``target``; a link at ``target`` is replaced, not its target."""
        os.replace(source, target, src_dir_fd=self.fd, dst_dir_fd=self.fd)


def open_folder(root: Path, parts: Sequence[str], *, create: bool) -> Folder | None:
    """Open ``root/parts...`` entering each folder below ``root`` without following links.

    With ``create`` missing folders are made; without it ``None`` is returned for a missing
    one. A link among ``parts`` raises :class:`UnsafePathError`; other failures raise the
    ``OSError`` (the caller knows which file it was for).
    """
    fd = os.open(root, _DIRECTORY)
    walked: list[str] = []
    try:
        for part in parts:
            walked.append(part)
            if create:
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                inner = os.open(part, _DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if create:
                    raise
                os.close(fd)
                return None
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR):
                    info = os.stat(part, dir_fd=fd, follow_symlinks=False)
                    if stat.S_ISLNK(info.st_mode):
                        raise UnsafePathError(
                            f"refusing to write under {'/'.join(walked)}: it is a symbolic link inside the target folder {root}",
                            "remove the link; downloads never write through links inside the target folder",
                        ) from None
                raise
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return Folder(fd, "/".join(parts) or ".")
