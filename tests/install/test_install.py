"""A user install, for real: the tool alone, built from this checkout into a fresh venv, then its commands.

What the README's ``uv tool install .`` installs is the project as a wheel with its
dependencies and no extras. Here the same goes into a temporary venv from the lock
(``uv sync --locked --offline --no-dev --no-editable``: the locked wheels, from uv's cache,
since tests have no network; ``uv tool install --offline`` would need the index pages
cached as well). Every check runs the installed console scripts as processes, outside the
test suite's environment (no ``PYTHONPATH``, so the test plugins the suite registers for
itself cannot leak in). The installed tool must hold no test plugin and list none,
download a plain URL with its built-in ``url`` source, and answer a missing extra with one
``Error:`` line that names it. The README (Install) gives the size and time of each install.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.model_fixtures import write_gguf
from tests.support.file_server import FileServer
from tests.support.isolation import process_environment

ROOT = Path(__file__).resolve().parents[2]
TEST_PLUGINS = {"imageworks-example-plugin", "imageworks-broken-plugin"}
EXTRA_PACKAGES = {"streamlit", "psycopg", "psycopg-binary", "starlette", "uvicorn"}


class Installed:
    """The installed tool: its venv's executables and the environment to run them in."""

    def __init__(self, venv: Path) -> None:
        self.bin_dir = venv / "bin"

    def run(self, program: str, *args: str, base: Path, **extra: str) -> subprocess.CompletedProcess[str]:
        env = process_environment(base, **extra)
        for name in ("PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"):
            env.pop(name, None)
        return subprocess.run([str(self.bin_dir / program), *args], env=env, cwd=base, capture_output=True,
                              text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (.ci/run installs it; see README, Install)")
    venv = tmp_path_factory.mktemp("user-install") / "venv"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["UV_PROJECT_ENVIRONMENT"] = str(venv)
    # --reinstall-package: uv caches a built wheel of a local project by its pyproject, not its sources
    command = [uv, "sync", "--locked", "--offline", "--no-dev", "--no-editable", "--no-compile-bytecode",
               "--reinstall-package", "imageworks"]
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    yield Installed(venv)


def test_no_group_a_plain_uv_sync_installs_holds_a_test_plugin() -> None:
    """What ``uv sync`` installs (the default groups, here with every extra), as uv itself says."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed (.ci/run installs it; see README, Install)")
    done = subprocess.run([uv, "export", "--frozen", "--offline", "--all-extras", "--no-hashes"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "streamlit==" in done.stdout and "pytest==" in done.stdout  # the extras and the dev group are in it
    assert "plugin" not in done.stdout.lower(), [line for line in done.stdout.splitlines() if "plugin" in line.lower()]


def distributions(installed: Installed, base: Path) -> set[str]:
    probe = "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'].lower() for d in m.distributions()))"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run([str(installed.bin_dir / "python"), "-c", probe], env=env, capture_output=True,
                          text=True, check=True, cwd=base)
    return set(done.stdout.split())


def test_the_tool_alone_has_no_test_plugin_and_no_extra(installed: Installed, tmp_path: Path) -> None:
    names = distributions(installed, tmp_path)
    assert "imageworks" in names
    assert not names & TEST_PLUGINS
    assert not names & EXTRA_PACKAGES, "the GUI, PostgreSQL and proxy packages are extras"

    listed = installed.run("imageworks-download", "plugins", "--json", base=tmp_path)
    assert listed.returncode == 0, listed.stderr
    plugins = {p["name"]: p for p in json.loads(listed.stdout)}
    assert {"source-url", "source-huggingface", "cli-connect"} <= set(plugins)
    assert not {"example", "example-catalog", "broken"} & set(plugins)
    assert {p["status"] for p in plugins.values()} == {"loaded"}
    assert {p["distribution"] for p in plugins.values()} == {"imageworks"}
    helped = installed.run("imageworks-download", "--help", base=tmp_path)
    assert helped.returncode == 0 and "example-import" not in helped.stdout and "connect" in helped.stdout


def test_the_installed_tool_downloads_a_plain_url(installed: Installed, tmp_path: Path) -> None:
    gguf = write_gguf(tmp_path / "served" / "tiny-Q4_K_M.gguf", file_type=15, chat_template="{{ messages }}", seed=5)
    digest = base64.b64encode(hashlib.sha256(gguf.read_bytes()).digest()).decode()
    with FileServer() as server:
        url = server.add("/m/tiny-Q4_K_M.gguf", gguf, {"Repr-Digest": f"sha-256=:{digest}:"})
        done = installed.run("imageworks-download", "download", url, "--json", base=tmp_path)
    assert done.returncode == 0, done.stderr
    entry = json.loads(done.stdout)
    assert (entry["source_provider"], entry["quantization"]) == ("url", "q4_k_m")
    assert (Path(entry["download_path"]) / "tiny-Q4_K_M.gguf").read_bytes() == gguf.read_bytes()


@pytest.mark.parametrize(
    ("program", "args", "extra", "needed_for", "env"),
    [
        ("imageworks-gui", [], "gui", "imageworks-gui", {}),
        ("imageworks-chat-proxy", ["--port", "0"], "proxy", "imageworks-chat-proxy", {}),
        ("imageworks-download", ["list"], "postgres", "registry_backend = postgres",
         {"IMAGEWORKS_REGISTRY_BACKEND": "postgres", "IMAGEWORKS_REGISTRY_DSN": "host=127.0.0.1 dbname=x password=pw-secret"}),
    ],
)
def test_a_missing_extra_is_one_line_naming_it(
    installed: Installed, tmp_path: Path, program: str, args: list[str], extra: str, needed_for: str, env: dict[str, str]
) -> None:
    done = installed.run(program, *args, base=tmp_path, **env)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"Error: {needed_for} needs the '{extra}' extra, which is not installed"), line
    assert f"uv tool install --reinstall '.[{extra}]'" in line
    assert "pw-secret" not in done.stderr + done.stdout
