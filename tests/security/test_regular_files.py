"""Only regular files are opened where one is expected, and small files are read with a bound.

A FIFO blocks whoever opens it and ``/dev/zero`` never ends, so a model folder or an
Ollama store holding one in place of a config or manifest must give a warning (or a
model ``problem``), not a hang or a memory blow-up. The commands run as child processes
with a timeout (and an address-space limit where memory is at stake), so a regression
fails the test instead of hanging the suite.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imageworks.core.errors import UnreadableFileError
from imageworks.core.regular_files import open_regular, read_regular_file
from imageworks.formats import gguf_reader as _gguf_reader
from imageworks.formats import safetensors_reader as _safetensors_reader
from imageworks.plugins.detectors import _files
from imageworks.plugins.detectors._files import load_json
from tests.ollama.helpers import FakeOllamaStore
from tests.support.cli import make_model

AWQ_CONFIG = {"torch_dtype": "float16", "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}}
MEMORY_LIMIT = 2 << 30  # far above what a scan needs; reading /dev/zero without a bound hits it in a second


def run_cli(tmp_path: Path, *args: str, limit_memory: bool = False) -> subprocess.CompletedProcess[str]:
    """``imageworks-download ARGS`` in a child process (the test's environment), killed after 30 s."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        [sys.executable, "-m", "imageworks.cli", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=tmp_path,
        timeout=30,
        preexec_fn=limit if limit_memory else None,
    )


def listed(tmp_path: Path) -> dict[str, dict[str, Any]]:
    done = run_cli(tmp_path, "list", "--json", "--include-testing")
    assert done.returncode == 0, done.stderr
    return {e["hf_id"] or e["name"]: e for e in json.loads(done.stdout)}


def logged_warnings(tmp_path: Path) -> str:
    """The warnings the commands wrote to the log file, one message a line."""
    lines = (tmp_path / "logs" / "model_downloader.log").read_text(encoding="utf-8").splitlines()
    return "\n".join(r["message"] for r in map(json.loads, lines) if r["level"] == "WARNING")


def within(seconds: float, work: Callable[[], Any]) -> Any:
    """``work()``'s result, failing the test (not hanging it) when it takes longer than ``seconds``."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as error:  # handed to the test below
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "blocked on a file that is not a regular file"
    if "error" in box:
        raise box["error"]
    return box["result"]


@pytest.fixture
def weights(isolated: Path) -> Path:
    """A weights root with one ordinary AWQ model folder."""
    root = isolated / "weights"
    make_model(root, "acme/good-awq", {"config.json": json.dumps(AWQ_CONFIG).encode(), "model.safetensors": os.urandom(256)})
    return root


def test_scan_finishes_with_a_fifo_as_config_json(weights: Path, tmp_path: Path) -> None:
    folder = make_model(weights, "acme/fifo-model", {"model.safetensors": os.urandom(256)})
    os.mkfifo(folder / "config.json")
    done = run_cli(tmp_path, "scan", "--base", str(weights))
    assert done.returncode == 0, done.stderr
    # the FIFO is no model file, so the config detector (which reads only listed files) never opens it
    entries = listed(tmp_path)
    assert entries["acme/good-awq"]["download_format"] == "awq"
    fifo = entries["acme/fifo-model"]  # scanned without config facts; the FIFO is no model file
    assert fifo["download_format"] == "safetensors" and "config.json" not in fifo["download_files"]


def test_scan_survives_config_json_linked_to_dev_zero(weights: Path, tmp_path: Path) -> None:
    folder = make_model(weights, "acme/zero-model", {"model.safetensors": os.urandom(256)})
    (folder / "config.json").symlink_to("/dev/zero")
    done = run_cli(tmp_path, "scan", "--base", str(weights), limit_memory=True)
    assert done.returncode == 0, done.stderr
    # /dev/zero is no model file: the config detector, which reads only listed files, never opens it
    assert set(listed(tmp_path)) == {"acme/good-awq", "acme/zero-model"}


def test_config_json_linked_to_a_regular_file_still_counts(weights: Path, tmp_path: Path) -> None:
    """The Hugging Face cache layout: every snapshot file is a symlink to a blob."""
    blob = tmp_path / "hf-cache" / "blobs" / "0123abcd"
    blob.parent.mkdir(parents=True)
    blob.write_text(json.dumps(AWQ_CONFIG))
    folder = make_model(weights, "acme/linked-awq", {"model.safetensors": os.urandom(256)})
    (folder / "config.json").symlink_to(blob)
    assert load_json(folder / "config.json") == AWQ_CONFIG
    done = run_cli(tmp_path, "scan", "--base", str(weights))
    assert done.returncode == 0, done.stderr
    assert listed(tmp_path)["acme/linked-awq"]["download_format"] == "awq"


def test_fifo_manifest_and_fifo_config_blob_are_problems(store: FakeOllamaStore, tiny_gguf, tmp_path: Path) -> None:
    good = store.add_blob(tiny_gguf())
    os.mkfifo(store.add_model("good:1b", good).with_name("fifo-manifest"))
    other = store.add_model("fifo-config:1b", good, config={"model_format": "gguf", "model_family": "other"})
    config_blob = store.blob_file(json.loads(other.read_text())["config"]["digest"].partition(":")[2])
    config_blob.unlink()
    os.mkfifo(config_blob)
    done = run_cli(tmp_path, "import-ollama", "--no-api", "--json")
    assert done.returncode == 0, done.stderr
    items = {i["served_model_id"]: i for i in json.loads(done.stdout)["items"]}
    assert items["good:1b"]["action"] == "add"
    for name in ("good:fifo-manifest", "fifo-config:1b"):
        assert items[name]["action"] == "skip" and "is a FIFO, not a regular file" in items[name]["reason"]


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
def test_read_regular_file_refuses_what_is_not_a_regular_file(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()
    with pytest.raises(UnreadableFileError, match="not a regular file"):
        within(10, lambda: read_regular_file(path, 1024))
    with pytest.raises(OSError):  # callers that treat an unreadable file as missing keep working
        within(10, lambda: open_regular(path))


def test_read_regular_file_refuses_an_oversized_file_instead_of_truncating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b"{" + b" " * 2048 + b"}")
    with pytest.raises(UnreadableFileError, match="more than the 1024 allowed"):
        read_regular_file(path, 1024)
    assert read_regular_file(path, 4096) == path.read_bytes()
    monkeypatch.setattr(_files, "MAX_JSON_BYTES", 1024)
    assert load_json(path) is None  # refused, not parsed from a truncated read


@pytest.mark.parametrize("reader", [_gguf_reader.read_header, _safetensors_reader.read_header], ids=["gguf", "safetensors"])
def test_header_readers_refuse_a_fifo(reader: Callable[[Path], Any], tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    os.mkfifo(path)
    with pytest.raises(UnreadableFileError):
        within(10, lambda: reader(path))
