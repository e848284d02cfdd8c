"""Inventory commands (guide 7.3): ``list``, ``list-roles``, ``set-roles``, ``stats``, ``remove``, ``verify``.

A built-in plugin: it adds its commands to ``imageworks-download`` (and ``list`` and
``verify`` to ``imageworks-model-registry``) through ``imageworks_register_commands``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import attrs
import click

from imageworks.cli import _output as out
from imageworks.cli._choices import check_backend, check_format, check_location, check_role
from imageworks.cli._memory import gpu_mem_option, serving_options
from imageworks.cli.context import AppContext
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # use cases and kernel parts the commands import when they run, not to build --help
    from pathlib import Path

    from imageworks.core.config import Config
    from imageworks.core.hosts import HostView
    from imageworks.core.memory_facts import HeaderFacts
    from imageworks.core.model import RegistryEntry
    from imageworks.core.registry import Registry
    from imageworks.services.listing.query import ListQuery
    from imageworks.services.maintain.verify import VerifyResult
    from imageworks.services.memory.estimate import MemoryEstimate, ServingInputs

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
@serving_options()
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
    context: int | None,
    parallel: int | None,
    cache_type: str | None,
) -> None:
    """List registry variants (installed downloads by default; this host's, unless --all-hosts).

    --details and --json add each installed variant's memory estimate, read from its
    weight files' headers; --gpu-mem adds the largest context that fits (a Max context
    column in the table); --context/--parallel/--cache-type describe the server the total
    (memory.total_bytes) is for, each engine's defaults otherwise.
    """
    from imageworks.cli._memory import serving_inputs
    from imageworks.core.hosts import HostView
    from imageworks.services.listing.query import ListQuery

    # the estimate's inputs only where an estimate is shown: a plain table loads no memory service
    serving = serving_inputs(context, parallel, cache_type) if as_json or details or gpu_bytes is not None else None
    everything = app.registry.entries()
    query = ListQuery(
        format=check_format(format_filter, everything),
        location=check_location(location, app.config, everything),
        backend=check_backend(backend, everything),
        show_deprecated=show_deprecated,
        include_logical=include_logical,
        include_testing=include_testing,
        dedupe=dedupe,
        host_view=None if all_hosts else HostView.of(app.config),
    )
    per_host = all_hosts and not as_json  # JSON keeps one object per variant, with its installs inside
    entries = _selected_rows(everything, query, app.config.test_model_patterns, per_host)
    if as_json:
        _render_json(entries, everything, _estimator(entries, gpu_bytes, app.config, serving), app.config)
    elif not entries:
        out.note("No variants match. Download or scan a model, or try --include-logical / --include-testing.")
    elif details:
        _render_details(entries, everything, _estimator(entries, gpu_bytes, app.config, serving), app.config.host)
    else:
        shape = _TableShape(show_internal_names, show_backend, show_installed, all_hosts, gpu_bytes)
        _render_table(entries, shape, app.config, serving)


def _selected_rows(
    everything: list[RegistryEntry], query: ListQuery, test_patterns: Sequence[str], per_host: bool
) -> list[RegistryEntry]:
    """The entries ``list`` shows, in order; with ``per_host`` one row per host's install."""
    from imageworks.core.installs import per_install
    from imageworks.services.listing.query import select

    rows_of = [one for e in everything for one in per_install(e)] if per_host else everything
    return select(rows_of, query, test_patterns)


class _Estimates(NamedTuple):
    """Memory facts per row, and the estimate for a GPU of ``gpu_bytes`` (if given)."""

    facts: dict[int, HeaderFacts | None]
    gpu_bytes: int | None
    serving: ServingInputs | None = None

    def facts_of(self, entry: RegistryEntry) -> HeaderFacts | None:
        """The row's header facts (``None`` when it has no weight files to read)."""
        return self.facts.get(id(entry))

    def of(self, entry: RegistryEntry) -> MemoryEstimate | None:
        """The row's memory estimate, or ``None`` when it has no facts."""
        from imageworks.services.memory.estimate import estimate_item

        found = self.facts.get(id(entry))
        return estimate_item(found, self.gpu_bytes, serving=self.serving) if found is not None else None


def _estimator(entries: list[RegistryEntry], gpu_bytes: int | None, config: Config,
               serving: ServingInputs | None = None) -> _Estimates:
    """Header facts of each row (from the header-facts cache in ``config.cache_dir``) and the
    estimate they give (keyed by object: with --all-hosts one variant gives a row per host's install)."""
    from imageworks.services.memory.local_facts import entry_facts

    facts = {id(e): entry_facts(e, config.cache_dir) for e in entries}
    return _Estimates(facts, gpu_bytes, serving)


