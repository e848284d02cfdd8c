"""The example third-party plugin (``tests/plugins/example_plugin``) still works as documented.

It is the example docs/architecture.md shows in full, so it must keep running: with the
built-in ``url`` source switched off, its ``example-url`` source plans a plain URL and the
core routes, transfers, verifies and records, as for any source. It reaches this run only
through the test suite's own registration (tests/support/plugin_packages.py), never an
install.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core import plugins
from tests.model_fixtures import write_gguf
from tests.support.cli import cli
from tests.support.file_server import FileServer

NAME = "tiny-llama-Q4_K_M.gguf"


def test_example_plugin_downloads_a_url_when_the_built_in_source_is_off(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    gguf = write_gguf(tmp_path / "served" / NAME, file_type=15, chat_template="{{ messages }}", seed=3)
    digest = hashlib.sha256(gguf.read_bytes()).hexdigest()
    with FileServer() as server:
        url = server.add(f"/models/{NAME}", gguf, {"Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(digest)).decode()}:"})
        assert plugins.get_plugins().source_for(url).name == "url"  # the built-in is asked before any plugin

        monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "source-url")
        plugins.reset_plugins()
        assert plugins.get_plugins().source_for(url).name == "example-url"
        result = cli(capsys, "download", url)
    assert result.code == 0, result.err
    target = isolated / "lmstudio" / "127.0.0.1" / Path(NAME).stem / NAME
    assert target.read_bytes() == gguf.read_bytes()
    (entry,) = open_registry().entries()
    assert (entry.source_provider, entry.quantization) == ("example-url", "q4_k_m")
    assert [(a.path, a.sha256) for a in entry.artifacts.files] == [(NAME, digest)]
