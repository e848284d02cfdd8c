"""What the merged-snapshot freshness check costs each read (docs/merge-rules.md).

Run: ``uv run python benchmarks/bench_snapshot.py [--entries 10000] [--repeat 7]``

Every read of the JSON registry hashes both layer files and compares the digests with
``.model_registry.stamp``; when they differ it regenerates ``model_registry.json``. The
peer is the same read without the check (parsing the two layer files, what a read cost
before), and ``sha256sum`` over the same files; both measured in this run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench_registry import make_registry

from imageworks.plugins.json_registry import CURATED, DISCOVERED, STAMP, JsonRegistryStore


def median(work: Callable[[], object], repeat: int) -> float:
    """Median seconds of ``repeat`` calls of ``work``."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    """Build a registry, time the reads, print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="iw-bench-"))
    folder = work / "registry"
    make_registry(folder, args.entries)
    store = JsonRegistryStore(folder)
    with store.transaction():
        pass  # writes the snapshot and its stamp

    def stale() -> None:
        (folder / STAMP).unlink()
        store.read()

    layers = [str(folder / CURATED), str(folder / DISCOVERED)]
    rows = [
        ("peer: parse both layers, no check", median(store._read_raw_layers, args.repeat)),
        ("read() with the freshness check (fresh)", median(store.read, args.repeat)),
        ("read() regenerating the snapshot (stale)", median(stale, args.repeat)),
    ]
    if shutil.which("sha256sum"):
        rows.append(("peer: sha256sum of both layers", median(
            lambda: subprocess.run(["sha256sum", *layers], stdout=subprocess.DEVNULL, check=True), args.repeat)))
    size = sum(Path(p).stat().st_size for p in layers) / 1e6
    print(f"{args.entries} entries, layers {size:.1f} MB, median of {args.repeat}\n")
    print("| what | ms | vs no check |\n|---|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds * 1000:.1f} | {seconds / rows[0][1]:.2f}x |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