def _render_json(entries: list[RegistryEntry], everything: list[RegistryEntry], memory: _Estimates,
                 config: Config) -> None:
    """``list --json``: every field, the variants with the same weights, the memory estimate
    (or ``memory_problem``: why a variant's headers could not be read), where it is served."""
    from imageworks.services.listing.copies import shared_weights
    from imageworks.services.listing.query import entry_json

    copies = shared_weights(everything)
    out.emit_json([
        {**entry_json(e), "same_weights_as": copies.get(e.name, []), "memory": _memory_json(memory.of(e)),
         "memory_problem": getattr(memory.facts_of(e), "problem", None),
         "endpoint": _endpoint_json(e, config.ollama_url)}
        for e in entries
    ])


def _render_details(entries: list[RegistryEntry], everything: list[RegistryEntry], memory: _Estimates,
                    host: str) -> None:
    """``list --details``: one block per row."""
    from imageworks.services.listing.copies import shared_weights
    from imageworks.services.share.checks import visible_in

    copies = shared_weights(everything)
    paths = {e.name: e.download_path for e in everything}
    for entry in entries:
        _print_details(entry, [f"{name} ({paths[name]})" for name in copies.get(entry.name, [])],
                       memory.facts_of(entry), memory.of(entry), visible_in(entry, host))


class _TableShape(NamedTuple):
    """Which optional columns the ``list`` table has."""

    internal_names: bool
    backend: bool
    installed: bool
    host: bool
    gpu_bytes: int | None


def _render_table(entries: list[RegistryEntry], shape: _TableShape, config: Config, serving: ServingInputs | None) -> None:
    """``list``'s default table."""
    memory = _estimator(entries, shape.gpu_bytes, config, serving) if shape.gpu_bytes is not None else None
    columns = ["Name", "Format", "Quant", "Location", "Size"]
    if shape.backend:
        columns.insert(1, "Backend")
    if shape.installed:
        columns.append("Installed")
    if shape.host:
        columns.append("Host")
    if memory is not None:
        columns.append(f"Max context ({out.human_size(shape.gpu_bytes)})")
    out.table(f"{len(entries)} variant(s)", columns, [_table_row(e, shape, memory) for e in entries])


def _table_row(entry: RegistryEntry, shape: _TableShape, memory: _Estimates | None) -> list[Any]:
    """One row of ``list``'s table, its cells in the order of the columns."""
    from imageworks.cli._memory import max_context_cell
    from imageworks.services.listing.query import is_installed

    row: list[Any] = [
        entry.name if shape.internal_names else (entry.display_name or entry.name),
        entry.download_format,
        entry.quantization,
        entry.download_location,
        out.human_size(entry.download_size_bytes),
    ]
    if shape.backend:
        row.insert(1, entry.backend)
    if shape.installed:
        row.append("✓" if is_installed(entry) else "✗")
    if shape.host:
        row.append(entry.host or "(every host)")
    if memory is not None:
        row.append(max_context_cell(memory.of(entry)))
    return row


def _endpoint_json(entry: RegistryEntry, ollama_url: str) -> dict[str, Any] | None:
    """Where the variant is served (the port plan of services/serve/endpoints.py): what the GUI shows."""
    from imageworks.services.serve.endpoints import endpoint_for

    found = endpoint_for(entry, ollama_url)
    return {"base_url": found.base_url, "model": found.model} if found is not None else None


def _memory_json(found: MemoryEstimate | None) -> dict[str, Any] | None:
    return found.as_json() if found is not None else None


def _print_details(entry: RegistryEntry, same_weights: list[str], facts: HeaderFacts | None,
                   found: MemoryEstimate | None, visible: list[str]) -> None:
    from imageworks.cli._memory import estimate_lines
    from imageworks.services.listing.query import is_installed

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
        ("visible in", "; ".join(visible)),  # the apps it was shared with (share, dedupe)
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
@click.option("--role", "roles", multiple=True, metavar="ROLE", callback=check_role,
              help="A role the variant serves (repeat for several).")
@click.option("--priority", "priorities", multiple=True, metavar="ROLE=N",
              help="The variant's priority for ROLE (lower is preferred; repeat for several).")
