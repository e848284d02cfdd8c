"""Pure-Python transfers on ``requests``: HTTP Range streams, resume, retries, sha256.

Each file is written in place into a preallocated ``<name>.imageworks-partial``; the byte
ranges already written are kept in a small sidecar (``<partial>.json``, no URL or token in
it), so a killed run continues from what is on disk. Workers take pieces of at most
a piece size in file order (one Range request each, on a kept-alive connection) and,
when none are left, split the largest range still in flight (as aria2c does), so one
file can be fetched by several streams and all of them stay busy to the last byte.
Pieces are as small as the link allows: each new request costs a round trip with the
stream idle, so a piece lasts at least ``piece_rtts`` request latencies at the measured
per-stream rate (between ``min_piece`` and ``piece_size``). Small pieces keep the hashed
prefix (below) close behind the streams, so little is left to hash after the last byte. How many workers run is decided by
:class:`~imageworks.transfer.adaptive.ConnectionGovernor`. A server
that ignores ``Range`` (olah's offline mirror answers 200 with the whole file) gets one
stream per file that reads it from byte 0; its other ranges are dropped.

sha256 overlaps with receiving: a thread per file hashes the bytes on disk as soon as the
written prefix grows (sha256 is sequential; handing out pieces in file order keeps that
prefix close behind the streams), so verifying a file costs little more than its last
pieces once the last byte arrives. hashlib and the socket reads release the GIL, so the
hash runs on the second core while the streams receive.

A file's partial file is opened (and its hasher started) when its first piece is taken
and closed when it completes, so descriptors and threads stay bounded by the number of
streams, not the number of files. Nothing in the target folder is followed: files and
folders are reached through :mod:`~imageworks.transfer.nofollow`.
A transfer that receives less than ``STALL_BYTES`` in ``job.stall_timeout`` seconds stops
(sockets are shut down, so even a read blocked on a dripping server returns) and keeps
what it has for the next run. With ``job.refetch`` files already in place are fetched
again and replaced only once the new copy verifies.
"""

from __future__ import annotations

import bisect
import contextlib
import errno
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import PurePosixPath
from urllib.parse import urlsplit

import requests

from imageworks.core.errors import UnsafePathError
from imageworks.core.transfers import (
    ProgressCallback,
    TransferJob,
    TransferProgress,
    VerifiedFile,
)
from imageworks.transfer.adaptive import ConnectionGovernor
from imageworks.transfer.digests import git_blob_id
from imageworks.transfer.errors import (
    AuthenticationRequiredError,
    ChecksumMismatchError,
    TransferError,
)
from imageworks.transfer.nofollow import Folder, open_folder
from imageworks.transfer.safety import (
    PlannedFile,
    already_complete,
    check_free_space,
    partial_bytes,
    plan,
)

RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
STALL_BYTES = 1024  # a whole transfer receiving less than this in ``stall_timeout`` seconds has stalled
RESUME_HINT = "the bytes received are kept: run the same command again to resume"
STATE_VERSION = 1
HASH_BLOCK = 256 * 1024  # bytes read back per sha256 update
HASH_LAG = 32 * 1024 * 1024  # sha256 this far behind the written prefix: the receiver is CPU-bound


class _File:
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
        return open_folder(self.root, self.folder_parts, create=create)

    def _load_state(self) -> list[list[int]]:
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
        self.users -= 1
        if self.users == 0 and self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _open(self) -> int:
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


class _Range:
    """Bytes ``[pos, end)`` of a file assigned to one worker; ``end`` may shrink when split."""

    def __init__(self, file: _File, start: int, end: int) -> None:
        self.file, self.pos, self.end = file, start, end

    def key(self) -> tuple[int, int]:
        return self.file.order, self.pos


