"""The layering rules of ``src/imageworks``, read from every import of every module.

Every import counts for the layer rules: module-level ones, function-local ones and those
under ``if TYPE_CHECKING:``. Only module-level, run-time imports make the graph in which
no cycle may exist (a function-local or type-only import does not run at import time).

The layers, from the top:

- front ends: ``cli``, ``gui``, ``proxy`` and the library facades ``app``, ``tools``,
  ``model_loader``;
- ``services``: the use cases front ends call;
- ``providers`` and ``plugins``: the built-in plugins, written against the kernel;
- ``transfer`` and ``formats``: engines and header readers;
- ``core``: the kernel, what plugins are written against.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import attrs

#: For each package, the packages its modules may import (its own is always allowed).
#: ``imageworks`` alone is the top-level package (``hookimpl``, ``__version__``).
ALLOWED: Mapping[str, frozenset[str]] = {
    "core": frozenset(),
    "transfer": frozenset({"core"}),
    "formats": frozenset({"core"}),
    "services": frozenset({"core", "transfer", "formats"}),
    "providers": frozenset({"imageworks", "core", "services", "transfer", "formats"}),
    "plugins": frozenset({"imageworks", "core", "services", "transfer", "formats"}),
    "app": frozenset({"core", "services"}),
    "cli": frozenset({"imageworks", "core", "services", "transfer", "formats", "app"}),
    "gui": frozenset({"imageworks", "core", "services", "app", "cli"}),
    "proxy": frozenset({"imageworks", "core", "services", "app"}),
    "tools": frozenset({"imageworks", "core", "services", "app"}),
    "model_loader": frozenset({"imageworks", "core", "services", "app", "tools"}),
    # pytest fixtures for third-party plugin authors: a front end of their test suites
    "testing": frozenset({"imageworks", "core", "services", "app", "cli"}),
    "imageworks": frozenset({"core"}),
}
#: Packages whose sub-packages are separate plugins: one provider never imports another.
SEALED_SUBPACKAGES = frozenset({"providers"})
#: Third-party libraries below the front ends never import at run time (front-end stacks).
FRONT_END_LIBRARIES = ("click", "streamlit", "starlette", "uvicorn")
KERNEL_LINE_BUDGET = 3_500


@attrs.frozen
class Import:
    """One import in one module: the module it names and whether it runs at import time."""

    target: str
    module_level: bool
    line: int
    type_only: bool = False


def module_name(src: Path, path: Path) -> str:
    """``imageworks.core.plugins`` for ``src/imageworks/core/plugins.py``; packages drop ``__init__``."""
    parts = list(path.relative_to(src.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_imports(source: str, module: str, is_package: bool = False) -> list[Import]:
    """Every ``imageworks`` import in ``source`` (of ``module``), relative ones resolved.

    ``from pkg import name`` counts as an import of ``pkg.name`` too (it may be a module).
    """
    found: list[Import] = []
    base = module.split(".") if is_package else module.split(".")[:-1]

    def visit(node: ast.AST, module_level: bool, type_only: bool = False) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, False, True)
            for child in node.orelse:
                visit(child, module_level, type_only)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(alias.name, module_level, node.lineno, type_only) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                target = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                target = node.module or ""
            found.append(Import(target, module_level, node.lineno, type_only))
            found.extend(Import(f"{target}.{alias.name}", module_level, node.lineno, type_only) for alias in node.names)
        inner = module_level and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner, type_only)

    visit(ast.parse(source), True)
    return [i for i in found if i.target == "imageworks" or i.target.startswith(("imageworks.", *FRONT_END_LIBRARIES))]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def package_of(module: str) -> str:
    """The layer a module belongs to: ``core`` for ``imageworks.core.x``, ``imageworks`` for the top."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "imageworks"


def layer_problems(imports: Mapping[str, Iterable[Import]], modules: Iterable[str]) -> list[str]:
    """Every import that breaks a rule: a layer it may not use, another package's
    ``_private`` module, another provider, a front-end library below the front ends."""
    known = set(modules)
    problems: list[str] = []
    for module, found in sorted(imports.items()):
        package = package_of(module)
        if package not in ALLOWED:
            problems.append(f"{module}: package {package!r} has no place in the layers (add it to ALLOWED)")
            continue
        for item in found:
            where = f"{module}:{item.line} imports {item.target}"
            if not item.target.startswith("imageworks"):
                # a type-only mention is allowed: the contract types ``register_commands``'s click.Group
                if package in {"core", "transfer", "formats", "services", "providers", "plugins"} and not item.type_only:
                    problems.append(f"{where} (a front-end library below the front ends)")
                continue
            target = _known_module(item.target, known)
            if target is None:
                continue
            target_package = package_of(target)
            if target_package != package and target_package not in ALLOWED[package]:
                problems.append(f"{where} ({package} may not import {target_package})")
            if _private_outside(module, target):
                problems.append(f"{where} (another package's private module)")
            if package in SEALED_SUBPACKAGES and target_package == package and _sub(module) != _sub(target):
                problems.append(f"{where} (one {package[:-1]} never imports another)")
    return problems


def _known_module(target: str, known: set[str]) -> str | None:
    """``target`` if it names a module, else its longest prefix that does (``pkg.name`` of a value)."""
    parts = target.split(".")
    while parts:
        name = ".".join(parts)
        if name in known:
            return name
        parts.pop()
    return None


def _sub(module: str) -> str:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 else ""


def _private_outside(importer: str, target: str) -> bool:
    """True when ``target`` is a ``_private`` module of a package ``importer`` is not in."""
    parts = target.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            owner = ".".join(parts[:index])
            return not (importer == owner or importer.startswith(owner + "."))
    return False


def cycles(imports: Mapping[str, Iterable[Import]], modules: Iterable[str]) -> list[list[str]]:
    """Strongly connected groups (of two or more modules, or one importing itself) in the
    graph of module-level run-time imports (Tarjan's algorithm)."""
    known = set(modules)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for module, found in imports.items():
        for item in found:
            target = _known_module(item.target, known) if item.module_level else None
            if target is not None and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return groups


def read_tree(src: Path) -> tuple[dict[str, list[Import]], list[str]]:
    """The imports of every module under ``src`` (the ``imageworks`` package folder) and
    the module names."""
    imports: dict[str, list[Import]] = {}
    for path in sorted(src.rglob("*.py")):
        module = module_name(src, path)
        imports[module] = read_imports(path.read_text(encoding="utf-8"), module, path.name == "__init__.py")
    return imports, list(imports)


def kernel_lines(src: Path) -> int:
    """Lines of every module of the kernel (``core/``)."""
    return sum(len(p.read_text(encoding="utf-8").splitlines()) for p in (src / "core").rglob("*.py"))
