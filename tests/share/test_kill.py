"""kill -9 at every rename of a fold and of a share: every app can still load every model, nothing is lost.

``die_at.py`` runs the real command and SIGKILLs it just before its Nth rename, for N =
1, 2, ... until a run ends by itself. After each kill the invariants are checked on
disk; then the undo (for a fold) or a re-run (for a share) must finish the job.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, scan_cache_dir

from imageworks.providers.ollama.store import read_store
from tests.model_fixtures import write_gguf
from tests.share.conftest import Copies, Stores, build_copies
from tests.support.cli import cli

DIE_AT = Path(__file__).with_name("die_at.py")
MAX_POINTS = 40


def run_until(n: int, *args: str) -> subprocess.CompletedProcess[str]:
    """The command killed just before its ``n``-th rename (or run to its end)."""
    return subprocess.run([sys.executable, str(DIE_AT), str(n), *args], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ), cwd=os.getcwd())


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reset(stores: Stores) -> None:
    """Empty every store and the registry."""
    for folder in [*stores.all(), Path(os.environ["IMAGEWORKS_REGISTRY_DIR"])]:
        for path in folder.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    (stores.ollama / "manifests").mkdir()
    (stores.ollama / "blobs").mkdir()


def readers_load_copies(copies: Copies, stores: Stores) -> None:
    """Every copy holds its bytes, and the Hugging Face readers load the cached one."""
    assert all(sha(p) == copies.sha256 for p in [*copies.paths, copies.read_only])
    assert not scan_cache_dir(stores.hf_cache).warnings
    found = hf_hub_download("acme/dup", "model.safetensors", cache_dir=stores.hf_cache, local_files_only=True)
    assert sha(Path(found)) == copies.sha256


def test_fold_killed_at_every_rename(stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    killed = 0
    for n in range(1, MAX_POINTS):
        reset(stores)
        copies = build_copies(stores, capsys)
        run = run_until(n, "dedupe", "--apply", "--json")
        if run.returncode != -signal.SIGKILL:
            assert run.returncode == 0, run.stderr
            break
        killed += 1
        readers_load_copies(copies, stores)
        history = cli(capsys, "dedupe", "--history", "--json").json()
        if history:  # the journal was created: undo restores independent copies
            undone = cli(capsys, "dedupe", "--undo", history[0]["id"])
            assert undone.code == 0, undone.err
            assert len({p.stat().st_ino for p in copies.paths}) == 4
            readers_load_copies(copies, stores)
        again = cli(capsys, "dedupe", "--apply", "--json")  # and a new fold finishes the job
        assert again.code == 0, again.err
        assert len({p.stat().st_ino for p in copies.paths}) == 1
        readers_load_copies(copies, stores)
    else:
        pytest.fail(f"the fold was still being killed after {MAX_POINTS} renames")
    assert killed >= 8  # journal, three links with their journal steps, the registry


def share_invariants(stores: Stores, source: Path, digest: str) -> set[str]:
    """Each app sees nothing of the model or all of it; returns the apps that see it."""
    assert sha(source) == digest
    seeing = set()
    models = read_store(stores.ollama)
    assert all(m.problem is None for m in models), [m.problem for m in models]
    if models:
        seeing.add("ollama")
    assert not scan_cache_dir(stores.hf_cache).warnings
    try:
        found = hf_hub_download("acme/tiny-GGUF", "tiny-q4_k_m.gguf", cache_dir=stores.hf_cache, local_files_only=True)
        assert sha(Path(found)) == digest
        seeing.add("hf-cache")
    except Exception as error:  # not there yet: LocalEntryNotFoundError
        assert "LocalEntryNotFound" in type(error).__name__ or "cannot find" in str(error).lower(), error
    lm = stores.lmstudio / "acme" / "tiny-GGUF" / "tiny-q4_k_m.gguf"
    if lm.exists():
        assert os.path.samefile(lm, source)
        seeing.add("lmstudio")
    return seeing


def test_share_killed_at_every_rename(stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    killed = 0
    for n in range(1, MAX_POINTS):
        reset(stores)
        source = write_gguf(stores.weights / "acme" / "tiny-GGUF" / "tiny-q4_k_m.gguf", tokens=500, seed=5)
        digest = sha(source)
        assert cli(capsys, "scan", "--base", str(stores.weights)).code == 0
        name = json.loads(cli(capsys, "list", "--json").out)[0]["name"]
        run = run_until(n, "share", name, "--to", "ollama,lmstudio,hf-cache")
        if run.returncode != -signal.SIGKILL:
            assert run.returncode == 0, run.stderr
            assert share_invariants(stores, source, digest) == {"ollama", "lmstudio", "hf-cache"}
            break
        killed += 1
        share_invariants(stores, source, digest)
        again = cli(capsys, "share", name, "--to", "ollama,lmstudio,hf-cache")
        assert again.code == 0, again.err
        assert share_invariants(stores, source, digest) == {"ollama", "lmstudio", "hf-cache"}
        leftovers = [p for p in stores.ollama.rglob(".imageworks-link-*")] + list(stores.hf_cache.rglob(".imageworks-link-*"))
        assert leftovers == []  # a re-run sweeps what the killed one left
    else:
        pytest.fail(f"the share was still being killed after {MAX_POINTS} renames")
    assert killed >= 6
