"""Structured logging to ``<log_dir>/model_downloader.log`` with secrets redacted.

Each record is one JSON object per line (time, level, logger, message, command). The CLI
mirrors what it prints into this file; the chat proxy logs there too. ``IMAGEWORKS_DEBUG=1``
lowers the level to DEBUG. Every message and traceback goes through
:func:`imageworks.core.logs.redact` before it is written, so tokens never reach the file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

from imageworks.core.logs import redact

LOG_FILE_NAME = "model_downloader.log"
LOGGER_NAME = "imageworks"


class JsonLineFormatter(logging.Formatter):
    """One redacted JSON object per record."""

    def __init__(self, command: str) -> None:
        super().__init__()
        self.command = command

    def format(self, record: logging.LogRecord) -> str:
        """Serialise ``record``."""
        payload = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "command": self.command,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            payload["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(log_dir: Path, command: str, debug: bool = False) -> Path | None:
    """Send ``imageworks.*`` records to the log file; return its path (None if unwritable)."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    for handler in list(logger.handlers):
        if getattr(handler, "_imageworks", False):
            logger.removeHandler(handler)
            handler.close()
    path = log_dir / LOG_FILE_NAME
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(path, encoding="utf-8", delay=True)
    except OSError:
        return None
    handler._imageworks = True  # type: ignore[attr-defined]  # our mark on a stdlib handler, to find it again
    handler.setFormatter(JsonLineFormatter(command))
    logger.addHandler(handler)
    return path
