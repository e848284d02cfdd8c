"""Combine the detector plugins' answers into one ranked list of format/quant candidates.

Every detector comes from the plugin host (``imageworks_register_detectors``); this
module never imports a plugin. Each detector's first result is its answer, the rest are
its alternatives. The answers are ranked by trust (header > config > name), then by
confidence, and merged into a primary candidate:

- format: ``gguf`` when a header or a ``.gguf`` file name says so (DESIGN.md 5: any GGUF
  weights make the model GGUF); otherwise the best-ranked format, where a named method
  (``awq``, ``gptq``, ``exl2``, ``bnb``, ``mlx``) refines a bare container
  (``safetensors``, ``pytorch``) unless a header found unquantised float weights;
- quantisation: the best-ranked value that applies to that format. An AWQ model's
  quantisation is ``awq`` (the guide's own vocabulary: its jq filter
  ``test("awq"; "i")`` and its variant ``mistral-7b-instruct-vllm-awq``); the bits/group
  descriptor (``w4g128``) goes to ``details["quant_scheme"]``, which recording keeps as
  ``metadata.quant_scheme``.

What disagrees with the primary is returned after it as alternatives, best first. A
detector that raises is logged and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from imageworks.core.disk_inventory import list_files
from imageworks.core.interfaces import Detector
from imageworks.core.model import Detection, DetectionSubject, Trust

log = logging.getLogger("imageworks.detection")

TRUST_RANK: dict[Trust, int] = {"header": 0, "config": 1, "name": 2}
METHOD_FORMATS = frozenset({"awq", "gptq", "exl2", "exl3", "bnb", "mlx"})
CONTAINERS = frozenset({"safetensors", "pytorch"})
PLAIN_FLOATS = frozenset({"fp16", "bf16", "fp32", "fp64"})
#: Formats whose quantisation is recorded by the method's name, the descriptor beside it.
NAMED_QUANT_FORMATS = frozenset({"awq"})


def list_model_files(directory: str | Path, max_depth: int = 3) -> list[str]:
    """Relative POSIX paths of the files under ``directory`` (tool folders and transfer
    leftovers skipped), sorted; the same listing the inventory takes."""
    return list_files(Path(directory), max_depth=max_depth)


def _rank(detection: Detection) -> tuple[int, float]:
    return TRUST_RANK.get(detection.trust, len(TRUST_RANK)), -detection.confidence


def run_detectors(subject: DetectionSubject, detectors: Iterable[Detector]) -> list[list[Detection]]:
    """Each detector's results, in the order it gave them; failures logged and skipped."""
    results = []
    for detector in detectors:
        try:
            found = list(detector.detect(subject) or [])
        except Exception:  # a plugin's bug must never stop detection
            log.warning("detector %r failed; skipped", getattr(detector, "name", detector), exc_info=True)
            continue
        stamped = [
            attrs.evolve(d, detector=d.detector or detector.name, trust=detector.trust)
            for d in found
            if isinstance(d, Detection)
        ]
        if stamped:
            results.append(stamped)
    return results


def _is_gguf_file_evidence(d: Detection) -> bool:
    return d.format_type == "gguf" and (d.trust == "header" or bool(d.details.get("from_files")))


def _choose_format(answers: list[Detection]) -> str | None:
    if any(_is_gguf_file_evidence(d) for d in answers):
        return "gguf"
    fmt: str | None = None
    float_header = False
    for d in answers:
        if d.format_type is None:
            continue
        if fmt is None:
            fmt = d.format_type
            float_header = d.trust == "header" and d.quantization in PLAIN_FLOATS
        elif fmt in CONTAINERS and d.format_type in METHOD_FORMATS and not float_header:
            fmt = d.format_type
    return fmt


def _applies(d: Detection, fmt: str | None) -> bool:
    """Whether ``d``'s quantisation can describe a model of format ``fmt``."""
    if fmt == "gguf" or d.format_type == "gguf":
        return d.format_type == fmt
    if fmt in METHOD_FORMATS and d.quantization in PLAIN_FLOATS:
        return False  # the dtype of an AWQ/GPTQ config is the activations', not the weights'
    if d.format_type is None or fmt is None or d.format_type == fmt:
        return True
    return d.format_type in CONTAINERS or fmt in CONTAINERS


def _agrees(d: Detection, fmt: str | None, quant: str | None) -> bool:
    return _applies(d, fmt) and d.quantization in (None, quant)


def combine(groups: Sequence[Sequence[Detection]]) -> list[Detection]:
    """Merge per-detector results into candidates, best first (see the module docstring)."""
    answers = sorted((g[0] for g in groups if g), key=_rank)
    if not answers:
        return []
    fmt = _choose_format(answers)
    quant = next((d.quantization for d in answers if d.quantization and _applies(d, fmt)), None)
    agreeing = [d for d in answers if _agrees(d, fmt, quant)]
    if not agreeing:
        agreeing = answers[:1]
    miss = 1.0
    for d in agreeing:
        miss *= 1.0 - max(0.0, min(d.confidence, 0.99))
    details: dict[str, object] = {d.detector: d.details for d in agreeing}
    named = quant
    if fmt in NAMED_QUANT_FORMATS:
        named = fmt
        if quant and quant != fmt:
            details["quant_scheme"] = quant
    primary = Detection(
        format_type=fmt,
        quantization=named,
        confidence=round(min(0.99, 1.0 - miss), 3),
        evidence=tuple(f"[{d.trust}] {line}" for d in agreeing for line in d.evidence),
        detector="+".join(dict.fromkeys(d.detector for d in agreeing)),
        trust=agreeing[0].trust,
        details=details,
    )
    others = sorted((d for g in groups for d in g if d not in agreeing), key=_rank)
    seen = {(fmt, quant), (fmt, named)}
    alternatives = []
    for d in others:
        key = (d.format_type, d.quantization)
        if key in seen or d.format_type is None:
            continue
        seen.add(key)
        alternatives.append(d)
    return [primary, *alternatives]


def detect(subject: DetectionSubject, detectors: Iterable[Detector]) -> list[Detection]:
    """Run ``detectors`` (usually ``PluginHost.detectors()``) on ``subject``; candidates best first."""
    return combine(run_detectors(subject, detectors))


class FormatDetector:
    """The guide's analyser (section 9.3): format and quantisation with their evidence."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self._detectors = list(detectors)

    def detect_comprehensive(
        self,
        model_name: str | None = None,
        filenames: Iterable[str] | None = None,
        config_content: str | None = None,
    ) -> list[Detection]:
        """Candidates from a model id, its file names and its config.json text, best first."""
        subject = DetectionSubject(
            model_name=model_name, filenames=tuple(filenames or ()), config_content=config_content
        )
        return detect(subject, self._detectors)

    def detect_directory(
        self, path: str | Path, model_name: str | None = None, files: Sequence[str] | None = None
    ) -> list[Detection]:
        """Candidates for a model folder on disk: headers, configs and names together.

        ``files`` limits detection to those relative paths (one entry's files in a folder
        it shares, such as one of two GGUF quants).
        """
        root = Path(path)
        names = list_model_files(root)
        if files is not None:
            wanted = set(files)
            names = [n for n in names if n in wanted]
        subject = DetectionSubject(
            model_name=model_name or f"{root.parent.name}/{root.name}",
            filenames=tuple(names),
            directory=str(root),
        )
        return detect(subject, self._detectors)
