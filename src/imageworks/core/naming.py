"""Variant names, display names and slugs (guide sections 4.2 and 6.3).

``<family>-<backend>-<format>-<quant>``: the family is the repo tail (plus branch) in
lower case with ``/``, ``_``, spaces and ``@`` turned into ``-`` and repeated dashes
collapsed, except that llama.cpp-style quant tokens keep their underscores (``Q6_K`` ->
``q6_k``). The format is left out when it is unknown or the backend already says it;
the quant when it is unknown or says no more than the format. Trailing family tokens
that repeat the format or quant move to the end instead of standing twice
(``gemma-3-270m-Q4_K_M-GGUF`` as a GGUF q4_k_m for llama.cpp gives
``gemma-3-270m-gguf-q4_k_m``); tokens elsewhere in the family are kept and not repeated.
"""

from __future__ import annotations

import re

# llama.cpp quant tokens, the only names whose underscores carry meaning:
# Q4_K_M, IQ2_XS, Q8_0, Q4_0_4_4, MXFP4_MOE, with the UD- (dynamic) prefix.
_QUANT_TOKEN = re.compile(
    r"(?<![a-z0-9])((?:ud-)?i?q\d(?:_(?:k|m|s|l|xl|xs|xxs|nl|\d))*|mxfp4(?:_moe)?|bf16|f16|f32)(?![a-z0-9])",
    re.IGNORECASE,
)
_SEPARATORS = re.compile(r"[/_\s@:]+")
_DASHES = re.compile(r"-{2,}")


def normalize_name(text: str) -> str:
    """Lower-case ``text``; ``/``, ``_``, spaces, ``@`` and ``:`` become ``-``.

    Underscores inside quant tokens are kept (``Llama_3-Q6_K`` -> ``llama-3-q6_k``).
    """
    lowered = text.strip().lower()
    parts: list[str] = []
    position = 0
    for match in _QUANT_TOKEN.finditer(lowered):
        parts.append(_SEPARATORS.sub("-", lowered[position : match.start()]))
        parts.append(match.group(1))
        position = match.end()
    parts.append(_SEPARATORS.sub("-", lowered[position:]))
    return _DASHES.sub("-", "".join(parts)).strip("-")


def normalize_quant(quant: str | None) -> str | None:
    """Quant label in registry form: lower case, underscores kept, spaces to ``-``."""
    if not quant:
        return None
    return _DASHES.sub("-", re.sub(r"[\s/]+", "-", quant.strip().lower())).strip("-") or None


def family_from_repo(repo_id: str, branch: str | None = None) -> str:
    """The family of a Hub repo: its tail, plus ``@branch`` (``owner/Repo@dev`` -> ``repo-dev``)."""
    tail = repo_id.rstrip("/").rsplit("/", 1)[-1]
    return normalize_name(f"{tail}@{branch}" if branch else tail)


def split_quant(text: str) -> tuple[str, str | None]:
    """Pull the last llama.cpp quant token out of a name: ``7b-instruct-q4_K_M`` -> (``7b-instruct``, ``q4_k_m``)."""
    matches = list(_QUANT_TOKEN.finditer(text))
    if not matches:
        return text, None
    last = matches[-1]
    rest = (text[: last.start()] + text[last.end() :]).strip("-_: ")
    return _DASHES.sub("-", rest), last.group(1).lower()


def trim_family(family: str, *labels: str | None) -> str:
    """``family`` without trailing tokens that ``labels`` (format, quant, backend) state
    again: ``gemma-3-270m-q4_k_m-gguf`` with ``gguf``/``q4_k_m`` -> ``gemma-3-270m``.

    Repo names often end in their format and quant; the variant name appends those
    anyway, so keeping them in the family would say everything twice.
    """
    redundant = {normalize_name(label) for label in labels if label}
    tokens = normalize_name(family).split("-")
    while len(tokens) > 1 and tokens[-1] in redundant:
        tokens.pop()
    return "-".join(tokens)


def variant_name(family: str, backend: str, format_type: str | None, quant: str | None) -> str:
    """``<family>-<backend>[-<format>][-<quant>]`` with redundant parts left out."""
    backend_part = normalize_name(backend or "unassigned")
    format_part = normalize_name(format_type) if format_type else ""
    quant_part = normalize_quant(quant) or ""
    family_part = trim_family(family, format_part, quant_part)
    family_tokens = set(family_part.split("-"))
    if format_part == backend_part or format_part in family_tokens:
        format_part = ""
    if quant_part in {format_part, backend_part, normalize_name(format_type or "")} or quant_part in family_tokens:
        quant_part = ""
    return "-".join(part for part in (family_part, backend_part, format_part, quant_part) if part)


def display_name(family: str, quant: str | None = None, format_type: str | None = None) -> str:
    """Human form: ``llama-12.2b`` + ``q4_k_m`` -> ``llama 12.2b (Q4 K M)``."""
    label = normalize_quant(quant)
    base = trim_family(family, label, format_type)
    words = base.replace("-", " ")
    if not label or label in base.split("-"):
        return words
    return f"{words} ({label.upper().replace('_', ' ').replace('-', ' ')})"


def slug(family: str, quant: str | None = None, format_type: str | None = None) -> str:
    """Short stable label without backend or format: ``llama-12.2b-q4_k_m``."""
    label = normalize_quant(quant)
    base = trim_family(family, label, format_type)
    if not label or label in base.split("-"):
        return base
    return f"{base}-{label}"


def ollama_family_and_quant(model: str) -> tuple[str, str | None]:
    """Strategy A for Ollama ``<name>:<tag>``: family from name and tag, quant from the tag.

    ``qwen2.5:7b-instruct-q4_K_M`` -> (``qwen2.5-7b-instruct``, ``q4_k_m``);
    ``llama3:latest`` -> (``llama3``, None). A user namespace stays in the family
    (``someuser/llama3:8b`` -> ``someuser-llama3-8b``, another model than ``llama3:8b``);
    Ollama's own ``library`` namespace and a registry host do not, and a Hugging Face
    repo (``hf.co/<owner>/<repo>``) is named by its repo as a Hub download is.
    """
    name, tag = _split_tag(model)
    parts = [p for p in name.split("/") if p]
    host = parts.pop(0).lower() if len(parts) > 2 or (len(parts) == 2 and is_registry_host(parts[0])) else None
    if host in HUB_HOSTS or len(parts) < 2 or parts[0].lower() == "library":
        name = parts[-1] if parts else name
    else:
        name = "-".join(parts[-2:])
    rest, quant = split_quant(tag) if tag else ("", None)
    parts = [name] + ([rest] if rest and rest != "latest" else [])
    return normalize_name("-".join(parts)), quant


HUB_HOSTS = frozenset({"hf.co", "huggingface.co"})


def is_registry_host(part: str) -> bool:
    """Whether the first part of an Ollama name is a registry host (``hf.co``, ``localhost:5000``)."""
    return "." in part or ":" in part or part == "localhost"


def _split_tag(model: str) -> tuple[str, str]:
    """``name:tag`` -> (name, tag); a ``:`` before the last ``/`` is a host's port."""
    name, colon, tag = model.rpartition(":")
    if not colon or "/" in tag:
        return model, ""
    return name, tag


def default_backend(format_type: str | None) -> str:
    """The serving stack a format implies when none is given: ``gguf`` (llama.cpp, LM
    Studio) for GGUF weights, ``vllm`` for tensor formats (guide 15: scan -> vllm)."""
    return "gguf" if format_type == "gguf" else "vllm"
