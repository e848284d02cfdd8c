"""Inventory commands (guide 7.3): ``list``, ``list-roles``, ``set-roles``, ``stats``, ``remove``, ``verify``.

A built-in plugin: it adds its commands to ``imageworks-download`` (and ``list`` and
``verify`` to ``imageworks-model-registry``) through ``imageworks_register_commands``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import click

from imageworks.cli import _output as out
from imageworks.cli._memory import estimate_lines, gpu_mem_option, max_context_cell
from imageworks.cli.context import AppContext
from imageworks.core.convert import to_compact_dict
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.hosts import HostView
from imageworks.core.installs import per_install
from imageworks.core.model import RegistryEntry
from imageworks.core.timestamps import utc_now
from imageworks.services.listing.access import record_access
from imageworks.services.listing.query import ListQuery, entry_json, is_installed, select
from imageworks.services.listing.stats import registry_stats

if TYPE_CHECKING:  # the other services are imported by the commands that use them, not to build --help
    from imageworks.core.memory_facts import HeaderFacts
    from imageworks.services.maintain.verify import VerifyResult
    from imageworks.services.memory.estimate import MemoryEstimate

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
@gpu_mem_option()
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
    gpu_bytes: int | None,
) -> None:
    """List registry variants (installed downloads by default; this host's, unless --all-hosts).

    --details and --json add each installed variant's memory estimate, read from its
    weight files' headers; --gpu-mem adds the largest context that fits (a Max context
    column in the table).
    """
    from imageworks.services.listing.copies import shared_weights
    from imageworks.services.memory.estimate import estimate_item
    from imageworks.services.memory.local_facts import entry_facts

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
    # keyed by object: with --all-hosts one variant gives a row per host's install
    memory = {id(e): entry_facts(e) for e in entries} if (as_json or details or gpu_bytes is not None) else {}

    def estimated(entry: RegistryEntry) -> MemoryEstimate | None:
        found = memory.get(id(entry))
        return estimate_item(found, gpu_bytes) if found is not None else None

    if as_json:
        out.emit_json([
            {**entry_json(e), "same_weights_as": copies.get(e.name, []), "memory": _memory_json(estimated(e))}
            for e in entries
        ])
        return
    if not entries:
        out.note("No variants match. Download or scan a model, or try --include-logical / --include-testing.")
        return
    if details:
        paths = {e.name: e.download_path for e in everything}
        for entry in entries:
            _print_details(entry, [f"{name} ({paths[name]})" for name in copies.get(entry.name, [])],
                           memory.get(id(entry)), estimated(entry))
        return
    columns = ["Name", "Format", "Quant", "Location", "Size"]
    if show_backend:
        columns.insert(1, "Backend")
    if show_installed:
        columns.append("Installed")
    if all_hosts:
        columns.append("Host")
    if gpu_bytes is not None:
        columns.append(f"Max context ({out.human_size(gpu_bytes)})")
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
        if gpu_bytes is not None:
            row.append(max_context_cell(estimated(entry)))
        rows.append(row)
    out.table(f"{len(entries)} variant(s)", columns, rows)


def _memory_json(found: MemoryEstimate | None) -> dict[str, Any] | None:
    return found.as_json() if found is not None else None


def _print_details(entry: RegistryEntry, same_weights: list[str], facts: HeaderFacts | None,
                   found: MemoryEstimate | None) -> None:
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
    memory = estimate_lines(found) if found is not None else [f"not estimated: {facts.problem}"] if facts else []
    for number, line in enumerate(memory):
        out.echo(f"  {'memory' if number == 0 else '':<14} {line}")
    out.echo()


@click.command("list-roles")
@click.option("--show-capabilities", is_flag=True, help="Add each variant's capability flags.")
@click.option("--include-testing", is_flag=True, help="Include testing/demo placeholders.")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def list_roles_command(app: AppContext, show_capabilities: bool, include_testing: bool, as_json: bool) -> None:
    """Show which variants serve which roles, best first (lower role_priorities number first).

    The Best column marks the variant a request for the role (the chat proxy's model field) goes to.
    """
    from imageworks.services.serve.roles import role_assignments, servable

    entries = servable(app.registry.entries(), app.config.test_model_patterns, include_testing)
    rows = role_assignments(entries)
    if as_json:
        out.emit_json(
            [
                {"role": r.role, "name": r.name, "priority": r.priority, "installed": r.installed, "best": r.chosen}
                | ({"capabilities": list(r.capabilities)} if show_capabilities else {})
                for r in rows
            ]
        )
        return
    if not rows:
        out.note("No roles assigned. Set them with `set-roles VARIANT --role ROLE` (kept in the curated layer).")
        return
    columns = ["Role", "Variant", "Priority", "Installed", "Best"] + (["Capabilities"] if show_capabilities else [])
    out.table(
        "Roles",
        columns,
        [
            [r.role, r.name, r.priority, "✓" if r.installed else "✗", "✓" if r.chosen else ""]
            + ([", ".join(r.capabilities)] if show_capabilities else [])
            for r in rows
        ],
    )


@click.command("set-roles")
@click.argument("variant")
@click.option("--role", "roles", multiple=True, metavar="ROLE", help="A role the variant serves (repeat for several).")
@click.option("--priority", "priorities", multiple=True, metavar="ROLE=N",
              help="The variant's priority for ROLE (lower is preferred; repeat for several).")
@click.option("--clear", is_flag=True, help="Remove the variant's curated roles and priorities.")
@pass_app
def set_roles_command(app: AppContext, variant: str, roles: tuple[str, ...], priorities: tuple[str, ...], clear: bool) -> None:
    """Set the roles of VARIANT (and their priorities) in the curated layer; they replace its curated roles."""
    if clear == bool(roles or priorities):
        raise ImageworksError("give --role (and optionally --priority), or --clear", "see `set-roles --help`")
    by_role = _priorities(priorities, roles)
    registry = app.registry
    entry = registry.get(variant)
    stored = registry.set_curated(entry.name, {"roles": list(dict.fromkeys(roles)), "role_priorities": by_role})
    shown = ", ".join(f"{r} ({stored.role_priorities[r]})" if r in stored.role_priorities else r for r in stored.roles)
    out.echo(f"Roles of {stored.name}: {shown or 'none'}")


def _priorities(values: tuple[str, ...], roles: tuple[str, ...]) -> dict[str, int]:
    """``ROLE=N`` options as a mapping; each ROLE must be one of ``roles``."""
    found: dict[str, int] = {}
    for value in values:
        role, equals, number = value.partition("=")
        if not equals or not number.strip().lstrip("-").isdigit():
            raise ImageworksError(f"--priority {value!r} is not ROLE=N", "for example --priority caption=1")
        if role not in roles:
            raise ImageworksError(f"--priority names {role!r}, which is not one of the --role values", "add --role " + role)
        found[role] = int(number)
    return found


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
    for key in ("installed_bytes_by_backend", "installed_bytes_by_location"):
        title = "Installed size " + key.removeprefix("installed_bytes_").replace("_", " ")
        out.table(title, ["Value", "Size"], [(k, out.human_size(v)) for k, v in stats[key].items()])


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
    from imageworks.services.maintain.backups import backup_place
    from imageworks.services.maintain.removal import cleared_download_fields, delete_installation, plan_removal

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
    from imageworks.services.maintain.removal import cleared_download_fields
    from imageworks.services.maintain.verify import verify_entry

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
    from imageworks.services.maintain.verify import verify_entry

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
        for command in (list_command, list_roles_command, set_roles_command, stats_command, remove_command, verify_command):
            cli.add_command(command)
    elif program == "model-registry":
        cli.add_command(list_command)
        cli.add_command(registry_verify_command)
