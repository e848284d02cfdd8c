"""Planning a Hub download: parse the id, read the repo, choose files (DESIGN.md section 6).

The Hugging Face source's part of ``download`` (guide 9.1): resolve the branch to a
commit, read file names, sizes and LFS sha256, choose the files (format, GGUF quant,
``--weights``, ``--include-optional``, ``--support-repo``), refuse hostile names and
empty weights, and hand the core an :class:`~imageworks.core.plans.Acquisition` whose
URLs all point at that one commit. The core routes, transfers, verifies and records.
"""

from __future__ import annotations

from imageworks.core.detection import FormatDetector
from imageworks.core.errors import ImageworksError
from imageworks.core.plans import AcquireRequest, Acquisition, SourceContext
from imageworks.core.transfers import RemoteFile
from imageworks.providers.huggingface.hub_token import hub_token
from imageworks.providers.huggingface.metadata import RepoFile, RepoSnapshot, fetch_snapshot, resolve_url
from imageworks.providers.huggingface.refs import ModelRef, branch_of, parse_model_ref
from imageworks.providers.huggingface.selection import (
    GGUF_PREFERENCE,
    QuantChooser,
    Selection,
    choose_files,
    container_of,
    is_optional,
)
from imageworks.transfer.safety import safe_relative_path

#: A support repo's quantisation configs describe its own weights, not the main repo's:
#: never copied (vLLM would read them beside our weights). The config-files detector's list.
QUANT_SIDE_FILES = frozenset({"quant_config.json", "quantize_config.json", "quantization_config.json"})


def plan_hub_download(identifier: str, request: AcquireRequest, context: SourceContext) -> Acquisition:
    """Resolve ``identifier`` on the Hub and choose what to fetch; writes nothing."""
    config = context.config
    ref = parse_model_ref(identifier, config.hf_endpoint)
    token = hub_token()
    snapshot = fetch_snapshot(ref, config.hf_endpoint, token)
    if not snapshot.files:
        raise ImageworksError(f"{ref.display} has no files on the Hub", "check the name and revision; nothing was downloaded")
    weights = request.weights
    if ref.filename and not weights and container_of(ref.filename):
        weights = (ref.filename,)
    if ref.filename and not container_of(ref.filename):
        selection = _single_file(snapshot, ref.filename)  # a /blob/ or /resolve/ URL of one non-weight file
    else:
        selection = choose_files(
            snapshot,
            format_hint=request.format_hint,
            preferred_formats=config.preferred_formats,
            weights=weights,
            include_optional=request.include_optional,
            choose_quant=_quant_chooser(context) if not request.non_interactive else None,
        )
    support: list[tuple[RepoSnapshot, RepoFile]] = []
    if request.support_repo:
        support_snapshot = fetch_snapshot(parse_model_ref(request.support_repo, config.hf_endpoint), config.hf_endpoint, token)
        have = {f.path for f in selection.files}
        support = [
            (support_snapshot, f) for f in support_snapshot.files
            if container_of(f.path) is None and not is_optional(f) and f.path not in have
            and f.path.rsplit("/", 1)[-1] not in QUANT_SIDE_FILES
        ]
    names = [f.path for f in selection.files]
    for name in names + [f.path for _, f in support]:
        safe_relative_path(name)  # hostile names stop here, before any path is built from them
    _refuse_empty(ref, selection)
    first_pass = FormatDetector(context.plugins.detectors()).detect_comprehensive(model_name=ref.display, filenames=names)
    format_type = selection.weight_format if selection.weight_format == "gguf" else (
        (first_pass[0].format_type if first_pass else None) or selection.weight_format
    )
    files = [(snapshot, f) for f in selection.files] + support
    branch = branch_of(ref)
    return Acquisition(
        source="huggingface",
        display=ref.display,
        model_id=ref.repo_id,
        branch=branch,
        hf_id=ref.display if branch else ref.repo_id,
        files=tuple(
            RemoteFile(
                url=resolve_url(config.hf_endpoint, snap, f.path), relative_path=f.path, size=f.size,
                sha256=f.sha256, git_blob_id=None if f.sha256 else f.blob_id,
            )
            for snap, f in files
        ),
        token=token,
        format_type=format_type,
        quantization=selection.gguf_quant,
        revision=snapshot.commit,
        details={
            "commit": snapshot.commit,
            "format": selection.weight_format,
            "gguf_quant": selection.gguf_quant,
            "skipped": list(selection.skipped),
            "repo_files": len(snapshot.files) + len({f.path for _, f in support}),
            **({"support_repo": request.support_repo, "support_files": [f.path for _, f in support]} if support else {}),
        },
    )


def _quant_chooser(context: SourceContext) -> QuantChooser | None:
    choose = context.choose
    if choose is None:
        return None

    def ask(quants: list[str]) -> str:
        default = next((q for q in GGUF_PREFERENCE if q in quants), quants[0])
        return choose("Several GGUF quantisations; which one?", quants, default)

    return ask


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
