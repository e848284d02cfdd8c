"""Transfers with ``aria2c``: many connections per file, several files at once, resumable.

aria2c writes ``<name>.imageworks-partial`` with its ``.aria2`` control file beside it, so
after a ``kill -9`` the same job continues (``--continue``). Each file's sha256 is checked
here as soon as aria2c reports it complete, in threads while other files still download
(hashlib is several times faster than aria2c's own ``--checksum`` pass, which runs after
the download); the file is renamed into place only then.

Secrets: the job's URLs, headers and bearer token reach aria2c on its standard input
(``--input-file=-``), never on its command line. Progress comes from aria2c's JSON-RPC
on 127.0.0.1; its random RPC secret travels in a config file inside a private (0700)
temporary folder that is deleted as soon as aria2c answers. ``--stop-with-process`` ends
aria2c if this process dies. Every value in the input file is checked (``aria2_input``).

The token and redirects: aria2c resends every header, ``Authorization`` included, on each
redirect it follows, and aria2c 1.36 has no option to stop following redirects or to drop
a header on one (``--help=#all``; ``--http-auth-challenge`` covers user and password
only). So with a token each file's redirect chain is walked here first, with the request
aria2c will make (``redirects``), and aria2c gets the end of the chain: with the token
when that end is on the configured origin, without it otherwise. Residual risk: a server
that answers the probe itself and redirects aria2c's own request a moment later still
receives the token elsewhere; only the configured origin (which holds the token anyway)
can do that, e.g. a Hub whose answer changes between the probe and aria2c's request.

Hostile servers: aria2c believes the server's Content-Length, so a download whose length
is not the Hub's is removed at once (``aria2.forceRemove``) and fails, and
``RLIMIT_FSIZE`` caps every file aria2c writes at the largest announced size, so a lie
cannot fill the disk between two polls. A job that receives less than ``STALL_RATE`` for
``stall_timeout`` seconds fails as stalled, its bytes kept. Bodies that look like torrents
or metalinks stay plain files instead of starting downloads of their own.
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from imageworks.core.disk_inventory import sha256_file
from imageworks.core.transfers import (
    ProgressCallback,
    TransferJob,
    TransferProgress,
    VerifiedFile,
)
from imageworks.transfer.aria2_input import InputEntry, input_text
from imageworks.transfer.digests import git_blob_id
from imageworks.transfer.errors import (
    Aria2NotFoundError,
    AuthenticationRequiredError,
    ChecksumMismatchError,
    TransferError,
)
from imageworks.transfer.redirects import Probed, probe_all
from imageworks.transfer.safety import (
    PlannedFile,
    already_complete,
    check_free_space,
    partial_bytes,
    plan,
    remove_quietly,
)

ARIA2_MAX_CONNECTIONS = 16  # aria2c's own ceiling for -x
NOT_FOUND = "3"
AUTH_FAILED = "24"
HTTP_STATUS = re.compile(r"status=(\d{3})")  # as in "The response status is not successful. status=403"
ACTIVE = ("active", "waiting", "paused")
STALL_RATE = 1024  # bytes a second: a job receiving less on average over stall_timeout has stalled
KEYS = ["gid", "status", "totalLength", "completedLength", "downloadSpeed", "errorCode", "errorMessage", "connections"]


def find_aria2c() -> str:
    """Path of ``aria2c`` or :class:`Aria2NotFoundError` (the message suggests ``--no-aria2``)."""
    found = shutil.which("aria2c")
    if found is None:
        raise Aria2NotFoundError()
    return found


def control_file(item: PlannedFile) -> Path:
    """aria2c's resume record for a partial file."""
    return item.partial.with_name(item.partial.name + ".aria2")


