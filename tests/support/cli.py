"""Test helpers: run the CLI in-process, make model folders."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from imageworks.cli.main import run


class CliResult:
    """Exit status and captured streams of one in-process CLI run."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code = code
        self.out = out
        self.err = err

    def json(self) -> Any:
        """stdout parsed as JSON."""
        return json.loads(self.out)


def cli(capsys: pytest.CaptureFixture[str], *args: str, program: str = "download") -> CliResult:
    """Run a console script in-process and capture what it printed."""
    capsys.readouterr()
    code = run(program, list(args))
    captured = capsys.readouterr()
    return CliResult(code, captured.out, captured.err)


def make_model(root: Path, repo_id: str, files: dict[str, bytes] | None = None) -> Path:
    """A model folder ``root/<owner>/<repo>`` holding ``files`` (a small default set)."""
    folder = root / repo_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in (files or {"config.json": b'{"model_type": "llama"}', "model.safetensors": os.urandom(4096)}).items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder
