"""``imageworks-download download`` and ``analyze`` (guide 6.1, 7.1).

A built-in plugin (entry point ``cli-download``). It imports no provider: the plugin
host picks the source that handles the identifier (``PluginHost.source_for``) and the
core runs the acquisition (:mod:`imageworks.services.acquire.acquisition`).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import click

from imageworks.cli import _output as out
from imageworks.cli._choices import check_format
from imageworks.cli._memory import gpu_mem_option, serving_options
from imageworks.cli.context import AppContext
from imageworks.core.errors import ImageworksError, SourceOfflineError
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # imported by the commands when they run, not to build --help
    from imageworks.core.interfaces import Source
    from imageworks.core.model import RegistryEntry
    from imageworks.core.plans import AcquireRequest, AcquisitionPlan, SourceContext
    from imageworks.core.transfers import ProgressCallback, TransferProgress

pass_app = click.make_pass_decorator(AppContext)


@click.command("download")
@click.argument("model")
@click.option("--format", "format_hint", metavar="FORMAT", help="Weight format to fetch when the repo has several (gguf, awq, safetensors, ...); also the recorded format if detection finds none.")
@click.option("--location", metavar="LABEL|PATH", help="Store label (linux_wsl, windows_lmstudio, ...) or a folder used as the root.")
@click.option("--include-optional", is_flag=True, help="Also fetch extras (onnx/, original/, images, training files).")
@click.option("--weights", metavar="FILES", help="Comma-separated weight files to fetch instead of the default choice.")
@click.option("--support-repo", metavar="REPO", help="Another repo whose configs/tokenizer to add (for weight-only repos).")
@click.option("--sha256", metavar="HEX", help="Expected sha256 of a single-file download (URL sources); checked as bytes arrive.")
@click.option("--force", is_flag=True, help="Download again even when the model is already complete.")
@click.option("--non-interactive", is_flag=True, help="Never ask; take the preferred GGUF quantisation.")
@click.option("--aria2", "use_aria2", is_flag=True, help="Transfer with aria2c instead of the built-in engine.")
@click.option("--no-aria2", is_flag=True, help="Transfer with the built-in Python engine (the default; overrides transfer_engine).")
@click.option("--dry-run", is_flag=True, help="Show what would be fetched and where; download nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the recorded entry (or the plan) as JSON.")
@click.option("--progress-json", metavar="FILE", help="Also append transfer progress as JSON lines to FILE ('-' for stderr): bytes done/total, speed, ETA, files.")
@pass_app
def download_command(
    app: AppContext,
    model: str,
    format_hint: str | None,
    location: str | None,
    include_optional: bool,
    weights: str | None,
    support_repo: str | None,
    sha256: str | None,
    force: bool,
    non_interactive: bool,
    use_aria2: bool,
    no_aria2: bool,
    dry_run: bool,
    as_json: bool,
    progress_json: str | None,
) -> None:
    """Download MODEL and record it.

    MODEL is owner/repo, owner/repo@branch, a Hub URL, hf://owner/repo, ollama://name:tag
    (or a plain name:tag, pulled by the Ollama server), or anything a source plugin
    handles (`imageworks-download sources`).
    """
    from imageworks.core.source_inputs import AcquireRequest

    if use_aria2 and no_aria2:
        raise click.UsageError("--aria2 and --no-aria2 contradict each other")
    source = app.plugins.source_for(model, app.config)
    first_run = app.config.registry_backend == "json" and not app.config.registry_dir.exists()
    request = AcquireRequest(
        format_hint=check_format(format_hint, app.registry.entries()) if format_hint is not None else None,
        location=location,
        include_optional=include_optional,
        weights=tuple(w.strip() for w in (weights or "").split(",") if w.strip()),
        support_repo=support_repo,
        sha256=sha256,
        force=force,
        non_interactive=non_interactive,
        engine="aria2" if use_aria2 else ("python" if no_aria2 else None),
    )
    context = app.source_context(interactive=not non_interactive)
    plain_rerun = not (force or dry_run or format_hint or weights or include_optional or support_repo or sha256)
    if plain_rerun:
        current = _installed(source, model, request, context)
        if current is not None:
            _print_skipped(*current, as_json)
            return
    from imageworks.services.acquire.acquisition import (  # after the quick answer: it loads more
        acquire,
        plan_acquisition,
    )
    from imageworks.transfer.progress import JsonLinesProgress, ProgressReporter

    plan = plan_acquisition(source, model, request, context)
    if dry_run:
        _print_plan(plan, as_json)
        _note_first_run(app, first_run)
        return
    with contextlib.ExitStack() as sinks:
        reporters: list[ProgressCallback] = [sinks.enter_context(ProgressReporter(plan.acquisition.display))]
        if progress_json:
            reporters.append(sinks.enter_context(JsonLinesProgress(progress_json)))
        result = acquire(source, plan, request, context, progress=_fan_out(reporters))
    entry = result.entry
    if result.skipped:
        _print_skipped(entry, None, as_json)
        return
    _note_first_run(app, first_run)
    if as_json:
        from imageworks.services.listing.query import entry_json

        out.emit_json({**entry_json(entry), "skipped": False})
        return
    out.echo(f"✓ Downloaded {plan.acquisition.display} as {entry.name}")
    for label, value in (
        ("path", entry.download_path),
        ("location", entry.download_location),
        ("format / quant", " / ".join(x for x in (entry.download_format, entry.quantization) if x) or "unknown"),
        ("size", out.human_size(entry.download_size_bytes)),
        ("files", entry.download_files_count),
        ("chat template", entry.metadata.chat_template),
        ("licence", entry.metadata.license),
    ):
        if value not in (None, ""):
            out.echo(f"  {label:<15}{value}")


def _note_first_run(app: AppContext, first_run: bool) -> None:
    """After the first download (or dry run) that succeeds: where each kind of file goes, and why."""
    if first_run:
        from imageworks.services.acquire.destinations import first_run_note

        click.echo(first_run_note(app.config, app.plugins), err=True)


def _fan_out(sinks: list[ProgressCallback]) -> ProgressCallback:
    """One progress callback that feeds every sink."""
    def report(update: TransferProgress) -> None:
        for sink in sinks:
            sink(update)
    return report


def _installed(
    source: Source, model: str, request: AcquireRequest, context: SourceContext
) -> tuple[RegistryEntry, str | None] | None:
    """The source's quick "already current" answer; any doubt means the full pipeline.

    A plain re-run costs one small request and no heavy import; the full pipeline checks
    everything again and explains problems properly. The answer is the entry and, when
    the source could not be asked (offline) but the model is installed and intact, why
    the copy was not re-checked.
    """
    try:
        entry = source.installed(model, request, context)
    except SourceOfflineError as error:
        if error.installed is None:
            raise
        return error.installed, error.message
    except ImageworksError:
        return None
    return (entry, None) if entry is not None else None


def _print_skipped(entry: RegistryEntry, not_rechecked: str | None, as_json: bool) -> None:
    if as_json:
        from imageworks.services.listing.query import entry_json

        out.emit_json({**entry_json(entry), "skipped": True, "rechecked": not_rechecked is None,
                       **({"not_rechecked_because": not_rechecked} if not_rechecked else {})})
    elif not_rechecked:
        out.echo(f"Already downloaded: {entry.name} at {entry.download_path} "
                 f"(not re-checked against its source: {not_rechecked})")
    else:
        out.echo(f"Already downloaded: {entry.name} at {entry.download_path} (use --force to fetch again)")


def _print_plan(plan: AcquisitionPlan, as_json: bool) -> None:
    """What ``--dry-run`` shows, in the manner of ``hf download --dry-run``."""
    if as_json:
        out.emit_json(plan.as_json())
        return
    acquisition = plan.acquisition
    if not acquisition.files and acquisition.details.get("summary"):  # a source that fetches by itself
        out.echo(str(acquisition.details["summary"]))
        return
    rows = [(f, plan.present(f)) for f in acquisition.files]
    needed = [f for f, present in rows if not present]
    total = acquisition.details.get("repo_files", len(rows))
    where = f"to {plan.target} ({plan.route.label})" if plan.target and plan.route else f"through the {acquisition.source} source"
    out.echo(
        f"Will download {len(needed)} files (out of {total}), {out.human_size(sum(f.size for f in needed))}, {where}"
    )
    out.table(
        None, ["File", "Size", "Present"],
        [[f.relative_path, out.human_size(f.size), "yes" if p else "no"] for f, p in rows],
    )


@click.command("analyze")
@click.argument("url")
@click.option("--files", "show_files", is_flag=True, help="List every remote file with its size.")
@gpu_mem_option()
@serving_options()
@click.option("--no-memory", "no_memory", is_flag=True, help="Skip the memory estimate and its header reads (faster).")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def analyze_command(app: AppContext, url: str, show_files: bool, gpu_bytes: int | None, no_memory: bool,
                    as_json: bool, context: int | None, parallel: int | None, cache_type: str | None) -> None:
    """Show a model's formats, quantisations, sizes and memory estimate without downloading
    (the estimate reads the weight files' headers only; ``--no-memory`` skips it)."""
    from imageworks.cli._memory import estimate_lines, files_label, serving_inputs
    from imageworks.services.memory.estimate import analysis_json, estimate_item

    if no_memory and gpu_bytes is not None:
        raise click.UsageError("--gpu-mem needs the memory estimate; drop --no-memory")
    serving = serving_inputs(context, parallel, cache_type)
    analysis = app.plugins.source_for(url, app.config).analyze(url, app.source_context(read_headers=not no_memory))
    if as_json:
        out.emit_json(analysis_json(analysis, with_files=show_files, gpu_bytes=gpu_bytes, serving=serving))
        return
    revision = f" @ {analysis.revision[:12]}" if analysis.revision else ""
    out.echo(f"{analysis.display}{revision}{' (gated)' if analysis.gated else ''}")
    out.echo(f"  {len(analysis.files)} files, {out.human_size(analysis.total_size)}")
    for detection in analysis.formats:
        label = out.format_label(detection.format_type, detection.quantization)
        out.echo(f"  format {label} (confidence {detection.confidence:.2f}): {'; '.join(detection.evidence)}")
    if analysis.quantizations:
        out.echo(f"  GGUF quantisations: {', '.join(analysis.quantizations)}")
    for item in analysis.memory:
        found = estimate_item(item, gpu_bytes, serving=serving)
        lines = estimate_lines(found) if found is not None else [f"not estimated: {item.problem}"]
        out.echo(f"  memory {item.label} ({files_label(item.files)}): {lines[0]}")
        for line in lines[1:]:
            out.echo(f"    {line}")
    if show_files:
        out.table(None, ["File", "Size", "LFS sha256"], [[f.path, out.human_size(f.size), (f.sha256 or "")[:16]] for f in analysis.files])


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``download`` and ``analyze`` to imageworks-download."""
    if program == "download":
        cli.add_command(download_command)
        cli.add_command(analyze_command)
