"""pytest fixtures for plugin authors: imageworks in a temporary folder, your plugin loaded.

Installed with imageworks as a pytest plugin (entry point ``pytest11``), so a plugin's
own test suite gets these fixtures without importing anything, as datasette and tox ship
theirs:

- ``imageworks_home``: every folder imageworks writes (registry, logs, weights, LM Studio
  root, cache, ``HOME``) under ``tmp_path``, the working directory there, the
  environment's ``IMAGEWORKS_*``, ``OLLAMA_*`` and Hugging Face endpoint/token variables
  cleared, and the plugin host rebuilt for the test. Returns ``tmp_path``.
- ``imageworks_plugins``: the loaded :class:`~imageworks.core.plugins.PluginHost`, every
  installed plugin included (set ``IMAGEWORKS_LOAD_PLUGINS`` with ``monkeypatch`` first to
  load only yours).
- ``imageworks_registry``: the opened, empty :class:`~imageworks.core.registry.Registry`
  in that folder.
- ``imageworks_cli``: run a program in-process, ``imageworks_cli("download", URL,
  "--dry-run", "--json")``, and get a :class:`CommandResult` (exit code, stdout, stderr).

Nothing here touches the network or the real home folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import pytest

if TYPE_CHECKING:
    from imageworks.core.plugins import PluginHost
    from imageworks.core.registry import Registry

#: Where each configurable folder goes, under the test's ``tmp_path``.
FOLDERS = {
    "HOME": "home",
    "IMAGEWORKS_REGISTRY_DIR": "registry",
    "IMAGEWORKS_LOG_DIR": "logs",
    "IMAGEWORKS_MODEL_ROOT": "weights",
    "IMAGEWORKS_LMSTUDIO_ROOT": "lmstudio",
    "IMAGEWORKS_CACHE_DIR": "cache",
    "HF_HOME": "hf-home",
}
_CLEARED = ("HF_ENDPOINT", "HF_TOKEN", "HF_HUB_OFFLINE")


@attrs.frozen
class CommandResult:
    """What one in-process run printed, and its exit status."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout parsed as JSON (for ``--json`` runs)."""
        return json.loads(self.out)


@pytest.fixture
def imageworks_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """imageworks confined to ``tmp_path``, with a fresh plugin host."""
    from imageworks.core.plugins import reset_plugins

    for name in list(os.environ):
        if name.startswith(("IMAGEWORKS_", "OLLAMA_")) or name in _CLEARED:
            monkeypatch.delenv(name)
    for name, folder in FOLDERS.items():
        (tmp_path / folder).mkdir(exist_ok=True)
        monkeypatch.setenv(name, str(tmp_path / folder))
    monkeypatch.chdir(tmp_path)
    reset_plugins()
    yield tmp_path
    reset_plugins()


@pytest.fixture
def imageworks_plugins(imageworks_home: Path) -> PluginHost:
    """The plugin host of this test, every installed plugin loaded."""
    from imageworks.core.plugins import get_plugins

    return get_plugins()


@pytest.fixture
def imageworks_registry(imageworks_home: Path) -> Registry:
    """The registry in the test's folder (empty at first), with this test's plugins."""
    from imageworks.app import open_registry

    return open_registry()


@pytest.fixture
def imageworks_cli(imageworks_home: Path, capsys: pytest.CaptureFixture[str]) -> Callable[..., CommandResult]:
    """``run(*args, program="download")``: one in-process run of ``imageworks-<program>``."""
    from imageworks.cli.main import run as run_program

    def run(*args: str, program: str = "download") -> CommandResult:
        capsys.readouterr()
        code = run_program(program, list(args))  # type: ignore[arg-type]
        captured = capsys.readouterr()
        return CommandResult(code, captured.out, captured.err)

    return run
