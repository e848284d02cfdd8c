"""Dependencies point down, no import cycle runs at start-up, and the kernel stays small.

The rules and the reader are in ``tests/architecture/layers.py``; the tests of the test
below feed it modules with a forbidden import of each kind (module-level, function-local,
type-only) to show it cannot be fooled.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import imageworks
from tests.architecture.layers import (
    KERNEL_LINE_BUDGET,
    cycles,
    kernel_lines,
    layer_problems,
    read_imports,
    read_tree,
)

SRC = Path(imageworks.__file__).parent


def test_dependencies_point_down() -> None:
    imports, modules = read_tree(SRC)
    assert {m.split(".")[1] for m in modules if "." in m} >= {
        "core", "services", "transfer", "formats", "providers", "plugins", "cli", "gui", "proxy",
    }
    assert layer_problems(imports, modules) == []


def test_no_cycle_among_module_level_imports() -> None:
    imports, modules = read_tree(SRC)
    assert cycles(imports, modules) == []


def test_the_kernel_keeps_its_line_budget() -> None:
    assert kernel_lines(SRC) <= KERNEL_LINE_BUDGET


# -- the test of the test -------------------------------------------------------------------

_, MODULES = read_tree(SRC)


def _problems(module: str, source: str, is_package: bool = False) -> list[str]:
    return layer_problems({module: read_imports(source, module, is_package)}, [*MODULES, module])


@pytest.mark.parametrize(
    "source",
    [
        "from imageworks.cli.context import AppContext\n",
        "def f():\n    from imageworks.cli import context\n",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from imageworks.cli.context import AppContext\n",
        "import imageworks.services.maintain.verify\n",
        "import click\n",
        "from ..cli import context\n",
    ],
    ids=["module-level", "function-local", "type-only", "kernel-to-service", "front-end-library", "relative"],
)
def test_a_forbidden_import_into_the_kernel_is_caught_however_it_is_written(source: str) -> None:
    assert _problems("imageworks.core.example", source)


@pytest.mark.parametrize(
    ("module", "source"),
    [
        ("imageworks.transfer.example", "from imageworks.services.acquire import acquisition\n"),
        ("imageworks.formats.example", "from imageworks.services.memory.estimate import estimate\n"),
        ("imageworks.gui.example", "from imageworks.cli._output import format_label\n"),
        ("imageworks.cli.example", "from imageworks.plugins.json_registry import JsonRegistryStore\n"),
        ("imageworks.tools.example", "from imageworks.providers.huggingface import analysis\n"),
        ("imageworks.providers.ollama.example", "from imageworks.providers.huggingface.refs import parse_model_ref\n"),
        ("imageworks.plugins.example", "from imageworks.gui import widgets\n"),
        ("imageworks.services.example", "from imageworks.proxy import app\n"),
        ("imageworks.services.example", "from imageworks.plugins.detectors._files import read_json\n"),
    ],
)
def test_each_kind_of_forbidden_edge_is_caught(module: str, source: str) -> None:
    assert _problems(module, source)


def test_allowed_edges_pass() -> None:
    assert _problems("imageworks.cli.example", "from imageworks.cli._output import echo\n") == []
    assert _problems("imageworks.providers.huggingface.example", "from imageworks.providers.huggingface import refs\n") == []
    assert _problems("imageworks.services.example", "from imageworks.core.registry import Registry\n") == []


def test_a_cycle_is_found_and_a_type_only_or_local_import_does_not_make_one() -> None:
    modules = ["imageworks.core.a", "imageworks.core.b"]
    a_to_b = read_imports("from imageworks.core import b\n", "imageworks.core.a")
    b_to_a = read_imports("import imageworks.core.a\n", "imageworks.core.b")
    assert cycles({"imageworks.core.a": a_to_b, "imageworks.core.b": b_to_a}, modules) == [modules]
    lazy = read_imports("def f():\n    import imageworks.core.a\n", "imageworks.core.b")
    typed = read_imports("if TYPE_CHECKING:\n    import imageworks.core.a\n", "imageworks.core.b")
    for back in (lazy, typed):
        assert cycles({"imageworks.core.a": a_to_b, "imageworks.core.b": back}, modules) == []