@click.option("--clear", is_flag=True, help="Remove the variant's curated roles and priorities.")
@pass_app
def set_roles_command(app: AppContext, variant: str, roles: tuple[str, ...], priorities: tuple[str, ...], clear: bool) -> None:
    """Set the roles of VARIANT (and their priorities) in the curated layer; they replace its curated roles."""
    if clear == bool(roles or priorities):
        raise click.UsageError("give --role (and optionally --priority), or --clear", ctx=click.get_current_context())
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
    from imageworks.services.listing.stats import registry_stats

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
    from imageworks.services.share.checks import removal_notes, symlinked_apps

    registry = app.registry
    entry = registry.get(variant)
    plan = plan_removal(entry, registry.entries(), app.config, delete_files, purge)
    if plan.refusal:
        raise ImageworksError(f"not removing {entry.name}: {plan.refusal}")
    broken = symlinked_apps(entry, app.config.host) if plan.delete_path is not None else []
    if broken:
        raise ImageworksError(
            f"not deleting the files of {entry.name}: {', '.join(broken)} read(s) them through a symbolic link",
            "remove those links first, or run remove without --delete-files",
        )
    staying = removal_notes(entry, app.config.host) if plan.delete_path is not None else []
    if dry_run:
        for line in plan.describe():
            out.echo(f"would {line}")
        for line in staying:
            out.echo(f"the bytes stay: {line}")
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
        done = _deletion_line(plan.delete_path, plan.only_files, plan.shared_with)  # before: says what is there
        delete_installation(plan.delete_path, plan.roots, only=plan.only_files)
        out.echo(done + (" (this variant's names only; other apps still use the bytes)" if staying else ""))
        for line in staying:
            out.echo(f"  {line}")
    if purge:
        registry.delete(entry.name, backup=False)
        out.echo(f"Removed {entry.name} from the registry")
    else:
        registry.update(entry.name, lambda _: cleared_download_fields())
        kept = f" on this host (the installs on {', '.join(plan.other_hosts)} stay)" if plan.other_hosts else ""
        out.echo(f"Cleared the download metadata of {entry.name}{kept}")


def _deletion_line(path: Path, only: list[str] | None, shared_with: list[str]) -> str:
    """What ``remove --delete-files`` deleted: the files of a shared folder, or the link, file or folder."""
    if only is not None:
        kept = f"the files of {', '.join(shared_with)} stay"
        if not only:
            return f"Deleted no file of {path}: each is shared ({kept})"
        return f"Deleted {len(only)} file(s) of {path}: {', '.join(only)} ({kept})"
    kind = "link" if path.is_symlink() else "file" if path.is_file() else "folder" if path.is_dir() else "path"
    return f"Deleted the {kind} {path}" + (" and everything in it" if kind == "folder" else "")


@click.command("verify")
@click.argument("variant", required=False)
@click.option("--fix-missing", is_flag=True, help="Mark variants whose files are gone as not installed.")
@click.option("--quick", is_flag=True, help="Check paths, file lists and sizes only (no hashing).")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def verify_command(app: AppContext, variant: str | None, fix_missing: bool, quick: bool, as_json: bool) -> None:
    """Check installed variants this host can see: paths, file inventory and checksum drift. Exit 1 on problems."""
    from imageworks.core.hosts import HostView
    from imageworks.services.maintain.verify import verify_entry

    registry = app.registry
    view = HostView.of(app.config)
    everyone = [e for e in registry.entries() if view.sees(e)]  # another host's files are not ours to judge
    entries = [registry.get(variant)] if variant else [e for e in everyone if not e.is_logical]
    if variant:
        _refuse_other_host(entries[0], view)
    results = [_with_links(verify_entry(e, quick=quick, neighbours=everyone), e, app.config.host, quick) for e in entries]
    fixed = _record_and_fix(registry, results, fix_missing)
    by_name = {e.name: e for e in entries}
    if as_json:
        out.emit_json([_result_json(r, r.name in fixed, by_name[r.name]) for r in results])
    elif not results:
        out.note("Nothing to verify: no installed variants.")
    else:
        out.table(
            "Verification",
            ["Variant", "Status", "Problems"],
            [[r.name, r.status, "; ".join(r.problems)] for r in results],
        )
        _show_file_drift([r for r in results if r.name not in fixed], by_name)
    failing = [r for r in results if not r.ok and r.name not in fixed]
    if failing:
        raise click.exceptions.Exit(1)


def _with_links(result: VerifyResult, entry: RegistryEntry, host: str, quick: bool) -> VerifyResult:
    """``result`` with the problems of the entry's shared links (share, dedupe) added."""
    from imageworks.services.share.checks import check_links

    if result.status == "missing":
        return result
    problems = check_links(entry, host, quick=quick)
    if problems:
        result.problems.extend(problems)
        if result.status == "ok":
            result.status = "drift"
    return result


