"""Names are never options: registry values that read as options stay names (issue 27, item 3).

A registry written by hand or by an older version may hold a variant named like a flag.
The GUI passes positionals after ``--``; launch commands refuse a value that the server
would read as an option; a new variant may not be registered under such a name.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import attrs
import pytest
from streamlit.testing.v1 import AppTest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.core.errors import ImageworksError
from imageworks.gui import commands
from imageworks.gui.launcher import PAGE
from imageworks.services.serve.commands import LaunchError, LaunchOptions, build_command
from tests.support.fixtures import write_tiny_repo


def _rename_in_registry(registry: Path, old: str, new: str) -> None:
    """What a hand edit (or an older version) leaves: a variant stored under ``new``."""
    path = registry / "model_registry.discovered.json"
    entries = json.loads(path.read_text(encoding="utf-8"))
    for entry in entries:
        if entry["name"] == old:
            entry["name"] = new
    path.write_text(json.dumps(entries), encoding="utf-8")


@pytest.fixture
def two_models(tmp_path: Path) -> tuple[str, str]:
    """Two scanned folders; the second variant renamed ``--fix-missing`` in the registry file."""
    for repo in ("alpha", "beta"):
        write_tiny_repo(tmp_path / "scan" / "org" / repo)
    assert commands.run("download", ["scan", "--base", str(tmp_path / "scan")]).exit_code == 0
    names = sorted(e.name for e in open_registry(load_config()).entries())
    alpha, beta = (next(n for n in names if repo in n) for repo in ("alpha", "beta"))
    _rename_in_registry(tmp_path / "registry", beta, "--fix-missing")
    return alpha, "--fix-missing"


@pytest.mark.parametrize("name", ["--fix-missing", "-q", "--", "-"])
def test_gui_builds_positionals_after_double_dash(name: str) -> None:
    args = commands.build("download", "verify", [name], {"quick": True})
    assert args == ["verify", "--quick", "--", name]


def test_gui_verify_form_with_a_variant_named_like_a_flag(two_models: tuple[str, str], tmp_path: Path) -> None:
    """Choosing ``--fix-missing`` verifies that variant; no other entry is rewritten."""
    alpha, hostile = two_models
    shutil.rmtree(tmp_path / "scan" / "org" / "alpha")  # alpha's files are gone: --fix-missing would clear it
    before = {e.name: e.download_path for e in open_registry(load_config()).entries()}
    assert before[alpha] and before[hostile]
    at = AppTest.from_file(str(PAGE), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    at.selectbox(key="verify-variant").set_value(hostile).run()
    assert "imageworks-download verify -- --fix-missing" in [c.value for c in at.code]
    at.button(key="verify-run").click().run()
    assert not at.exception, at.exception
    after = {e.name: e.download_path for e in open_registry(load_config()).entries()}
    assert after == before


def test_cli_verify_of_such_a_variant_after_double_dash(two_models: tuple[str, str]) -> None:
    alpha, hostile = two_models
    outcome = commands.run("download", ["verify", "--json", "--", hostile])
    assert outcome.exit_code == 0, outcome.stderr
    assert hostile in outcome.stdout and alpha not in outcome.stdout


@pytest.mark.parametrize("name", ["-x", "--fix-missing", "--"])
def test_a_new_variant_named_like_an_option_is_refused(name: str) -> None:
    registry = open_registry(load_config())
    with pytest.raises(ImageworksError, match="would read as an option"):
        registry.update(name, lambda current: {"backend": "vllm"})
    assert [e.name for e in registry.entries()] == []


@pytest.mark.parametrize("server", ["vllm", "lmdeploy", "llama-server"])
def test_launch_commands_refuse_a_served_name_that_reads_as_an_option(two_models: tuple[str, str], server: str) -> None:
    entry = next(e for e in open_registry(load_config()).entries() if e.name == "--fix-missing")
    fmt = "gguf" if server == "llama-server" else entry.download_format
    entry = attrs.evolve(entry, download_format=fmt, download_files=[*entry.download_files, "m.gguf"])
    with pytest.raises(LaunchError, match="would read as a command-line option"):
        build_command(server, entry)  # type: ignore[arg-type]
    command = build_command(server, entry, LaunchOptions(served_name="plain"))  # type: ignore[arg-type]
    assert "--fix-missing" not in command.argv


def test_a_relative_folder_starting_with_a_dash_is_passed_as_a_path(two_models: tuple[str, str]) -> None:
    entry = next(e for e in open_registry(load_config()).entries() if e.name != "--fix-missing")
    entry = attrs.evolve(entry, download_path="-weights/alpha", backend_config=attrs.evolve(entry.backend_config, model_path=None))
    argv = build_command("vllm", entry).argv
    assert argv[2] == "./-weights/alpha"
    argv = build_command("lmdeploy", entry).argv
    assert argv[3] == "./-weights/alpha"


def test_exports_leave_out_a_variant_named_like_an_option(two_models: tuple[str, str]) -> None:
    """llama-swap's ``cmd`` would hand ``--served-model-name --fix-missing`` to vLLM: that one is left out, noted."""
    from imageworks.services.serve.exports import llama_swap_config

    alpha, hostile = two_models
    config, notes = llama_swap_config(open_registry(load_config()).entries(), build_command)
    assert list(config["models"]) == [alpha]
    assert any(note.startswith(f"{hostile}:") and "would read as a command-line option" in note for note in notes)
