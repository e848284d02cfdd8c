"""Complexity budget: no function in ``src/`` reaches radon's grade E or F (issue 25).

A function of grade E (cyclomatic complexity 31 and above) is a chain of cases that
wants to be a table or named steps; split it before it lands.
"""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_rank, cc_visit

SRC = Path(__file__).resolve().parents[2] / "src"


def too_complex(root: Path) -> dict[str, str]:
    """``path:name`` -> ``grade (complexity)`` for every function of grade E or F under ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        for block in cc_visit(path.read_text(encoding="utf-8")):
            if cc_rank(block.complexity) in ("E", "F"):
                name = f"{block.classname}.{block.name}" if getattr(block, "classname", None) else block.name
                found[f"{path.relative_to(root).as_posix()}:{name}"] = f"{cc_rank(block.complexity)} ({block.complexity})"
    return found


def test_no_function_in_src_is_grade_e_or_f() -> None:
    found = too_complex(SRC)
    assert not found, f"split these functions (radon grade E/F): {found}"


def test_the_check_catches_a_chain_of_cases(tmp_path: Path) -> None:
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(35))
    (tmp_path / "chain.py").write_text(f"def chain(x):\n{branches}\n    return -1\n", encoding="utf-8")
    (tmp_path / "small.py").write_text("def small(x):\n    return x if x else 0\n", encoding="utf-8")
    assert too_complex(tmp_path) == {"chain.py:chain": "E (36)"}
