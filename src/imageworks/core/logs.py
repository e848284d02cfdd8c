"""Secrets out of text bound for a log, an error line or a stored command (:func:`redact`).

Values of ``HF_TOKEN``-like variables and of ``IMAGEWORKS_REGISTRY_DSN``, ``hf_...``
tokens, ``Authorization``/``Bearer`` values, database passwords (``password=...``,
``user:password@``) and the values of ``--api-key``-style flags become ``***``. The log
file itself is the front ends' (:mod:`imageworks.services.log_file`).
"""

from __future__ import annotations

import os
import re

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
