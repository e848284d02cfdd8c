"""The download pipeline (DESIGN.md section 6, guide 9.1).

parse -> repository metadata -> choose files -> route -> target folder -> transfer
(the Python engine by default, aria2c on request; both check free space first, resume,
and verify sha256)
-> second-pass detection on disk -> README, licence and chat template -> record in the
registry. Nothing is recorded until every file is verified; a repeated download of a
complete installation is a fast no-op unless ``force``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs

from imageworks.core.chat_template import chat_template_status
from imageworks.core.config import Config
from imageworks.core.detection import FormatDetector
from imageworks.core.errors import ImageworksError
from imageworks.core.model import EntryMetadata, RegistryEntry, Route, RouteRequest
from imageworks.core.naming import default_backend
from imageworks.core.readme import capture_readme
from imageworks.core.registry import Registry
from imageworks.core.routing import resolve_route, target_directory
from imageworks.core.recording import record_download
from imageworks.providers.huggingface.metadata import RepoFile, RepoSnapshot, fetch_snapshot, hf_token, resolve_url
from imageworks.providers.huggingface.refs import ModelRef, parse_model_ref
from imageworks.providers.huggingface.selection import QuantChooser, Selection, choose_files, container_of, is_optional
from imageworks.transfer import ProgressCallback, RemoteFile, TransferJob, select_engine
from imageworks.transfer.safety import safe_relative_path

log = logging.getLogger("imageworks.download")


@attrs.frozen
class DownloadOptions:
    """The flags of ``download`` (guide 6.1, 7.1)."""

    format_hint: str | None = None
    location: str | None = None
    include_optional: bool = False
    weights: tuple[str, ...] = ()
    support_repo: str | None = None
    force: bool = False
    non_interactive: bool = False
    engine: str | None = None  # "python" or "aria2"; None: config's transfer_engine


@attrs.frozen
class DownloadPlan:
    """Everything decided before the first byte moves."""

    ref: ModelRef
    snapshot: RepoSnapshot
    selection: Selection
    support: tuple[tuple[RepoSnapshot, RepoFile], ...]
    route: Route
    target: Path

    @property
    def total_size(self) -> int:
        """Bytes to fetch, support files included."""
        return self.selection.total_size + sum(f.size for _, f in self.support)

    def files(self) -> list[RepoFile]:
        """Every file of the plan, the support repo's included, in download order."""
        return [*self.selection.files, *(f for _, f in self.support)]

    def present(self, file: RepoFile) -> bool:
        """Whether ``file`` is already in the target with its announced size (not hashed)."""
        path = self.target / file.path
        try:
            return path.is_file() and path.stat().st_size == file.size
        except OSError:
            return False


@attrs.frozen
class DownloadResult:
    """The recorded entry, and whether the download was skipped as already complete."""

    entry: RegistryEntry
    plan: DownloadPlan
    skipped: bool = False


def _branch(ref: ModelRef) -> str | None:
    return ref.revision if ref.revision and ref.revision != "main" else None


def plan_download(
    model: str, options: DownloadOptions, config: Config, choose_quant: QuantChooser | None = None
) -> DownloadPlan:
    """Resolve the model, choose files and a destination; writes nothing."""
    ref = parse_model_ref(model, config.hf_endpoint)
    token = hf_token()
    snapshot = fetch_snapshot(ref, config.hf_endpoint, token)
    if not snapshot.files:
        raise ImageworksError(f"{ref.display} has no files on the Hub", "check the name and revision; nothing was downloaded")
    weights = options.weights
    if ref.filename and not weights and container_of(ref.filename):
        weights = (ref.filename,)
    if ref.filename and not container_of(ref.filename):
        selection = _single_file(snapshot, ref.filename)  # a /blob/ or /resolve/ URL of one non-weight file
    else:
        selection = choose_files(
            snapshot,
            format_hint=options.format_hint,
            preferred_formats=config.preferred_formats,
            weights=weights,
            include_optional=options.include_optional,
            choose_quant=None if options.non_interactive else choose_quant,
        )
    support: list[tuple[RepoSnapshot, RepoFile]] = []
    if options.support_repo:
        support_snapshot = fetch_snapshot(parse_model_ref(options.support_repo, config.hf_endpoint), config.hf_endpoint, token)
        have = {f.path for f in selection.files}
        support = [
            (support_snapshot, f) for f in support_snapshot.files
            if container_of(f.path) is None and not is_optional(f) and f.path not in have
        ]
    names = [f.path for f in selection.files]
    for name in names + [f.path for _, f in support]:
        safe_relative_path(name)  # hostile names stop here, before any path is built from them
    _refuse_empty(ref, selection)
    first_pass = FormatDetector().detect_comprehensive(model_name=ref.display, filenames=names)
    format_type = selection.weight_format if selection.weight_format == "gguf" else (
        (first_pass[0].format_type if first_pass else None) or selection.weight_format
    )
    route = resolve_route(
        RouteRequest(model_id=ref.repo_id, format_type=format_type, branch=_branch(ref), location=options.location), config
    )
    target = target_directory(route.root, ref.repo_id, _branch(ref))
    return DownloadPlan(ref=ref, snapshot=snapshot, selection=selection, support=tuple(support), route=route, target=target)


