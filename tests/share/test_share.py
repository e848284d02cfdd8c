"""``share VARIANT --to ...``: each app's layout, read back by the apps' own readers, without new bytes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest
from huggingface_hub import hf_hub_download, scan_cache_dir

from imageworks.app import open_registry
from imageworks.providers.ollama.store import read_store
from tests.model_fixtures import write_gguf
from tests.share.conftest import Stores
from tests.support.cli import cli, make_model

TINY = "acme/tiny-GGUF"


def du_bytes(folders: list[Path]) -> int:
    """Disk usage of ``folders`` together (a hard-linked file counts once), in bytes."""
    result = subprocess.run(["du", "-s", "--block-size=1", "-c", *map(str, folders)], capture_output=True, text=True, check=True)
    return int(result.stdout.splitlines()[-1].split()[0])


def file_blocks(folders: list[Path]) -> int:
    """Bytes of file data under ``folders`` (``st_blocks``, each inode once; folders not counted)."""
    seen: dict[tuple[int, int], int] = {}
    for folder in folders:
        for path in folder.rglob("*"):
            info = path.lstat()
            if stat.S_ISREG(info.st_mode):
                seen[(info.st_dev, info.st_ino)] = info.st_blocks * 512
    return sum(seen.values())


def scanned(capsys: pytest.CaptureFixture[str], root: Path) -> dict[str, object]:
    """Scan ``root`` and return the registry entries by hf_id."""
    result = cli(capsys, "scan", "--base", str(root))
    assert result.code == 0, result.err
    return {e.hf_id: e for e in open_registry().entries()}


@pytest.fixture
def tiny(stores: Stores, capsys: pytest.CaptureFixture[str]) -> tuple[str, Path]:
    """A small real GGUF scanned from the weights root: (variant name, file)."""
    path = write_gguf(stores.weights / TINY / "tiny-q4_k_m.gguf", tokens=60000, seed=3)
    entry = scanned(capsys, stores.weights)[TINY]
    return entry.name, path  # type: ignore[attr-defined]


def test_share_with_every_app_adds_no_file_data(stores: Stores, tiny: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    name, source = tiny
    before, data_before = du_bytes(stores.all()), file_blocks(stores.all())
    result = cli(capsys, "share", name, "--to", "ollama,lmstudio,hf-cache", "--json")
    assert result.code == 0, result.err
    by_app = {r["app"]: r for r in result.json()}
    assert {a: r["status"] for a, r in by_app.items()} == {"ollama": "shared", "lmstudio": "shared", "hf-cache": "shared"}
    assert all(set(r["methods"]) == {"hardlink"} for r in by_app.values())
    # Ollama: its own store reader finds the model, the model layer is our inode
    models = read_store(stores.ollama)
    assert [m.name for m in models] == ["hf.co/acme/tiny-GGUF:Q4_K_M"] and models[0].problem is None
    assert models[0].model_blob is not None and os.path.samefile(models[0].model_blob, source)
    assert models[0].quantization == "q4_k_m" and models[0].format == "gguf"
    # LM Studio: publisher/model/file.gguf
    lm = stores.lmstudio / "acme" / "tiny-GGUF" / "tiny-q4_k_m.gguf"
    assert os.path.samefile(lm, source)
    # Hugging Face cache: huggingface_hub's own reader and downloader (offline) find it
    info = scan_cache_dir(stores.hf_cache)
    assert not info.warnings, info.warnings
    (repo,) = info.repos
    assert repo.repo_id == TINY and {f.file_name for r in repo.revisions for f in r.files} == {"tiny-q4_k_m.gguf"}
    found = hf_hub_download(TINY, "tiny-q4_k_m.gguf", cache_dir=stores.hf_cache, local_files_only=True)
    assert os.path.samefile(found, source)
    # no new file data: only a manifest, a config blob and refs/main (a block each), and folders
    assert file_blocks(stores.all()) - data_before == 3 * 4096
    assert du_bytes(stores.all()) - before <= 16 * 4096 < source.stat().st_size
    assert stat.S_IMODE(source.stat().st_mode) & 0o222 == 0  # hard-linked: read-only for every name
    # the registry knows every link
    entry = open_registry().get(name)
    apps = sorted({link["app"] for link in entry.extra["shared_links"]})
    assert apps == ["hf-cache", "lmstudio", "ollama"]
    details = cli(capsys, "list", "--details")
    assert "visible in" in details.out and "hf.co/acme/tiny-GGUF:Q4_K_M" in details.out
    assert cli(capsys, "verify", name).code == 0
    again = cli(capsys, "share", name, "--to", "ollama,lmstudio,hf-cache", "--json")  # idempotent
    assert again.code == 0 and len(os.listdir(stores.ollama / "blobs")) == 2


def test_verify_sees_a_broken_link(stores: Stores, tiny: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    name, _ = tiny
    assert cli(capsys, "share", name, "--to", "lmstudio").code == 0
    (stores.lmstudio / "acme" / "tiny-GGUF" / "tiny-q4_k_m.gguf").unlink()
    result = cli(capsys, "verify", name, "--json")
    assert result.code == 1
    (row,) = result.json()
    assert row["status"] == "drift" and any("lmstudio link" in p and "gone" in p for p in row["problems"])


def test_remove_keeps_the_bytes_other_apps_use(registry_backend: object, stores: Stores, tiny: tuple[str, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """On both registry backends: the links are recorded, and remove reads them."""
    name, source = tiny
    digest = json.loads(cli(capsys, "share", name, "--to", "ollama,lmstudio", "--json").out)[0]
    assert digest["status"] == "shared"
    result = cli(capsys, "remove", name, "--delete-files", "--force")
    assert result.code == 0, result.err
    assert not source.exists()
    assert "other apps still use the bytes" in result.out and "lmstudio keeps" in result.out
    lm = stores.lmstudio / "acme" / "tiny-GGUF" / "tiny-q4_k_m.gguf"
    models = read_store(stores.ollama)
    assert lm.is_file() and models[0].problem is None  # both apps still load it


def test_remove_refuses_while_an_app_reads_through_a_symlink(stores: Stores, tiny: tuple[str, Path], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    name, source = tiny
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)) or shm.stat().st_dev == source.stat().st_dev:
        pytest.skip("needs a second, writable file system at /dev/shm")
    lmstudio = shm / f"imageworks-test-{os.getpid()}-{tmp_path.name}"
    monkeypatch.setenv("IMAGEWORKS_LMSTUDIO_ROOT", str(lmstudio))  # LM Studio's folder on another file system
    try:
        shared = cli(capsys, "share", name, "--to", "lmstudio,ollama", "--json")
        by_app = {r["app"]: r for r in shared.json()}
        assert by_app["lmstudio"]["methods"] == ["symlink"]  # no hard link across file systems; LM Studio follows links
        assert by_app["ollama"]["status"] == "shared"
        assert (lmstudio / "acme" / "tiny-GGUF" / "tiny-q4_k_m.gguf").resolve() == source.resolve()
        removed = cli(capsys, "remove", name, "--delete-files", "--force")
        assert removed.code == 1 and removed.err.startswith("Error:") and "symbolic link" in removed.err
        assert source.exists()
    finally:
        subprocess.run(["rm", "-rf", str(lmstudio)], check=False)


def test_ollama_on_another_file_system_is_refused_with_the_copy_cost(stores: Stores, tiny: tuple[str, Path],
                                                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    name, source = tiny
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)) or shm.stat().st_dev == source.stat().st_dev:
        pytest.skip("needs a second, writable file system at /dev/shm")
    ollama = shm / f"imageworks-test-{os.getpid()}-{tmp_path.name}"
    monkeypatch.setenv("OLLAMA_MODELS", str(ollama))
    try:
        result = cli(capsys, "share", name, "--to", "ollama")
        assert result.code == 1
        assert "another file system" in result.err and "a copy would cost" in result.err
        assert f"({source.stat().st_size} bytes)" in result.err
        assert not (ollama / "manifests").exists() and not any((ollama / "blobs").iterdir())
    finally:
        subprocess.run(["rm", "-rf", str(ollama)], check=False)


def test_refusals_are_one_line_errors(stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    make_model(stores.weights, "acme/tensors", {"config.json": b'{"model_type": "llama"}',
                                                "model.safetensors": os.urandom(4096)})
    entry = scanned(capsys, stores.weights)["acme/tensors"]
    result = cli(capsys, "share", entry.name, "--to", "ollama,hf-cache")  # type: ignore[attr-defined]
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1 and "ollama: Ollama loads GGUF files" in lines[0]
    assert scan_cache_dir(stores.hf_cache).repos  # the other app was still served
    assert list((stores.ollama / "manifests").iterdir()) == []
    bad = cli(capsys, "share", entry.name, "--to", "vllm")  # type: ignore[attr-defined]
    assert bad.code == 1 and "unknown app 'vllm'" in bad.err
    missing = cli(capsys, "share", "no-such-variant", "--to", "lmstudio")
    assert missing.code == 1 and missing.err.startswith("Error:")


def test_dry_run_changes_nothing(stores: Stores, tiny: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    name, source = tiny
    result = cli(capsys, "share", name, "--to", "ollama,lmstudio,hf-cache", "--dry-run", "--json")
    assert result.code == 0 and {r["status"] for r in result.json()} == {"would share"}
    assert list((stores.ollama / "blobs").iterdir()) == [] and list(stores.lmstudio.iterdir()) == []
    assert list(stores.hf_cache.iterdir()) == [] and source.stat().st_mode & 0o200
    assert "shared_links" not in open_registry().get(name).extra


def test_a_model_pulled_by_ollama_becomes_a_gguf_file_for_lm_studio_and_the_hf_cache(
        stores: Stores, capsys: pytest.CaptureFixture[str]) -> None:
    import gguf

    from tests.ollama.helpers import FakeOllamaStore

    ollama = FakeOllamaStore(stores.ollama)
    data = write_gguf(stores.weights.parent / "pulled.gguf", tokens=400, seed=11).read_bytes()
    digest = ollama.add_blob(data)
    ollama.add_model("hf.co/acme/pulled-GGUF:Q4_K_M", digest)
    ollama.add_model("gemma3:270m", digest)  # a library model sharing the blob
    assert cli(capsys, "import-ollama", "--no-api").code == 0
    names = {e.served_model_id: e.name for e in open_registry().entries()}
    blob = stores.ollama / "blobs" / f"sha256-{digest}"
    # an hf.co pull: LM Studio and the Hugging Face cache under its Hub repo
    result = cli(capsys, "share", names["hf.co/acme/pulled-GGUF:Q4_K_M"], "--to", "lmstudio,hf-cache,ollama", "--json")
    assert result.code == 0, result.err
    statuses = {r["app"]: r["status"] for r in result.json()}
    assert statuses == {"lmstudio": "shared", "hf-cache": "shared", "ollama": "already"}
    lm = stores.lmstudio / "acme" / "pulled-GGUF" / "pulled-GGUF-Q4_K_M.gguf"
    assert os.path.samefile(lm, blob)
    assert gguf.GGUFReader(str(lm)).fields["general.architecture"] is not None  # llama.cpp's own reader opens it
    found = hf_hub_download("acme/pulled-GGUF", "pulled-GGUF-Q4_K_M.gguf", cache_dir=stores.hf_cache, local_files_only=True)
    assert os.path.samefile(found, blob)
    # a library model has no Hub repo: LM Studio only, and the HF cache says why not
    library = cli(capsys, "share", names["gemma3:270m"], "--to", "lmstudio,hf-cache")
    assert library.code == 1 and "records none (hf_id)" in library.err
    assert os.path.samefile(stores.lmstudio / "ollama" / "gemma3" / "gemma3-270m-Q4_K_M.gguf", blob)


def test_new_folders_and_files_belong_to_the_store_owner(stores: Stores, tiny: tuple[str, Path],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Run as root in another user's store (Ollama's service store), what share adds is that user's."""
    if os.geteuid() != 0:
        pytest.skip("only root can make files another user owns")
    name, _ = tiny
    nobody = 65534
    for path in (stores.ollama, stores.ollama / "manifests", stores.ollama / "blobs", stores.hf_cache):
        os.chown(path, nobody, nobody)
    assert cli(capsys, "share", name, "--to", "ollama,hf-cache").code == 0
    # every folder, manifest, config blob, snapshot link and ref it made; the weights keep their own inode's owner
    made = [*(stores.ollama / "manifests").rglob("*"), *stores.hf_cache.rglob("*"),
            *(p for p in (stores.ollama / "blobs").iterdir() if p.stat().st_size < 4096)]
    weights = [p for p in made if p.is_file() and not p.is_symlink() and p.stat().st_size > 4096]
    assert len(made) > 10 and len(weights) == 1
    assert all(p.lstat().st_uid == nobody for p in made if p not in weights)


def test_the_ollama_store_is_the_one_the_server_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OLLAMA_MODELS when set; unset, ~/.ollama/models, or the service's store when only it holds models."""
    from imageworks.core.config import load_config
    from imageworks.services.share import stores as share_stores

    service = tmp_path / "service-models"
    (service / "manifests").mkdir(parents=True)
    monkeypatch.setattr(share_stores, "SERVICE_STORE", service)
    monkeypatch.delenv("OLLAMA_MODELS", raising=False)
    assert share_stores.app_stores(load_config()).ollama == service
    own = Path(os.environ["HOME"]) / ".ollama" / "models"
    (own / "manifests").mkdir(parents=True)
    assert share_stores.app_stores(load_config()).ollama == own
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "chosen"))
    assert share_stores.app_stores(load_config()).ollama == tmp_path / "chosen"
