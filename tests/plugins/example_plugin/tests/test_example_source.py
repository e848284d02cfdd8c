"""The example plugin's own tests, written as a third party writes them: only with the
fixtures imageworks ships for plugin authors (``imageworks.testing``, loaded by pytest
through its ``pytest11`` entry point) and a loopback file server from the standard library.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imageworks.core.plugins import PluginHost
from imageworks.core.registry import Registry
from imageworks.testing import CommandResult

FILE = "tiny-Q4_K_M.gguf"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(autouse=True)
def without_the_builtin_url_source(imageworks_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """imageworks' own ``url`` source downloads plain URLs too, and is asked first: off here."""
    from imageworks.core.plugins import reset_plugins

    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "source-url")
    reset_plugins()


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    """The URL of a small file served by a loopback HTTP server."""
    served = tmp_path / "served"
    served.mkdir()
    (served / FILE).write_bytes(b"GGUF" + bytes(range(256)) * 8)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{FILE}"
    server.shutdown()
    server.server_close()


def test_the_host_loads_the_source_and_its_setting(imageworks_plugins: PluginHost) -> None:
    assert imageworks_plugins.source("example-url").priority == 100
    declared = {setting.name: plugin for plugin, setting in imageworks_plugins.settings()}
    assert declared["example_refused_hosts"] == "example"


def test_download_lands_routed_verified_and_recorded(
    url: str, imageworks_home: Path, imageworks_cli: Callable[..., CommandResult], imageworks_registry: Registry
) -> None:
    planned = imageworks_cli("download", url, "--dry-run", "--json")
    assert planned.code == 0, planned.err
    assert planned.json()["source"] == "example-url"
    done = imageworks_cli("download", url)
    assert done.code == 0, done.err
    landed = imageworks_home / "lmstudio" / "127.0.0.1" / "tiny-Q4_K_M" / FILE
    served = imageworks_home / "served" / FILE
    assert hashlib.sha256(landed.read_bytes()).hexdigest() == hashlib.sha256(served.read_bytes()).hexdigest()
    (entry,) = imageworks_registry.entries()
    assert entry.download_path == str(landed.parent) and entry.quantization == "q4_k_m"


def test_a_refused_host_is_not_handled(
    url: str, imageworks_home: Path, imageworks_cli: Callable[..., CommandResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    (imageworks_home / "pyproject.toml").write_text(
        '[tool.imageworks.model-downloader]\nexample_refused_hosts = ["127.0.0.1"]\n', encoding="utf-8"
    )
    refused = imageworks_cli("download", url, "--dry-run")
    assert refused.code == 1 and "no source handles" in refused.err
    assert imageworks_cli("config", "--json").json()["example_refused_hosts"]["value"] == "127.0.0.1"
