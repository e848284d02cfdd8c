"""``download --force`` keeps the installed files until their new copies are verified."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from imageworks.app import open_registry
from tests.download.conftest import MINILM
from tests.support.cli import cli
from tests.support.hub_server import HubServer

ENGINE_FLAGS = {"python": "--no-aria2", "aria2": "--aria2"}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def break_refetch(hub: HubServer, how: str) -> str:
    """Make every later fetch of the weights fail; return a phrase of the error it gives."""
    if how == "corrupt":
        hub.corrupt("*/model.safetensors", times=None)
        return "sha256"
    hub.fail("*/model.safetensors", 404, times=None, methods=("GET",))
    return "404"


@pytest.mark.parametrize("how", ["corrupt", "not-found"])
@pytest.mark.parametrize("engine", sorted(ENGINE_FLAGS))
def test_failed_force_keeps_the_installed_files(hub: HubServer, isolated: Path, minilm_dir: Path, engine: str, how: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    if engine == "aria2" and shutil.which("aria2c") is None:
        pytest.fail("aria2c is missing: .ci/run installs it")
    flag = ENGINE_FLAGS[engine]
    assert cli(capsys, "download", MINILM, "--non-interactive", flag).code == 0
    target = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2"
    weights = target / "model.safetensors"
    registry = isolated / "registry" / "model_registry.json"
    recorded = registry.read_bytes()
    phrase = break_refetch(hub, how)

    forced = cli(capsys, "download", MINILM, "--non-interactive", flag, "--force")

    assert forced.code == 1, forced.out
    errors = [line for line in forced.err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and phrase in errors[0] and "model.safetensors" in errors[0], forced.err
    assert hub.requests_for("*/model.safetensors")[-1].status in (206, 200, 404)  # the refetch was tried
    assert digest(weights) == digest(minilm_dir / "model.safetensors")  # the verified copy is intact
    assert registry.read_bytes() == recorded
    (entry,) = cli(capsys, "list", "--json").json()
    assert entry["installed"] is True
    checked = cli(capsys, "verify", entry["name"], "--json")
    assert checked.code == 0 and checked.json()[0]["status"] == "ok", checked.out

    hub.clear_faults()
    again = cli(capsys, "download", MINILM, "--non-interactive", flag, "--force")
    assert again.code == 0, again.err
    assert digest(weights) == digest(minilm_dir / "model.safetensors")
    assert not [p for p in target.rglob("*") if "imageworks-partial" in p.name]
    (entry,) = open_registry().entries()
    assert next(a for a in entry.artifacts.files if a.path == "model.safetensors").sha256 == digest(weights)


def test_force_replaces_the_file_only_after_it_verified(hub: HubServer, isolated: Path, minilm_dir: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, "download", MINILM, "--no-aria2").code == 0
    weights = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2" / "model.safetensors"
    before = weights.stat().st_ino
    assert cli(capsys, "download", MINILM, "--no-aria2", "--force").code == 0
    assert weights.stat().st_ino != before  # a new file renamed into place, not the old one rewritten
    assert digest(weights) == digest(minilm_dir / "model.safetensors")