class Aria2Engine:
    """Drives one ``aria2c`` process per round; failed files are retried in later rounds."""

    name = "aria2"

    def __init__(
        self,
        executable: str | None = None,
        *,
        rounds: int = 5,
        backoff: float = 1.0,
        min_split_size: str = "8M",
        poll_interval: float = 0.2,
    ) -> None:
        self.executable = executable
        self.rounds = rounds
        self.backoff = backoff
        self.min_split_size = min_split_size
        self.poll_interval = poll_interval

    def fetch(self, job: TransferJob, progress: ProgressCallback | None = None) -> list[VerifiedFile]:
        """Fetch every file of ``job`` into ``job.target_dir``; see the module docstring."""
        executable = self.executable or find_aria2c()
        planned = plan(job)
        todo = [item for item in planned if job.refetch or not already_complete(item)]
        for item in todo:
            if not control_file(item).exists():
                remove_quietly(item.partial)  # not aria2c's: its bytes cannot be trusted
        check_free_space(job.target_dir, sum(max(i.remote.size - partial_bytes(i.partial), 0) for i in todo))
        job.target_dir.mkdir(parents=True, exist_ok=True)
        done_before = len(planned) - len(todo)
        mismatched: set[str] = set()
        last_reason = ""
        for attempt in range(self.rounds):
            if not todo:
                break
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            outcome = _Round(executable, self, job, todo, done_before, progress).run()
            if outcome.oversized:
                raise outcome.oversized[0]
            done_before += len(outcome.completed)
            for item, actual in outcome.corrupt:
                if item.remote.relative_path in mismatched:
                    raise ChecksumMismatchError(item.remote.relative_path, item.remote.expected_digest or "", actual)
                mismatched.add(item.remote.relative_path)
            todo = outcome.retry + [item for item, _ in outcome.corrupt]
            last_reason = outcome.reason or last_reason
        if todo:
            raise TransferError(
                f"download of {todo[0].remote.relative_path} failed after {self.rounds} attempts: {last_reason}",
                "the bytes received are kept: run the same command again to resume",
            )
        return [VerifiedFile(i.remote.relative_path, i.final, i.remote.size, i.remote.sha256) for i in planned]


class _Outcome:
    def __init__(self) -> None:
        self.completed: list[PlannedFile] = []
        self.corrupt: list[tuple[PlannedFile, str]] = []
        self.retry: list[PlannedFile] = []
        self.oversized: list[TransferError] = []  # the server sends more (or less) than the Hub announced
        self.reason = ""


