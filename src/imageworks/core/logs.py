"""Structured logging to ``<log_dir>/model_downloader.log`` with secrets redacted.

Each record is one JSON object per line (time, level, logger, message, command). The CLI
mirrors what it prints into this file. ``IMAGEWORKS_DEBUG=1`` lowers the level to DEBUG.
Tokens never reach the file: values of ``HF_TOKEN``-like variables and of
``IMAGEWORKS_REGISTRY_DSN``, ``hf_...`` tokens, ``Authorization``/``Bearer`` values,
database passwords (``password=...``, ``user:password@``) and the values of
``--api-key``-style flags are replaced by ``***`` before a record is written.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
from pathlib import Path

LOG_FILE_NAME = "model_downloader.log"
LOGGER_NAME = "imageworks"
SECRET_VARIABLES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_TOKEN", "OLLAMA_API_KEY", "IMAGEWORKS_REGISTRY_DSN")
_TOKEN_PATTERNS = (
    re.compile(r"hf_[A-Za-z0-9]{8,}"),
    re.compile(r"(?i)(authorization\s*[:=]\s*)(?:bearer\s+)?\S+"),
    re.compile(r"(?i)(bearer\s+)\S+"),
    re.compile(r"(?i)(password\s*=\s*)(?:'(?:[^'\\]|\\.)*'|\S+)"),  # a libpq connection string's password
    re.compile(r"(://[^/:@\s]*:)[^@\s/]+(?=@)"),  # user:password@ in a URI
    re.compile(r"(--(?:api-keys?|hf-token)(?:\s+|=))\S+"),  # serving stacks' key flags (serve-vllm -- --api-key K)
)


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``***``."""
    for variable in SECRET_VARIABLES:
        value = os.environ.get(variable)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + "***", text)
    return text


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
