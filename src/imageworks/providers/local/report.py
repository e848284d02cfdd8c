"""What a scan did (or would do), as :class:`~imageworks.core.reports.ImportOutcome`."""

from __future__ import annotations

from typing import Any

import attrs

from imageworks.providers.local.scan import ScanItem

ACTIONS = ("add", "update", "unchanged", "skip")


@attrs.define
class ScanReport:
    """The items of one scan, the problems met on the way, and whether it was a dry run."""

    items: list[ScanItem]
    warnings: list[str] = attrs.field(factory=list)
    dry_run: bool = False
    roots: list[str] = attrs.field(factory=list)  # the store roots scanned
    skipped_roots: list[str] = attrs.field(factory=list)  # configured roots not scanned, and why

    def headers(self) -> list[str]:
        """Columns of the scan table."""
        return ["Folder", "Action", "Variant", "Format", "Quant", "Note"]

    def rows(self) -> list[list[str]]:
        """One row per model folder."""
        return [
            [i.model_id, i.action, i.name or "", i.format_type or "", i.quantization or "", i.reason or ""]
            for i in self.items
        ]

    def summary(self) -> str:
        """``N add, N update, N unchanged, N skip`` (and ``(dry run)``)."""
        counts = ", ".join(f"{sum(1 for i in self.items if i.action == a)} {a}" for a in ACTIONS)
        scanned = f" in {len(self.roots)} roots ({', '.join(self.roots)})" if len(self.roots) > 1 else ""
        return counts + scanned + (" (dry run)" if self.dry_run else "")

    def to_json(self) -> list[dict[str, Any]]:
        """The items as plain dicts (``scan --json``)."""
        return [i.as_json() for i in self.items]
