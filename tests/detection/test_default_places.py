"""Defaults that fit the machine (issue 28 item 3): where GGUF goes when the guide's WSL
path is absent, and what first run and ``config`` say about it.

The guide's ``windows_lmstudio`` root wins where it is configured (every other test sets
``IMAGEWORKS_LMSTUDIO_ROOT``) or exists; here it is unset and absent, so LM Studio's own
folder is used when LM Studio is installed (``~/.lmstudio``, or ``~/.cache/lm-studio`` of
older releases), else the weights root. Each test runs a real dry-run download of a GGUF
URL on a loopback server (the example plugin's source) and reads where it would land.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageworks.core.config import DEFAULT_LMSTUDIO_ROOT, load_config
from tests.support.cli import cli
from tests.support.file_server import FileServer

pytestmark = pytest.mark.skipif(Path(DEFAULT_LMSTUDIO_ROOT).exists(), reason="the guide's WSL folder exists here")
FILE = "tiny-Q4_K_M.gguf"


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delenv("IMAGEWORKS_LMSTUDIO_ROOT")
    path = tmp_path / "served" / FILE
    path.parent.mkdir()
    path.write_bytes(b"GGUF" + bytes(60))
    with FileServer() as server:
        yield server.add(f"/m/{FILE}", path)


def planned(capsys: pytest.CaptureFixture[str], url: str) -> tuple[dict[str, object], str]:
    result = cli(capsys, "download", url, "--dry-run", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out), result.err


def test_without_lm_studio_gguf_goes_beside_the_other_weights(
    url: str, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plan, _ = planned(capsys, url)
    assert plan["location"] == "linux_wsl" and plan["target"] == str(isolated / "weights" / "127.0.0.1" / "tiny-Q4_K_M")
    shown = json.loads(cli(capsys, "config", "--json").out)
    assert shown["gguf_destination"]["value"] == f"{isolated / 'weights'} (linux_wsl)"
    assert "LM Studio is not installed" in shown["gguf_destination"]["source"]
    assert shown["weights_destination"]["value"] == f"{isolated / 'weights'} (linux_wsl)"
    assert shown["windows_lmstudio_root"]["value"] == DEFAULT_LMSTUDIO_ROOT  # the guide's value, as the guide says


@pytest.mark.parametrize("app", [".lmstudio", ".cache/lm-studio"])
def test_with_lm_studio_installed_gguf_goes_to_its_models_folder(
    app: str, url: str, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated / "home" / app).mkdir(parents=True)
    models = isolated / "home" / app / "models"
    plan, _ = planned(capsys, url)
    assert plan["location"] == "lmstudio" and plan["target"] == str(models / "127.0.0.1" / "tiny-Q4_K_M")
    assert load_config().locations["lmstudio"] == models  # a label like any other: --location lmstudio
    shown = json.loads(cli(capsys, "config", "--json").out)["gguf_destination"]
    assert shown["value"] == f"{models} (lmstudio)" and "LM Studio is installed" in shown["source"]


def test_a_configured_guide_root_is_kept_even_where_it_is_absent(
    url: str, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (isolated / "home" / ".lmstudio").mkdir(parents=True)
    monkeypatch.setenv("IMAGEWORKS_LMSTUDIO_ROOT", str(isolated / "not-yet"))
    plan, _ = planned(capsys, url)
    assert plan["location"] == "windows_lmstudio" and str(plan["target"]).startswith(str(isolated / "not-yet"))


def test_first_run_says_where_each_kind_of_file_goes(url: str, isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, err = planned(capsys, url)
    note = [line for line in err.splitlines() if line.startswith("Note: first run:")]
    assert len(note) == 1, err
    assert f"GGUF files go to {isolated / 'weights'} (linux_wsl: " in note[0]
    assert f"the registry will be kept in {isolated / 'registry'}" in note[0]
    (isolated / "registry").mkdir()
    _, again = planned(capsys, url)
    assert "first run" not in again
