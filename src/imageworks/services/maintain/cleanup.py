"""Registry clean-up (guide 7.2): what each purge removes, and one batch that removes it.

Every command is a plan and its application. A plan (:func:`plan_reset_discovered`,
:func:`plan_purge_hf`, :func:`plan_purge_logical_only`, :func:`plan_purge_deprecated`
and ``services/maintain/duplicates.py``) reads the registry and decides, per entry, what happens and
why; it writes nothing, and reading a damaged layer raises before anything is written.
:func:`apply_cleanup` takes a backup (unless told not to) and carries the plan out in
one :meth:`Registry.batch`, so the files end as before or as after, never between. A dry
run applies the same plan to :meth:`Registry.scratch`, so it reports what the real run
does.

Which layer a command touches is part of its plan: purges remove the discovered
layer's record of an entry and leave a curated baseline where it is (reported as
``keep``), except ``purge-logical-only --include-curated`` and ``purge-deprecated``,
which remove the entry from both layers, as ``remove --purge`` does. Files on disk are
never touched. With many hosts on one registry, ``purge-hf`` judges only the installs
this host sees, and of a variant other hosts also hold it forgets only this host's
install (``forget``); their installs stay.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import LayerName, RegistryLayers
from imageworks.core.model import RegistryEntry
from imageworks.core.registry import Registry
from imageworks.services.maintain.backups import backup_place
from imageworks.services.maintain.removal import cleared_download_fields

#: ``remove``: delete from ``layers``; ``retire``: overlay ``deprecated`` and
#: ``superseded_by`` in discovered (a curated entry); ``forget``: clear this host's install
#: of a variant other hosts hold too (theirs stay); ``keep``: left alone, for the reason given.
CleanupAction = Literal["remove", "retire", "forget", "keep"]
ACTIONS: tuple[CleanupAction, ...] = ("remove", "retire", "forget", "keep")

#: Serving stacks the guide and the tools name; together with the backends found in the
#: registry they are what ``--backend`` accepts, so a typo is an error, not an empty run.
KNOWN_BACKENDS = ("gguf", "llamacpp", "lmdeploy", "lmstudio", "ollama", "sglang", "transformers", "unassigned", "vllm")


@attrs.define(kw_only=True)
class CleanupItem:
    """What happens (or, in a dry run, would happen) to one entry."""

    name: str
    action: CleanupAction
    reason: str
    layers: list[LayerName] = attrs.field(factory=list)
    superseded_by: str | None = None

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return attrs.asdict(self)


@attrs.define(kw_only=True)
class CleanupReport:
    """The plan of one clean-up command and, once applied, where its backup went."""

    command: str
    dry_run: bool = True
    items: list[CleanupItem] = attrs.field(factory=list)
    backup: str | None = None
    notes: list[str] = attrs.field(factory=list)

    @property
    def changes(self) -> list[CleanupItem]:
        """The items that change the registry."""
        return [item for item in self.items if item.action != "keep"]

    def counts(self) -> dict[str, int]:
        """Number of items per action."""
        return {action: sum(1 for i in self.items if i.action == action) for action in ACTIONS}

    def to_json(self) -> dict[str, Any]:
        """The plain JSON form printed by ``--json``."""
        return {
            "command": self.command,
            "applied": not self.dry_run,
            "dry_run": self.dry_run,
            "backup": self.backup,
            "counts": self.counts(),
            "items": [item.as_json() for item in self.items],
            "notes": list(self.notes),
        }

    def headers(self) -> list[str]:
        """Columns of :meth:`rows`."""
        return ["Action", "Variant", "Layers", "Reason"]

    def rows(self) -> list[list[str]]:
        """One row per entry."""
        return [[i.action, i.name, ",".join(i.layers), i.reason] for i in self.items]

    def summary(self) -> str:
        """One line: counts per action, and whether anything was written."""
        counts = ", ".join(f"{n} {a}" for a, n in self.counts().items() if n) or "nothing to do"
        return f"{'Dry run (nothing written): ' if self.dry_run else ''}{self.command}: {counts}"


def check_backend(name: str | None, entries: Iterable[RegistryEntry], allow_all: bool = False) -> str | None:
    """``name`` in lower case if it is a backend the guide or the registry knows, else raise.

    ``None`` passes through (no filter); ``all`` passes when ``allow_all``.
    """
    if name is None:
        return None
    wanted = name.strip().lower()
    if allow_all and wanted == "all":
        return "all"
    known = {b.lower() for b in KNOWN_BACKENDS} | {e.backend.lower() for e in entries}
    if wanted in known:
        return wanted
    close = difflib.get_close_matches(wanted, sorted(known), n=3, cutoff=0.5)
    hint = ("closest: " + ", ".join(close) + "; " if close else "") + "known: " + ", ".join(sorted(known))
    raise ImageworksError(f"unknown backend {name!r}", hint)


def _layers_of(name: str, layers: RegistryLayers) -> list[LayerName]:
    found: list[LayerName] = []
    if name in layers.curated:
        found.append("curated")
    if name in layers.discovered:
        found.append("discovered")
    return found


def _discovered_record(entry: RegistryEntry, layers: RegistryLayers, reason: str) -> CleanupItem:
    """Remove the discovered layer's record of ``entry``; a curated baseline stays (and is said)."""
    held = _layers_of(entry.name, layers)
    if "discovered" not in held:
        return CleanupItem(name=entry.name, action="keep", reason=f"{reason}, but curated only (edit model_registry.curated.json)")
    if "curated" in held:
        return CleanupItem(
            name=entry.name, action="remove", layers=["discovered"], reason=f"{reason}; the curated baseline stays"
        )
    return CleanupItem(name=entry.name, action="remove", layers=["discovered"], reason=reason)


