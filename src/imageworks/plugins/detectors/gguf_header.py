"""GGUF header detector: the file type, architecture and size a GGUF file declares.

Reads every ``.gguf`` file of a model folder with the lazy reader in
:mod:`imageworks.formats.gguf_reader` (kilobytes to a few megabytes, never tensor data). Split models
(``name-00001-of-00003.gguf``) count as one model: metadata comes from the first shard
and the parameter count sums every shard's tensor table. Vision projectors
(``mmproj-*.gguf``) are reported in the evidence but never decide the quantisation.
A damaged or mislabelled file is logged and skipped, so other evidence takes over.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Detector
from imageworks.core.model import Detection, DetectionSubject
from imageworks.plugins.detectors._files import list_files

if TYPE_CHECKING:  # the reader loads when a header is read, not at every start
    from imageworks.formats.gguf_reader import GGUFHeader

log = logging.getLogger("imageworks.detection.gguf")

SPLIT_RE = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


def model_groups(filenames: Iterable[str]) -> dict[str, list[str]]:
    """GGUF files grouped by model: split shards share one key, sorted by shard number."""
    groups: dict[str, list[str]] = {}
    for name in filenames:
        if not name.lower().endswith(".gguf"):
            continue
        key = SPLIT_RE.sub(".gguf", name)
        groups.setdefault(key, []).append(name)
    return {key: sorted(names) for key, names in sorted(groups.items())}


def is_projector(name: str, header: GGUFHeader | None = None) -> bool:
    """True for multimodal projector files (mmproj), which are not the language model."""
    if Path(name).name.lower().startswith("mmproj"):
        return True
    return header is not None and (
        header.fields.get("general.type") == "mmproj" or header.fields.get("general.architecture") == "clip"
    )


class GGUFHeaderDetector(Detector):
    """Reads GGUF key/value headers of the ``.gguf`` files in a model folder."""

    name = "gguf-header"
    trust = "header"

    def detect(self, subject: DetectionSubject) -> list[Detection]:
        """One detection per GGUF model in ``subject.directory`` (projectors excluded)."""
        if not subject.directory:
            return []
        root = Path(subject.directory)
        names = subject.filenames or tuple(list_files(root))
        found: list[Detection] = []
        for key, shards in model_groups(names).items():
            detection = self._detect_model(root, key, shards)
            if detection is not None:
                found.append(detection)
        models = [d for d in found if not d.details.get("projector")] or found
        quants = sorted({d.quantization for d in models if d.quantization})
        if len(quants) > 1:
            summary = Detection(
                format_type="gguf",
                quantization=None,
                confidence=0.9,
                evidence=(f"{len(models)} GGUF models with different file types: {', '.join(quants)}",),
                detector=self.name,
                trust=self.trust,
                details={"quantizations": quants},
            )
            return [summary, *models]
        return models

    def _detect_model(self, root: Path, key: str, shards: list[str]) -> Detection | None:
        from imageworks.formats.gguf_facts import describe
        from imageworks.formats.gguf_reader import GGUFFormatError, read_header

        headers: list[GGUFHeader] = []
        for shard in shards:
            try:
                headers.append(read_header(root / shard))
            except (GGUFFormatError, OSError) as error:
                log.warning("%s: cannot read GGUF header (%s); using other evidence", root / shard, error)
                return None
        first = headers[0]
        facts = describe(first)
        facts["parameter_count"] = sum(h.parameter_count for h in headers)
        facts["files"] = shards
        facts["header_bytes_read"] = sum(h.bytes_read for h in headers)
        projector = is_projector(key, first)
        facts["projector"] = projector
        quant = facts["quantization"]
        evidence = [
            f"{shards[0]}: GGUF v{first.version} header"
            + (f", general.file_type={facts['file_type']} ({quant})" if facts["file_type"] is not None else "")
        ]
        if facts["file_type"] is None and quant:
            evidence.append(f"{shards[0]}: no general.file_type; most weights are {quant}")
        if facts["architecture"]:
            evidence.append(f"architecture {facts['architecture']}, size {facts['size_label'] or '?'}, "
                            f"{facts['parameter_count']:,} parameters")
        if len(shards) > 1:
            evidence.append(f"split model: {len(shards)} shards counted as one")
        evidence.append("chat template embedded" if facts["chat_template"] else "no chat template in header")
        if projector:
            evidence.append("multimodal projector (mmproj), not the language model")
        return Detection(
            format_type="gguf",
            quantization=quant,
            confidence=0.6 if projector else (0.99 if facts["file_type"] is not None else 0.8),
            evidence=tuple(evidence),
            detector=self.name,
            trust=self.trust,
            details=facts,
        )


@hookimpl
def imageworks_register_detectors() -> list[Detector]:
    """Register the GGUF header detector."""
    return [GGUFHeaderDetector()]
