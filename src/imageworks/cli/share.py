"""``imageworks-download share`` and ``dedupe``: one copy of the weights, every app.

A thin front end over :mod:`imageworks.services.share`. ``share VARIANT --to APPS``
exposes a variant to Ollama, LM Studio and the Hugging Face cache without new bytes;
``dedupe`` reports duplicated weight files across the stores (a dry run by default),
``--apply`` folds them into one copy with a journal, ``--undo ID`` restores copies.
A built-in plugin (entry point ``cli-share``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from imageworks.cli import _output as out
from imageworks.cli.context import AppContext
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # the share services are imported by the commands that run them, not to build --help
    from imageworks.services.share.dedupe import DedupeReport

#: ``services.share.dedupe.MIN_SIZE`` and ``services.share.stores.APPS`` (a test keeps them equal),
#: copied so --help loads no share service
MIN_SIZE = 1024 * 1024
APPS = ("ollama", "lmstudio", "hf-cache")

pass_app = click.make_pass_decorator(AppContext)


@click.command("share")
@click.argument("variant")
@click.option("--to", "to", required=True, metavar="APPS",
              help=f"Comma-separated apps to expose the variant to: {', '.join(APPS)}.")
@click.option("--dry-run", is_flag=True, help="Show what would be linked and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout: one object per app.")
@pass_app
def share_command(app: AppContext, variant: str, to: str, dry_run: bool, as_json: bool) -> None:
    """Make an installed variant usable by other apps without new bytes (hard link, reflink or, where the app follows one, symlink).

    Each app gets its own layout: Ollama a blob named by its digest and a manifest
    (hf.co/<owner>/<repo>:<QUANT>); LM Studio <models>/<publisher>/<model>/<file>.gguf;
    the Hugging Face cache models--<owner>--<repo> with blobs, snapshots and refs/main
    (which llama.cpp reads too). The links are recorded on the entry. Exit 1 when an app
    had to be refused (the message says why and what a copy would cost).
    """
    from imageworks.services.share.expose import refusal_summary, share_variant
    from imageworks.services.share.stores import parse_apps

    try:
        apps = parse_apps(to)
    except ValueError as error:
        raise ImageworksError(f"--to: {error}") from error
    results = share_variant(app.registry, app.config, variant, apps, dry_run=dry_run)
    if as_json:
        out.emit_json([r.to_json() for r in results])
    else:
        title = "share" + (" (dry run: nothing written)" if dry_run else "")
        out.table(title, ["App", "Status", "Name", "How", "Opens"],
                  [[r.app, r.status, r.name or "", ", ".join(sorted(set(r.methods))), ", ".join(r.opens[:3])]
                   for r in results])
        for result in results:
            for line in result.notes:
                out.note(f"{result.app}: {line}")
    refused = refusal_summary(results)
    if refused:
        raise ImageworksError(f"not shared with {refused}")


@click.command("dedupe")
@click.option("--apply", is_flag=True, help="Fold the duplicates into one copy (default: report only).")
@click.option("--dry-run", is_flag=True, help="Report only (the default).")
@click.option("--undo", "undo_id", metavar="ID", help="Restore independent copies for the fold ID (from --apply or --history).")
@click.option("--history", "show_history", is_flag=True, help="List the folds recorded, newest first.")
@click.option("--min-size", type=click.IntRange(1), default=MIN_SIZE, show_default=True,
              help="Ignore files smaller than this many bytes.")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout (the total is reclaimable_bytes).")
@pass_app
def dedupe_command(app: AppContext, apply: bool, dry_run: bool, undo_id: str | None, show_history: bool,
                   min_size: int, as_json: bool) -> None:
    """Find weight files held more than once across the stores (roots, Ollama blobs, LM Studio, the HF cache, scanned folders).

    Files are grouped by size, then sha256 (recorded digests reused). --apply replaces
    each copy by a hard link to one keeper (made read-only), on the same file system
    only, journalled; --undo ID gives each file its own copy again.
    """
    from imageworks.services.share.dedupe import apply_dedupe, plan_dedupe, undo_dedupe
    from imageworks.services.share.journal import history

    chosen = [name for name, on in (("--apply", apply), ("--dry-run", dry_run), ("--undo", undo_id is not None),
                                    ("--history", show_history)) if on]
    if len(chosen) > 1:
        raise ImageworksError(f"{' and '.join(chosen)} contradict each other", "pass one of them")
    if show_history:
        found = history(app.config)
        if as_json:
            out.emit_json(found)
        elif not found:
            out.note("No folds recorded.")
        else:
            out.table("dedupe folds", ["ID", "Created", "State", "Files", "Linked"],
                      [[h["id"], h["created"], h["state"], h["files"], out.human_size(h["bytes"])] for h in found])
        return
    if undo_id is not None:
        restored, problems = undo_dedupe(app.config, app.registry, undo_id)
        if as_json:
            out.emit_json({"journal": undo_id, "restored": restored, "problems": problems})
        else:
            out.echo(f"Restored {restored} independent cop{'y' if restored == 1 else 'ies'} (fold {undo_id})")
        if problems:
            raise ImageworksError(f"undo of {undo_id} left {len(problems)} problem(s): {'; '.join(problems)}")
        return
    entries = app.registry.entries()
    report = plan_dedupe(app.config, entries, min_size=min_size)
    if apply:
        report = apply_dedupe(app.config, app.registry, report)
    if as_json:
        out.emit_json(report.to_json())
    else:
        _show(report)
    if report.failures:
        raise ImageworksError(f"{len(report.failures)} file(s) not folded: {'; '.join(report.failures)}")


def _show(report: DedupeReport) -> None:
    rows: list[list[Any]] = []
    for group in report.groups:
        rows.append([group.sha256[:12], out.human_size(group.size), f"keep {group.keeper.path}", group.keeper.store])
        rows += [["", "", f"fold {f.path}", f.store] for f in group.fold]
        rows += [["", "", f"skip {f.path} ({why})", f.store] for f, why in group.skipped]
    if rows:
        title = "dedupe" + ("" if report.applied else " (dry run: nothing changed; use --apply)")
        out.table(title, ["sha256", "Size", "File", "Store"], rows)
    for line in report.notes:
        out.note(line)
    out.note(f"Scanned {report.files_scanned} file(s), hashed {out.human_size(report.hashed_bytes) or '0 B'}; "
             f"{len(report.groups)} duplicated content(s), {report.reclaimable_bytes} bytes "
             f"({out.human_size(report.reclaimable_bytes) or '0 B'}) reclaimable")
    if report.applied:
        out.echo(f"Folded {report.folded} file(s); undo with `imageworks-download dedupe --undo {report.journal}`")


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``share`` and ``dedupe`` to imageworks-download."""
    if program == "download":
        cli.add_command(share_command)
        cli.add_command(dedupe_command)
