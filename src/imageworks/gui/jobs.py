"""Background jobs of the GUI: CLI commands run as detached processes, recorded in files.

Streamlit re-runs the page script on every click and a reload starts a new session, so
long work (a download) cannot live in the script thread. :func:`start` runs the command
as its own process (``python -m imageworks.gui.job_process``, a new session, so it
outlives the page and a Cancel can signal its whole process group) and records it in the
job folder, ``<log_dir>/gui-jobs`` (:func:`folder`). Every session reads the same files,
so a reloaded page sees the running job, and a second Download for the same key returns
the running job instead of starting another.

Files of job ``ID``: ``ID.json`` (id, key, program, arguments, pid, start time),
``ID.progress.jsonl`` (the command's ``--progress-json`` events), ``ID.out`` (its stdout
and stderr), ``ID.exit`` (its exit status, written by the process when it ends) and
``ID.cancelled`` (written by :meth:`Job.cancel`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from imageworks.core.config import Config
from imageworks.services.locks import FileLock

Status = Literal["running", "done", "failed", "cancelled"]
FOLDER_NAME = "gui-jobs"
GRACE_SECONDS = 5.0
# The jobs this process started: polling their Popen reaps them, so none stays a zombie.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def folder(config: Config) -> Path:
    """The job folder of ``config``: ``<log_dir>/gui-jobs``."""
    return config.log_dir / FOLDER_NAME


@dataclass(frozen=True)
class Progress:
    """The last progress event of a job (see ``download --progress-json``)."""

    bytes_done: int
    bytes_total: int
    speed: float
    eta_seconds: float | None
    files_done: int
    files_total: int

    @property
    def fraction(self) -> float:
        """Bytes done over bytes total, 0.0 to 1.0."""
        return min(self.bytes_done / self.bytes_total, 1.0) if self.bytes_total > 0 else 0.0


@dataclass(frozen=True)
class Job:
    """One recorded job; its status and progress are read from the files each time."""

    id: str
    key: str
    program: str
    args: tuple[str, ...]
    pid: int
    started: float
    directory: Path

    def path(self, suffix: str) -> Path:
        """The job's file with ``suffix`` (``.json``, ``.out``, ...)."""
        return self.directory / f"{self.id}{suffix}"

    @property
    def progress_file(self) -> Path:
        """Where the command appends its progress events."""
        return progress_file(self.directory, self.id)

    def exit_code(self) -> int | None:
        """The exit status the process wrote, or None while it runs (or when it was killed)."""
        try:
            return int(self.path(".exit").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def status(self) -> Status:
        """``running``, ``done`` (exit status 0), ``failed`` or ``cancelled``."""
        code = self.exit_code()
        if code is not None:
            return "done" if code == 0 else "failed"
        if self.path(".cancelled").exists():
            return "cancelled"
        return "running" if _alive(self.pid, self.id) else "failed"  # gone without a status: killed

    def progress(self) -> Progress | None:
        """The last progress event, or None before the first one."""
        for line in reversed(_tail(self.progress_file, 4096).splitlines()):
            try:
                event = json.loads(line)
                return Progress(
                    int(event["bytes_done"]), int(event["bytes_total"]), float(event["speed"]),
                    None if event.get("eta_seconds") is None else float(event["eta_seconds"]),
                    int(event["files_done"]), int(event["files_total"]),
                )
            except (ValueError, KeyError, TypeError):
                continue  # a line being written, or not a progress event
        return None

    def output(self, limit: int = 4000) -> str:
        """The end of what the command printed."""
        return _tail(self.path(".out"), limit)

    def cancel(self, grace: float = GRACE_SECONDS) -> bool:
        """Stop a running job: SIGTERM to its process group, SIGKILL after ``grace`` seconds.

        The partial files stay where the engine left them, so starting the same download
        again resumes it, as after any kill. Returns False when the job was not running.
        """
        if self.status() != "running":
            return False
        self.path(".cancelled").write_text(dt.datetime.now(dt.UTC).isoformat(), encoding="utf-8")
        _signal_group(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _alive(self.pid, self.id):
            if time.monotonic() > deadline:
                _signal_group(self.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
        return True

    def remove(self) -> None:
        """Delete the job's files (only once it has ended)."""
        if self.status() == "running":
            raise RuntimeError(f"job {self.id} is still running")
        for path in self.directory.glob(f"{self.id}.*"):
            path.unlink(missing_ok=True)


def progress_file(directory: Path, job_id: str) -> Path:
    """The progress file of job ``job_id`` in ``directory``."""
    return directory / f"{job_id}.progress.jsonl"


def jobs(directory: Path) -> list[Job]:
    """Every recorded job in ``directory``, newest first."""
    found = []
    for record in directory.glob("*.json"):
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
            found.append(Job(str(data["id"]), str(data["key"]), str(data["program"]), tuple(data["args"]),
                             int(data["pid"]), float(data["started"]), directory))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # another session is writing it, or it is not a job record
    return sorted(found, key=lambda job: job.started, reverse=True)


def running(directory: Path, key: str) -> Job | None:
    """The running job for ``key``, if there is one."""
    return next((job for job in jobs(directory) if job.key == key and job.status() == "running"), None)


def start(directory: Path, key: str, program: str, build_args: Callable[[Path], Sequence[str]]) -> tuple[Job, bool]:
    """Start a job for ``key`` unless one is running; return it and whether it is new.

    ``build_args`` gets the job's progress file and returns the command's arguments (the
    GUI builds them with :func:`imageworks.gui.commands.build`). A lock on the folder
    makes the check and the start one step, so two clicks (or two browser tabs) at once
    still start one process.
    """
    directory.mkdir(parents=True, exist_ok=True)
    with FileLock(directory / "jobs.lock", timeout=30):
        current = running(directory, key)
        if current is not None:
            return current, False
        job_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        args = tuple(build_args(progress_file(directory, job_id)))
        exit_file = directory / f"{job_id}.exit"
        with open(directory / f"{job_id}.out", "wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "imageworks.gui.job_process", str(exit_file), program, *args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        _CHILDREN[process.pid] = process
        job = Job(job_id, key, program, args, process.pid, time.time(), directory)
        record = {"id": job.id, "key": key, "program": program, "args": list(args), "pid": job.pid,
                  "started": job.started}
        temporary = directory / f"{job_id}.json.tmp"
        temporary.write_text(json.dumps(record, indent=2), encoding="utf-8")
        os.replace(temporary, job.path(".json"))
        return job, True


def clear_finished(directory: Path) -> int:
    """Delete the records of jobs that have ended; return how many."""
    ended = [job for job in jobs(directory) if job.status() != "running"]
    for job in ended:
        job.remove()
    return len(ended)


def _alive(pid: int, job_id: str) -> bool:
    """Whether ``pid`` is still the process of job ``job_id`` (not ended, not a zombie, not reused)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None  # our own child: poll() also reaps it
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or the pid now belongs to another user
        return False
    proc = Path(f"/proc/{pid}")
    if not proc.exists():
        return True  # no /proc to look closer (not Linux)
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (OSError, IndexError):
        return False
    return state != "Z" and (not cmdline or job_id.encode() in cmdline)  # an ending process has no command line


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(path: Path, limit: int) -> str:
    """The last ``limit`` bytes of ``path`` as text (empty when it is missing)."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - limit, 0))
            return handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
