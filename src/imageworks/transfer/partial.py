"""A file in flight for the Python engine: its partial file, the ranges written, and its hash.

Each file is written in place into a preallocated ``<name>.imageworks-partial``; the byte
ranges already written are kept in a small sidecar (``<partial>.json``, no URL or token in
it), so a killed run continues from what is on disk.

sha256 overlaps with receiving: a thread per file hashes the bytes on disk as soon as the
written prefix grows (sha256 is sequential; the scheduler hands out pieces in file order
to keep that prefix close behind the streams), so verifying a file costs little more than
its last pieces once the last byte arrives. hashlib and the socket reads release the GIL,
so the hash runs on the second core while the streams receive.

The partial file is opened (and its hasher started) when its first piece is taken and
closed when it completes, so descriptors and threads stay bounded by the number of
streams, not the number of files. Nothing in the target folder is followed: files and
folders are reached through :mod:`~imageworks.transfer.nofollow`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
from pathlib import PurePosixPath

from imageworks.core.errors import UnsafePathError
from imageworks.transfer.errors import TransferError
from imageworks.transfer.nofollow import Folder, open_folder
from imageworks.transfer.safety import PlannedFile

STATE_VERSION = 1
HASH_BLOCK = 256 * 1024  # bytes read back per sha256 update


class PartialFile:
    """One file in flight: its partial file, the byte ranges already written and, when the
    Hub gave a digest, a thread hashing the written prefix as it grows.

    The partial file is opened (and its hasher started) only when its first piece is
    taken, and closed when it completes, so descriptors and threads stay bounded by the
    number of streams however many files the job has. Every path operation goes through
    :mod:`~imageworks.transfer.nofollow`: nothing planted in the
    target folder is followed.
    """

    def __init__(self, item: PlannedFile, order: int) -> None:
        self.item = item
        self.order = order  # position in the job: pieces are handed out in this order
        self.size = item.remote.size
        parts = PurePosixPath(item.remote.relative_path).parts
        self.root, self.folder_parts = item.final.parents[len(parts) - 1], parts[:-1]
        self.partial_name = item.partial.name
        self.state_name = self.partial_name + ".json"
        self.state_path = item.partial.with_name(self.state_name)
        self.lock = threading.Lock()
        self.grown = threading.Condition(self.lock)  # notified when the written prefix grows
        self.saving = threading.Lock()  # a state save never lands after the file was installed
        self.finished = False
        self.abandoned = False
        self.whole = False  # the server ignores Range for it: one stream reads it from byte 0
        self.digest: str | None = None
        self.hashed = 0  # bytes the hasher has taken in so far
        self.location: str | None = None  # where the Hub redirected (its CDN); asked directly for later pieces
        self.hasher: threading.Thread | None = None
        self.fd: int | None = None
        self.users = 0  # the file's own reference while open, plus one per worker writing to it
        self.owned = False
        self.done: list[list[int]] = self._load_state()

    def _folder(self, *, create: bool = False) -> Folder | None:
        """The file's folder under the target, opened without following links (None if absent)."""
        return open_folder(self.root, self.folder_parts, create=create)

    def _load_state(self) -> list[list[int]]:
        """The written ranges recorded by an earlier run; anything untrustworthy is discarded."""
        try:
            folder = self._folder()
            if folder is None:
                return []  # its folder does not exist yet: nothing to resume
            with folder:
                raw = folder.read_small(self.state_name)
                try:
                    state = json.loads(raw) if raw is not None and folder.is_plain_file(self.partial_name) else None
                    if (
                        isinstance(state, dict)
                        and state.get("version") == STATE_VERSION
                        and state.get("size") == self.size
                        and state.get("sha256") == self.item.remote.sha256
                    ):
                        return [[int(a), int(b)] for a, b in state["done"] if 0 <= a < b <= self.size]
                except (ValueError, TypeError, KeyError):
                    pass
                # no trustworthy record of what it holds (or a link planted in its place)
                folder.discard(self.partial_name)
                folder.discard(self.state_name)
                return []
        except OSError as error:
            raise self.disk_error(error) from None

    def disk_error(self, error: OSError) -> TransferError:
        """What to tell the user when the file system refuses a write of this file."""
        return TransferError(
            f"cannot write {self.item.remote.relative_path}: {error.strerror or error}",
            "what was received is kept: free space or fix the target folder, then run the same command again",
        )

    def attach(self) -> None:
        """Open the partial file if needed (and start hashing it); the caller writes until :meth:`detach`."""
        with self.lock:
            if self.fd is None:
                self.fd = self._open()
                self.users, self.owned = 1, True  # the file's own reference, dropped by close()
                if self.item.remote.sha256:
                    self.hasher = threading.Thread(target=self._hash, name=f"sha256-{self.order}", daemon=True)
                    self.hasher.start()
            self.users += 1

    def detach(self) -> None:
        """The caller no longer writes; the descriptor closes when nobody uses it."""
        with self.lock:
            self._release()

    def close(self) -> None:
        """Drop the file's own reference (it completed, or the run is ending)."""
        with self.lock:
            if self.owned:
                self.owned = False
                self._release()

    def _release(self) -> None:
        """Drop one reference (call with ``lock`` held); the last one closes the descriptor."""
        self.users -= 1
        if self.users == 0 and self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _open(self) -> int:
        """Open (creating, never following a link) and size the partial file; returns its descriptor."""
        try:
            folder = self._folder(create=True)
            assert folder is not None
            with folder:
                if folder.lstat(self.partial_name) is not None and not folder.is_plain_file(self.partial_name):
                    if self.done:  # planted after its state was read: what the state describes is gone
                        raise UnsafePathError(
                            f"refusing to write {self.item.remote.relative_path}: its partial file was replaced by a link or a shared file",
                            "something else writes to the target folder; run the command again",
                        )
                    folder.discard(self.partial_name)  # a link or a shared file: never written through
                fd = folder.open_file(self.partial_name, os.O_RDWR | os.O_CREAT)
        except OSError as error:
            raise self.disk_error(error) from None
        try:
            if os.fstat(fd).st_size != self.size:
                os.ftruncate(fd, self.size)
        except OSError as error:
            os.close(fd)
            raise self.disk_error(error) from None
        return fd

    def save_state(self) -> None:
        """Record the written ranges beside the partial file (only files opened in this run change)."""
        with self.saving:
            with self.lock:
                if self.finished or self.fd is None:
                    return
                payload = {
                    "version": STATE_VERSION,
                    "size": self.size,
                    "sha256": self.item.remote.sha256,
                    "done": self.done,
                }
            try:
                folder = self._folder()
                if folder is not None:
                    with folder:
                        folder.write_atomic(self.state_name, json.dumps(payload).encode())
            except OSError as error:
                raise self.disk_error(error) from None

    def install(self) -> None:
        """Rename the verified partial file over the final one and drop its state."""
        with self.saving:
            try:
                folder = self._folder()
                if folder is None:
                    raise FileNotFoundError(errno.ENOENT, "its folder was removed")
                with folder:
                    on_disk = folder.lstat(self.partial_name)
                    mine = os.fstat(self.fd) if self.fd is not None else None
                    if on_disk is None or mine is None or (on_disk.st_dev, on_disk.st_ino) != (mine.st_dev, mine.st_ino):
                        raise UnsafePathError(
                            f"refusing to install {self.item.remote.relative_path}: its partial file was replaced while downloading",
                            "something else writes to the target folder; run the command again",
                        )
                    folder.replace(self.partial_name, self.item.final.name)
                    folder.discard(self.state_name)
            except OSError as error:
                raise self.disk_error(error) from None

    def discard(self) -> None:
        """Delete the partial file and its state (a digest mismatch)."""
        with self.saving:
            try:
                folder = self._folder()
                if folder is not None:
                    with folder:
                        folder.discard(self.partial_name)
                        folder.discard(self.state_name)
            except OSError as error:
                raise self.disk_error(error) from None

    def mark(self, start: int, end: int) -> None:
        """Record ``[start, end)`` as written, merging neighbours; wake the hasher."""
        with self.lock:
            before = self._prefix()
            spans = sorted([*self.done, [start, end]])
            merged: list[list[int]] = []
            for a, b in spans:
                if merged and a <= merged[-1][1]:
                    merged[-1][1] = max(merged[-1][1], b)
                else:
                    merged.append([a, b])
            self.done = merged
            if self._prefix() != before:
                self.grown.notify()

    def missing(self) -> list[tuple[int, int]]:
        """The byte ranges not written yet, in order."""
        with self.lock:
            gaps, cursor = [], 0
            for a, b in self.done:
                if a > cursor:
                    gaps.append((cursor, a))
                cursor = max(cursor, b)
            if cursor < self.size:
                gaps.append((cursor, self.size))
            return gaps

    def written(self) -> int:
        """How many bytes are written (on disk from earlier runs included)."""
        with self.lock:
            return sum(b - a for a, b in self.done)

    def hash_lag(self) -> int:
        """Bytes written in order but not hashed yet (0 without a hasher)."""
        if self.hasher is None or self.finished:
            return 0
        with self.lock:
            return self._prefix() - self.hashed

    def _prefix(self) -> int:
        """Bytes written contiguously from offset 0 (call with ``lock`` held)."""
        return self.done[0][1] if self.done and self.done[0][0] == 0 else 0

    def _hash(self) -> None:
        """Hash the file's bytes from disk in order, following the written prefix."""
        digest = hashlib.sha256()
        buffer = bytearray(HASH_BLOCK)
        view = memoryview(buffer)
        hashed = 0
        fd = self.fd
        assert fd is not None  # it stays open until this thread is joined
        while hashed < self.size:
            with self.lock:
                while self._prefix() <= hashed and not self.abandoned:
                    self.grown.wait()
                if self.abandoned:
                    return
                ready = self._prefix()
            while hashed < ready:
                try:
                    count = os.preadv(fd, [view[: min(HASH_BLOCK, ready - hashed)]], hashed)
                except OSError:
                    return  # unreadable: no digest, so the file counts as corrupt
                if count <= 0:
                    return  # the partial file shrank under us: the digest will not match
                digest.update(view[:count])
                hashed += count
                self.hashed = hashed
        self.digest = digest.hexdigest()

    def stop_hashing(self) -> None:
        """End the hasher without a digest (the run is ending early)."""
        with self.lock:
            self.abandoned = True
            self.grown.notify_all()
        if self.hasher is not None:
            self.hasher.join()
