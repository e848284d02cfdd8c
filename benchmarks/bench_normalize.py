"""normalize-formats --rebuild on an unchanged store: against a full re-hash, and by entry count.

Run: ``uv run python benchmarks/bench_normalize.py [--gib 10] [--entries 1000,10000] [--repeat 3]``

Two measurements, every one a whole process of the console script (as users run it):

1. **Size.** ``--gib`` GiB of weights in ten model folders (sparse safetensors files with a
   real header: a hash still reads every byte, the disk does not limit it). The full
   re-hash is ``normalize-formats --rebuild --apply`` on entries with no recorded
   per-file stat, so every byte is read (our code path for it); the peer is
   ``sha256sum`` over the same files. Then the same command on the unchanged store, which
   only stats the files. Also shown: the incremental work in-process (no start-up).
2. **Entries.** Registries of ``--entries`` small model folders; the unchanged-store
   rebuild time and the time per entry show whether it grows linearly.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
CONFIG = json.dumps({"model_type": "llama", "torch_dtype": "bfloat16"})


def write_weights(path: Path, size: int) -> None:
    """A sparse safetensors file of ``size`` bytes: a valid header, then holes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = b""
    for _ in range(2):  # the header's own length shifts the data size once
        data_size = size - 8 - len(header)
        header = json.dumps({"weight": {"dtype": "BF16", "shape": [data_size // 2], "data_offsets": [0, data_size]}}).encode()
        header += b" " * (-len(header) % 8)
    with open(path, "wb") as stream:
        stream.write(struct.pack("<Q", len(header)) + header)
        stream.truncate(size)


def register(registry_dir: Path, folders: list[Path]) -> None:
    """Entries for ``folders`` with format and quantisation but no inventory (nothing hashed)."""
    entries = [
        {
            "name": f"{folder.name}-vllm-safetensors-bf16",
            "backend": "vllm",
            "hf_id": f"bench/{folder.name}",
            "download_path": str(folder),
            "download_location": "linux_wsl",
            "download_format": "safetensors",
            "quantization": "bf16",
            "source_provider": "local",
        }
        for folder in folders
    ]
    registry_dir.mkdir(parents=True, exist_ok=True)
    (registry_dir / "model_registry.discovered.json").write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall time of one run of ``command`` (must succeed)."""
    start = time.perf_counter()
    subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def rebuild(env: dict[str, str]) -> list[str]:
    return [str(BIN / "imageworks-download"), "normalize-formats", "--rebuild", "--apply", "--no-backup"]


def in_process(registry_dir: Path) -> float:
    """The incremental rebuild's own time, without interpreter and plugin start-up."""
    from imageworks.core.config import load_config
    from imageworks.core.detection import FormatDetector
    from imageworks.core.plugins import get_plugins
    from imageworks.core.registry import Registry
    from imageworks.plugins.json_registry import JsonRegistryStore
    from imageworks.services.maintain.normalize import normalize_formats

    plugins = get_plugins()
    registry = Registry(JsonRegistryStore(registry_dir), load_config())
    detector = FormatDetector(plugins.detectors())
    start = time.perf_counter()
    report = normalize_formats(registry, detector, rebuild=True, backup=False)
    elapsed = time.perf_counter() - start
    assert report.changes == [] and report.rehashed_files == 0, "the store was not unchanged"
    return elapsed


def size_case(work: Path, gib: float, repeat: int) -> None:
    folders = []
    per_model = int(gib * 1024**3 / 10)
    for index in range(10):
        folder = work / "weights" / "bench" / f"big-{index}"
        write_weights(folder / "model.safetensors", per_model)
        (folder / "config.json").write_text(CONFIG)
        folders.append(folder)
    registry_dir = work / "registry-size"
    register(registry_dir, folders)
    env = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(registry_dir), "IMAGEWORKS_LOG_DIR": str(work / "logs")}
    files = [str(f / name) for f in folders for name in ("config.json", "model.safetensors")]
    peer = statistics.median(timed(["sha256sum", *files], env) for _ in range(repeat))
    full = timed(rebuild(env), env)  # records every file's stat: the store is now "unchanged"
    fulls = [full]
    for _ in range(repeat - 1):  # again from no recorded stat, for a median
        register(registry_dir, folders)
        fulls.append(timed(rebuild(env), env))
    full = statistics.median(fulls)
    quick = statistics.median(timed(rebuild(env), env) for _ in range(repeat))
    inside = statistics.median(in_process(registry_dir) for _ in range(repeat))
    print(f"\n### Unchanged store of {gib:g} GiB (10 entries, 20 files), median of {repeat}\n")
    print("| measurement | seconds | vs our full re-hash | vs sha256sum |")
    print("|---|---:|---:|---:|")
    print(f"| sha256sum of every file (peer) | {peer:.3f} | {peer / full:.1%} | 100% |")
    print(f"| ours, full re-hash (no recorded stat) | {full:.3f} | 100% | {full / peer:.1%} |")
    print(f"| ours, --rebuild on the unchanged store (process) | {quick:.3f} | {quick / full:.2%} | {quick / peer:.2%} |")
    print(f"| ours, --rebuild on the unchanged store (in-process work) | {inside:.4f} | {inside / full:.3%} | {inside / peer:.3%} |")


def entries_case(work: Path, counts: list[int], repeat: int) -> None:
    print(f"\n### Unchanged store by entry count (2 small files per entry), median of {repeat}\n")
    print("| entries | process s | per entry ms | in-process s | per entry ms |")
    print("|---:|---:|---:|---:|---:|")
    shared = work / "shared.safetensors"
    write_weights(shared, 4096)
    for count in counts:
        folders = []
        for index in range(count):
            folder = work / f"weights-{count}" / "bench" / f"m-{index:05d}"
            folder.mkdir(parents=True)
            (folder / "config.json").write_text(CONFIG)
            os.link(shared, folder / "model.safetensors")
            folders.append(folder)
        registry_dir = work / f"registry-{count}"
        register(registry_dir, folders)
        env = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(registry_dir), "IMAGEWORKS_LOG_DIR": str(work / "logs")}
        timed(rebuild(env), env)  # first run records the stat of every file
        process = statistics.median(timed(rebuild(env), env) for _ in range(repeat))
        inside = statistics.median(in_process(registry_dir) for _ in range(repeat))
        print(f"| {count} | {process:.3f} | {process / count * 1000:.3f} | {inside:.3f} | {inside / count * 1000:.3f} |")


def main() -> None:
    """Build the stores, time everything, print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, default=10.0, help="GiB of weights for the size case (default 10).")
    parser.add_argument("--entries", default="1000,10000", help="Entry counts for the linearity case.")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip", choices=["size", "entries"], help="Leave one case out.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="iw-bench-normalize-"))
    os.environ.update({"IMAGEWORKS_MODEL_ROOT": str(work / "weights"), "IMAGEWORKS_LOG_DIR": str(work / "logs")})
    try:
        if args.skip != "size":
            size_case(work, args.gib, args.repeat)
        if args.skip != "entries":
            entries_case(work, [int(n) for n in args.entries.split(",")], args.repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
