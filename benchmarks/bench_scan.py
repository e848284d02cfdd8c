"""Scanning many model folders: time grows linearly with the number of folders.

Run: ``uv run python benchmarks/bench_scan.py [--sizes 250,500,1000]``

Each folder is ``<owner>/<repo>`` with a config.json, a small safetensors file (valid
header) and a README. The peer, measured on the same tree in the same run, is
``find -type f -exec sha256sum {} +``: reading and hashing every file, the floor for a
scan that records checksums.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from imageworks.app import open_registry


def make_tree(base: Path, count: int) -> None:
    """``count`` small model folders under ``base``."""
    header = json.dumps({"w": {"dtype": "BF16", "shape": [64, 64], "data_offsets": [0, 8192]}}).encode()
    weights = struct.pack("<Q", len(header)) + header + bytes(8192)
    for i in range(count):
        folder = base / f"owner{i % 40}" / f"model-{i:04d}"
        folder.mkdir(parents=True)
        (folder / "config.json").write_text(json.dumps({"model_type": "llama", "torch_dtype": "bfloat16"}))
        (folder / "model.safetensors").write_bytes(weights)
        (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\nServe with vLLM.\n")


def main() -> None:
    """Time plan + apply for each size and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="250,500,1000")
    args = parser.parse_args()
    rows = []
    for count in (int(s) for s in args.sizes.split(",")):
        work = Path(tempfile.mkdtemp(prefix="iw-scan-"))
        os.environ.update({"IMAGEWORKS_REGISTRY_DIR": str(work / "registry"), "IMAGEWORKS_LOG_DIR": str(work / "logs")})
        make_tree(work / "weights", count)
        from imageworks.core.config import load_config
        from imageworks.providers.local.scan import ScanOptions, apply_scan, plan_scan

        config = load_config()
        registry = open_registry(config)
        start = time.perf_counter()
        items = plan_scan(ScanOptions(base=work / "weights"), registry, config, [])
        apply_scan(items, registry, config)
        ours = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run(f"find {work / 'weights'} -type f -exec sha256sum {{}} + > /dev/null", shell=True, check=True)
        peer = time.perf_counter() - start
        assert len(registry.entries()) == count
        rows.append((count, ours, peer))
        shutil.rmtree(work)
    print("| folders | scan (s) | per folder (ms) | peer: find + sha256sum (s) | ratio |\n|---|---|---|---|---|")
    for count, ours, peer in rows:
        print(f"| {count} | {ours:.2f} | {1000 * ours / count:.2f} | {peer:.2f} | {ours / peer:.1f}x |")


if __name__ == "__main__":
    main()