def _single_file(snapshot: RepoSnapshot, path: str) -> Selection:
    file = snapshot.file(path)
    if file is None:
        raise ImageworksError(f"{snapshot.repo_id} has no file {path!r} at {snapshot.commit[:12]}")
    return Selection(files=(file,), weight_format=None)


def _refuse_empty(ref: ModelRef, selection: Selection) -> None:
    """Stop a download that would install nothing usable.

    Only weight containers (``.safetensors``, ``.bin``, ``.gguf``, ...) must hold bytes:
    ``.gitattributes``, an empty ``added_tokens.json`` or ``__init__.py`` are legitimately
    0 bytes on the Hub, while an empty weight file is a broken or unfinished upload.
    """
    if not selection.files:
        raise ImageworksError(
            f"{ref.display} has no files to download (every file is optional)", "add --include-optional to fetch them"
        )
    for file in selection.files:
        if file.size == 0 and container_of(file.path) is not None:
            raise ImageworksError(
                f"{file.path} is empty on the Hub (0 bytes) in {ref.display}",
                "the upload is broken or unfinished; try another revision or repo",
            )


def already_installed(plan: DownloadPlan, registry: Registry) -> RegistryEntry | None:
    """The entry of a complete earlier download of the same files into the same folder."""
    target = os.path.normpath(plan.target)
    for entry in registry.entries():
        if entry.download_path and os.path.normpath(entry.download_path) == target:
            recorded = {a.path: a for a in entry.artifacts.files}
            complete = all(
                (plan.target / f.path).is_file()
                and (plan.target / f.path).stat().st_size == f.size
                and f.path in recorded
                and (f.sha256 is None or recorded[f.path].sha256 == f.sha256)
                for f in plan.selection.files
            )
            if complete:
                return entry
    return None


def _job(files: Sequence[tuple[RepoSnapshot, RepoFile]], plan: DownloadPlan, config: Config, token: str | None) -> TransferJob:
    return TransferJob(
        files=[
            RemoteFile(
                url=resolve_url(config.hf_endpoint, snapshot, f.path), relative_path=f.path, size=f.size,
                sha256=f.sha256, git_blob_id=None if f.sha256 else f.blob_id,
            )
            for snapshot, f in files
        ],
        target_dir=plan.target,
        token=token,
        max_connections=config.max_connections,
        stall_timeout=config.stall_timeout,
    )


def run_download(
    plan: DownloadPlan, options: DownloadOptions, config: Config, progress: ProgressCallback | None = None
) -> DownloadResult:
    """Transfer, verify, detect and record ``plan``.

    One download per target folder at a time: a second run of the same model waits for
    the first (a lock file in the registry folder, not in the model folder), then finds
    the model installed and does nothing.
    """
    registry = Registry.open(config)
    registry.check_writable()  # a registry that cannot take the entry must fail before the transfer, not after
    with _target_lock(plan.target, config):
        return _run_download(plan, options, config, registry, progress)


@contextlib.contextmanager
def _target_lock(target: Path, config: Config) -> Iterator[None]:
    import filelock

    key = hashlib.sha256(str(target.absolute()).encode()).hexdigest()[:32]
    path = config.registry_dir / "locks" / f"{key}.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            log.warning("another download into %s is running; waiting for it", target)
            lock.acquire()
    except OSError as error:
        raise ImageworksError(f"cannot lock {path}: {error.strerror or error}", "check IMAGEWORKS_REGISTRY_DIR") from error
    try:
        yield
    finally:
        lock.release()


def _run_download(
    plan: DownloadPlan, options: DownloadOptions, config: Config, registry: Registry, progress: ProgressCallback | None
) -> DownloadResult:
    existing = already_installed(plan, registry)
    if existing is not None and not options.force:
        return DownloadResult(entry=existing, plan=plan, skipped=True)
    token = hf_token()
    engine = select_engine(options.engine or config.transfer_engine)
    files = [(plan.snapshot, f) for f in plan.selection.files] + list(plan.support)
    # --force fetches every file again; the installed copies stay until the new ones verify
    job = attrs.evolve(_job(files, plan, config, token), refetch=options.force)
    verified = engine.fetch(job, progress)
    known = {v.relative_path: v.sha256 for v in verified if v.sha256}

    detections = FormatDetector().detect_directory(
        plan.target, model_name=plan.ref.display, files=[f.path for f in plan.files()]
    )
    best = detections[0] if detections else None
    format_type = (best.format_type if best else None) or options.format_hint or plan.selection.weight_format
    quant = (best.quantization if best else None) or plan.selection.gguf_quant
    readme = capture_readme(plan.target)
    metadata = EntryMetadata(
        readme_file=readme.get("readme_file"),
        readme_sha256=readme.get("readme_sha256"),
        readme_signals=readme.get("readme_signals") or {},
        license=readme.get("license"),
        chat_template=chat_template_status(plan.target, detections),
        detection_evidence=list(best.evidence) if best else [],
    )
    entry = record_download(
        hf_id=plan.ref.display if _branch(plan.ref) else plan.ref.repo_id,
        backend=default_backend(format_type),
        format_type=format_type,
        quantization=quant,
        path=plan.target,
        location=plan.route.label,
        root=plan.route.root,
        files=[f.path for f in plan.files()],
        source_provider="huggingface",
        metadata=metadata,
        known_digests=known,
        revision=plan.snapshot.commit,
        registry=registry,
    )
    return DownloadResult(entry=entry, plan=plan)
