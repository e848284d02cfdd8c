"""Acquiring a model through a source: the machinery every source gets for free.

``download ID`` runs :func:`plan_acquisition` then :func:`acquire`:

source.plan (resolve, choose files) -> route (the router plugins) -> target folder
-> registry preflight -> one download per target folder (a lock) -> already complete?
-> transfer with the shared engines (free-space check, multi-stream, resume, sha256 as
bytes arrive) -> second-pass detection on disk -> README, licence and chat template
-> :func:`~imageworks.services.acquire.recording.record_download` -> the provenance record in the
folder (:mod:`imageworks.services.acquire.provenance`).

Nothing is recorded until every file is verified. A source that fetches by itself
(:meth:`Source.acquire`, e.g. an Ollama pull) keeps the preflight and the recording
policy and skips the transfer.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from imageworks.core.config import Config
from imageworks.core.detection import FormatDetector
from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import Source
from imageworks.core.model import EntryMetadata, RegistryEntry, RouteRequest
from imageworks.core.naming import default_backend
from imageworks.core.plans import AcquireRequest, AcquireResult, AcquisitionPlan, SourceContext
from imageworks.core.routing import resolve_route, target_directory
from imageworks.core.transfers import ProgressCallback, TransferJob
from imageworks.services.acquire.chat_template import chat_template_status
from imageworks.services.acquire.provenance import write_provenance
from imageworks.services.acquire.readme import capture_readme
from imageworks.services.acquire.recording import record_download

log = logging.getLogger("imageworks.download")


def plan_acquisition(source: Source, identifier: str, request: AcquireRequest, context: SourceContext) -> AcquisitionPlan:
    """Ask ``source`` what to fetch and decide where it goes; writes nothing."""
    acquisition = source.plan(identifier, request, context)
    if not acquisition.files:
        return AcquisitionPlan(acquisition=acquisition)
    route = resolve_route(
        RouteRequest(
            model_id=acquisition.model_id, format_type=acquisition.format_type, branch=acquisition.branch,
            location=request.location,
        ),
        context.config,
        context.plugins,
    )
    target = target_directory(route.root, acquisition.model_id, acquisition.branch)
    return AcquisitionPlan(acquisition=acquisition, route=route, target=target)


def acquire(
    source: Source,
    plan: AcquisitionPlan,
    request: AcquireRequest,
    context: SourceContext,
    progress: ProgressCallback | None = None,
) -> AcquireResult:
    """Fetch, verify, detect and record ``plan``.

    The registry must be writable before the first byte moves. One download per target
    folder at a time: a second run of the same model waits for the first (a lock file in
    the registry folder, not in the model folder), then finds it installed.
    """
    context.registry.check_writable()
    if plan.target is None:
        entry = source.acquire(plan, context, progress)
        if entry is None:
            raise ImageworksError(f"source {source.name!r} planned no files for {plan.acquisition.display}")
        return AcquireResult(entry=entry, plan=plan)
    with _target_lock(plan.target, context.config):
        existing = already_installed(plan, context)
        if existing is not None and not request.force:
            return AcquireResult(entry=existing, plan=plan, skipped=True)
        entry = source.acquire(plan, context, progress) or _transfer_and_record(plan, request, context, progress)
    return AcquireResult(entry=entry, plan=plan)


def already_installed(plan: AcquisitionPlan, context: SourceContext) -> RegistryEntry | None:
    """The entry of a complete earlier download of the same files into the same folder."""
    assert plan.target is not None
    target = os.path.normpath(plan.target)
    for entry in context.registry.entries():
        if entry.download_path and os.path.normpath(entry.download_path) == target:
            recorded = {a.path: a for a in entry.artifacts.files}
            complete = all(
                plan.present(f)
                and f.relative_path in recorded
                and (f.sha256 is None or recorded[f.relative_path].sha256 == f.sha256)
                for f in plan.acquisition.files
            )
            if complete:
                return entry
    return None


@contextlib.contextmanager
def _target_lock(target: Path, config: Config) -> Iterator[None]:
    from imageworks.services.locks import FileLock, LockTimeout

    key = hashlib.sha256(str(target.absolute()).encode()).hexdigest()[:32]
    path = config.registry_dir / "locks" / f"{key}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(path)
        try:
            lock.acquire(timeout=0)
        except LockTimeout:
            log.warning("another download into %s is running; waiting for it", target)
            lock.acquire()
    except OSError as error:
        raise ImageworksError(f"cannot lock {path}: {error.strerror or error}", "check IMAGEWORKS_REGISTRY_DIR") from error
    try:
        yield
    finally:
        lock.release()


def _transfer_and_record(
    plan: AcquisitionPlan, request: AcquireRequest, context: SourceContext, progress: ProgressCallback | None
) -> RegistryEntry:
    from imageworks.transfer import select_engine

    acquisition, config = plan.acquisition, context.config
    assert plan.target is not None and plan.route is not None
    engine = select_engine(request.engine or config.transfer_engine)
    job = TransferJob(
        files=acquisition.files,
        target_dir=plan.target,
        token=acquisition.token,
        max_connections=config.max_connections,
        stall_timeout=config.stall_timeout,
        refetch=request.force,  # --force fetches again; the installed copies stay until the new ones verify
    )
    verified = engine.fetch(job, progress)
    known = {v.relative_path: v.sha256 for v in verified if v.sha256}
    names = [f.relative_path for f in acquisition.files]
    support = [str(name) for name in acquisition.details.get("support_files") or ()]
    # the main repo's files alone say what the weights are: a support repo's configs never do
    detections = FormatDetector(context.plugins.detectors()).detect_directory(
        plan.target, model_name=acquisition.display, files=[n for n in names if n not in set(support)]
    )
    best = detections[0] if detections else None
    format_type = (best.format_type if best else None) or request.format_hint or acquisition.format_type
    quant = (best.quantization if best else None) or acquisition.quantization
    readme = capture_readme(plan.target)
    metadata = EntryMetadata(
        readme_file=readme.get("readme_file"),
        readme_sha256=readme.get("readme_sha256"),
        readme_signals=readme.get("readme_signals") or {},
        license=readme.get("license"),
        chat_template=chat_template_status(plan.target, detections),
        detection_evidence=list(best.evidence) if best else [],
        quant_scheme=best.details.get("quant_scheme") if best else None,
        extra={"support_repo": acquisition.details.get("support_repo"), "support_files": support} if support else {},
    )
    entry = record_download(
        hf_id=acquisition.hf_id,
        backend=acquisition.backend or default_backend(format_type),
        format_type=format_type,
        quantization=quant,
        path=plan.target,
        location=plan.route.label,
        root=plan.route.root,
        files=names,
        family=None if acquisition.hf_id else _family_of(acquisition.model_id, acquisition.branch),
        source_provider=acquisition.source,
        metadata=metadata,
        known_digests=known,
        revision=acquisition.revision,
        registry=context.registry,
    )
    write_provenance(plan.target, entry)  # what a re-scan after purge-imported cannot see on disk
    return entry


def _family_of(model_id: str, branch: str | None) -> str:
    from imageworks.core.naming import family_from_repo

    return family_from_repo(model_id.rsplit("/", 1)[-1], branch)


__all__ = ["AcquireRequest", "AcquireResult", "AcquisitionPlan", "acquire", "already_installed", "plan_acquisition"]
