"""One pass of the Python engine over a list of files: the run loop and its stream workers.

The main thread starts workers (how many: :class:`~imageworks.transfer.adaptive.ConnectionGovernor`),
saves each file's written ranges about once a second, reports progress and watches for a
stall. Each worker holds one kept-alive connection
(:class:`~imageworks.transfer.http_client.Connection`, on the standard library) and one
receive buffer, and loops: take a piece from the
:class:`~imageworks.transfer.scheduling.Scheduler`, receive it with one Range request
into the partial file (:class:`~imageworks.transfer.partial.PartialFile`; each read
returns what has arrived, into the buffer, written with ``pwrite``), give back what is
left. Pieces are as small as the link allows: each new request costs a round trip with
the stream idle, so a piece lasts at least ``piece_rtts`` request latencies at the
measured per-stream rate (between ``min_piece`` and ``piece_size``).

No file is read by more than ``job.max_connections`` streams at once, and the run opens
at most ``job.max_connections`` times ``job.max_parallel_files`` (or the number of files,
if fewer) streams in all, as aria2c's ``-x`` and ``-j``.

Redirects are followed here, hop by hop (:func:`~imageworks.transfer.redirects.follow`):
the token goes only to the origin of the file's own URL, at most ``MAX_HOPS`` hops, never
to a non-HTTP address. Where the Hub redirected (its CDN) is remembered per file and asked
directly for the file's later pieces; when that address answers 401, 403, 404 or 410 (a
signed link that expired) the Hub is asked again.

Streams that stop making progress are retried with fewer streams, not counted as
failures: a stream that receives less than ``STALL_BYTES`` in a quarter of
``job.stall_timeout`` (``patience``: its socket is shut down, or its wait for an answer
times out) gives its range back, the run halves its stream count (at most once per
``patience``, down to one) and the range is asked again on a fresh connection. Only when
a single stream is left and the run receives less than ``STALL_BYTES`` in
``job.stall_timeout`` seconds does the transfer stop as stalled (sockets are shut down, so
even a read blocked on a dripping server returns), keeping what it has for the next run.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Protocol

from imageworks.core.http import parse_retry_after
from imageworks.core.transfers import ProgressCallback, TransferJob, TransferProgress
from imageworks.transfer.adaptive import ConnectionGovernor
from imageworks.transfer.digests import git_blob_id
from imageworks.transfer.errors import AuthenticationRequiredError, TransferError
from imageworks.transfer.http_client import HTTP_ERRORS, Body, Connection, is_read_timeout, origin
from imageworks.transfer.partial import PartialFile
from imageworks.transfer.redirects import follow
from imageworks.transfer.safety import PlannedFile
from imageworks.transfer.scheduling import Piece, Scheduler

RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
STALL_BYTES = 1024  # a whole transfer receiving less than this in ``stall_timeout`` seconds has stalled
RESUME_HINT = "the bytes received are kept: run the same command again to resume"
HASH_LAG = 32 * 1024 * 1024  # sha256 this far behind the written prefix: the receiver is CPU-bound


class EngineSettings(Protocol):
    """The tuning a run reads from its engine (see :class:`~imageworks.transfer.python_engine.PythonEngine`)."""

    chunk_size: int
    min_split: int
    piece_size: int
    min_piece: int
    piece_rtts: int
    attempts: int
    backoff: float
    max_backoff: float
    timeout: float
    adaptive: bool
    initial_streams: int


class Run:
    """One pass over a list of files; returns those whose digest did not match."""

    def __init__(
        self,
        engine: EngineSettings,
        job: TransferJob,
        items: list[PlannedFile],
        files_already_done: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.engine, self.job, self.progress = engine, job, progress
        self.files = [PartialFile(item, order) for order, item in enumerate(items)]
        first_piece = engine.min_piece if engine.adaptive else engine.piece_size
        self.scheduler = Scheduler(self.files, engine.min_split, first_piece, per_file=max(1, job.max_connections))
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
        self.exited: set[threading.Thread] = set()  # workers that returned (their thread may not have ended yet)
        self.active = 0  # workers counted against the governor's level
        # a stream with less than STALL_BYTES in this many seconds is stuck: cut and retried
        self.patience = min(job.stall_timeout / 4, engine.timeout)
        self.stuck = 0  # stuck streams reported by workers, not yet acted on by the main loop
        self.backed_off = float("-inf")  # when the stream count was last halved
        self.stall_mark = (time.monotonic(), 0)  # (time, bytes received then): the stall clock
        self.sockets: set[socket.socket] = set()  # of responses being read, shut down to stop at once

    def run(self) -> list[tuple[PlannedFile, str]]:
        """Fetch every file; returns those whose digest did not match (already discarded)."""
        samples: list[tuple[float, int]] = []
        try:
            for file in self.files:
                if file.size == 0 or not file.missing():
                    self._complete(file)
            last_save = time.monotonic()
            self.stall_mark = (last_save, 0)
            while True:
                now = time.monotonic()
                self._watch_streams(now)
                self._watch_stall(now)
                level = self.governor.observe(now, self.received, behind=self._hash_behind())
                with self.lock:
                    exited, self.exited = self.exited, set()
                # a worker that has returned counts as gone at once: waiting for its thread to
                # end would cost the last file a tick of this loop
                self.workers = [w for w in self.workers if w not in exited and w.is_alive()]
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

    def _watch_stall(self, now: float) -> None:
        """Stop as stalled when a single stream is left and it received next to nothing for ``stall_timeout``."""
        mark_time, mark_bytes = self.stall_mark
        if self.received - mark_bytes >= STALL_BYTES or self.resumed + self.received >= self.bytes_total:
            self.stall_mark = (now, self.received)
        elif self.governor.level <= 1 and now - mark_time >= self.job.stall_timeout:
            self._fail(_stalled(self.job.stall_timeout))

    def _watch_streams(self, now: float) -> None:
        """Cut streams that receive next to nothing; halve the stream count when any were stuck.

        A stream blocked on an answer that has begun is cut here (its socket shut down); one
        still waiting for the answer to begin times out by itself (the read timeout is
        ``patience``). Either way its worker reports it and retries on a fresh connection.
        """
        with self.scheduler.lock:
            parts = list(self.scheduler.active)
        for part in parts:
            sock = part.sock
            if sock is not None and not part.cut and now - part.heard >= self.patience:
                part.cut = True
                _shutdown(sock)
        with self.lock:
            stuck, self.stuck = self.stuck, 0
        if stuck and self.governor.level > 1 and now - self.backed_off >= self.patience:
            self.backed_off = now
            self.governor.back_off(max(1, min(self.governor.level, len(parts)) // 2))
            self.stall_mark = (now, self.received)  # the fewer streams get the whole limit

    def _fail(self, error: BaseException) -> None:
        """Keep the first error and stop every worker."""
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
        """Fold one request-to-first-byte time into the smoothed latency."""
        with self.lock:
            self.latency = seconds if self.latency is None else 0.8 * self.latency + 0.2 * seconds

    def _report(self, samples: list[tuple[float, int]]) -> None:
        """Hand a progress snapshot to the caller's callback, if any."""
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
        """Record every open file's written ranges beside its partial file."""
        for file in self.files:
            file.save_state()

    # -- workers ---------------------------------------------------------------------
    def _work(self) -> None:
        """A stream worker: take pieces and receive them on one kept-alive connection until none are left."""
        connection = self._connection()
        buffer = memoryview(bytearray(self.engine.chunk_size))
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
                    self._fetch_range(connection, buffer, part)
                except _Retired:
                    counted = False
                    return
                except _Stuck:
                    with self.lock:
                        self.stuck += 1
                    connection.close()  # its range is asked again on a fresh connection
                finally:
                    part.file.detach()
                    self.scheduler.give_back(part)
                if part.pos >= part.end and not part.file.missing():
                    self._complete(part.file)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread, which raises it
            self._fail(error)
        finally:
            connection.close()
            with self.lock:
                if counted:
                    self.active -= 1
                self.exited.add(threading.current_thread())
            self.wake.set()

    def _connection(self) -> Connection:
        """A worker's connection: a wait for bytes longer than ``patience`` is a stuck stream.

        (It also bounds how long a worker can keep the run from stopping.)
        """
        return Connection(connect_timeout=self.engine.timeout, read_timeout=self.patience)

    def _retire(self) -> bool:
        """Leave (and stop counting this worker) when the governor lowered the stream count."""
        with self.lock:
            if self.active > self.governor.level:
                self.active -= 1
                return True
            return False

    def _fetch_range(self, connection: Connection, buffer: memoryview, part: Piece) -> None:
        """Receive ``part``, retrying failures with backoff (or the server's ``Retry-After``)."""
        failures = 0
        while part.pos < part.end and not self.stop.is_set():
            before = part.pos
            try:
                self._stream(connection, buffer, part)
                return
            except _Dropped:
                return
            except _Retryable as retry:
                if part.cut:
                    raise _Stuck from None
                failures = 0 if part.pos > before else failures + 1
                if failures >= self.engine.attempts:
                    raise TransferError(
                        f"download of {part.file.item.remote.relative_path} failed after {failures} attempts: {retry.reason}",
                        RESUME_HINT,
                    ) from None
                backoff = self.engine.backoff * 2 ** (failures - 1)
                self.stop.wait(parse_retry_after(retry.after, backoff, self.engine.max_backoff))

    def _stream(self, connection: Connection, buffer: memoryview, part: Piece) -> None:
        """Receive ``part`` on one Range request (after the redirects it leads to).

        The body is read into the worker's ``buffer`` and written with ``pwrite``; reading
        it to its end keeps the connection alive for the next piece.
        """
        remote = part.file.item.remote
        headers = {**self.job.request_headers(), "Range": f"bytes={part.pos}-{part.end - 1}", "Accept-Encoding": "identity"}
        start_url = part.file.location or remote.url
        asked = part.heard = time.monotonic()
        part.got = 0
        try:
            url, answer = follow(connection, start_url, headers, home=origin(remote.url), what=remote.relative_path)
            with self._watched(connection.sock, part):
                self._note_latency(time.monotonic() - asked)
                if start_url != remote.url and answer.status in (401, 403, 404, 410):
                    part.file.location = None  # the redirect expired: ask the Hub again
                    raise _Retryable(f"HTTP {answer.status} from {origin(start_url)[1]}", "0")
                self._check_status(answer, part)
                if url != start_url:
                    part.file.location = url  # later pieces go there directly
                self._receive(answer, buffer, part)
        except _ClosedEarly:
            connection.close()  # the server closed its side: the next request opens a new connection
            raise _Retryable("the server closed the connection early") from None
        except HTTP_ERRORS as error:
            if part.cut or is_read_timeout(error):
                raise _Stuck from None
            raise _Retryable(f"connection error ({type(error).__name__})") from None

    def _receive(self, answer: http.client.HTTPResponse, buffer: memoryview, part: Piece) -> None:
        """Write the body of ``answer`` at ``part.pos`` onwards until ``part`` is whole (or the run stops)."""
        size, body = len(buffer), Body(answer)
        fd = part.file.fd
        assert fd is not None  # attached: it stays open while this worker writes
        while part.pos < part.end and not self.stop.is_set():
            if self._retire():
                raise _Retired
            count = body.read_into(buffer[: min(size, part.end - part.pos)])
            if not count:
                raise _ClosedEarly
            count = min(count, part.end - part.pos)  # the range may have been split meanwhile
            start = part.pos
            try:
                written = os.pwrite(fd, buffer[:count], start)
                while written < count:  # a short write (a signal, a nearly full disk): the rest, or the error
                    written += os.pwrite(fd, buffer[written:count], start + written)
            except OSError as error:
                raise part.file.disk_error(error) from None
            part.pos += count
            part.file.mark(start, part.pos)
            part.got += count
            if part.got >= STALL_BYTES:
                part.heard, part.got = time.monotonic(), 0
            with self.lock:
                self.received += count

    def _check_status(self, answer: http.client.HTTPResponse, part: Piece) -> None:
        """Raise for a status that is not a usable answer for ``part`` (auth, retry, Range ignored)."""
        status = answer.status
        what = part.file.item.remote.relative_path
        if status in (401, 403):
            raise AuthenticationRequiredError(what, status, token_sent=bool(self.job.token))
        if status in RETRY_STATUSES:
            raise _Retryable(f"HTTP {status}", answer.getheader("Retry-After"))
        if status == 200 and (part.pos > 0 or part.end < part.file.size) and not self.scheduler.take_over(part):
            raise _Dropped  # the server ignores Range: another stream reads this whole file
        if status not in (200, 206):
            raise TransferError(f"download of {what} failed: HTTP {status} {answer.reason}")

    @contextlib.contextmanager
    def _watched(self, sock: socket.socket | None, part: Piece) -> Iterator[None]:
        """Register the answer's socket so :meth:`_halt` (and a cut of ``part``) can wake a read blocked on it."""
        if sock is None:
            yield
            return
        with self.lock:
            self.sockets.add(sock)
        part.sock = sock
        if self.stop.is_set():
            _shutdown(sock)
        try:
            yield
        finally:
            part.sock = None
            with self.lock:
                self.sockets.discard(sock)

    def _complete(self, file: PartialFile) -> None:
        """Verify a file that has all its bytes and install it (or discard it and note the mismatch)."""
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


class _Stuck(Exception):
    """Raised inside a worker whose stream made no progress for ``patience``: retried on a fresh connection."""


class _ClosedEarly(Exception):
    """Raised inside a worker whose answer ended before the bytes it announced."""


class _Dropped(Exception):
    """Raised inside a worker whose range another stream now covers (a server that ignores Range)."""


class _Retryable(Exception):
    """A failure worth another attempt; ``after`` is the server's ``Retry-After``, unparsed."""

    def __init__(self, reason: str, after: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.after = reason, after


def _stalled(seconds: float) -> TransferError:
    """The one-line error for a transfer that stalled."""
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
    """Shut a socket down both ways so a read blocked on it returns."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed
