"""README and licence capture for a model folder (guide 4.3 and 4.4).

:func:`capture_readme` finds the README, hashes it when it is at most 10 MiB, and pulls
curated signals out of it: quantisation schemes, serving backends the card claims,
reasoning hints and the first licence reference (YAML front matter ``license:`` first,
then the text, then LICENSE/COPYING files). A README that is not text is logged and
yields no signals; nothing here raises for bad content.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any

from imageworks.core.regular_files import open_regular

log = logging.getLogger("imageworks.readme")

MAX_HASHED = 10 * 1024 * 1024
MAX_SCANNED = 2 * 1024 * 1024  # signals come from the first 2 MiB; cards are far smaller
README_NAMES = ("readme.md", "readme", "readme.txt", "readme.rst", "model_card.md")
LICENSE_FILES = ("license", "license.md", "license.txt", "licence", "licence.md", "copying", "notice")

_B, _E = r"(?<![A-Za-z0-9])", r"(?![A-Za-z0-9])"
QUANT_SCHEMES = {
    "gguf": r"gguf", "awq": r"awq", "gptq": r"gptq", "exl2": r"exl2", "exl3": r"exl3",
    "bnb": r"bnb|bitsandbytes", "mlx": r"mlx", "fp8": r"fp8", "nvfp4": r"nvfp4", "mxfp4": r"mxfp4",
    "int4": r"int4", "int8": r"int8", "squeezellm": r"squeeze-?llm", "imatrix": r"imatrix",
    "w4a16": r"w4a16", "w8a8": r"w8a8", "bpw": r"\d+(?:\.\d+)?\s?bpw",
    "wNgM": r"w[2-8]g\d{2,4}", "k-quants": r"i?q[1-8]_(?:k(?:_[sml])?|[01]|xxs|xs|nl|s|m)",
}
BACKENDS = {
    "vllm": r"vllm", "lm-studio": r"lm\s?studio", "ollama": r"ollama", "llama.cpp": r"llama\.cpp|llama-server|llama-cli",
    "tgi": r"text-generation-inference|tgi", "sglang": r"sglang", "mlx": r"mlx-lm|mlx_lm|mlx-vlm|mlx",
    "transformers": r"(?<!sentence-)transformers", "exllamav2": r"exllamav2|exllama", "tensorrt-llm": r"tensorrt-llm|trt-llm",
    "lmdeploy": r"lmdeploy", "koboldcpp": r"koboldcpp", "text-generation-webui": r"text-generation-webui|oobabooga",
    "jan": r"jan\.ai", "gpt4all": r"gpt4all", "llamafile": r"llamafile", "sentence-transformers": r"sentence-transformers",
}
REASONING = {
    "reasoning": r"reasoning", "thinking": r"thinking(?:\s+mode)?|enable_thinking", "think-tags": r"<think>",
    "chain-of-thought": r"chain[- ]of[- ]thought|\bcot\b", "reasoning-effort": r"reasoning[_ ]effort",
}
# Text mentions of licences, most specific first; the value is the Hub's licence id.
LICENCE_TEXT = (
    (r"apache[- ]license[, ]*(?:version )?2\.0|apache[- ]2\.0", "apache-2.0"),
    (r"mit license|\blicen[cs]e:?\s*mit\b", "mit"),
    (r"llama 3\.3 community license", "llama3.3"), (r"llama 3\.2 community license", "llama3.2"),
    (r"llama 3\.1 community license", "llama3.1"), (r"llama 3 community license", "llama3"),
    (r"llama 2 community license", "llama2"), (r"gemma terms of use", "gemma"),
    (r"cc[- ]by[- ]nc[- ]sa[- ]4\.0", "cc-by-nc-sa-4.0"), (r"cc[- ]by[- ]nc[- ]4\.0", "cc-by-nc-4.0"),
    (r"cc[- ]by[- ]sa[- ]4\.0", "cc-by-sa-4.0"), (r"cc[- ]by[- ]4\.0", "cc-by-4.0"),
    (r"gnu affero general public license|agpl-?3\.0", "agpl-3.0"),
    (r"gnu general public license v(?:ersion )?3|gpl-?3\.0", "gpl-3.0"),
    (r"bsd 3-clause|bsd-3-clause", "bsd-3-clause"), (r"openrail\+\+", "openrail++"), (r"openrail", "openrail"),
    (r"qwen license", "qwen"), (r"deepseek license", "deepseek"),
)


@functools.cache
def _compiled(table: str) -> dict[str, re.Pattern[str]]:
    """The signal patterns of one table, compiled on first use (compiling all costs ~30 ms at import)."""
    source = {"quant": QUANT_SCHEMES, "backend": BACKENDS, "reasoning": REASONING}[table]
    return {key: re.compile(_B + f"(?:{pattern})" + _E, re.IGNORECASE) for key, pattern in source.items()}


@functools.cache
def _licence_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(p, re.IGNORECASE), name) for p, name in LICENCE_TEXT)

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)
_LICENSE_KEY = re.compile(r"^licen[cs]e:\s*(?:\n\s*-\s*)?['\"]?([^'\"\n#]+?)['\"]?\s*$", re.IGNORECASE | re.MULTILINE)


def find_readme(directory: Path) -> Path | None:
    """The model card in ``directory`` (README.md and the usual variants), if any."""
    try:
        entries = {p.name.lower(): p for p in directory.iterdir() if p.is_file()}
    except OSError:
        return None
    return next((entries[n] for n in README_NAMES if n in entries), None)


def _as_text(raw: bytes, path: Path) -> str | None:
    if b"\x00" in raw[:8192]:
        log.warning("%s looks binary (NUL bytes); no README signals taken", path)
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("%s is not UTF-8 text; no README signals taken", path)
        return None


def _hits(table: dict[str, re.Pattern[str]], text: str) -> list[str]:
    return sorted(key for key, pattern in table.items() if pattern.search(text))


def licence_from_text(text: str) -> tuple[str, str] | None:
    """(licence id, where) from front matter first, then the first licence named in the text."""
    front = _FRONT_MATTER.match(text)
    if front:
        found = _LICENSE_KEY.search(front.group(1))
        if found and found.group(1).strip():
            return found.group(1).strip().lower(), "front-matter"
    body = text[front.end():] if front else text
    first: tuple[int, str] | None = None
    for pattern, name in _licence_patterns():
        match = pattern.search(body)
        if match and (first is None or match.start() < first[0]):
            first = (match.start(), name)
    return (first[1], "text") if first else None


def _licence_file(directory: Path) -> tuple[str, str] | None:
    try:
        files = sorted(p for p in directory.iterdir() if p.is_file() and p.name.lower() in LICENSE_FILES)
    except OSError:
        return None
    for path in files:
        try:
            with open_regular(path) as handle:
                text = _as_text(handle.read(64 * 1024), path)
        except OSError:
            continue
        found = licence_from_text(text) if text else None
        if found:
            return found[0], path.name
    return None


def readme_signals(text: str) -> dict[str, Any]:
    """Curated signals of a model card: quant schemes, backends, reasoning hints, licence."""
    signals: dict[str, Any] = {
        "quant_schemes": _hits(_compiled("quant"), text),
        "backends": _hits(_compiled("backend"), text),
        "reasoning_hints": _hits(_compiled("reasoning"), text),
    }
    licence = licence_from_text(text)
    if licence:
        signals["license"], signals["license_source"] = licence
    return signals


def capture_readme(directory: str | Path) -> dict[str, Any]:
    """``readme_file``, ``readme_sha256`` (files up to 10 MiB), ``readme_signals`` and ``license``."""
    root = Path(directory)
    result: dict[str, Any] = {"readme_file": None, "readme_sha256": None, "readme_signals": {}, "license": None}
    readme = find_readme(root)
    if readme is not None:
        result["readme_file"] = readme.name
        try:
            digest = hashlib.sha256()
            with open_regular(readme) as handle:
                size = os.fstat(handle.fileno()).st_size
                head = handle.read(MAX_SCANNED)
                digest.update(head)
                if size <= MAX_HASHED:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
            if size <= MAX_HASHED:
                result["readme_sha256"] = digest.hexdigest()
            text = _as_text(head, readme)
            if text is not None:
                result["readme_signals"] = readme_signals(text)
        except OSError as error:
            log.warning("cannot read %s (%s)", readme, error)
    licence = result["readme_signals"].get("license")
    if licence is None:
        found = _licence_file(root)
        if found:
            licence = found[0]
            result["readme_signals"]["license"], result["readme_signals"]["license_source"] = found
    result["license"] = licence
    return result
