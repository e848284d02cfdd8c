"""What a GGUF header says about its model: llama.cpp's file-type names and the facts
detectors and providers report (quantisation, architecture, size, chat template).

Shared by the GGUF detector and by providers that meet GGUF files (the Ollama store),
so neither imports the other.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from imageworks.formats.gguf_reader import GGUFHeader


@functools.cache
def _gguf() -> Any:
    """The ``gguf`` package, imported on first use: it pulls in numpy (about 70 ms), which
    every CLI start-up would otherwise pay for."""
    import gguf

    return gguf


def file_type_name(value: int) -> str | None:
    """llama.cpp's file-type name for ``general.file_type``, lower case (15 -> ``q4_k_m``)."""
    try:
        member = _gguf().LlamaFileType(value)
    except ValueError:
        return None
    if member is _gguf().LlamaFileType.GUESSED:
        return None
    name = member.name.lower().removeprefix("mostly_").removeprefix("all_")
    # llama.cpp calls type 38 "MXFP4 MoE"; users and repo names call it mxfp4.
    return "mxfp4" if name == "mxfp4_moe" else name


def guess_from_tensors(header: GGUFHeader) -> str | None:
    """Most common ggml type among 2-D weights, for files without ``general.file_type``."""
    kinds = Counter(t.ggml_type for t in header.tensors if len(t.shape) >= 2)
    if not kinds:
        return None
    try:
        name: str = _gguf().GGMLQuantizationType(kinds.most_common(1)[0][0]).name
        return name.lower()
    except ValueError:
        return None


def describe(header: GGUFHeader) -> dict[str, Any]:
    """The facts detection reports from one header."""
    fields = header.fields
    file_type = fields.get(_gguf().Keys.General.FILE_TYPE)
    return {
        "file_type": file_type,
        "quantization": file_type_name(file_type) if isinstance(file_type, int) else guess_from_tensors(header),
        "architecture": fields.get(_gguf().Keys.General.ARCHITECTURE),
        "name": fields.get(_gguf().Keys.General.NAME),
        "size_label": fields.get(_gguf().Keys.General.SIZE_LABEL),
        "parameter_count": header.parameter_count,
        "chat_template": _gguf().Keys.Tokenizer.CHAT_TEMPLATE in fields,
        "split_count": fields.get(_gguf().Keys.Split.LLM_KV_SPLIT_COUNT),
        "gguf_version": header.version,
    }
