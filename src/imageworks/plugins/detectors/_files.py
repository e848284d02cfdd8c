"""Helpers the detectors share: list a model folder and read small files safely."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from imageworks.core.detection import list_model_files as list_files

__all__ = ["list_files", "load_json"]

log = logging.getLogger("imageworks.detection")

MAX_JSON_BYTES = 16 * 1024 * 1024  # configs and index files are far smaller than this


def load_json(path: Path, label: str | None = None) -> Any | None:
    """Parse a small JSON file; on any problem log a warning and return ``None``."""
    shown = label or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            log.warning("%s: %d bytes is too large for a config file; ignored", shown, size)
            return None
        with path.open("rb") as handle:
            return json.loads(handle.read().decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        log.warning("%s: not valid JSON (%s); falling back to other evidence", shown, error)
        return None