class _Scheduler:
    """Hands out pieces of unassigned bytes in file order, then halves of the largest range in flight."""

    def __init__(self, files: list[_File], min_split: int, piece_size: int) -> None:
        self.lock = threading.Lock()
        self.pending = [_Range(f, a, b) for f in files for a, b in f.missing()]
        self.active: list[_Range] = []
        self.min_split = min_split
        self.piece_size = max(piece_size, min_split)

    def take(self) -> _Range | None:
        with self.lock:
            if self.pending:
                first = self.pending[0]
                if first.end - first.pos >= self.piece_size + self.min_split:
                    taken = _Range(first.file, first.pos, first.pos + self.piece_size)
                    first.pos = taken.end
                else:
                    taken = self.pending.pop(0)
            else:
                splittable = [r for r in self.active if not r.file.whole]
                victim = max(splittable, key=lambda r: r.end - r.pos, default=None)
                if victim is None or victim.end - victim.pos < 2 * self.min_split:
                    return None
                middle = victim.pos + (victim.end - victim.pos) // 2
                taken, victim.end = _Range(victim.file, middle, victim.end), middle
            self.active.append(taken)
            return taken

    def resize(self, piece_size: int) -> None:
        """Hand out pieces of ``piece_size`` bytes from now on."""
        with self.lock:
            self.piece_size = max(piece_size, self.min_split)

    def give_back(self, part: _Range) -> None:
        with self.lock:
            self.active.remove(part)
            if part.pos < part.end:
                bisect.insort(self.pending, _Range(part.file, part.pos, part.end), key=_Range.key)

    def has_work(self) -> bool:
        with self.lock:
            return bool(self.pending) or any(
                r.end - r.pos >= 2 * self.min_split and not r.file.whole for r in self.active
            )

    def take_over(self, part: _Range) -> bool:
        """Give ``part`` the whole of its file (the server ignores ``Range`` and sent all of it).

        Every other range of that file is dropped: pending ones are forgotten and those in
        flight end where they are. Returns False when another stream already reads the
        whole file, and then ``part`` is dropped instead.
        """
        with self.lock:
            file = part.file
            if file.whole:
                part.end = part.pos
                return False
            file.whole = True
            self.pending = [r for r in self.pending if r.file is not file]
            for other in self.active:
                if other.file is file and other is not part:
                    other.end = other.pos
            part.pos, part.end = 0, file.size
            return True


class PythonEngine:
    """Downloads with ``requests``: several Range streams, resumable, retried, verified."""

    name = "python"

    def __init__(
        self,
        *,
        chunk_size: int = 256 * 1024,  # bytes per socket read; small enough to stay in the CPU cache
        min_split: int = 1024 * 1024,  # a range in flight is halved for an idle stream down to this
        piece_size: int = 32 * 1024 * 1024,  # the largest Range request while unassigned bytes remain
        min_piece: int = 4 * 1024 * 1024,  # the smallest, and the first ones (adaptive only)
        piece_rtts: int = 40,  # a piece lasts this many request latencies: the idle gap stays under 3%
        attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 30.0,
        adaptive: bool = True,
        initial_streams: int = 4,
    ) -> None:
        self.chunk_size = chunk_size
        self.min_split = min_split
        self.piece_size = piece_size
        self.min_piece = min(min_piece, piece_size)
        self.piece_rtts = piece_rtts
        self.attempts = attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.adaptive = adaptive
        self.initial_streams = initial_streams

    def fetch(self, job: TransferJob, progress: ProgressCallback | None = None) -> list[VerifiedFile]:
        """Fetch every file of ``job`` into ``job.target_dir``; see the module docstring."""
        planned = plan(job)
        # refetch (``download --force``): fetch every file anew into its partial file; the
        # copy in place is replaced only once the new one verifies
        todo = planned if job.refetch else [item for item in planned if not already_complete(item)]
        check_free_space(job.target_dir, sum(max(i.remote.size - partial_bytes(i.partial), 0) for i in todo))
        try:
            job.target_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TransferError(f"cannot create {job.target_dir}: {error.strerror or error}") from None
        for attempt in (1, 2):
            bad = _Run(self, job, todo, len(planned) - len(todo), progress).run()
            if not bad:
                break
            if attempt == 2:
                item, actual = bad[0]
                raise ChecksumMismatchError(item.remote.relative_path, item.remote.expected_digest or "", actual)
            todo = [item for item, _ in bad]
        return [VerifiedFile(i.remote.relative_path, i.final, i.remote.size, i.remote.sha256) for i in planned]


