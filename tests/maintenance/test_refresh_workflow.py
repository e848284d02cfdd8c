"""Guide 6.7 run as written keeps every model and its provenance (issue 12, item 4).

Two real downloads from the loopback Hub (a safetensors repo sent with ``--location``
to a label of its own, a GGUF routed to the LM Studio root) and an Ollama store; then
the four commands of the guide, exactly as written.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.maintenance.conftest import GGUF_REPO
from tests.ollama.helpers import FakeOllamaStore
from tests.support.cli import cli
from tests.support.fixtures import TINY_REPO
from tests.support.hub_server import HubServer

KEPT = ("name", "source_provider", "hf_id", "revision", "downloaded_at", "download_location", "download_root",
        "download_path", "download_format", "quantization", "download_directory_checksum", "download_files")


def listed(capsys: pytest.CaptureFixture[str]) -> dict[str, dict]:
    result = cli(capsys, "list", "--json", "--include-logical")
    assert result.code == 0, result.err
    return {e["name"]: e for e in result.json()}


def provenance(entries: dict[str, dict]) -> dict[str, tuple]:
    return {name: tuple(e.get(k) for k in KEPT) for name, e in entries.items()}


def label_alias(isolated: Path) -> None:
    """A second label, ``archive``, for the weights root itself: only the download knows which was chosen."""
    weights = isolated / "weights"
    (isolated / "pyproject.toml").write_text(
        f'[tool.imageworks.model-downloader]\nlocations = {{ archive = "{weights}" }}\n', encoding="utf-8"
    )


def test_guide_6_7_keeps_every_model_and_its_provenance(
    hub_server: HubServer, hf_client_env: Path, tiny_repo: Path, gguf_repo: Path, ollama_store: FakeOllamaStore,
    isolated: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    label_alias(isolated)
    assert cli(capsys, "download", TINY_REPO, "--location", "archive", "--no-aria2").code == 0
    assert cli(capsys, "download", GGUF_REPO, "--no-aria2").code == 0
    assert cli(capsys, "import-ollama", "--no-api").code == 0
    before = listed(capsys)
    downloads = {n: e for n, e in before.items() if e["source_provider"] == "huggingface"}
    assert {e["download_location"] for e in downloads.values()} == {"archive", "windows_lmstudio"}
    assert len(before) == 3
    time.sleep(1.1)  # timestamps have whole seconds: a re-recorded downloaded_at would differ

    weights = str(isolated / "weights")
    purge = cli(capsys, "purge-imported", "--apply", "--providers", "all", program="loader")
    assert purge.code == 0, purge.err
    assert listed(capsys) == {}
    files = sorted((isolated / "registry").glob("model_registry*.json"))
    saved = [f.read_bytes() for f in files]
    dry = cli(capsys, "ingest-local-hf", "--root", weights, "--dry-run", "--json", program="loader")
    assert dry.code == 0, dry.err
    assert [(i["action"], i["provenance"]) for i in dry.json()] == [("add", "record"), ("add", "record")]
    assert [f.read_bytes() for f in files] == saved  # the dry run wrote nothing
    ingest = cli(capsys, "ingest-local-hf", "--root", weights, program="loader")
    assert ingest.code == 0, ingest.err
    assert str(isolated / "lmstudio") in ingest.err  # the LM Studio root was scanned too, and said so
    assert cli(capsys, "rebuild-ollama", "--location", "linux_wsl", program="loader").code == 0
    assert cli(capsys, "discover-all", "--hf-root", weights, program="loader").code == 0

    after = listed(capsys)
    assert set(after) == set(before)
    assert provenance({n: after[n] for n in downloads}) == provenance(downloads)
    (ollama,) = (e for e in after.values() if e["source_provider"] == "ollama")
    assert ollama["served_model_id"] == "llama3:8b" and ollama["download_location"] == "linux_wsl"
    assert ollama["downloaded_at"] == before[ollama["name"]]["downloaded_at"]  # when Ollama pulled it, not now


def test_ingest_names_the_configured_roots_it_skipped(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (isolated / "weights").mkdir()
    result = cli(capsys, "ingest-local-hf", "--root", str(isolated / "weights"), program="loader")
    assert result.code == 0, result.err
    assert f"skipped the windows_lmstudio root {isolated / 'lmstudio'}: it does not exist" in result.err
    only = cli(capsys, "ingest-local-hf", "--root", str(isolated / "weights"), "--root-only", program="loader")
    assert only.code == 0 and "skipped" not in only.err


def test_a_forged_provenance_record_cannot_point_outside_its_folder(
    isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = isolated / "weights" / "acme" / "thing"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"model_type": "llama"}', encoding="utf-8")
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    record = folder / ".cache" / "imageworks" / "provenance.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"version": 1, "records": [{
        "name": "whatever", "source_provider": "huggingface", "hf_id": "other/repo", "download_root": "/",
        "download_location": "../../etc", "downloaded_at": "2025-01-02T03:04:05+00:00",
    }]}), encoding="utf-8")
    assert cli(capsys, "scan", "--base", str(isolated / "weights")).code == 0
    (entry,) = listed(capsys).values()
    assert entry["hf_id"] == "acme/thing" and entry.get("download_root") is None
    assert entry["download_location"] == "linux_wsl"  # the forged label is not a label
    assert entry["source_provider"] == "huggingface" and entry["downloaded_at"] == "2025-01-02T03:04:05+00:00"


def test_a_rescan_without_a_record_keeps_what_the_download_recorded(
    hub_server: HubServer, hf_client_env: Path, tiny_repo: Path, isolated: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    label_alias(isolated)
    assert cli(capsys, "download", TINY_REPO, "--location", "archive", "--no-aria2").code == 0
    before = listed(capsys)
    folder = isolated / "weights" / "acme" / "tiny-model"
    (folder / ".cache" / "imageworks" / "provenance.json").unlink()  # a download made before records existed
    time.sleep(1.1)
    report = cli(capsys, "discover-all", "--hf-root", str(isolated / "weights"), "--json", program="loader")
    assert report.code == 0, report.err
    assert [i["provenance"] for i in report.json()["scan"]] == ["registry"]
    assert provenance(listed(capsys)) == provenance(before)  # label archive, source, downloaded_at kept
