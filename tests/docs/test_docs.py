"""Docs stay true to the code: every hook and argument is documented in docs/plugins.md,
and the provider-plugin example in docs/architecture.md is the example plugin's source."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from imageworks.core import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "plugins.md"
EXAMPLE_PLUGIN = ROOT / "tests" / "plugins" / "example_plugin"
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("imageworks_"))


def section(hook: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"^### {hook}\n(.*?)(?=^#{{2,3}} |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/plugins.md has no '### {hook}' section"
    return match.group(1)


def test_hooks_found() -> None:
    assert len(HOOKS) >= 7


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_every_argument(hook: str) -> None:
    body = section(hook)
    for argument in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert re.search(rf"`[^`]*\b{argument}\b[^`]*`", body), f"{hook}: argument {argument!r} undocumented"
    assert "```python" in body, f"{hook}: no example"


def test_every_hook_has_a_docstring() -> None:
    for hook in HOOKS:
        assert inspect.getdoc(getattr(hookspecs, hook)), hook


def example_blocks() -> dict[str, str]:
    """``path -> fenced code`` for every "`path`:" label followed by a code block in the
    "Writing a provider plugin" section of docs/architecture.md."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    match = re.search(r"^## Writing a provider plugin\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, "docs/architecture.md has no 'Writing a provider plugin' section"
    blocks = re.finditer(r"^`([^`\n]+)`:\n\n```[a-z]*\n(.*?)^```$", match.group(1), re.MULTILINE | re.DOTALL)
    return {block.group(1): block.group(2) for block in blocks}


def test_provider_plugin_example_is_the_example_plugin() -> None:
    """The page shows the example plugin's pyproject.toml and module exactly, so the
    example third parties copy is the one the test suite installs and runs."""
    blocks = example_blocks()
    assert set(blocks) == {"pyproject.toml", "src/imageworks_example_plugin/__init__.py"}
    for path, shown in blocks.items():
        actual = (EXAMPLE_PLUGIN / path).read_text(encoding="utf-8")
        assert shown == actual, f"docs/architecture.md shows a different {path} than tests/plugins/example_plugin"
