"""The record of a fold (``dedupe --apply``), kept so ``dedupe --undo ID`` can restore copies.

One JSON file per fold under ``<registry_dir>/dedupe-journal/<ID>.json``, rewritten
whole (temporary file, then rename) after every step, so a fold killed at any point
leaves a journal that names every file it may have touched: a step is written as
``pending`` before its rename and ``done`` after it. Undo treats a pending step like a
done one: it looks at the file itself, which is either still its own copy (nothing to
do) or a link to the keeper (copied back).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

from imageworks.core.config import Config
from imageworks.core.errors import ImageworksError
from imageworks.services.share.linking import write_small_file

JOURNAL_ID = re.compile(r"^[0-9]{8}T[0-9]{6}-[0-9a-f]{6}$")


def journal_dir(config: Config) -> Path:
    """Where fold journals live."""
    return config.registry_dir / "dedupe-journal"


class Journal:
    """One fold's steps, saved after each change."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @property
    def id(self) -> str:
        """The journal's id (what ``--undo`` takes)."""
        return str(self.data["id"])

    @property
    def steps(self) -> list[dict[str, Any]]:
        """The steps, in the order they were made."""
        steps: list[dict[str, Any]] = self.data["steps"]
        return steps

    @classmethod
    def create(cls, config: Config) -> Journal:
        """A new, empty journal (saved at once)."""
        journal_id = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(3)
        journal = cls(journal_dir(config) / f"{journal_id}.json",
                      {"id": journal_id, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "state": "applying", "steps": [], "keepers": {}})
        journal.save()
        return journal

    @classmethod
    def load(cls, config: Config, journal_id: str) -> Journal:
        """The journal ``journal_id``; a one-line error when the id is malformed or unknown."""
        if not JOURNAL_ID.match(journal_id):
            raise ImageworksError(f"{journal_id!r} is not a dedupe journal id (like 20261206T130501-ab12cd)",
                                  "`imageworks-download dedupe --history` lists them")
        path = journal_dir(config) / f"{journal_id}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as error:
            raise ImageworksError(f"no dedupe journal {journal_id} in {journal_dir(config)}",
                                  "`imageworks-download dedupe --history` lists them") from error
        except (OSError, ValueError) as error:
            raise ImageworksError(f"dedupe journal {path} is unreadable: {error}") from error
        if not isinstance(data, dict) or not isinstance(data.get("steps"), list):
            raise ImageworksError(f"dedupe journal {path} is damaged (no steps list)")
        return cls(path, data)

    def save(self) -> None:
        """Write the journal whole."""
        write_small_file(self.path, json.dumps(self.data, indent=1).encode())

    def add(self, step: dict[str, Any]) -> dict[str, Any]:
        """Record ``step`` as pending (saved); the caller marks it done after its rename."""
        step["state"] = "pending"
        self.steps.append(step)
        self.save()
        return step

    def mark(self, step: dict[str, Any], state: str, **extra: Any) -> None:
        """Set a step's state (and more fields), saved."""
        step["state"] = state
        step.update(extra)
        self.save()


def history(config: Config) -> list[dict[str, Any]]:
    """Every journal, newest first: id, created, state and step count."""
    found = []
    for path in sorted(journal_dir(config).glob("*.json"), reverse=True):
        if not JOURNAL_ID.match(path.stem):  # a temporary name a killed save left
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            steps = data.get("steps") or []
            found.append({"id": data.get("id"), "created": data.get("created"), "state": data.get("state"),
                          "files": len(steps), "bytes": sum(int(s.get("size") or 0) for s in steps
                                                            if s.get("state") == "done")})
    return found
