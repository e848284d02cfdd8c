"""docs/memory.md and the README stay true to the commands that show the estimate: every
option of ``analyze`` and the memory options of ``list`` are named, and the margin the
help states is the one the docs explain."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from imageworks.cli.main import build_cli
from imageworks.services.memory.estimate import DEFAULT_MARGIN

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "memory.md"
README = ROOT / "README.md"


def command(name: str) -> click.Command:
    return build_cli("download").commands[name]


def readme_row(name: str) -> str:
    return next(line for line in README.read_text(encoding="utf-8").splitlines() if f"`{name} " in line or f" {name} " in line)


def test_every_analyze_option_is_in_the_readme_row() -> None:
    row = readme_row("imageworks-download analyze URL")
    for param in command("analyze").params:
        if isinstance(param, click.Option) and "--help" not in param.opts:
            assert any(opt in row for opt in param.opts if opt.startswith("--")), f"analyze: {param.opts} not in README"


@pytest.mark.parametrize("name", ["analyze", "list"])
def test_gpu_mem_is_documented_where_the_estimate_is(name: str) -> None:
    options = {opt for param in command(name).params for opt in param.opts}
    assert "--gpu-mem" in options
    doc = DOC.read_text(encoding="utf-8")
    assert f"`imageworks-download {name} " in doc and "--gpu-mem" in doc
    assert "--gpu-mem" in readme_row(f"{name} [--json]" if name == "list" else "imageworks-download analyze URL")


def test_help_states_the_margin_the_docs_explain() -> None:
    (gpu_mem,) = [p for p in command("list").params if "--gpu-mem" in p.opts]
    assert isinstance(gpu_mem, click.Option) and DEFAULT_MARGIN.describe() in (gpu_mem.help or "")
    doc = DOC.read_text(encoding="utf-8")
    assert (DEFAULT_MARGIN.fixed_bytes, DEFAULT_MARGIN.fraction) == (1024**3, 0.10)
    assert "`margin = 1 GiB + 10% of the GPU`" in doc and DEFAULT_MARGIN.describe() in doc


def test_json_keys_in_the_docs_are_the_ones_emitted() -> None:
    doc = DOC.read_text(encoding="utf-8")
    from imageworks.services.memory.estimate import HeaderFacts, ModelFacts, estimate, item_json

    facts = ModelFacts(source="gguf", architecture="x", weight_bytes=1, context_length=None)
    for key in estimate(facts).as_json():
        assert f'"{key}"' in doc, key
    for key in item_json(HeaderFacts(label="x")):
        assert f'"{key}"' in doc, key
