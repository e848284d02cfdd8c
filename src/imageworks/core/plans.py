"""What acquiring a model is made of, as values: the request, a source's plan, the result.

A :class:`~imageworks.core.interfaces.Source` turns an identifier and an
:class:`AcquireRequest` into an :class:`Acquisition` (what to fetch, from where, what it
is); :mod:`imageworks.services.acquire.acquisition` routes it to a folder (an
:class:`AcquisitionPlan`), moves the bytes with the shared transfer engines, detects,
captures the README and records. Nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from imageworks.core.model import Detection, RegistryEntry, Route
from imageworks.core.source_inputs import AcquireRequest as AcquireRequest  # re-exported, as they always were
from imageworks.core.source_inputs import Chooser as Chooser
from imageworks.core.source_inputs import SourceContext as SourceContext
from imageworks.core.source_inputs import string_tuple

if TYPE_CHECKING:
    from imageworks.core.memory_facts import HeaderFacts  # what an analysis carries; the no-op re-run needs none
    from imageworks.core.transfers import RemoteFile  # imageworks.transfer imports requests: only when transferring


# Typed stand-ins for ``converter=tuple``: mypy's attrs plugin cannot solve the generic
# ``tuple`` there, so it would reject every argument passed to these fields.
def _remote_files(values: Iterable[RemoteFile]) -> tuple[RemoteFile, ...]:
    return tuple(values)


def _file_facts(values: Iterable[RemoteFileFact]) -> tuple[RemoteFileFact, ...]:
    return tuple(values)


def _header_facts(values: Iterable[HeaderFacts]) -> tuple[HeaderFacts, ...]:
    return tuple(values)


def _detections(values: Iterable[Detection]) -> tuple[Detection, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class Acquisition:
    """What a source decided for one identifier, before any byte moves.

    ``model_id`` (``owner/repo`` or ``host/name``) and ``branch`` name the folder
    ``<root>/<model_id>[@branch]``; ``hf_id`` is what the entry records as its Hub id
    (None for other sources). ``files`` are fetched by the shared engines and verified by
    their sha256 (else git blob id, else size); a source that fetches by itself
    (:meth:`Source.acquire`) leaves them empty. ``token`` goes only into the transfer's
    ``Authorization`` header for the files' origin. ``details`` are extra facts for
    ``--dry-run --json`` (commit, chosen quant, skipped files, ...); a source without
    files may put a one-line ``summary`` there, which ``--dry-run`` prints instead of a
    file table.
    """

    source: str
    display: str
    model_id: str
    branch: str | None = None
    hf_id: str | None = None
    files: tuple[RemoteFile, ...] = attrs.field(default=(), converter=_remote_files)
    token: str | None = attrs.field(default=None, repr=False)
    format_type: str | None = None
    quantization: str | None = None
    revision: str | None = None
    backend: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def total_size(self) -> int:
        """Bytes of every file to fetch."""
        return sum(f.size for f in self.files)


@attrs.frozen(kw_only=True)
class AcquisitionPlan:
    """An acquisition with its destination: the route and the target folder."""

    acquisition: Acquisition
    route: Route | None = None
    target: Path | None = None

    def present(self, file: RemoteFile) -> bool:
        """Whether ``file`` is already in the target with its announced size (not hashed)."""
        if self.target is None:
            return False
        path = self.target / file.relative_path
        try:
            return path.is_file() and path.stat().st_size == file.size
        except OSError:
            return False

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``download --dry-run --json``."""
        acquisition = self.acquisition
        rows = [(f, self.present(f)) for f in acquisition.files]
        needed = [f for f, present in rows if not present]
        return {
            "model": acquisition.display,
            "source": acquisition.source,
            "commit": acquisition.revision,
            "target": str(self.target) if self.target else None,
            "location": self.route.label if self.route else None,
            "format": acquisition.format_type,
            "files": [f.relative_path for f, _ in rows],
            "total_size": acquisition.total_size,
            "will_download": {"files": len(needed), "bytes": sum(f.size for f in needed)},
            "file_table": [{"path": f.relative_path, "size": f.size, "present": p} for f, p in rows],
            **acquisition.details,
        }


@attrs.frozen(kw_only=True)
class AcquireResult:
    """The recorded entry, and whether nothing was fetched because it was already complete."""

    entry: RegistryEntry
    plan: AcquisitionPlan | None = None
    skipped: bool = False


@attrs.frozen(kw_only=True)
class RemoteFileFact:
    """One file a source offers: path, size, digest and whether it holds weights (a choice
    for ``download --weights``), as ``analyze --files`` lists them."""

    path: str
    size: int
    sha256: str | None = None
    weight: bool = False


@attrs.frozen(kw_only=True)
class SourceAnalysis:
    """What a model offers without downloading it (``analyze``).

    ``quant_files`` maps each GGUF quant offered to its files (split parts together), the
    ``--weights`` that choose it; ``quantizations`` are its keys unless given (a source
    that knows the quants but not their files). ``memory`` has one item per model file
    set, empty when the context said not to read headers.
    """

    display: str
    revision: str | None = None
    gated: bool = False
    files: tuple[RemoteFileFact, ...] = attrs.field(default=(), converter=_file_facts)
    formats: tuple[Detection, ...] = attrs.field(default=(), converter=_detections)
    quant_files: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    quantizations: tuple[str, ...] = attrs.field(converter=string_tuple)
    details: Mapping[str, Any] = attrs.field(factory=dict)
    memory: tuple[HeaderFacts, ...] = attrs.field(default=(), converter=_header_facts)

    @quantizations.default
    def _quants_of_files(self) -> tuple[str, ...]:
        return tuple(self.quant_files)

    @property
    def total_size(self) -> int:
        """Bytes of every file offered."""
        return sum(f.size for f in self.files)

    def as_json(self, with_files: bool = False) -> dict[str, Any]:
        """Plain data for ``analyze --json``, but for ``memory``: the estimate's figures are
        the memory service's (:func:`imageworks.services.memory.estimate.analysis_json`)."""
        data: dict[str, Any] = {
            **self.details,
            "commit": self.revision,
            "gated": self.gated,
            "total_size": self.total_size,
            "files_count": len(self.files),
            "formats": [
                {"format_type": d.format_type, "quantization": d.quantization, "confidence": d.confidence,
                 "evidence": list(d.evidence)}
                for d in self.formats
            ],
            "gguf_quants": list(self.quantizations),
            "gguf_quant_files": {quant: list(files) for quant, files in self.quant_files.items()},
        }
        if with_files:
            data["files"] = [{"path": f.path, "size": f.size, "sha256": f.sha256, "weight": f.weight} for f in self.files]
        return data