def _record_and_fix(registry: Registry, results: list[VerifyResult], fix_missing: bool) -> list[str]:
    """Record the access of every variant found; with ``fix_missing`` mark the missing ones
    not installed (after a backup, in one write with the access times). Returns those fixed."""
    from imageworks.services.listing.access import record_access
    from imageworks.services.maintain.removal import cleared_download_fields

    used = [r.name for r in results if r.status != "missing"]
    missing = [r for r in results if r.status == "missing"] if fix_missing else []
    if not missing:
        record_access(registry, used)
        return []
    registry.backup()
    with registry.batch():  # the fixes and the access times: one write
        record_access(registry, used)
        for result in missing:
            registry.update(result.name, lambda _: cleared_download_fields())
            result.problems.append("fixed: marked not installed")
    return [r.name for r in missing]


def _refuse_other_host(entry: RegistryEntry, view: HostView) -> None:
    """Verifying is for the host that holds the files: one line for another host's install."""
    if not view.sees(entry):
        raise ImageworksError(
            f"{entry.name} is installed on host {entry.host}, not on this host ({view.host})",
            "run verify on that host; `list --all-hosts` shows every host's installs",
        )


def _result_json(result: VerifyResult, fixed: bool, entry: RegistryEntry) -> dict[str, Any]:
    return {
        "name": result.name,
        "status": result.status,
        "path": result.path,
        "problems": result.problems,
        "missing_files": result.missing_files,
        "unexpected_files": result.unexpected_files,
        "files": [attrs.asdict(drift) for drift in result.files],
        "refetch": refetch_commands(entry, result),
        "checksum": result.checksum,
        "fixed": fixed,
    }


def _show_file_drift(results: list[VerifyResult], entries: dict[str, RegistryEntry]) -> None:
    """Each file that differs, with both digests (as ``hf cache verify``), then how to re-fetch just those."""
    rows = [
        [r.name, d.path, d.problem, d.expected_sha256 or "", d.actual_sha256 or "",
         out.human_size(d.expected_size), out.human_size(d.actual_size)]
        for r in results for d in r.files
    ]
    if not rows:
        return
    out.table("Files that differ", ["Variant", "File", "Problem", "Expected sha256", "Actual sha256",
                                    "Expected size", "Actual size"], rows)
    for result in results:
        commands = refetch_commands(entries[result.name], result)
        if commands:
            out.note(f"To re-fetch just the changed and missing files of {result.name}: {' && '.join(commands)}")


def refetch_commands(entry: RegistryEntry, result: VerifyResult) -> list[str]:
    """Shell commands that fetch again only the changed and missing files of a Hub download.

    The changed files are removed first: a re-run of ``download`` keeps every file whose
    size and digest match and fetches only what is missing (``--force`` would fetch all).
    """
    import shlex
    from pathlib import Path

    redo = [d for d in result.files if d.problem in ("changed", "missing")]
    if not redo or not entry.hf_id or not result.path:
        return []
    folder = Path(result.path) if Path(result.path).is_dir() else Path(result.path).parent
    changed = [str(folder / d.path) for d in redo if d.problem == "changed"]
    location = ["--location", entry.download_location] if entry.download_location else []
    download = ["imageworks-download", "download", entry.hf_id, *location]
    return ([shlex.join(["rm", "--", *changed])] if changed else []) + [shlex.join(download)]


@click.command("verify")
@click.argument("variant")
@click.option("--lock/--unlock", default=None, help="Record the current content digest as the locked one (refused when the files drifted), or unlock.")
@pass_app
def registry_verify_command(app: AppContext, variant: str, lock: bool | None) -> None:
    """Verify one variant and optionally lock its content digest for serving."""
    from imageworks.core.hosts import HostView
    from imageworks.services.listing.access import record_access
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
    from imageworks.core.convert import to_compact_dict
    from imageworks.services.timestamps import utc_now

    assert current is not None
    artifacts = attrs.evolve(current.artifacts, aggregate_sha256=checksum)
    lock = attrs.evolve(current.version_lock, locked=True, expected_aggregate_sha256=checksum, locked_at=utc_now())
    return {"artifacts": to_compact_dict(artifacts), "version_lock": to_compact_dict(lock)}


def _unlocked(current: RegistryEntry | None) -> dict[str, Any]:
    from imageworks.core.convert import to_compact_dict

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