class _Run:
    """One pass over a list of files; returns those whose digest did not match."""

    def __init__(
        self,
        engine: PythonEngine,
        job: TransferJob,
        items: list[PlannedFile],
        files_already_done: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.engine, self.job, self.progress = engine, job, progress
        self.files = [_File(item, order) for order, item in enumerate(items)]
        first_piece = engine.min_piece if engine.adaptive else engine.piece_size
        self.scheduler = _Scheduler(self.files, engine.min_split, first_piece)
        self.files_total = files_already_done + len(items)
        self.files_done = files_already_done
        self.resumed = sum(f.written() for f in self.files)
        self.bytes_total = sum(f.size for f in self.files)
        self.received = 0  # bytes received in this run
        self.latency: float | None = None  # smoothed seconds from a Range request to its first byte
        self.lock = threading.Lock()
        self.error: BaseException | None = None
        self.bad: list[tuple[PlannedFile, str]] = []
        self.stop = threading.Event()
        self.wake = threading.Event()  # set when a worker leaves: the main loop looks at once, not at its next tick
        parallel_files = max(1, min(job.max_parallel_files, len(items) or 1))
        limit = max(1, job.max_connections) * parallel_files
        # start with a few streams (or one per file that may run at once, if more); the
        # governor adds more while they pay
        start = min(limit, max(parallel_files, engine.initial_streams))
        self.governor = ConnectionGovernor(limit if engine.adaptive else 1, level=start)
        if not engine.adaptive:
            self.governor.level = limit
        self.workers: list[threading.Thread] = []
        self.active = 0  # workers counted against the governor's level
        self.sockets: set[socket.socket] = set()  # of responses being read, shut down to stop at once

    def run(self) -> list[tuple[PlannedFile, str]]:
        samples: list[tuple[float, int]] = []
        try:
            for file in self.files:
                if file.size == 0 or not file.missing():
                    self._complete(file)
            last_save = time.monotonic()
            stall_mark = (last_save, 0)  # (time, bytes received then): the stall clock
            while True:
                now = time.monotonic()
                if self.received - stall_mark[1] >= STALL_BYTES or self.resumed + self.received >= self.bytes_total:
                    stall_mark = (now, self.received)
                elif now - stall_mark[0] >= self.job.stall_timeout:
                    self._fail(_stalled(self.job.stall_timeout))
                level = self.governor.observe(now, self.received, behind=self._hash_behind())
                self.workers = [w for w in self.workers if w.is_alive()]
                while len(self.workers) < level and self.error is None and self.scheduler.has_work():
                    worker = threading.Thread(target=self._work, daemon=True)
                    worker.start()
                    self.workers.append(worker)
                samples = [*samples[-20:], (now, self.received)]
                self._adapt(samples)
                self._report(samples)
                if now - last_save >= 1.0:
                    self._save_states()
                    last_save = now
                if not self.workers and (self.error is not None or not self.scheduler.has_work()):
                    break
                self.wake.wait(0.05)
                self.wake.clear()
        finally:
            self._halt()
            for worker in self.workers:
                worker.join()
            for file in self.files:
                try:
                    file.save_state()
                except TransferError:
                    pass  # already failing: the first error is the one to report
                if not file.finished:
                    file.stop_hashing()
                    file.close()
        if self.error is not None:
            raise self.error
        unfinished = [f for f in self.files if not f.finished]
        if unfinished:  # a bug if it happens: never report success for a file not in place
            raise TransferError(f"download of {unfinished[0].item.remote.relative_path} did not complete", RESUME_HINT)
        self._report(samples)
        return self.bad

    def _fail(self, error: BaseException) -> None:
        with self.lock:
            self.error = self.error or error
        self._halt()

    def _halt(self) -> None:
        """Stop every worker now: those blocked reading a slow response are woken by a socket shutdown."""
        self.stop.set()
        with self.lock:
            sockets = list(self.sockets)
        for sock in sockets:
            _shutdown(sock)

    def _adapt(self, samples: list[tuple[float, int]]) -> None:
        """Size the next pieces from the measured latency and per-stream rate; tell the governor the latency."""
        if not self.engine.adaptive or self.latency is None:
            return
        self.governor.latency = self.latency
        speed = _speed(samples)
        if speed > 0 and self.workers:
            piece = int(self.engine.piece_rtts * self.latency * speed / len(self.workers))
            self.scheduler.resize(min(max(piece, self.engine.min_piece), self.engine.piece_size))

    def _hash_behind(self) -> bool:
        """Whether sha256 lags the received bytes: more streams would only cost CPU then."""
        if self.governor.settled:
            return False
        return sum(f.hash_lag() for f in self.files if f.hasher is not None) >= HASH_LAG

    def _note_latency(self, seconds: float) -> None:
        with self.lock:
            self.latency = seconds if self.latency is None else 0.8 * self.latency + 0.2 * seconds

    def _report(self, samples: list[tuple[float, int]]) -> None:
        if self.progress is None:
            return
        speed = _speed(samples)
        self.progress(
            TransferProgress(
                bytes_done=self.resumed + self.received,
                bytes_total=self.bytes_total,
                speed=speed,
                files_done=self.files_done,
                files_total=self.files_total,
                connections=len(self.workers),
                resumed_bytes=self.resumed,
            )
        )

    def _save_states(self) -> None:
        for file in self.files:
            file.save_state()

    # -- workers ---------------------------------------------------------------------
    def _work(self) -> None:
        session = requests.Session()
        session.headers.update(self.job.request_headers())
        with self.lock:
            self.active += 1
        counted = True
        try:
            while not self.stop.is_set() and self.error is None:
                if self._retire():
                    counted = False
                    return
                part = self.scheduler.take()
                if part is None:
                    return
                try:
                    part.file.attach()
                except BaseException:
                    self.scheduler.give_back(part)
                    raise
                try:
                    self._fetch_range(session, part)
                except _Retired:
                    counted = False
                    return
                finally:
                    part.file.detach()
                    self.scheduler.give_back(part)
                if part.pos >= part.end and not part.file.missing():
                    self._complete(part.file)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, which raises it
            self._fail(error)
        finally:
            if counted:
                with self.lock:
                    self.active -= 1
            session.close()
            self.wake.set()

    def _retire(self) -> bool:
        """Leave (and stop counting this worker) when the governor lowered the stream count."""
        with self.lock:
            if self.active > self.governor.level:
                self.active -= 1
                return True
            return False

    def _fetch_range(self, session: requests.Session, part: _Range) -> None:
        failures = 0
        while part.pos < part.end and not self.stop.is_set():
            before = part.pos
            try:
                self._stream(session, part)
                return
            except _Dropped:
                return
            except _Retryable as retry:
                failures = 0 if part.pos > before else failures + 1
                if failures >= self.engine.attempts:
                    raise TransferError(
                        f"download of {part.file.item.remote.relative_path} failed after {failures} attempts: {retry.reason}",
                        RESUME_HINT,
                    ) from None
                delay = retry.after if retry.after is not None else self.engine.backoff * 2 ** (failures - 1)
                self.stop.wait(min(delay, self.engine.max_backoff))

    def _stream(self, session: requests.Session, part: _Range) -> None:
        """Receive ``part`` on one Range request; reading the body to its end keeps the connection alive."""
        remote = part.file.item.remote
        headers: dict[str, str | None] = {"Range": f"bytes={part.pos}-{part.end - 1}", "Accept-Encoding": "identity"}
        url = part.file.location or remote.url
        if _origin(url) != _origin(remote.url):
            headers["Authorization"] = None  # the token is for the Hub only, as on a redirect
        # a read waiting longer than the stall limit is a stall too (and bounds how long a
        # worker can keep the run from stopping)
        timeout = (self.engine.timeout, min(self.engine.timeout, self.job.stall_timeout))
        asked = time.monotonic()
        try:
            with session.get(url, headers=headers, stream=True, timeout=timeout) as response, self._watched(response):
                self._note_latency(time.monotonic() - asked)
                if url != remote.url and response.status_code in (401, 403, 404, 410):
                    part.file.location = None  # the redirect expired: ask the Hub again
                    raise _Retryable(f"HTTP {response.status_code} from {_origin(url)[1]}", 0.0)
                self._check_status(response, part)
                if response.history and url == remote.url:
                    part.file.location = response.url
                read = response.raw.read
                fd, size = part.file.fd, self.engine.chunk_size
                assert fd is not None  # attached: it stays open while this worker writes
                while part.pos < part.end and not self.stop.is_set():
                    if self._retire():
                        raise _Retired
                    chunk = read(min(size, part.end - part.pos), decode_content=False)
                    if not chunk:
                        raise _Retryable("the server closed the connection early")
                    chunk = chunk[: part.end - part.pos]  # the range may have been split meanwhile
                    start = part.pos
                    try:
                        os.pwrite(fd, chunk, start)
                    except OSError as error:
                        raise part.file.disk_error(error) from None
                    part.pos += len(chunk)
                    part.file.mark(start, part.pos)
                    with self.lock:
                        self.received += len(chunk)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as error:
            raise _Retryable(f"connection error ({type(error).__name__})") from None
        except _ProtocolErrors as error:
            raise _Retryable(f"connection error ({type(error).__name__})") from None

    def _check_status(self, response: requests.Response, part: _Range) -> None:
        status = response.status_code
        what = part.file.item.remote.relative_path
        if status in (401, 403):
            raise AuthenticationRequiredError(what, status, token_sent=bool(self.job.token))
        if status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {status}", _retry_after(response))
        if status == 200 and (part.pos > 0 or part.end < part.file.size) and not self.scheduler.take_over(part):
            raise _Dropped  # the server ignores Range: another stream reads this whole file
        if status not in (200, 206):
            raise TransferError(f"download of {what} failed: HTTP {status} {response.reason}")

    @contextlib.contextmanager
    def _watched(self, response: requests.Response) -> Iterator[None]:
        """Register the response's socket so :meth:`_halt` can wake a read blocked on it."""
        sock = getattr(getattr(response.raw, "connection", None), "sock", None)
        if sock is None:
            yield
            return
        with self.lock:
            self.sockets.add(sock)
        if self.stop.is_set():
            _shutdown(sock)
        try:
            yield
        finally:
            with self.lock:
                self.sockets.discard(sock)

    def _complete(self, file: _File) -> None:
        with file.lock:
            if file.finished:
                return
            file.finished = True
        file.attach()  # opens it if no piece did: an empty file, or one already whole on disk
        try:
            if file.hasher is not None:
                file.hasher.join()  # it has the whole file now: only its last blocks are left
            item = file.item
            actual = (file.digest or "unreadable") if item.remote.sha256 else None
            if actual is None and item.remote.git_blob_id and file.fd is not None:
                actual = git_blob_id(file.fd, file.size)
            if actual is not None and actual != item.remote.expected_digest:
                file.discard()
                with self.lock:
                    self.bad.append((item, actual))
                return
            file.install()
        finally:
            file.detach()
            file.close()
        with self.lock:
            self.files_done += 1


class _Retired(Exception):
    """Raised inside a worker that gives its remaining range back and exits."""


class _Dropped(Exception):
    """Raised inside a worker whose range another stream now covers (a server that ignores Range)."""


class _Retryable(Exception):
    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.after = reason, after


def _stalled(seconds: float) -> TransferError:
    return TransferError(
        f"download stalled: less than {STALL_BYTES // 1024} KiB arrived in {seconds:g} s",
        "the server sends next to nothing; what arrived is kept: run the same command again to resume, "
        "or raise IMAGEWORKS_STALL_TIMEOUT",
    )


def _speed(samples: list[tuple[float, int]]) -> float:
    """Bytes per second between the first and the last ``(time, bytes)`` sample."""
    (t0, b0), (t1, b1) = samples[0], samples[-1]
    return (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _protocol_errors() -> tuple[type[BaseException], ...]:
    from http.client import HTTPException

    import urllib3.exceptions

    return (urllib3.exceptions.HTTPError, HTTPException, ConnectionError, TimeoutError)


_ProtocolErrors = _protocol_errors()

__all__ = ["PythonEngine"]
