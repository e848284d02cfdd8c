"""``download --progress-json``: machine-readable progress (what the GUI's background jobs read)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.download.conftest import MINILM
from tests.support.cli import cli
from tests.support.hub_server import HubServer


def events(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_progress_json_appends_events_that_end_at_the_totals(hub: HubServer, isolated: Path, minilm_dir: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    hub.bandwidth = 32 * 1024 * 1024  # long enough for more than one event
    target = isolated / "progress.jsonl"
    result = cli(capsys, "download", MINILM, "--non-interactive", "--progress-json", str(target))
    assert result.code == 0, result.err
    lines = events(target.read_text())
    size = sum(f.stat().st_size for f in minilm_dir.rglob("*") if f.is_file())
    assert len(lines) >= 2 and all(e["event"] == "progress" and e["bytes_total"] == size for e in lines)
    done = [int(str(e["bytes_done"])) for e in lines]
    assert done == sorted(done) and done[-1] == size
    assert lines[-1]["files_done"] == lines[-1]["files_total"] == 13 and lines[-1]["eta_seconds"] == 0.0
    assert all(float(str(e["speed"])) >= 0 for e in lines)


def test_progress_json_dash_writes_to_stderr_and_keeps_stdout_clean(hub: HubServer, isolated: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "download", MINILM, "--non-interactive", "--json", "--progress-json", "-")
    assert result.code == 0, result.err
    assert result.json()["hf_id"] == MINILM
    assert events(result.err)[-1]["bytes_done"] == events(result.err)[-1]["bytes_total"]


def test_an_unwritable_progress_file_is_one_error_line(hub: HubServer, isolated: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "download", MINILM, "--non-interactive", "--progress-json", str(isolated / "no" / "such" / "p.jsonl"))
    assert result.code == 1 and result.err.startswith("Error:") and result.err.count("\n") == 1
    assert not (isolated / "registry" / "model_registry.json").exists()
