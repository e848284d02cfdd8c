"""Inventory commands (guide 7.3): ``list``, ``list-roles``, ``stats``, ``remove``, ``verify``.

A built-in plugin: it adds its commands to ``imageworks-download`` (and ``list`` and
``verify`` to ``imageworks-model-registry``) through ``imageworks_register_commands``.
"""

from __future__ import annotations

from typing import Any

import attrs
import click

from imageworks.cli import _output as out
from imageworks.cli.context import AppContext
from imageworks.core.access import record_access
from imageworks.core.backups import backup_place
from imageworks.core.convert import to_compact_dict
from imageworks.core.copies import shared_weights
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.hosts import HostView
from imageworks.core.installs import per_install
from imageworks.core.model import RegistryEntry
from imageworks.core.query import ListQuery, entry_json, is_installed, is_testing, select
from imageworks.core.removal import cleared_download_fields, delete_installation, plan_removal
from imageworks.core.stats import registry_stats
from imageworks.core.timestamps import utc_now
from imageworks.core.verify import VerifyResult, verify_entry

pass_app = click.make_pass_decorator(AppContext)


@click.command("list")
@click.option("--format", "format_filter", metavar="FORMAT", help="Only this download format (gguf, awq, safetensors, ...).")
@click.option("--location", metavar="LABEL", help="Only this location label (linux_wsl, windows_lmstudio, ...).")
@click.option("--backend", metavar="NAME", help="Only this backend (vllm, ollama, ...).")
@click.option("--show-deprecated", is_flag=True, help="Include deprecated entries.")
@click.option("--details", is_flag=True, help="One block per variant with paths, provenance and inventory.")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON array on stdout (every field, plus producer).")
@click.option("--include-logical", is_flag=True, help="Include entries without local files (curated, ollama://).")
@click.option("--dedupe", is_flag=True, help="One row per installation (entries sharing a path collapse).")
@click.option("--show-internal-names", is_flag=True, help="Show canonical variant keys instead of display names.")
@click.option("--show-backend", is_flag=True, help="Add a Backend column.")
@click.option("--show-installed", is_flag=True, help="Add an Installed column (files present on disk).")
@click.option("--include-testing", is_flag=True, help="Include testing/demo placeholders (testzzz, ...).")
@click.option("--all-hosts", is_flag=True, help="Every host's installs (shared registry): one row per install, with a Host column.")
@pass_app
def list_command(
    app: AppContext,
    format_filter: str | None,
    location: str | None,
    backend: str | None,
    show_deprecated: bool,
    details: bool,
    as_json: bool,
    include_logical: bool,
    dedupe: bool,
    show_internal_names: bool,
    show_backend: bool,
    show_installed: bool,
    include_testing: bool,
    all_hosts: bool,
) -> None:
    """List registry variants (installed downloads by default; this host's, unless --all-hosts)."""
    query = ListQuery(
        format=format_filter,
        location=location,
        backend=backend,
        show_deprecated=show_deprecated,
        include_logical=include_logical,
        include_testing=include_testing,
        dedupe=dedupe,
        host_view=None if all_hosts else HostView.of(app.config),
    )
    everything = app.registry.entries()
    rows_of = [one for e in everything for one in per_install(e)] if all_hosts and not as_json else everything
    entries = select(rows_of, query, app.config.test_model_patterns)
    copies = shared_weights(everything) if (as_json or details) else {}
    if as_json:
        out.emit_json([{**entry_json(e), "same_weights_as": copies.get(e.name, [])} for e in entries])
        return
    if not entries:
        out.note("No variants match. Download or scan a model, or try --include-logical / --include-testing.")
        return
    if details:
        paths = {e.name: e.download_path for e in everything}
        for entry in entries:
            _print_details(entry, [f"{name} ({paths[name]})" for name in copies.get(entry.name, [])])
        return
    columns = ["Name", "Format", "Quant", "Location", "Size"]
    if show_backend:
        columns.insert(1, "Backend")
    if show_installed:
        columns.append("Installed")
    if all_hosts:
        columns.append("Host")
    rows = []
    for entry in entries:
        row: list[Any] = [
            entry.name if show_internal_names else (entry.display_name or entry.name),
            entry.download_format,
            entry.quantization,
            entry.download_location,
            out.human_size(entry.download_size_bytes),
        ]
        if show_backend:
            row.insert(1, entry.backend)
        if show_installed:
            row.append("✓" if is_installed(entry) else "✗")
        if all_hosts:
            row.append(entry.host or "(every host)")
        rows.append(row)
    out.table(f"{len(entries)} variant(s)", columns, rows)