def plan_reset_discovered(registry: Registry, backend: str | None) -> CleanupReport:
    """Drop the discovered records of ``backend`` (default and ``all``: every backend) for a fresh re-import."""
    layers, entries = registry.layers(), registry.entries()
    wanted = check_backend(backend, entries, allow_all=True) or "all"
    report = CleanupReport(command="reset-discovered", dry_run=registry.is_scratch)
    for entry in entries:
        if entry.name not in layers.discovered or (wanted != "all" and entry.backend.lower() != wanted):
            continue
        report.items.append(_discovered_record(entry, layers, f"discovered entry of backend {entry.backend}"))
    return report


def root_forms(root: Path) -> tuple[Path, ...]:
    """``root`` as written (made absolute) and with links resolved, for :func:`under_root`."""
    written = Path(os.path.normpath(root.expanduser().absolute()))
    return tuple(dict.fromkeys((written, root.expanduser().resolve())))


def under_root(path: str | None, roots: tuple[Path, ...]) -> bool:
    """Whether ``path`` lies strictly inside one of ``roots`` (:func:`root_forms`), as
    written or with links resolved."""
    if not path or "://" in path:
        return False
    candidate = Path(os.path.normpath(Path(path).expanduser().absolute()))
    if any(candidate != r and candidate.is_relative_to(r) for r in roots):
        return True
    real = candidate.resolve()
    return any(real != r and real.is_relative_to(r) for r in roots)


def plan_purge_hf(registry: Registry, weights_root: Path, backend: str | None) -> CleanupReport:
    """Drop the discovered records of entries whose files lie under ``weights_root`` (of ``backend``)."""
    layers, entries = registry.layers(), registry.entries()
    wanted = check_backend(backend, entries)
    report = CleanupReport(command="purge-hf", dry_run=registry.is_scratch)
    roots = root_forms(weights_root)
    for entry in entries:
        if wanted is not None and entry.backend.lower() != wanted:
            continue
        if not registry.view.sees(entry) or not under_root(entry.download_path, roots):
            continue  # another host's install lies under its own root, not this one
        if entry.installs:
            hosts = ", ".join(sorted({i.host or "(every host)" for i in entry.installs}))
            report.items.append(CleanupItem(
                name=entry.name, action="forget", layers=["discovered"],
                reason=f"files under {weights_root}; the installs on {hosts} stay",
            ))
        else:
            report.items.append(_discovered_record(entry, layers, f"files under {weights_root}"))
    return report


