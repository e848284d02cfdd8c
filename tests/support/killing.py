"""Kill a download mid-file: start it, wait until its partial file holds enough bytes, SIGKILL it.

The kill and resume tests of both engines and of every Hub share this. Bytes are counted
in blocks written (``st_blocks``), not size, because an engine may preallocate the
partial file. After the bytes are there it waits past the engine's next state save
(once a second), so the bytes are on record, then kills the whole process group: the
Python process and an aria2c child alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pytest

STATE_SAVE_SECONDS = 1.2  # the engines save what they hold about once a second


def written(paths: Sequence[Path]) -> int:
    """The bytes written to the largest of ``paths`` that exist, in blocks."""
    return max((p.stat().st_blocks * 512 for p in paths if p.exists()), default=0)


def kill_mid_file(argv: Sequence[str], partials: Callable[[], Sequence[Path]], at_least: int, *,
                  env: Mapping[str, str] | None = None, timeout: float = 60.0,
                  hold: Callable[[], None] | None = None) -> None:
    """Run ``argv``; SIGKILL its process group once a file of ``partials()`` holds ``at_least`` bytes.

    ``hold`` is called as soon as the bytes are there: a test whose server can stop sending
    (a paused relay) passes it, so the download cannot finish while the state is saved.
    Fails the test when the bytes never come or the command ends first.
    """
    child = subprocess.Popen(list(argv), env=dict(env) if env is not None else None, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while written(partials()) < at_least:
            assert child.poll() is None, "the command finished before it could be killed"
            if time.monotonic() > deadline:
                pytest.fail("the partial file never grew")
            time.sleep(0.05)
        if hold is not None:
            hold()
        time.sleep(STATE_SAVE_SECONDS)
        assert child.poll() is None, "the command finished before it could be killed"
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(10)
