"""Where a model's chat template comes from, if anywhere.

Serving stacks need one: llama.cpp/LM Studio read it from the GGUF header, vLLM and
LMDeploy from ``tokenizer_config.json`` or a ``chat_template.jinja``/``.json`` file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from imageworks.core.model import Detection
from imageworks.core.regular_files import MAX_CONFIG_BYTES, read_regular_file
from imageworks.formats import bounded_json

log = logging.getLogger("imageworks.chat_template")
TEMPLATE_FILES = ("chat_template.jinja", "chat_template.json")


def chat_template_status(folder: Path, detections: Sequence[Detection] = ()) -> str:
    """``embedded`` (GGUF header), ``tokenizer_config``, ``file`` or ``missing``."""
    if any(_says_embedded(d.details) for d in detections if d.trust == "header"):
        return "embedded"
    if not folder.is_dir():
        return "missing"
    config = folder / "tokenizer_config.json"
    if config.is_file():
        try:
            if bounded_json.loads(read_regular_file(config, MAX_CONFIG_BYTES), config.name, max_bytes=MAX_CONFIG_BYTES).get("chat_template"):
                return "tokenizer_config"
        except (OSError, ValueError, AttributeError) as error:
            log.warning("cannot read %s: %s", config, error)
    if any((folder / name).is_file() for name in TEMPLATE_FILES):
        return "file"
    return "missing"


def _says_embedded(details: object) -> bool:
    """Header detectors report ``chat_template: True``; the combiner nests each detector's
    details under its name, so look one level down too."""
    if not isinstance(details, dict):
        return False
    if details.get("chat_template") is True:
        return True
    return any(isinstance(v, dict) and v.get("chat_template") is True for v in details.values())
