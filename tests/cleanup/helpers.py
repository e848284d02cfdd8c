"""Helpers for the clean-up tests: write registry layers as raw JSON, read them back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FILES = ("model_registry.curated.json", "model_registry.discovered.json", "model_registry.json")


def write_layers(isolated: Path, curated: list[dict[str, Any]], discovered: list[dict[str, Any]]) -> None:
    """Write both layer files, then read them once, as any command does, so the merged
    snapshot exists: a registry as the tool leaves it."""
    from imageworks.app import open_registry

    folder = isolated / "registry"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FILES[0]).write_text(json.dumps(curated, indent=2) + "\n")
    (folder / FILES[1]).write_text(json.dumps(discovered, indent=2) + "\n")
    open_registry().entries()


def layer(isolated: Path, name: str) -> dict[str, dict[str, Any]]:
    """Entry name -> raw entry of layer ``curated``, ``discovered`` or ``merged``."""
    file = {"curated": FILES[0], "discovered": FILES[1], "merged": FILES[2]}[name]
    path = isolated / "registry" / file
    return {e["name"]: e for e in json.loads(path.read_text())} if path.exists() else {}


def snapshot(isolated: Path) -> dict[str, bytes]:
    """The bytes of every registry file that exists, and the backup folders."""
    folder = isolated / "registry"
    found = {name: (folder / name).read_bytes() for name in FILES if (folder / name).exists()}
    backups = folder / "backups"
    found["backups"] = ",".join(sorted(p.name for p in backups.iterdir())).encode() if backups.exists() else b""
    return found


def backups(isolated: Path) -> list[Path]:
    """The backup folders, oldest first."""
    folder = isolated / "registry" / "backups"
    return sorted(folder.iterdir()) if folder.exists() else []