def _print_details(entry: RegistryEntry, same_weights: list[str]) -> None:
    fields = [
        ("name", entry.name),
        ("display name", entry.display_name),
        ("backend", entry.backend),
        ("format / quant", " / ".join(x for x in (entry.download_format, entry.quantization) if x)),
        ("quant scheme", entry.metadata.quant_scheme),
        ("installed", "yes" if is_installed(entry) else "no"),
        ("path", entry.download_path),
        ("location", entry.download_location),
        ("host", entry.host),
        ("size", out.human_size(entry.download_size_bytes)),
        ("files", entry.download_files_count),
        ("checksum", entry.download_directory_checksum),
        ("source", entry.source_provider),
        ("hf id", entry.hf_id),
        ("served id", entry.served_model_id),
        ("producer", entry.producer),
        ("downloaded", entry.downloaded_at),
        ("licence", entry.metadata.license),
        ("chat template", entry.metadata.chat_template),
        ("roles", ", ".join(entry.roles)),
        ("aliases", ", ".join(entry.model_aliases)),
        ("locked", "yes" if entry.version_lock.locked else None),
        ("deprecated", "yes" if entry.deprecated else None),
        ("detected from", "; ".join(entry.metadata.detection_evidence)),
        ("same weights", "; ".join(same_weights)),
    ]
    out.echo(entry.display_name or entry.name)
    for label, value in fields:
        if value not in (None, "", 0) or label == "installed":
            out.echo(f"  {label:<14} {value}")
    out.echo()


@click.command("list-roles")
@click.option("--show-capabilities", is_flag=True, help="Add each variant's capability flags.")
@click.option("--include-testing", is_flag=True, help="Include testing/demo placeholders.")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def list_roles_command(app: AppContext, show_capabilities: bool, include_testing: bool, as_json: bool) -> None:
    """Show which variants serve which roles, by priority."""
    rows: list[dict[str, Any]] = []
    for entry in app.registry.entries():
        if entry.deprecated or (not include_testing and is_testing(entry, app.config.test_model_patterns)):
            continue
        for role in entry.roles:
            rows.append(
                {
                    "role": role,
                    "name": entry.name,
                    "priority": entry.role_priorities.get(role),
                    "installed": is_installed(entry),
                    "capabilities": sorted(k for k, v in entry.capabilities.items() if v),
                }
            )
    rows.sort(key=lambda r: (r["role"], r["priority"] is None, r["priority"] or 0, r["name"]))
    if as_json:
        out.emit_json(rows if show_capabilities else [{k: v for k, v in r.items() if k != "capabilities"} for r in rows])
        return
    if not rows:
        out.note("No roles assigned. Add roles[] to entries in model_registry.curated.json.")
        return
    columns = ["Role", "Variant", "Priority", "Installed"] + (["Capabilities"] if show_capabilities else [])
    out.table(
        "Roles",
        columns,
        [
            [r["role"], r["name"], r["priority"], "✓" if r["installed"] else "✗"]
            + ([", ".join(r["capabilities"])] if show_capabilities else [])
            for r in rows
        ],
    )


@click.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def stats_command(app: AppContext, as_json: bool) -> None:
    """Counts by backend, format, location and provider, and installed size."""
    stats = registry_stats(app.registry.entries(), app.config.test_model_patterns)
    if as_json:
        out.emit_json(stats)
        return
    scalar = [(k.replace("_", " "), v) for k, v in stats.items() if not isinstance(v, dict)]
    scalar = [(k.removesuffix(" bytes"), out.human_size(v)) if k.endswith("bytes") else (k, v) for k, v in scalar]
    out.table("Registry", ["Measure", "Value"], scalar)
    for key in ("by_backend", "by_format", "by_location", "by_provider"):
        out.table(key.replace("_", " ").capitalize(), ["Value", "Variants"], list(stats[key].items()))


@click.command("remove")
@click.argument("variant")
@click.option("--delete-files", is_flag=True, help="Also delete the files on disk (inside a store root only).")
@click.option("--purge", is_flag=True, help="Remove the registry entry itself (default: keep it, not installed).")
@click.option("--force", is_flag=True, help="Required: confirm the removal.")
@click.option("--dry-run", is_flag=True, help="Show what would happen and change nothing.")
@click.option("--backup/--no-backup", default=True, show_default=True, help="Back up the registry first.")
@pass_app
def remove_command(
    app: AppContext, variant: str, delete_files: bool, purge: bool, force: bool, dry_run: bool, backup: bool
) -> None:
    """Remove a variant: its download metadata, its files (--delete-files) or the entry (--purge)."""
    registry = app.registry
    entry = registry.get(variant)
    plan = plan_removal(entry, registry.entries(), app.config, delete_files, purge)
    if plan.refusal:
        raise ImageworksError(f"not removing {entry.name}: {plan.refusal}")
    if dry_run:
        for line in plan.describe():
            out.echo(f"would {line}")
        return
    if not force:
        raise ImageworksError(
            f"refusing to remove {entry.name} without --force", "it would " + "; ".join(plan.describe())
        )
    if backup:
        copies = registry.backup()
        if copies:
            out.note(f"Backed up the registry to {backup_place(copies)}")
    if plan.delete_path is not None:
        delete_installation(plan.delete_path, plan.roots, only=plan.only_files)
        out.echo(f"Deleted {plan.delete_path}")
    if purge:
        registry.delete(entry.name, backup=False)
        out.echo(f"Removed {entry.name} from the registry")
    else:
        registry.update(entry.name, lambda _: cleared_download_fields())
        kept = f" on this host (the installs on {', '.join(plan.other_hosts)} stay)" if plan.other_hosts else ""
        out.echo(f"Cleared the download metadata of {entry.name}{kept}")


