"""Registry listing speed: 10,000 entries, in-process and through the console script.

Run: ``uv run python benchmarks/bench_registry.py [--entries 10000] [--repeat 5]``

Peers measured in the same run on the same file: ``jq . model_registry.json`` (parse and
print the merged snapshot) and a bare ``python -c 'json.load(...)'`` (interpreter start
plus parsing), so the table shows what our structure, filtering and output cost on top.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from imageworks.app import open_registry


def make_registry(folder: Path, count: int) -> None:
    """Write ``count`` realistic entries (half curated roles, half discovered downloads)."""
    discovered, curated = [], []
    for i in range(count):
        name = f"model-{i:05d}-vllm-awq-w4g128"
        discovered.append(
            {
                "name": name,
                "family": f"model-{i:05d}",
                "display_name": f"model {i:05d} (W4G128)",
                "backend": "vllm",
                "hf_id": f"owner{i % 50}/Model-{i:05d}-AWQ",
                "download_path": f"/models/owner{i % 50}/Model-{i:05d}-AWQ",
                "download_location": "linux_wsl",
                "download_format": "awq",
                "quantization": "w4g128",
                "download_size_bytes": 4_000_000_000 + i,
                "download_files": ["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"],
                "download_files_count": 3,
                "download_directory_checksum": f"{i:064x}",
                "downloaded_at": "2026-11-26T03:00:00+00:00",
                "source_provider": "huggingface",
                "metadata": {"readme_file": "README.md", "license": "apache-2.0"},
            }
        )
        if i % 2 == 0:
            curated.append({"name": name, "roles": ["chat"], "capabilities": {"text": True}})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_registry.discovered.json").write_text(json.dumps(discovered, indent=2, sort_keys=True) + "\n")
    (folder / "model_registry.curated.json").write_text(json.dumps(curated, indent=2, sort_keys=True) + "\n")


def timed(command: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall time of ``command`` in seconds (stdout discarded)."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    """Build the registry, time everything, print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="iw-bench-"))
    env = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(work / "registry"), "IMAGEWORKS_LOG_DIR": str(work / "logs")}
    os.environ.update(env)
    make_registry(work / "registry", args.entries)

    from imageworks.core.config import load_config
    from imageworks.services.listing.query import ListQuery, entry_json, select

    registry = open_registry(load_config())
    start = time.perf_counter()
    entries = registry.entries()
    loaded = time.perf_counter() - start
    chosen = select(entries, ListQuery(), ())
    payload = json.dumps([entry_json(e) for e in chosen])
    in_process = time.perf_counter() - start
    registry.update(entries[0].name, lambda current: {"roles": ["chat", "bench"]})  # writes the merged snapshot

    script = shutil.which("imageworks-download") or str(Path(sys.executable).parent / "imageworks-download")
    rows = [
        ("load + merge + structure (in process)", loaded),
        ("list --json work (in process)", in_process),
        ("imageworks-download list --json", timed([script, "list", "--json"], env, args.repeat)),
        ("imageworks-download list", timed([script, "list"], env, args.repeat)),
        ("peer: python -c json.load(merged)", timed(
            [sys.executable, "-c", f"import json; json.load(open({str(work / 'registry' / 'model_registry.json')!r}))"],
            env, args.repeat)),
    ]
    if shutil.which("jq"):
        rows.append(("peer: jq . merged", timed(["jq", ".", str(work / "registry" / "model_registry.json")], env, args.repeat)))
    print(f"{args.entries} entries, {len(payload) / 1e6:.1f} MB of list JSON, median of {args.repeat}\n")
    print("| what | seconds |\n|---|---|")
    for label, seconds in rows:
        print(f"| {label} | {seconds:.3f} |")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
