"""docs/launch.md stays true to the commands: every option of serve-vllm, serve-lmdeploy and the exports is there."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from imageworks.cli.main import build_cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "launch.md"


def commands() -> dict[str, click.Command]:
    cli = build_cli("download")
    export = cli.commands["export"]
    assert isinstance(export, click.Group)
    return {
        "serve-vllm": cli.commands["serve-vllm"],
        "serve-lmdeploy": cli.commands["serve-lmdeploy"],
        "export litellm": export.commands["litellm"],
        "export llama-swap": export.commands["llama-swap"],
    }


@pytest.mark.parametrize("name", ["serve-vllm", "serve-lmdeploy", "export litellm", "export llama-swap"])
def test_every_option_is_documented(name: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"`imageworks-download {name}" in text
    for param in commands()[name].params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            assert any(opt in text for opt in param.opts if opt.startswith("--")), f"{name}: {param.opts} undocumented"
