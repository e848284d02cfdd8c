"""normalize-formats (guide 6.4): re-detection on disk, incremental rebuild, prune, locks, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.model_loader.download_adapter import record_download
from tests.model_fixtures import write_gguf
from tests.support.backends import BackendUnderTest
from tests.support.cli import CliResult, cli, make_model

FILES = ("model_registry.curated.json", "model_registry.discovered.json", "model_registry.json")
BF16_CONFIG = b'{"model_type": "llama", "torch_dtype": "bfloat16"}'


def registry_bytes(isolated: Path) -> dict[str, bytes | None]:
    folder = isolated / "registry"
    return {name: (folder / name).read_bytes() if (folder / name).exists() else None for name in FILES}


def backup_sets(isolated: Path) -> list[str]:
    folder = isolated / "registry" / "backups"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def backups() -> list[str]:
    """The backup ids of the configured registry (any backend)."""
    return [b.id for b in open_registry().list_backups()]


def normalize(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[CliResult, dict]:
    result = cli(capsys, "normalize-formats", "--json", *flags)
    return result, json.loads(result.out) if result.out.strip() else {}


@pytest.fixture
def model(isolated: Path) -> tuple[str, Path]:
    """A bf16 safetensors model recorded with the right facts."""
    folder = make_model(isolated / "weights", "acme/llama-mini", {"config.json": BF16_CONFIG, "model.safetensors": os.urandom(8192)})
    entry = record_download("acme/llama-mini", "vllm", "safetensors", "bf16", folder, "linux_wsl")
    return entry.name, folder


def stale(name: str, **fields: object) -> None:
    """Record wrong facts for ``name``, as a hand edit or an older tool would."""
    open_registry().update(name, lambda _: fields)


def test_dry_run_is_the_default_and_apply_twice_gives_an_empty_diff(
    registry_backend: BackendUnderTest, model: tuple[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    name, _ = model
    stale(name, download_format="gguf", quantization="q4_0")
    before = registry_backend.files()

    dry, report = normalize(capsys)
    assert dry.code == 0, dry.err
    (change,) = report["changes"]
    assert change["name"] == name and change["changed"] == ["download_format", "quantization"]
    assert change["fields"]["download_format"] == {"before": "gguf", "after": "safetensors"}
    assert change["fields"]["quantization"] == {"before": "q4_0", "after": "bf16"}
    assert report["applied"] is False and registry_backend.files() == before and backups() == []

    table = cli(capsys, "normalize-formats")
    for column in ("download_format", "quantization", "download_size_bytes", "download_directory_checksum", "download_files_count"):
        assert column in table.out
    assert "gguf → safetensors" in table.out and "dry run" in table.out

    applied, report = normalize(capsys, "--apply")
    assert applied.code == 0 and report["applied"] is True and len(report["changes"]) == 1
    entry = open_registry().get(name)
    assert (entry.download_format, entry.quantization) == ("safetensors", "bf16")
    assert entry.metadata.detection_evidence  # the evidence behind the new values
    (backup,) = backups()
    assert registry_backend.backup_files(backup)[FILES[1]] == before[FILES[1]]

    after = registry_backend.files()
    again, report = normalize(capsys, "--apply", "--rebuild")
    assert again.code == 0 and report["changes"] == [] and report["rehashed_files"] == 0
    assert registry_backend.files() == after and len(backups()) == 1


def test_no_backup_writes_without_a_backup(registry_backend: BackendUnderTest, model: tuple[str, Path],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    stale(model[0], quantization="fp32")
    result, _ = normalize(capsys, "--apply", "--no-backup")
    assert result.code == 0 and open_registry().get(model[0]).quantization == "bf16"
    assert open_registry().list_backups() == []


def test_rebuild_rehashes_only_files_whose_stat_changed(
    model: tuple[str, Path], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, folder = model
    weights, config = folder / "model.safetensors", folder / "config.json"
    # Same size, same inode, same mtime, other bytes: trusted from the record, so not read.
    stat = weights.stat()
    with open(weights, "r+b") as handle:
        handle.write(b"\xff" * 16)
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # Grown: its stat changed, so it is read again.
    config.write_bytes(BF16_CONFIG + b" ")

    result, report = normalize(capsys, "--rebuild", "--apply")
    assert result.code == 0, result.err
    (change,) = report["changes"]
    assert change["rehashed_files"] == 1 and report["rehashed_files"] == 1
    assert set(change["changed"]) == {"download_size_bytes", "download_directory_checksum"}
    entry = open_registry().get(name)
    assert entry.download_size_bytes == len(BF16_CONFIG) + 1 + 8192
    digests = {f.path: f.sha256 for f in entry.artifacts.files}
    import hashlib

    assert digests["config.json"] == hashlib.sha256(config.read_bytes()).hexdigest()
    assert digests["model.safetensors"] != hashlib.sha256(weights.read_bytes()).hexdigest()  # kept, as promised

    # Touching the file (same bytes, new mtime) makes it read again: the record learns the new stat.
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    _, report = normalize(capsys, "--rebuild", "--apply")
    (change,) = report["changes"]
    assert change["rehashed_files"] == 1 and change["changed"] == ["download_directory_checksum"]
    assert open_registry().get(name).artifacts.files[1].sha256 == hashlib.sha256(weights.read_bytes()).hexdigest()
    _, report = normalize(capsys, "--rebuild", "--apply")
    assert report["changes"] == [] and report["rehashed_files"] == 0


def test_entries_recorded_without_stat_are_rehashed_once_and_stay_readable(
    model: tuple[str, Path], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An entry written before mtime_ns/inode were recorded reads as before; the first
    rebuild hashes its files and records their stat, the next one reads nothing."""
    name, _ = model
    path = isolated / "registry" / FILES[1]
    old = json.loads(path.read_text())
    for record in old[0]["artifacts"]["files"]:
        del record["mtime_ns"], record["inode"]
    path.write_text(json.dumps(old))
    assert open_registry().get(name).artifacts.files[0].mtime_ns is None

    _, report = normalize(capsys, "--rebuild", "--apply")
    (change,) = report["changes"]
    assert change["rehashed_files"] == 2 and change["changed"] == [] and "refreshed" in change["note"]
    assert all(f.mtime_ns and f.inode for f in open_registry().get(name).artifacts.files)
    _, report = normalize(capsys, "--rebuild", "--apply")
    assert report["changes"] == []


def test_prune_missing_drops_entries_whose_files_are_gone(
    model: tuple[str, Path], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, folder = model
    gone = make_model(isolated / "weights", "acme/gone")
    gone_name = record_download("acme/gone", "vllm", "safetensors", None, gone, "linux_wsl").name
    curated = isolated / "registry" / FILES[0]
    curated.write_text(json.dumps([{"name": gone_name, "roles": ["chat"]}]))
    for child in gone.iterdir():
        child.unlink()
    gone.rmdir()

    kept, report = normalize(capsys, "--apply")
    assert kept.code == 0 and [(c["name"], c["action"]) for c in report["changes"]] == [(gone_name, "missing")]
    assert open_registry().find(gone_name) is not None

    pruned, report = normalize(capsys, "--apply", "--prune-missing")
    assert pruned.code == 0 and [(c["name"], c["action"]) for c in report["changes"]] == [(gone_name, "prune")]
    assert open_registry().find(gone_name) is None and open_registry().find(name) is not None
    assert json.loads(curated.read_text()) == []  # gone from both layers, as remove --purge does
    _, report = normalize(capsys, "--apply", "--prune-missing", "--rebuild")
    assert report["changes"] == []


def test_a_locked_entry_is_never_rewritten_and_fails_the_command(
    model: tuple[str, Path], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name, folder = model
    other_folder = make_model(isolated / "weights", "acme/other", {"config.json": BF16_CONFIG, "model.safetensors": b"x" * 64})
    other = record_download("acme/other", "vllm", "safetensors", "bf16", other_folder, "linux_wsl").name
    assert cli(capsys, "verify", name, "--lock", program="model-registry").code == 0
    stale(name, quantization="q8_0")
    stale(other, quantization="q8_0")
    locked_before = json.loads((isolated / "registry" / FILES[1]).read_text())
    locked_before = next(e for e in locked_before if e["name"] == name)

    result, report = normalize(capsys, "--apply", "--rebuild")
    assert result.code == 1
    assert result.err.startswith("Error: 1 locked entry differs") and name in result.err and len(result.err.splitlines()) == 1
    assert report["locked_drift"] == [name]
    assert {c["name"]: c["action"] for c in report["changes"]} == {name: "locked", other: "update"}
    stored = next(e for e in json.loads((isolated / "registry" / FILES[1]).read_text()) if e["name"] == name)
    assert stored == locked_before
    assert open_registry().get(other).quantization == "bf16"

    (folder / "model.safetensors").unlink()
    (folder / "config.json").unlink()
    gone, report = normalize(capsys, "--apply", "--prune-missing")
    assert gone.code == 1 and report["locked_drift"] == [name] and open_registry().find(name) is not None


def test_two_quants_in_one_folder_each_keep_their_own_files(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = isolated / "lmstudio" / "acme" / "tiny-GGUF"
    write_gguf(folder / "tiny-Q4_K_M.gguf", file_type=15, seed=1)
    write_gguf(folder / "tiny-Q8_0.gguf", file_type=7, seed=2)
    q4 = record_download("acme/tiny-GGUF", "llamacpp", "gguf", "q4_k_m", folder, "windows_lmstudio", files=["tiny-Q4_K_M.gguf"]).name
    q8 = record_download("acme/tiny-GGUF", "llamacpp", "gguf", "q8_0", folder, "windows_lmstudio", files=["tiny-Q8_0.gguf"]).name
    stale(q4, quantization="q2_k")
    stale(q8, quantization="q2_k", download_files_count=None, download_size_bytes=None)

    result, report = normalize(capsys, "--apply", "--rebuild")
    assert result.code == 0, result.err
    registry = open_registry()
    assert registry.get(q4).quantization == "q4_k_m" and registry.get(q8).quantization == "q8_0"
    assert registry.get(q4).download_files == ["tiny-Q4_K_M.gguf"] and registry.get(q8).download_files == ["tiny-Q8_0.gguf"]
    assert registry.get(q8).download_size_bytes == (folder / "tiny-Q8_0.gguf").stat().st_size
    _, report = normalize(capsys, "--apply", "--rebuild")
    assert report["changes"] == []


def test_a_damaged_layer_stops_before_anything_is_written(
    model: tuple[str, Path], isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale(model[0], quantization="fp32")
    (isolated / "registry" / FILES[0]).write_text('[{"name": "x",]')
    before = registry_bytes(isolated)
    for flags in ((), ("--apply",), ("--apply", "--rebuild", "--prune-missing")):
        result = cli(capsys, "normalize-formats", *flags)
        assert result.code == 1 and result.out == ""
        assert result.err.startswith("Error: registry file") and FILES[0] in result.err and len(result.err.splitlines()) == 1
    assert registry_bytes(isolated) == before and backup_sets(isolated) == []


def test_dry_run_and_apply_together_is_refused(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "normalize-formats", "--dry-run", "--apply")
    assert result.code == 1 and "contradict" in result.err and not (isolated / "registry").exists()