@click.command("verify")
@click.argument("variant", required=False)
@click.option("--fix-missing", is_flag=True, help="Mark variants whose files are gone as not installed.")
@click.option("--quick", is_flag=True, help="Check paths, file lists and sizes only (no hashing).")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def verify_command(app: AppContext, variant: str | None, fix_missing: bool, quick: bool, as_json: bool) -> None:
    """Check installed variants this host can see: paths, file inventory and checksum drift. Exit 1 on problems."""
    registry = app.registry
    view = HostView.of(app.config)
    everyone = [e for e in registry.entries() if view.sees(e)]  # another host's files are not ours to judge
    entries = [registry.get(variant)] if variant else [e for e in everyone if not e.is_logical]
    if variant:
        _refuse_other_host(entries[0], view)
    results = [verify_entry(e, quick=quick, neighbours=everyone) for e in entries]
    used = [r.name for r in results if r.status != "missing"]
    missing = [r for r in results if r.status == "missing"] if fix_missing else []
    fixed = []
    if missing:
        registry.backup()
        with registry.batch():  # the fixes and the access times: one write
            record_access(registry, used)
            for result in missing:
                registry.update(result.name, lambda _: cleared_download_fields())
                result.problems.append("fixed: marked not installed")
                fixed.append(result.name)
    else:
        record_access(registry, used)
    if as_json:
        out.emit_json([_result_json(r, r.name in fixed) for r in results])
    elif not results:
        out.note("Nothing to verify: no installed variants.")
    else:
        out.table(
            "Verification",
            ["Variant", "Status", "Problems"],
            [[r.name, r.status, "; ".join(r.problems)] for r in results],
        )
    failing = [r for r in results if not r.ok and r.name not in fixed]
    if failing:
        raise click.exceptions.Exit(1)


def _refuse_other_host(entry: RegistryEntry, view: HostView) -> None:
    """Verifying is for the host that holds the files: one line for another host's install."""
    if not view.sees(entry):
        raise ImageworksError(
            f"{entry.name} is installed on host {entry.host}, not on this host ({view.host})",
            "run verify on that host; `list --all-hosts` shows every host's installs",
        )


def _result_json(result: VerifyResult, fixed: bool) -> dict[str, Any]:
    return {
        "name": result.name,
        "status": result.status,
        "path": result.path,
        "problems": result.problems,
        "missing_files": result.missing_files,
        "unexpected_files": result.unexpected_files,
        "checksum": result.checksum,
        "fixed": fixed,
    }


@click.command("verify")
@click.argument("variant")
@click.option("--lock/--unlock", default=None, help="Record the current content digest as the locked one (refused when the files drifted), or unlock.")
@pass_app
def registry_verify_command(app: AppContext, variant: str, lock: bool | None) -> None:
    """Verify one variant and optionally lock its content digest for serving."""
    registry = app.registry
    entry = registry.get(variant)
    view = HostView.of(app.config)
    _refuse_other_host(entry, view)
    result = verify_entry(entry, neighbours=[e for e in registry.entries() if view.sees(e)])
    if result.status in {"missing", "logical"}:
        raise ImageworksError(f"{entry.name} has no files to verify ({result.status})")
    if lock and result.problems:
        # Locking records the digest of the files as they are now: locking drifted files
        # would bless the drift. Refuse before anything is written (last_accessed too).
        raise ImageworksError(
            f"not locking {entry.name}: {'; '.join(result.problems)}",
            "restore the files, or accept them with --unlock, `imageworks-download normalize-formats --rebuild --apply`"
            " and --lock again",
        )
    record_access(registry, [entry.name])
    if lock is None:
        pass
    elif lock:
        checksum = result.checksum or ""  # computed by the full verification above, over the entry's own files
        registry.update(entry.name, lambda current: _locked(current, checksum))
        out.echo(f"Locked {entry.name} at {checksum}")
    else:
        registry.update(entry.name, lambda current: _unlocked(current))
        out.echo(f"Unlocked {entry.name}")
    out.echo(f"{entry.name}: {'ok' if not result.problems else '; '.join(result.problems)}")
    if result.problems:
        raise click.exceptions.Exit(1)


def _locked(current: RegistryEntry | None, checksum: str) -> dict[str, Any]:
    assert current is not None
    artifacts = attrs.evolve(current.artifacts, aggregate_sha256=checksum)
    lock = attrs.evolve(current.version_lock, locked=True, expected_aggregate_sha256=checksum, locked_at=utc_now())
    return {"artifacts": to_compact_dict(artifacts), "version_lock": to_compact_dict(lock)}


def _unlocked(current: RegistryEntry | None) -> dict[str, Any]:
    assert current is not None
    return {"version_lock": to_compact_dict(attrs.evolve(current.version_lock, locked=False))}


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add the inventory commands."""
    if program == "download":
        for command in (list_command, list_roles_command, stats_command, remove_command, verify_command):
            cli.add_command(command)
    elif program == "model-registry":
        cli.add_command(list_command)
        cli.add_command(registry_verify_command)
