"""The proxy's memory stays flat under a 300 MiB request body and a 400 MiB answer, measured as a process.

The console script runs as a real process; its peak resident size is the kernel's
``VmHWM`` (``/proc/<pid>/status``), read after both transfers. Before the limits, the body
was read whole (RSS 50 -> 951 MiB) and the answer buffered whole (-> 1.28 GiB).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.proxy.hostile_backend import MIB, HostileBackend
from tests.proxy.test_launcher import SCRIPT

LIMIT = 200 * MIB


def peak_rss(pid: int) -> int:
    """The process's peak resident set size in bytes (``VmHWM``)."""
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
    assert match, status
    return int(match.group(1)) * 1024


def send_chunked_body(port: int, size: int) -> bytes:
    """POST ``size`` bytes without a length (chunked) on a raw socket; what the proxy answered, if anything."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        raw.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n")
        block = b"%x\r\n%s\r\n" % (MIB, b" " * MIB)
        try:
            for _ in range(size // MIB):
                raw.sendall(block)
            raw.sendall(b"0\r\n\r\n")
        except OSError:  # the proxy answered 413 and closed: the rest is never read
            pass
        answer = b""
        try:
            while piece := raw.recv(65536):
                answer += piece
        except OSError:
            pass
        return answer


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/status")
def test_peak_rss_stays_under_200_mib_with_a_300_mib_body_and_a_400_mib_answer(hostile: HostileBackend) -> None:
    process = subprocess.Popen([str(SCRIPT), "--port", "0", "--log-level", "warning"], stderr=subprocess.PIPE, text=True,
                               env=os.environ.copy())
    try:
        assert process.stderr is not None
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)/v1", process.stderr.readline())
        assert match
        port = int(match.group(1))
        answer = send_chunked_body(port, 300 * MIB)
        assert not answer or answer.startswith(b"HTTP/1.1 413"), answer[:200]
        received = 0
        with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", timeout=60,
                          json={"model": "huge-vllm", "messages": [], "size": 400 * MIB}) as streamed:
            assert streamed.status_code == 200
            for piece in streamed.iter_raw(1024 * 1024):
                received += len(piece)
        assert received == 400 * MIB
        peak = peak_rss(process.pid)
        print(f"imageworks-chat-proxy peak RSS (VmHWM): {peak / MIB:.1f} MiB")
        assert peak < LIMIT, f"peak RSS {peak / MIB:.0f} MiB"
    finally:
        process.kill()
        process.wait()
