"""Sizes for people: one unit system everywhere (binary IEC: KiB, MiB, GiB, TiB).

The CLI's tables, the transfer progress, the GUI's grid and charts and the memory docs
all say ``GiB`` for 2**30 bytes, so a figure reads the same wherever it is shown.
"""

from __future__ import annotations

KIB, MIB, GIB = 1024, 1024**2, 1024**3


def human_size(size: int | float | None) -> str:
    """Bytes as ``1.2 GiB`` (``512 B`` below a KiB); empty for unknown."""
    if size is None or size != size:  # None, or NaN (a missing cell of a numeric column)
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)  # not reached
