"""Start-up imports only what the command needs: ``--help`` loads no heavy library and no use case.

Every command group is a plugin that the program imports to build ``--help``, so a heavy
import at the top of a command module is paid by every command. These tests run the
console script's code in a fresh interpreter and read ``sys.modules`` afterwards: what a
command imports, not how long it takes (speed is measured in ``benchmarks/``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imageworks.cli import cleanup
from imageworks.services.maintain import slugs
from tests.support.fixtures import TINY_REPO, write_tiny_repo
from tests.support.hub_server import HubServer

#: Libraries no command needs to start, list a registry or print help (stevedore and
#: importlib.metadata do load: stevedore discovers the plugins, as the design says).
HEAVY = (
    "yaml", "huggingface_hub", "requests", "urllib3", "httpx", "rich", "gguf", "numpy", "psycopg", "urllib.request",
)
#: What the Hub's metadata costs to import with the official client (``docs/dependencies.md``):
#: neither a download's metadata step nor ``analyze`` loads any of it.
HTTP_LIBRARIES = ("huggingface_hub", "httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3")
#: Use cases only the commands that run them import.
SERVICES = (
    "imageworks.services.maintain.cleanup",
    "imageworks.services.maintain.normalize",
    "imageworks.services.maintain.removal",
    "imageworks.services.maintain.verify",
    "imageworks.services.serve.exports",
    "imageworks.services.serve.running",
    "imageworks.services.acquire",
    "imageworks.transfer",
)

PROBE = """
import json, sys
from imageworks.cli.main import run
code = run("download", sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported_by(tmp_path: Path, *args: str, extra: dict[str, str] | None = None) -> set[str]:
    """The modules loaded by ``imageworks-download ARGS`` (run in a fresh interpreter; ``extra``: more environment)."""
    env = {
        **os.environ,
        "IMAGEWORKS_REGISTRY_DIR": str(tmp_path / "registry"),
        "IMAGEWORKS_LOG_DIR": str(tmp_path / "logs"),
        "HOME": str(tmp_path),
        **(extra or {}),
    }
    for _ in range(2):  # the first start fills the entry-point cache; the second is the one every later start is
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return set(report["modules"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules for name in names if m == name or m.startswith(name + "."))


@pytest.mark.parametrize("args", [("--help",), ("list",), ("list", "--help"), ("download", "--help")])
def test_start_up_imports_no_heavy_library_and_no_unused_use_case(tmp_path: Path, args: tuple[str, ...]) -> None:
    modules = imported_by(tmp_path, *args)
    assert "imageworks.cli.cleanup" in modules  # every command group was registered
    assert loaded(modules, HEAVY) == []
    assert loaded(modules, SERVICES) == []


def test_the_cli_copy_of_the_slug_strategies_is_the_services_own() -> None:
    assert cleanup.STRATEGIES == slugs.STRATEGIES


@pytest.mark.parametrize("args", [
    ("download", TINY_REPO, "--dry-run", "--non-interactive"),  # the metadata step and the plan, no transfer
    ("analyze", TINY_REPO, "--files", "--json", "--no-memory"),
    ("analyze", TINY_REPO, "--files", "--json"),  # with the weight headers' ranged reads
])
def test_the_hub_metadata_step_imports_no_http_library(tmp_path: Path, args: tuple[str, ...]) -> None:
    with HubServer() as hub:
        hub.add_repo(TINY_REPO, write_tiny_repo(tmp_path / "hub-src"))
        modules = imported_by(tmp_path, *args, extra={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"})
        asked = {record.path.split("?")[0] for record in hub.requests}
    assert "imageworks.providers.huggingface.hub_api" in modules
    assert any("/tree/" in path for path in asked)  # the command did read the repo
    if "--no-memory" not in args and "analyze" in args:
        assert any("/resolve/" in path and path.endswith(".safetensors") for path in asked)  # and the header
    assert loaded(modules, HTTP_LIBRARIES) == []