class _Round:
    """One aria2c process over ``items``."""

    def __init__(
        self,
        executable: str,
        engine: Aria2Engine,
        job: TransferJob,
        items: Sequence[PlannedFile],
        done_before: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.executable, self.engine, self.job, self.items = executable, engine, job, list(items)
        self.done_before, self.progress = done_before, progress
        self.gids = {f"{index + 1:016x}": item for index, item in enumerate(self.items)}
        self.entries: dict[str, InputEntry] = {}  # what aria2c is given, by gid (see _sources)
        self.oversized: dict[str, int] = {}  # gid -> the length the server sends, when not the Hub's
        self.secret = secrets.token_hex(16)
        self.port = _free_port()
        self.rpc_url = f"http://127.0.0.1:{self.port}/jsonrpc"
        self.rpc = requests.Session()
        self.rpc.trust_env = False  # the control interface is local: never through a proxy
        self.hasher = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="sha256")
        self.digests: dict[str, Future[str]] = {}

    def argv(self, conf: Path) -> list[str]:
        """aria2c's command line: no URL, header or token appears here."""
        connections = max(1, min(self.job.max_connections, ARIA2_MAX_CONNECTIONS))
        return [
            self.executable,
            f"--conf-path={conf}",
            "--input-file=-",
            "--enable-rpc=true",
            "--rpc-listen-all=false",
            f"--rpc-listen-port={self.port}",
            f"--stop-with-process={os.getpid()}",
            "--continue=true",
            "--always-resume=true",
            "--auto-file-renaming=false",
            "--allow-overwrite=true",
            "--file-allocation=none",
            "--auto-save-interval=1",
            f"--max-connection-per-server={connections}",
            f"--split={connections}",
            f"--min-split-size={self.engine.min_split_size}",
            f"--max-concurrent-downloads={max(1, self.job.max_parallel_files)}",
            "--max-tries=3",
            "--retry-wait=1",
            "--connect-timeout=15",
            "--timeout=30",
            "--http-accept-gzip=false",
            # a body that looks like a torrent or metalink must stay a file, not start downloads of its own
            "--follow-torrent=false",
            "--follow-metalink=false",
            "--remote-time=false",
            "--console-log-level=error",
            "--summary-interval=0",
            "--show-console-readout=false",
            "--download-result=hide",
            # aria2c forgets finished downloads past this many (1,000 by default) and then
            # answers tellStatus with a fault: keep every one of this round's results
            f"--max-download-result={max(1000, len(self.gids) + 1)}",
            "--quiet=true",
        ]

    def input_text(self) -> str:
        """aria2c input file (sent on stdin): URL, placement and headers per file (see ``aria2_input``)."""
        return input_text(list(self.entries.values()))

    def _sources(self, outcome: _Outcome) -> dict[str, InputEntry]:
        """What aria2c fetches for each file.

        With a token, every file's redirect chain is probed here (see ``redirects``), because
        aria2c resends every header on each redirect it follows: aria2c gets the end of the
        chain, with the token only when that end is on the configured origin. Without a
        token only files being resumed are probed: where the Hub itself serves one, aria2c
        asks for its size with ``HEAD`` instead of an unranged ``GET`` whose body it would
        drop (not on other origins: a signed CDN URL may be valid for ``GET`` only).
        Files whose probe fails wait for the next round.
        """
        headers = self.job.request_headers()
        anonymous = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        resuming = {gid for gid, item in self.gids.items() if control_file(item).exists()}
        probed = [gid for gid in self.gids if self.job.token or gid in resuming]
        results = probe_all([(self.gids[g].remote.url, self.gids[g].remote.relative_path) for g in probed], headers)
        found_for = dict(zip(probed, results, strict=True))
        entries = {}
        for gid, item in self.gids.items():
            found = found_for.get(gid)
            if found is None:
                entries[gid] = InputEntry(item.remote.url, gid, item.partial, headers)
                continue
            if isinstance(found, TransferError):
                raise found
            if not isinstance(found, Probed):
                outcome.retry.append(item)
                outcome.reason = f"cannot reach the server for {item.remote.relative_path}: {type(found).__name__}"
                continue
            if found.total is not None and found.total != item.remote.size:
                raise _oversized_error(item, found.total)
            sent = headers if found.authorized else anonymous
            use_head = gid in resuming and found.authorized
            entries[gid] = InputEntry(found.url, gid, item.partial, sent, use_head=use_head)
        return entries

    def run(self) -> _Outcome:
        outcome = _Outcome()
        self.entries = self._sources(outcome)
        if not self.entries:  # every probe failed: nothing for aria2c this round
            self.hasher.shutdown()
            self.rpc.close()
            return outcome
        self.gids = {gid: self.gids[gid] for gid in self.entries}
        private = Path(tempfile.mkdtemp(prefix="imageworks-aria2-"))  # mode 0700
        try:
            conf = private / "aria2.conf"
            descriptor = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(f"rpc-secret={self.secret}\n")
            text = self.input_text()
            # restore_signals=False: aria2c inherits Python's ignored SIGXFSZ, so a write
            # past the file-size limit below fails with EFBIG instead of killing it
            process = subprocess.Popen(
                self.argv(conf),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                restore_signals=False,
            )
            _limit_file_size(process.pid, max(item.remote.size for item in self.gids.values()))
            assert process.stdin is not None
            process.stdin.write(text.encode())
            process.stdin.close()
            try:
                self._wait_for_rpc(process)
                shutil.rmtree(private, ignore_errors=True)
                statuses = self._poll(process)
                # Every download has stopped and closed its files; aria2c's own shutdown
                # lingers for seconds, so end it at once.
                process.kill()
                process.wait()
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                self.rpc.close()
            return self._classify(statuses, outcome)
        finally:
            self.hasher.shutdown(wait=True)
            shutil.rmtree(private, ignore_errors=True)

    def _call(self, method: str, *params: Any) -> Any:
        token = [] if method == "system.multicall" else [f"token:{self.secret}"]  # multicall: token per call
        payload = {"jsonrpc": "2.0", "id": "iw", "method": method, "params": [*token, *params]}
        response = self.rpc.post(self.rpc_url, json=payload, timeout=10)
        return response.json()["result"]

    def _wait_for_rpc(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if process.poll() is not None:
                detail = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
                raise TransferError(f"aria2c exited with status {process.returncode}: {detail.splitlines()[-1:]}")
            try:
                self._call("aria2.getVersion")
                return
            except (requests.RequestException, KeyError, ValueError):
                time.sleep(0.01)  # aria2c listens within tens of milliseconds: look again soon
        raise TransferError("aria2c did not start its control interface within 15 s", "retry, or use --no-aria2")

    def _poll(self, process: subprocess.Popen[bytes]) -> dict[str, dict[str, str]]:
        samples: list[tuple[float, int]] = []
        stall = _StallWatch(self.job.stall_timeout, time.monotonic())
        while True:
            calls = [
                {"methodName": "aria2.tellStatus", "params": [f"token:{self.secret}", gid, KEYS]} for gid in self.gids
            ]
            try:
                results = self._call("system.multicall", calls)
            except (requests.RequestException, KeyError, ValueError) as error:
                if process.poll() is not None:
                    raise TransferError(f"aria2c stopped unexpectedly (status {process.returncode})") from None
                raise TransferError(f"lost contact with aria2c: {error}") from None
            statuses = {gid: _status_of(result) for gid, result in zip(self.gids, results, strict=True)}
            for gid, status in statuses.items():
                item = self.gids[gid]
                if self._check_length(gid, status):
                    continue
                if status["status"] == "complete" and item.remote.sha256 and gid not in self.digests:
                    self.digests[gid] = self.hasher.submit(sha256_file, item.partial)
            self._report(statuses, samples)
            if all(s["status"] in ("complete", "error", "removed") for s in statuses.values()):
                return statuses
            if stall.stalled(time.monotonic(), sum(int(s["completedLength"]) for s in statuses.values())):
                self._stop(process)
                raise TransferError(
                    f"download stalled: less than {STALL_RATE // 1024} KiB/s arrived for {self.job.stall_timeout:g} s",
                    "the bytes received are kept: run the same command again to resume, check the mirror,"
                    " or raise stall_timeout (IMAGEWORKS_STALL_TIMEOUT)",
                )
            time.sleep(_next_look(statuses, samples, self.engine.poll_interval))

    def _check_length(self, gid: str, status: dict[str, str]) -> bool:
        """Whether the server sends another length than the Hub announced; such a download
        is removed at once, so a lying Content-Length cannot fill the disk."""
        if gid in self.oversized:
            return True
        expected = self.gids[gid].remote.size
        total, done = int(status["totalLength"]), int(status["completedLength"])
        if (total and total != expected) or done > expected:
            self.oversized[gid] = max(total, done)
            if status["status"] in ACTIVE:
                try:
                    self._call("aria2.forceRemove", gid)
                except (requests.RequestException, KeyError, ValueError):
                    pass  # it ended meanwhile; its files are deleted in _classify all the same
            return True
        return False

    @staticmethod
    def _stop(process: subprocess.Popen[bytes]) -> None:
        """End aria2c at once (its own shutdown lingers for seconds); the control files it
        saves every second (``--auto-save-interval=1``) keep the bytes on disk resumable."""
        process.kill()
        process.wait()

    def _report(self, statuses: dict[str, dict[str, str]], samples: list[tuple[float, int]]) -> None:
        done = sum(int(s["completedLength"]) for s in statuses.values())
        samples.append((time.monotonic(), done))  # also paces the polling (_next_look)
        del samples[:-10]
        if self.progress is None:
            return
        (t0, b0), (t1, b1) = samples[0], samples[-1]
        self.progress(
            TransferProgress(
                bytes_done=done,
                bytes_total=sum(item.remote.size for item in self.items),
                speed=(b1 - b0) / (t1 - t0) if t1 > t0 else 0.0,
                files_done=self.done_before + sum(s["status"] == "complete" for s in statuses.values()),
                files_total=self.done_before + len(self.items),
                connections=sum(int(s.get("connections", 0)) for s in statuses.values()),
            )
        )

    def _classify(self, statuses: dict[str, dict[str, str]], outcome: _Outcome) -> _Outcome:
        for gid, item in self.gids.items():
            status = statuses[gid]
            if self._check_length(gid, status):
                remove_quietly(item.partial, control_file(item))
                outcome.oversized.append(_oversized_error(item, self.oversized[gid]))
                continue
            code, message = status.get("errorCode", "0"), status.get("errorMessage", "")
            found = HTTP_STATUS.search(message)
            http_status = int(found.group(1)) if found else None
            if status["status"] == "complete":
                actual = self.digests[gid].result() if gid in self.digests else None
                if actual is None and item.remote.git_blob_id:
                    actual = _git_blob_id_of(item.partial, item.remote.size)
                if item.partial.stat().st_size != item.remote.size or actual != item.remote.expected_digest:
                    remove_quietly(item.partial, control_file(item))
                    outcome.corrupt.append((item, actual or "size mismatch"))
                    continue
                os.replace(item.partial, item.final)
                remove_quietly(control_file(item))
                outcome.completed.append(item)
            elif http_status in (401, 403) or code == AUTH_FAILED:
                raise AuthenticationRequiredError(item.remote.relative_path, http_status or 401, bool(self.job.token))
            elif code == NOT_FOUND or http_status == 404:
                raise TransferError(f"download of {item.remote.relative_path} failed: not found (HTTP 404)")
            else:
                outcome.retry.append(item)
                outcome.reason = f"aria2c error {code}: {message}"
        return outcome


def _status_of(result: Any) -> dict[str, str]:
    """One multicall answer: ``[status]``, or a fault object when aria2c no longer knows the
    download; such a file is retried next round like any other error."""
    if isinstance(result, list) and result and isinstance(result[0], dict):
        return result[0]
    message = result.get("faultString", result.get("message", "")) if isinstance(result, dict) else repr(result)
    return {"status": "error", "errorCode": "forgotten", "errorMessage": f"aria2c lost the download: {message}",
            "totalLength": "0", "completedLength": "0"}


def _git_blob_id_of(path: Path, size: int) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        return git_blob_id(fd, size)
    finally:
        os.close(fd)


class _StallWatch:
    """Whether fewer than ``STALL_RATE`` bytes a second arrived over the last ``timeout`` seconds."""

    def __init__(self, timeout: float, now: float) -> None:
        self.timeout = timeout
        self.since, self.mark = now, 0

    def stalled(self, now: float, done: int) -> bool:
        if done - self.mark >= STALL_RATE * self.timeout or done < self.mark:
            self.since, self.mark = now, done
            return False
        return now - self.since >= self.timeout


def _oversized_error(item: PlannedFile, sent: int) -> TransferError:
    return TransferError(
        f"the server sent {sent} bytes for {item.remote.relative_path}, the Hub announced {item.remote.size}",
        "the mirror disagrees with the Hub's file list or is hostile; its partial file was deleted",
    )


def _limit_file_size(pid: int, largest: int) -> None:
    """Cap the size of any file aria2c writes near the largest announced one (Linux; elsewhere
    only the RPC check in ``_poll`` applies): aria2c believes the server's Content-Length, and
    on a fast link it can write much more than that between two polls."""
    if hasattr(resource, "prlimit"):
        limit = max(largest, 1 << 20)  # control files are small; never below a MiB
        try:
            resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, limit))
        except ProcessLookupError:
            pass  # aria2c has already exited: _wait_for_rpc says why


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _next_look(statuses: dict[str, dict[str, str]], samples: list[tuple[float, int]], interval: float) -> float:
    """Seconds until the next status request: ``interval``, or sooner when the bytes left
    should arrive sooner at the recent rate, so the end of a download is seen when it comes."""
    if any(s["totalLength"] == "0" for s in statuses.values()):
        return interval  # a length not known yet: no estimate
    left = sum(max(int(s["totalLength"]) - int(s["completedLength"]), 0) for s in statuses.values())
    if len(samples) < 2 or samples[-1][0] <= samples[0][0] or samples[-1][1] <= samples[0][1]:
        return interval
    rate = (samples[-1][1] - samples[0][1]) / (samples[-1][0] - samples[0][0])
    return min(interval, max(0.01, left / rate))
