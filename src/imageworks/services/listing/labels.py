"""How sizes and detected formats read to a person, the same in the CLI and the GUI."""

from __future__ import annotations


def human_size(size: int | None) -> str:
    """Bytes as ``1.2 GiB``; empty for unknown."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(size)


def format_label(format_type: str | None, quantization: str | None) -> str:
    """A detected format as ``gguf / q4_k_m``; ``unknown`` when nothing was detected."""
    return " / ".join(x for x in (format_type, quantization) if x) or "unknown"
