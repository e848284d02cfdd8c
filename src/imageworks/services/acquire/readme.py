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

# Every pattern runs on lower-cased text, as a list of branches ``(prefix, rest)``: the
# literal ``prefix`` comes first so the regex engine skips ahead with a fast substring search
# (a leading look-behind or IGNORECASE makes it try every position: 60 patterns over 2 MiB
# took 8 s), and no branch can backtrack over more than its own short match.
Branches = tuple[tuple[str, str], ...]
QUANT_SCHEMES: dict[str, Branches] = {
    "gguf": (("gguf", ""),), "awq": (("awq", ""),), "gptq": (("gptq", ""),), "exl2": (("exl2", ""),),
    "exl3": (("exl3", ""),), "bnb": (("bnb", ""), ("bitsandbytes", "")), "mlx": (("mlx", ""),),
    "fp8": (("fp8", ""),), "nvfp4": (("nvfp4", ""),), "mxfp4": (("mxfp4", ""),), "int4": (("int4", ""),),
    "int8": (("int8", ""),), "squeezellm": (("squeeze", "-?llm"),), "imatrix": (("imatrix", ""),),
    "w4a16": (("w4a16", ""),), "w8a8": (("w8a8", ""),), "wNgM": (("w", r"[2-8]g\d{2,4}+"),),
    "k-quants": tuple((p, r"[1-8]_(?:k(?:_[sml])?|[01]|xxs|xs|nl|s|m)") for p in ("q", "iq")),
}
BACKENDS: dict[str, Branches] = {
    "vllm": (("vllm", ""),), "lm-studio": (("lm", r"\s?studio"),), "ollama": (("ollama", ""),),
    "llama.cpp": (("llama.cpp", ""), ("llama-server", ""), ("llama-cli", "")),
    "tgi": (("text-generation-inference", ""), ("tgi", "")), "sglang": (("sglang", ""),),
    "mlx": (("mlx-lm", ""), ("mlx_lm", ""), ("mlx-vlm", ""), ("mlx", "")),
    "transformers": (("transformers", "(?<!sentence-transformers)"),),
    "exllamav2": (("exllamav2", ""), ("exllama", "")), "tensorrt-llm": (("tensorrt-llm", ""), ("trt-llm", "")),
    "lmdeploy": (("lmdeploy", ""),), "koboldcpp": (("koboldcpp", ""),),
    "text-generation-webui": (("text-generation-webui", ""), ("oobabooga", "")),
    "jan": (("jan.ai", ""),), "gpt4all": (("gpt4all", ""),), "llamafile": (("llamafile", ""),),
    "sentence-transformers": (("sentence-transformers", ""),),
}
REASONING: dict[str, Branches] = {
    "reasoning": (("reasoning", ""),), "thinking": (("thinking", ""), ("enable_thinking", "")),
    "think-tags": (("<think>", ""),), "chain-of-thought": (("chain", "[- ]of[- ]thought"), ("cot", "")),
    "reasoning-effort": (("reasoning", "[_ ]effort"),),
}
# Text mentions of licences, most specific first; the value is the Hub's licence id. Plain
# patterns on lower-cased text, each starting with a literal.
LICENCE_TEXT = (
    (r"apache[- ]license[, ]*+(?:version )?2\.0|apache[- ]2\.0", "apache-2.0"),
    (r"mit license|licen(?<!\wlicen)[cs]e:?\s*+mit\b", "mit"),
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
_BPW = re.compile(r"bpw(?![a-z0-9])")
_BPW_NUMBER = re.compile(r"(?<![a-z0-9])\d{1,8}(?:\.\d{1,8})?\s?\Z")  # run on the 20 characters before "bpw"


def _token(prefix: str, rest: str) -> str:
    """A whole-token pattern: no letter or digit may touch it on either side."""
    literal = re.escape(prefix)
    return f"{literal}(?<![a-z0-9]{literal}){rest}(?![a-z0-9])"


@functools.cache
def _compiled(table: str) -> dict[str, tuple[re.Pattern[str], ...]]:
    """The signal patterns of one table, compiled on first use (compiling all costs ~30 ms at import)."""
    source = {"quant": QUANT_SCHEMES, "backend": BACKENDS, "reasoning": REASONING}[table]
    return {key: tuple(re.compile(_token(p, rest)) for p, rest in branches) for key, branches in source.items()}


@functools.cache
def _licence_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((re.compile(p), name) for p, name in LICENCE_TEXT)


_LICENSE_KEY = re.compile(r"licen[cs]e:", re.IGNORECASE)


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


def _hits(table: dict[str, tuple[re.Pattern[str], ...]], text: str) -> list[str]:
    return sorted(key for key, branches in table.items() if any(pattern.search(text) for pattern in branches))


def _has_bpw(text: str) -> bool:
    """``4.65bpw``, ``6 bpw``: a number before ``bpw``, looked for only where ``bpw`` stands."""
    for match in _BPW.finditer(text):
        start = match.start()
        window = text[max(0, start - 20) : start]
        number = _BPW_NUMBER.search(window)
        if number and not (number.start() == 0 and start > 20 and text[start - 21].isalnum()):
            return True
    return False


def _front_matter(text: str) -> tuple[str, int] | None:
    """(body, end offset) of YAML front matter: a ``---`` line first and the next ``---`` line."""
    first_end = text.find("\n")
    if first_end < 0 or text[:first_end].rstrip() != "---":
        return None
    position = first_end
    while (position := text.find("\n---", position)) >= 0:
        line_end = text.find("\n", position + 1)
        line_end = len(text) if line_end < 0 else line_end
        if not text[position + 4 : line_end].strip(" \t\r"):
            return text[first_end + 1 : position], min(line_end + 1, len(text))
        position += 4
    return None


def _front_matter_licence(front: str) -> str | None:
    """The ``license:`` value of YAML front matter (a scalar or the first item of a list), line by line."""
    lines = front.splitlines()
    for index, line in enumerate(lines):
        if not _LICENSE_KEY.match(line):
            continue
        value = line.split(":", 1)[1].strip()
        if not value:
            following = next((rest.strip() for rest in lines[index + 1 :] if rest.strip()), "")
            value = following[1:].strip() if following.startswith("-") else ""
        value = value.split("#", 1)[0].strip().strip("'\"").strip()
        if value and not any(quote in value for quote in "'\""):
            return value.lower()
    return None


def licence_from_text(text: str) -> tuple[str, str] | None:
    """(licence id, where) from front matter first, then the first licence named in the text."""
    front = _front_matter(text)
    if front:
        found = _front_matter_licence(front[0])
        if found:
            return found, "front-matter"
    body = (text[front[1] :] if front else text).lower()
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
    lowered = text.lower()
    quant = _hits(_compiled("quant"), lowered)
    signals: dict[str, Any] = {
        "quant_schemes": sorted([*quant, "bpw"]) if _has_bpw(lowered) else quant,
        "backends": _hits(_compiled("backend"), lowered),
        "reasoning_hints": _hits(_compiled("reasoning"), lowered),
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
