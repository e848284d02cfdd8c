"""The chat proxy relaying large answers, as a process: its CPU time and peak RSS against reading the backend directly.

Run: ``uv run python benchmarks/bench_proxy.py [--runs 3]``

A loopback backend (``tests/proxy/hostile_backend.py``) sends, as fast as it is read:

* a server-sent event stream of N MiB **without any event boundary** (what used to be
  held whole and scanned again for every piece: quadratic CPU, nothing relayed);
* a plain JSON answer of N MiB (what used to be read whole before the first byte went on).

Each is read by an httpx client once straight from the backend (the peer: no proxy) and
once through ``imageworks-chat-proxy`` started as a process. The table gives the client's
wall time for both, the proxy process's CPU seconds (user + sys from
``/proc/<pid>/stat``, the difference over the request) and its peak RSS (``VmHWM``) after
all runs. Linear relaying shows as CPU seconds growing in step with N; the ratio column
is wall time through the proxy over wall time direct.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.proxy.hostile_backend import MIB, HostileBackend  # noqa: E402  (after the path above)
from tests.support.isolation import process_environment  # noqa: E402

SCRIPT = Path(sys.executable).with_name("imageworks-chat-proxy")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_mib(pid: int) -> float:
    match = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    return int(match.group(1)) / 1024 if match else float("nan")


def read_all(url: str, payload: dict[str, object]) -> tuple[float, int]:
    """Wall seconds to read the whole answer, and its size."""
    began = time.monotonic()
    size = 0
    with httpx.stream("POST", url, json=payload, timeout=300) as answer:
        answer.raise_for_status()
        for piece in answer.iter_raw(1024 * 1024):
            size += len(piece)
    return time.monotonic() - began, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--sizes", default="16,64,256", help="answer sizes in MiB")
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as temp, HostileBackend() as backend:
        root = Path(temp)
        env = process_environment(root)
        folder = root / "weights" / "bench"
        folder.mkdir(parents=True)
        registry = Path(env["IMAGEWORKS_REGISTRY_DIR"])
        registry.mkdir(parents=True, exist_ok=True)
        entries = [{"name": f"{b}-vllm", "backend": "vllm", "download_path": str(folder),
                    "backend_config": {"base_url": backend.url(b)}} for b in ("boundless", "huge")]
        (registry / "model_registry.curated.json").write_text(json.dumps(entries), encoding="utf-8")
        backend.gate.set()  # the boundless stream ends as soon as its bytes are out
        process = subprocess.Popen([str(SCRIPT), "--port", "0", "--log-level", "warning"], stderr=subprocess.PIPE,
                                   text=True, env=env, cwd=root)
        try:
            assert process.stderr is not None
            line = process.stderr.readline()
            match = re.search(r":(\d+)/v1", line)
            if not match:
                raise SystemExit(f"the proxy did not start: {line}{process.stderr.read()}")
            proxy = f"http://127.0.0.1:{match.group(1)}/v1/chat/completions"
            print("| answer | MiB | direct s | through the proxy s | ratio | proxy CPU s | proxy CPU s per MiB |")
            print("|---|---|---|---|---|---|---|")
            for behaviour, stream in (("boundless", True), ("huge", False)):
                for size in sizes:
                    payload: dict[str, object] = {"model": f"{behaviour}-vllm", "messages": [], "size": size * MIB,
                                                  "stream": stream}
                    direct, through, cpu = [], [], []
                    for _ in range(args.runs):
                        direct.append(read_all(f"{backend.url(behaviour)}/chat/completions", payload)[0])
                        before = cpu_seconds(process.pid)
                        wall, got = read_all(proxy, payload)
                        cpu.append(cpu_seconds(process.pid) - before)
                        through.append(wall)
                        if got < size * MIB:
                            raise SystemExit(f"{behaviour} {size} MiB: only {got} bytes came through")
                    d, t, c = statistics.median(direct), statistics.median(through), statistics.median(cpu)
                    kind = "SSE without boundaries" if stream else "plain JSON"
                    print(f"| {kind} | {size} | {d:.2f} | {t:.2f} | {t / d:.1f} | {c:.2f} | {c / size:.4f} |")
            print(f"\nproxy peak RSS (VmHWM) after all runs: {peak_mib(process.pid):.0f} MiB")
        finally:
            process.kill()
            process.wait()


if __name__ == "__main__":
    main()
