"""The registry's file lock: exclusive across processes and threads, re-entrant, and the same lock ``filelock`` takes.

``filelock`` (the library the lock replaced) is the reference: a lock either of them
holds must stop the other, so a process of an older imageworks and one of this one
never write the registry at once.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import filelock
import pytest

from imageworks.services.locks import FileLock, LockTimeout

HOLDER = """
import sys
from imageworks.services.locks import FileLock
lock = FileLock(sys.argv[1]).acquire()
print("held", flush=True)
sys.stdin.readline()  # hold until told
lock.release()
"""


def test_a_lock_another_process_holds_times_out_then_is_taken_when_released(tmp_path: Path) -> None:
    path = tmp_path / "registry.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"  # wait for the state
        with pytest.raises(LockTimeout):
            FileLock(path).acquire(timeout=0.2)
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        with FileLock(path, timeout=30) as lock:
            assert lock.is_locked
    finally:
        holder.kill()
        holder.wait()


def test_filelock_and_ours_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "registry.lock"
    with filelock.FileLock(str(path)), pytest.raises(LockTimeout):
        FileLock(path).acquire(timeout=0.1)
    with FileLock(path), pytest.raises(filelock.Timeout):
        filelock.FileLock(str(path)).acquire(timeout=0.1)


def test_the_lock_is_reentrant_in_a_thread_and_exclusive_between_threads(tmp_path: Path) -> None:
    lock = FileLock(tmp_path / "registry.lock")
    outcome: list[str] = []

    def other() -> None:
        try:
            lock.acquire(timeout=0.1)
            outcome.append("taken")
        except LockTimeout:
            outcome.append("refused")

    with lock:
        with lock:  # again, in the same thread
            assert lock.is_locked
        assert lock.is_locked  # still held: one release per acquire
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert outcome == ["refused"]
    assert not lock.is_locked
    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert outcome == ["refused", "taken"]


def test_a_symbolic_link_in_place_of_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("keep me")
    (tmp_path / "registry.lock").symlink_to(target)
    with pytest.raises(OSError):
        FileLock(tmp_path / "registry.lock").acquire(timeout=0)
    assert target.read_text() == "keep me"
