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

#: Libraries no command needs to start, list a registry or print help (stevedore and
#: importlib.metadata do load: stevedore discovers the plugins, as the design says).
HEAVY = (
    "yaml", "huggingface_hub", "requests", "urllib3", "httpx", "rich", "gguf", "numpy", "psycopg", "urllib.request",
)
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


def imported_by(tmp_path: Path, *args: str) -> set[str]:
    """The modules loaded by ``imageworks-download ARGS`` (run in a fresh interpreter)."""
    env = {
        **os.environ,
        "IMAGEWORKS_REGISTRY_DIR": str(tmp_path / "registry"),
        "IMAGEWORKS_LOG_DIR": str(tmp_path / "logs"),
        "HOME": str(tmp_path),
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
