"""How sizes and detected formats read to a person, the same in the CLI and the GUI."""

from __future__ import annotations

from imageworks.core.units import human_size

__all__ = ["format_label", "human_size"]


def format_label(format_type: str | None, quantization: str | None) -> str:
    """A detected format as ``gguf / q4_k_m``; ``unknown`` when nothing was detected."""
    return " / ".join(x for x in (format_type, quantization) if x) or "unknown"
