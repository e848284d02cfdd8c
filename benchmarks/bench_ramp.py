"""How fast the Python engine finds a link's capacity: streams and bytes over time, one file.

Run: ``uv run python benchmarks/bench_ramp.py [--mib 512] [--cap-mb 25] [--runs 2]``

nginx (as in ``bench_transfer.py``) serves one file on loopback, unthrottled and with
a cap per connection (``cap_relay.py``). ``PythonEngine().fetch`` runs in this process with
``max_connections=16`` and reports progress; the table shows, every quarter second, the
bytes received and the streams open, then the time to the last verified byte and the
CPU seconds. Behind the cap the ceiling is ``16 x cap`` (MiB/s, so 419 MB/s at 25); the target (issue 11) is to reach
it within about a second and to finish close to ``size / ceiling``. Unthrottled, the
stream count should fall back to what pays.

This times the engine alone, on purpose: it shows the ramp. What users get, start-up
included, is ``bench_transfer.py``'s process table.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import shutil
import tempfile
import time
from pathlib import Path

from bench_transfer import start_nginx, write_random

from imageworks.core.transfers import RemoteFile, TransferJob, TransferProgress
from imageworks.transfer.python_engine import PythonEngine


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_run(url: str, size: int, sha256: str, out: Path) -> tuple[float, float, list[tuple[float, int, int]]]:
    """Wall seconds, CPU seconds and (time, bytes, streams) progress of one fetch into ``out``."""
    shutil.rmtree(out, ignore_errors=True)
    job = TransferJob([RemoteFile(url, "f.bin", size, sha256)], out, max_connections=16)
    marks: list[tuple[float, int, int]] = []
    started, cpu = time.monotonic(), cpu_seconds()

    def note(progress: TransferProgress) -> None:
        marks.append((time.monotonic() - started, progress.bytes_done, progress.connections))

    PythonEngine().fetch(job, note)
    return time.monotonic() - started, cpu_seconds() - cpu, marks


def timeline(marks: list[tuple[float, int, int]]) -> str:
    """One ``t s: MB/streams`` point per quarter second."""
    points, last = [], -1
    for at, done, streams in marks:
        if int(at * 4) != last:
            points.append(f"{at:.2f}s {done / 1e6:.0f}MB/{streams}")
            last = int(at * 4)
    return ", ".join(points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--cap-mb", type=int, default=25, help="per-connection cap (benchmarks/cap_relay.py), MiB/s")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-ramp-"))
    try:
        (root / "www").mkdir()
        source = root / "www" / "f.bin"
        write_random(source, args.mib)
        size = source.stat().st_size
        sha256 = hashlib.sha256(source.read_bytes()).hexdigest()
        nginx, fast, capped = start_nginx(root, args.cap_mb)
        try:
            print(f"1 x {args.mib} MiB, in process, max 16 streams; ceiling behind the cap: {16 * args.cap_mb * 1.048576:.0f} MB/s\n")
            print("| link | run | wall s | MB/s | CPU s | bytes / streams every 0.25 s |")
            print("|---|---:|---:|---:|---:|---|")
            for link, port in ((f"{args.cap_mb} MB/s per connection", capped), ("unthrottled", fast)):
                for run in range(1, args.runs + 1):
                    wall, cpu, marks = one_run(f"http://127.0.0.1:{port}/f.bin", size, sha256, root / "out")
                    print(f"| {link} | {run} | {wall:.2f} | {size / 1e6 / wall:.0f} | {cpu:.2f} | {timeline(marks)} |")
        finally:
            nginx.terminate()
            nginx.wait()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
