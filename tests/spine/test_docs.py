"""Docs stay true to the code: every hook and argument is documented in docs/plugins.md."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from imageworks.core import hookspecs

DOCS = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
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
