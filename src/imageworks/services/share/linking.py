"""Give a file a second name without new bytes: hard link, else reflink, else symbolic link.

A hard link needs source and target on one file system (and, with the kernel's
``protected_hardlinks``, a source the user owns or may write); a reflink (``FICLONE``,
Btrfs, XFS, bcachefs, ZFS 2.2) shares extents on file systems that support it; a
symbolic link is used only where the app is known to follow one. When none applies,
:class:`ShareRefused` says why and what a copy would cost: nothing here ever copies.

Every new name is made under a temporary name in the target's folder and then renamed
over the target with :func:`os.replace`, which is atomic: whoever opens the target sees
the old file or the new link, never a half-made one. A process killed in between leaves
at most a stray temporary name (:data:`TEMP_PREFIX`), which :func:`sweep_temporaries`
removes later.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from imageworks.core.errors import ImageworksError

Method = Literal["hardlink", "reflink", "symlink"]
FICLONE = 0x40049409  # _IOW(0x94, 9, int), linux/fs.h
TEMP_PREFIX = ".imageworks-link-"
WRITE_BITS = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


class ShareRefused(ImageworksError):
    """A file cannot be shared without copying it; the message says why and the copy's cost."""


def human(size: int) -> str:
    """``253.1 MB`` and the like (decimal units, as ``du --si``)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def temporary_name(target: Path) -> Path:
    """The temporary name a new link of ``target`` is made under."""
    return target.with_name(f"{TEMP_PREFIX}{os.getpid()}-{target.name}")


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` (links followed) are one inode."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _reflink(source: Path, temporary: Path) -> None:
    """Clone ``source`` into the new file ``temporary``; raise OSError when the file system cannot."""
    with open(source, "rb") as src:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.ioctl(fd, FICLONE, src.fileno())
            os.fchmod(fd, stat.S_IMODE(os.fstat(src.fileno()).st_mode))
        except OSError:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
        os.close(fd)


def _why(error: OSError) -> str:
    if error.errno == errno.EXDEV:
        return "it is on another file system"
    if error.errno in (errno.EPERM, errno.EACCES):
        return "the system refuses a link to it (not your file, or protected_hardlinks)"
    if error.errno == errno.EMLINK:
        return "it has too many links already"
    return error.strerror or str(error)


def make_folders(folder: Path) -> None:
    """Create ``folder`` and its missing parents, owned as the folder they are made in.

    Run as root in another user's store (Ollama's service store belongs to ``ollama``),
    new folders get that owner, so the app can still manage its own store.
    """
    missing = []
    existing = folder
    while not existing.exists():
        missing.append(existing)
        existing = existing.parent
    folder.mkdir(parents=True, exist_ok=True)
    if missing and os.geteuid() == 0:
        owner = existing.stat()
        for path in missing:
            os.chown(path, owner.st_uid, owner.st_gid)


def _owned_like_folder(path: Path) -> None:
    """As root, give a new small file or link the owner of the folder it is made in."""
    if os.geteuid() == 0:
        owner = path.parent.stat()
        os.lchown(path, owner.st_uid, owner.st_gid)


def writable(folder: Path) -> bool:
    """Whether this user may add names to ``folder``, as its permissions say.

    A read-only mount is read-only; so is a folder whose mode grants no write to anyone,
    even for root (who could write it anyway): permissions are respected, not bypassed.
    """
    try:
        info = folder.stat()
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return False
    if os.geteuid() == 0:
        return bool(info.st_mode & WRITE_BITS)
    return os.access(folder, os.W_OK | os.X_OK)


def link_into_place(source: Path, target: Path, *, symlink_ok: bool, what: str) -> Method:
    """Make ``target`` a second name of ``source``'s bytes, atomically, and say how.

    An existing ``target`` is replaced (the caller decides whether it may be). Raise
    :class:`ShareRefused` when only a copy would do; ``what`` names the app for that message.
    """
    try:
        make_folders(target.parent)
    except OSError as error:
        raise ShareRefused(f"cannot create {target.parent} for {what}: {error.strerror or error}") from error
    if not writable(target.parent):
        raise ShareRefused(f"{target.parent} is read-only for this user; {what} left untouched")
    temporary = temporary_name(target)
    temporary.unlink(missing_ok=True)
    method: Method
    try:
        os.link(source, temporary, follow_symlinks=True)
        method = "hardlink"
    except OSError as link_error:
        try:
            _reflink(source, temporary)
            method = "reflink"
        except OSError:
            if not symlink_ok:
                size = source.stat().st_size
                raise ShareRefused(
                    f"cannot share {source.name} with {what} without copying it: {_why(link_error)}, the file "
                    f"system does not support reflinks and {what} is not known to follow symbolic links",
                    f"a copy would cost {human(size)} ({size} bytes)",
                ) from link_error
            os.symlink(source.resolve(), temporary)
            method = "symlink"
    try:
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return method


def write_small_file(target: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``target`` whole: a temporary file, flushed, then renamed into place."""
    make_folders(target.parent)
    temporary = temporary_name(target)
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        _owned_like_folder(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def symlink_into_place(pointing_to: str, target: Path) -> None:
    """Make ``target`` a symbolic link to ``pointing_to`` (relative or absolute), atomically."""
    make_folders(target.parent)
    temporary = temporary_name(target)
    temporary.unlink(missing_ok=True)
    os.symlink(pointing_to, temporary)
    try:
        _owned_like_folder(temporary)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def make_read_only(path: Path) -> str | None:
    """Clear the write bits of ``path`` (every name of a hard-linked file shares them).

    A write through one name would change every app's copy. Returns a note when the
    user may not change the mode (not the owner), else None.
    """
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & WRITE_BITS:
            os.chmod(path, mode & ~WRITE_BITS)
    except OSError as error:
        return f"could not make {path} read-only: {error.strerror or error}"
    return None


def sweep_temporaries(folders: Iterable[Path]) -> list[Path]:
    """Remove the temporary names a killed run left in ``folders`` (not a live process's)."""
    removed = []
    for folder in folders:
        try:
            names = [p for p in folder.iterdir() if p.name.startswith(TEMP_PREFIX)]
        except OSError:
            continue
        for path in names:
            pid = path.name[len(TEMP_PREFIX) :].partition("-")[0]
            if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
                continue
            try:
                path.unlink()
                removed.append(path)
            except OSError:
                pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
