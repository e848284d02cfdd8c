"""Who may import whom: providers and the core never reach for a front end or the facades."""

from __future__ import annotations

import ast
from pathlib import Path

import imageworks

PACKAGE = Path(imageworks.__file__).parent
FRONT_ENDS = ("imageworks.app", "imageworks.cli", "imageworks.gui", "imageworks.model_loader", "imageworks.tools")


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_providers_and_core_do_not_import_front_ends() -> None:
    offenders = {}
    for folder in ("core", "providers", "plugins"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            bad = sorted(m for m in imports_of(path) if m.startswith(FRONT_ENDS))
            if bad:
                offenders[str(path.relative_to(PACKAGE))] = bad
    assert offenders == {}


def test_the_ollama_provider_does_not_reach_into_the_json_backend() -> None:
    for path in sorted((PACKAGE / "providers").rglob("*.py")):
        assert not any(m.startswith("imageworks.plugins.json_registry") for m in imports_of(path)), path
