"""An exclusive lock on a file across processes and threads (``fcntl.flock``), with a timeout.

``filelock`` did this job until it cost 20 ms to import (it loads ``asyncio`` for its
async locks), a tenth of a whole small download (``docs/dependencies.md``). The tool
runs on POSIX systems only (it already links and clones files with ``fcntl``), so the
lock is the one system call ``filelock`` itself makes on them.

Like ``filelock.FileLock``: re-entrant within a thread (a count), exclusive between
threads (each holder opens its own descriptor) and processes, polled every 50 ms until
the timeout (a negative timeout waits for ever). The lock file is never followed if it
is a symbolic link, and stays behind when released (deleting it would race a waiter).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Self

POLL_SECONDS = 0.05


class LockTimeout(TimeoutError):
    """The lock stayed held by someone else for the whole timeout."""


class FileLock:
    """An exclusive lock on ``path``; use with ``with`` or :meth:`acquire`/:meth:`release`."""

    def __init__(self, path: str | Path, timeout: float = -1.0) -> None:
        self.path = str(path)
        self.timeout = timeout
        self._held = threading.local()  # this thread's descriptor and depth

    @property
    def is_locked(self) -> bool:
        """Whether this thread holds the lock."""
        return getattr(self._held, "depth", 0) > 0

    def acquire(self, timeout: float | None = None) -> Self:
        """Take the lock, waiting up to ``timeout`` seconds (the lock's own by default).

        Raises :class:`LockTimeout` when it stays held, ``OSError`` when the file cannot
        be opened (a missing folder, no permission, a symbolic link in its place).
        """
        if self.is_locked:
            self._held.depth += 1
            return self
        wait = self.timeout if timeout is None else timeout
        deadline = None if wait < 0 else time.monotonic() + wait
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise LockTimeout(f"{self.path} is locked by another process or thread") from None
                    time.sleep(POLL_SECONDS)
        except BaseException:
            os.close(fd)
            raise
        self._held.fd, self._held.depth = fd, 1
        return self

    def release(self) -> None:
        """Give back one level of the lock; the last one unlocks the file."""
        if not self.is_locked:
            return
        self._held.depth -= 1
        if self._held.depth == 0:
            fd, self._held.fd = self._held.fd, -1
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
