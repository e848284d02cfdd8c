"""Helpers the detectors share: list a model folder and read small files safely."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from imageworks.core.detection import list_model_files as list_files
from imageworks.core.errors import UnreadableFileError
from imageworks.core.regular_files import MAX_CONFIG_BYTES, read_regular_file
from imageworks.formats import bounded_json

__all__ = ["list_files", "load_json"]

log = logging.getLogger("imageworks.detection")

MAX_JSON_BYTES = MAX_CONFIG_BYTES


def load_json(path: Path, label: str | None = None) -> Any | None:
    """Parse a small JSON file; on any problem log a warning and return ``None``.

    Only a regular file (or a symlink to one) of at most :data:`MAX_JSON_BYTES` is read:
    a FIFO, a device or an oversized file is a warning, never a hang.
    """
    shown = label or str(path)
    try:
        return bounded_json.loads(read_regular_file(path, MAX_JSON_BYTES), shown, max_bytes=MAX_JSON_BYTES)
    except FileNotFoundError:
        return None
    except UnreadableFileError as error:
        log.warning("%s: %s; ignored", shown, error)
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, bounded_json.JSONLimitError) as error:
        log.warning("%s: not valid JSON (%s); falling back to other evidence", shown, error)
        return None