def plan_purge_logical_only(registry: Registry, include_curated: bool) -> CleanupReport:
    """Entries without local files (no path, or ``ollama://``): drop discovered-only ones,
    or with ``include_curated`` every one from both layers."""
    layers = registry.layers()
    report = CleanupReport(command="purge-logical-only", dry_run=registry.is_scratch)
    for entry in registry.entries():
        if not entry.is_logical:
            continue
        held = _layers_of(entry.name, layers)
        if include_curated:
            report.items.append(CleanupItem(name=entry.name, action="remove", layers=held, reason="logical-only entry"))
        elif "curated" in held:
            report.items.append(
                CleanupItem(name=entry.name, action="keep", reason="logical-only, but curated (use --include-curated)")
            )
        else:
            report.items.append(CleanupItem(name=entry.name, action="remove", layers=held, reason="logical-only entry"))
    return report


def is_ollama(entry: RegistryEntry) -> bool:
    """Whether ``entry`` stands for an Ollama model (provider, backend or ``ollama://`` path)."""
    return entry.source_provider == "ollama" or entry.backend == "ollama" or (entry.download_path or "").startswith("ollama://")


def is_placeholder(entry: RegistryEntry) -> bool:
    """A legacy Ollama placeholder: an Ollama entry without local files (``ollama://`` or no path)."""
    return is_ollama(entry) and entry.is_logical


def plan_purge_deprecated(registry: Registry, placeholders_only: bool) -> CleanupReport:
    """Deprecated entries (only legacy Ollama placeholders with ``placeholders_only``), from both layers."""
    layers = registry.layers()
    report = CleanupReport(command="purge-deprecated", dry_run=registry.is_scratch)
    for entry in registry.entries():
        if not entry.deprecated:
            continue
        if placeholders_only and not is_placeholder(entry):
            continue
        reason = "deprecated Ollama placeholder" if is_placeholder(entry) else "deprecated"
        superseded = entry.extra.get("superseded_by")
        if isinstance(superseded, str):
            reason += f" (superseded by {superseded})"
        report.items.append(CleanupItem(name=entry.name, action="remove", layers=_layers_of(entry.name, layers), reason=reason))
    return report


def apply_cleanup(registry: Registry, planner: Callable[[Registry], CleanupReport], backup: bool = True) -> CleanupReport:
    """Plan with ``planner`` and carry the plan out, in one batch of ``registry``.

    Planning inside the batch means the plan is made on the layers the writes apply to
    (no other process writes in between); a damaged layer raises before anything is
    written. A backup of the files as they were is taken first when ``backup`` and the
    plan changes something. On a scratch registry (a dry run) the same writes go to
    memory and no backup is made.
    """
    with registry.batch():
        report = planner(registry)
        report.dry_run = registry.is_scratch
        changes = report.changes
        if changes and backup and not registry.is_scratch:
            copies = registry.backup()
            report.backup = backup_place(copies)
        for item in changes:
            if item.action == "remove":
                registry.delete(item.name, backup=False, layers=tuple(item.layers))
            elif item.action == "forget":
                registry.update(item.name, lambda _: cleared_download_fields())
            else:
                fields = {"deprecated": True, "superseded_by": item.superseded_by}
                registry.update(item.name, lambda _, values=fields: values)  # type: ignore[misc]  # a lambda with a default
    return report


def names(items: Sequence[CleanupItem], action: CleanupAction) -> list[str]:
    """The names of ``items`` with ``action``."""
    return [item.name for item in items if item.action == action]
