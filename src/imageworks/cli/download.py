"""``imageworks-download download`` and ``analyze`` (guide 6.1, 7.1).

A built-in plugin (entry point ``cli-download``) over the Hugging Face provider.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from imageworks.cli import _output as out
from imageworks.cli.context import AppContext
from imageworks.core.hookspecs import hookimpl
from imageworks.core.query import entry_json

if TYPE_CHECKING:
    from imageworks.core.model import RegistryEntry
    from imageworks.providers.huggingface.pipeline import DownloadPlan

pass_app = click.make_pass_decorator(AppContext)


def _ask_quant(quants: list[str]) -> str:
    """Ask which GGUF quantisation to fetch (only on an interactive terminal)."""
    from imageworks.providers.huggingface.selection import GGUF_PREFERENCE

    default = next((q for q in GGUF_PREFERENCE if q in quants), quants[0])
    return click.prompt("Several GGUF quantisations; which one?", type=click.Choice(quants), default=default, err=True)


@click.command("download")
@click.argument("model")
@click.option("--format", "format_hint", metavar="FORMAT", help="Weight format to fetch when the repo has several (gguf, awq, safetensors, ...); also the recorded format if detection finds none.")
@click.option("--location", metavar="LABEL|PATH", help="Store label (linux_wsl, windows_lmstudio, ...) or a folder used as the root.")
@click.option("--include-optional", is_flag=True, help="Also fetch extras (onnx/, original/, images, training files).")
@click.option("--weights", metavar="FILES", help="Comma-separated weight files to fetch instead of the default choice.")
@click.option("--support-repo", metavar="REPO", help="Another repo whose configs/tokenizer to add (for weight-only repos).")
@click.option("--force", is_flag=True, help="Download again even when the model is already complete.")
@click.option("--non-interactive", is_flag=True, help="Never ask; take the preferred GGUF quantisation.")
@click.option("--aria2", "use_aria2", is_flag=True, help="Transfer with aria2c instead of the built-in engine.")
@click.option("--no-aria2", is_flag=True, help="Transfer with the built-in Python engine (the default; overrides transfer_engine).")
@click.option("--dry-run", is_flag=True, help="Show what would be fetched and where; download nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the recorded entry (or the plan) as JSON.")
@pass_app
def download_command(
    app: AppContext,
    model: str,
    format_hint: str | None,
    location: str | None,
    include_optional: bool,
    weights: str | None,
    support_repo: str | None,
    force: bool,
    non_interactive: bool,
    use_aria2: bool,
    no_aria2: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Download MODEL (owner/repo, owner/repo@branch or a Hub URL) and record it."""
    if use_aria2 and no_aria2:
        raise click.UsageError("--aria2 and --no-aria2 contradict each other")
    plain_rerun = not (force or dry_run or format_hint or weights or include_optional or support_repo or location)
    if plain_rerun and _report_if_current(app, model, as_json):
        return
    from imageworks.providers.huggingface.pipeline import DownloadOptions, plan_download, run_download
    from imageworks.transfer.progress import ProgressReporter

    options = DownloadOptions(
        format_hint=format_hint,
        location=location,
        include_optional=include_optional,
        weights=tuple(w.strip() for w in (weights or "").split(",") if w.strip()),
        support_repo=support_repo,
        force=force,
        non_interactive=non_interactive or not sys.stdin.isatty(),
        engine="aria2" if use_aria2 else ("python" if no_aria2 else None),
    )
    plan = plan_download(model, options, app.config, choose_quant=_ask_quant)
    if dry_run:
        _print_plan(plan, as_json)
        return
    with ProgressReporter(plan.ref.display) as reporter:
        result = run_download(plan, options, app.config, progress=reporter)
    entry = result.entry
    if result.skipped:
        _print_skipped(entry, as_json)
        return
    if as_json:
        out.emit_json({**entry_json(entry), "skipped": False})
        return
    out.echo(f"✓ Downloaded {plan.ref.display} as {entry.name}")
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


def _report_if_current(app: AppContext, model: str, as_json: bool) -> bool:
    """Say "Already downloaded" and return True when a plain re-run has nothing to do.

    The quick check costs one small request and no heavy import; any doubt sends the
    command down the full pipeline, which checks everything again.
    """
    from imageworks.providers.huggingface.quick_check import installed_at_current_commit
    from imageworks.providers.huggingface.refs import parse_model_ref

    ref = parse_model_ref(model, app.config.hf_endpoint)
    entry = None if ref.filename else installed_at_current_commit(ref, app.config.hf_endpoint, app.registry)
    if entry is None:
        return False
    _print_skipped(entry, as_json)
    return True


def _print_skipped(entry: RegistryEntry, as_json: bool) -> None:
    if as_json:
        out.emit_json({**entry_json(entry), "skipped": True})
    else:
        out.echo(f"Already downloaded: {entry.name} at {entry.download_path} (use --force to fetch again)")


def _print_plan(plan: DownloadPlan, as_json: bool) -> None:
    """What ``--dry-run`` shows, in the manner of ``hf download --dry-run``."""
    rows = [(f, plan.present(f)) for f in plan.files()]
    needed = [f for f, present in rows if not present]
    total = len(plan.snapshot.files) + len({f.path for _, f in plan.support})
    if as_json:
        out.emit_json({
            "model": plan.ref.display, "commit": plan.snapshot.commit, "target": str(plan.target),
            "location": plan.route.label, "format": plan.selection.weight_format, "gguf_quant": plan.selection.gguf_quant,
            "files": [f.path for f, _ in rows], "total_size": plan.total_size, "skipped": list(plan.selection.skipped),
            "will_download": {"files": len(needed), "bytes": sum(f.size for f in needed)},
            "file_table": [{"path": f.path, "size": f.size, "present": present} for f, present in rows],
        })
        return
    out.echo(
        f"Will download {len(needed)} files (out of {total}), {out.human_size(sum(f.size for f in needed))}, "
        f"to {plan.target} ({plan.route.label})"
    )
    out.table(None, ["File", "Size", "Present"], [[f.path, out.human_size(f.size), "yes" if p else "no"] for f, p in rows])


@click.command("analyze")
@click.argument("url")
@click.option("--files", "show_files", is_flag=True, help="List every remote file with its size.")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def analyze_command(app: AppContext, url: str, show_files: bool, as_json: bool) -> None:
    """Show a repo's formats, quantisations and sizes without downloading."""
    from imageworks.providers.huggingface.analysis import analyze

    analysis = analyze(url, app.config.hf_endpoint)
    if as_json:
        out.emit_json(analysis.as_json(with_files=show_files))
        return
    snapshot = analysis.snapshot
    out.echo(f"{analysis.ref.display} @ {snapshot.commit[:12]}{' (gated)' if snapshot.gated else ''}")
    out.echo(f"  {len(snapshot.files)} files, {out.human_size(analysis.total_size)}")
    for detection in analysis.formats:
        label = " / ".join(x for x in (detection.format_type, detection.quantization) if x) or "unknown"
        out.echo(f"  format {label} (confidence {detection.confidence:.2f}): {'; '.join(detection.evidence)}")
    if analysis.gguf_quants:
        out.echo(f"  GGUF quantisations: {', '.join(analysis.gguf_quants)}")
    if show_files:
        out.table(None, ["File", "Size", "LFS sha256"], [[f.path, out.human_size(f.size), (f.sha256 or "")[:16]] for f in snapshot.files])


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``download`` and ``analyze`` to imageworks-download."""
    if program == "download":
        cli.add_command(download_command)
        cli.add_command(analyze_command)
