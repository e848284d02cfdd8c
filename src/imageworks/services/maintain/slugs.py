"""Simple slugs (guide 4.2, 7.2): ``preview-simple-slugs`` and ``apply-simple-slugs``.

The *simple slug* of an entry is its family and quant without backend or format, as
:func:`imageworks.core.naming.slug` builds it (``llama-3-8b-instruct-q4_k_m``), and its
simple display name is :func:`imageworks.core.naming.display_name`
(``llama 3 8b instruct (Q4 K M)``). The family is the recorded one, else derived from
the Hub id, the Ollama name or the entry's own name (:func:`entry_family`).

Two entries *collide* when they would carry the same slug: a vLLM and an Ollama build
of one model, two quants the family already names, or an entry outside the selection
that already holds the slug. A slug must name one entry, because ``registry.find``
looks entries up by slug. ``--disambiguate`` decides what colliding entries get:

- ``backend`` (default): every member of the collision gets ``-<backend>`` appended to
  its slug and ``[<backend>]`` to its display name.
- ``format``: the same with the download format (``-gguf``, ``-awq``).
- ``producer``: the same with the publisher (Hub owner or Ollama namespace).
- ``index``: members in a stable order (Hub id, served id, path, name); the first keeps
  the plain slug, the others get ``-2``, ``-3``... (all are numbered when an entry
  outside the selection holds the plain slug); display names get ``#2``, ``#3``.
- ``none``: nothing is appended.

What still collides afterwards (equal suffixes, a missing format, a rename onto a name
in use) is *unresolved*: such entries are skipped (``--allow-skip-on-collision``, the
default) or the whole command fails with nothing written (``--no-skip-on-collision``).
Skipping is decided to a fixed point, so a skipped entry keeping its old slug or name
never leaves a new duplicate behind.

Only live (not deprecated) entries are candidates; entries whose curated layer sets
``slug`` keep it (hand-kept) and count as holding it, and a curated ``display_name`` is
never replaced. Testing entries (guide 15) are left alone unless ``tests_only``, which
selects them and nothing else. ``rename`` (``--rename-slugs``) also makes the slug the
entry's key, keeping the old key in ``model_aliases``; curated entries are never renamed
(rename them in the curated file).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import RegistryLayers
from imageworks.core.model import RegistryEntry
from imageworks.core.naming import display_name, family_from_repo, normalize_name, ollama_family_and_quant, slug
from imageworks.core.registry import Registry
from imageworks.services.listing.query import is_testing
from imageworks.services.maintain.cleanup import is_ollama

Strategy = Literal["backend", "format", "producer", "index", "none"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
SlugAction = Literal["update", "rename", "unchanged", "skip"]
ACTIONS: tuple[str, ...] = get_args(SlugAction)


def entry_family(entry: RegistryEntry) -> str:
    """The family of ``entry``: recorded, else from its Hub id, Ollama name or own name."""
    if entry.family:
        return normalize_name(entry.family)
    if entry.hf_id:
        repo, _, branch = entry.hf_id.partition("@")
        return family_from_repo(repo, branch or None)
    if entry.served_model_id:
        return ollama_family_and_quant(entry.served_model_id)[0]
    return normalize_name(entry.name)


def simple_names(entry: RegistryEntry) -> tuple[str, str]:
    """(simple slug, simple display name) of ``entry``, before any disambiguation."""
    family = entry_family(entry)
    return slug(family, entry.quantization, entry.download_format), display_name(family, entry.quantization, entry.download_format)


@attrs.define(kw_only=True)
class SlugItem:
    """One selected entry: its proposal and what applying does with it."""

    name: str
    group: str  # "ollama" or "hf"
    current_slug: str | None
    current_display_name: str | None
    base_slug: str
    slug: str
    display_name: str
    action: SlugAction = "unchanged"
    reason: str = ""
    new_name: str | None = None
    collides_with: list[str] = attrs.field(factory=list)
    fields: dict[str, Any] = attrs.field(factory=dict)

    def as_json(self) -> dict[str, Any]:
        """A plain dict for ``--json``."""
        return attrs.asdict(self, filter=lambda attribute, _: attribute.name != "fields")


@attrs.define(kw_only=True)
class SlugPlan:
    """What ``apply-simple-slugs`` does (``preview-simple-slugs`` shows it with ``none``)."""

    strategy: str
    rename: bool
    tests_only: bool
    dry_run: bool = True
    items: list[SlugItem] = attrs.field(factory=list)
    backup: str | None = None

    @property
    def unresolved(self) -> list[SlugItem]:
        """Items skipped because they still collide."""
        return [item for item in self.items if item.collides_with]

    @property
    def changes(self) -> list[SlugItem]:
        """Items that write to the registry."""
        return [item for item in self.items if item.action in {"update", "rename"}]

    def collisions(self) -> dict[str, list[str]]:
        """Base slug -> the selected entries proposing it, where two or more do."""
        by_base: dict[str, list[str]] = defaultdict(list)
        for item in self.items:
            by_base[item.base_slug].append(item.name)
        return {base: names for base, names in sorted(by_base.items()) if len(names) > 1}

    def counts(self) -> dict[str, int]:
        """Items per action."""
        return {action: sum(1 for i in self.items if i.action == action) for action in ACTIONS}

    def to_json(self) -> dict[str, Any]:
        """The plain JSON form printed by ``--json``."""
        return {
            "command": "apply-simple-slugs",
            "applied": not self.dry_run,
            "dry_run": self.dry_run,
            "strategy": self.strategy,
            "rename_slugs": self.rename,
            "tests_only": self.tests_only,
            "backup": self.backup,
            "counts": self.counts(),
            "collisions": self.collisions(),
            "unresolved": [item.name for item in self.unresolved],
            "items": [item.as_json() for item in self.items],
        }

    def summary(self) -> str:
        """One line: counts per action, and whether anything was written."""
        counts = ", ".join(f"{n} {a}" for a, n in self.counts().items() if n) or "nothing to do"
        return f"{'Dry run (nothing written): ' if self.dry_run else ''}apply-simple-slugs ({self.strategy}): {counts}"


def in_scope(entry: RegistryEntry, include_ollama: bool, include_hf: bool) -> bool:
    """Whether ``entry`` is in the groups asked for (neither flag: both groups)."""
    if not include_ollama and not include_hf:
        return True
    return include_ollama if is_ollama(entry) else include_hf


def _suffix(entry: RegistryEntry, strategy: str) -> str | None:
    token = {"backend": entry.backend, "format": entry.download_format, "producer": entry.producer}.get(strategy)
    return normalize_name(token) if token else None


def _identity(item: SlugItem, entry: RegistryEntry) -> tuple[str, str]:
    return (entry.hf_id or entry.served_model_id or entry.download_path or "", item.name)


def _disambiguate(members: Sequence[tuple[SlugItem, RegistryEntry]], strategy: str, taken: bool) -> None:
    """Give colliding ``members`` their slugs by ``strategy`` (``taken``: an outsider holds the plain slug)."""
    if strategy == "none":
        return
    if strategy == "index":
        ordered = sorted(members, key=lambda pair: _identity(*pair))
        for number, (item, _) in enumerate(ordered, start=2 if taken else 1):
            if number > 1:
                item.slug, item.display_name = f"{item.base_slug}-{number}", f"{item.display_name} #{number}"
        return
    for item, entry in members:
        token = _suffix(entry, strategy)
        if token:
            item.slug, item.display_name = f"{item.base_slug}-{token}", f"{item.display_name} [{token}]"


def plan_simple_slugs(
    registry: Registry,
    *,
    include_ollama: bool = False,
    include_hf: bool = False,
    strategy: str = "backend",
    rename: bool = False,
    tests_only: bool = False,
) -> SlugPlan:
    """Work out every selected entry's simple slug and display name, and what to write; write nothing."""
    if strategy not in STRATEGIES:
        raise ImageworksError(f"unknown --disambiguate strategy {strategy!r}", "choose one of " + ", ".join(STRATEGIES))
    layers, entries = registry.layers(), registry.entries()
    patterns = registry.config.test_model_patterns
    plan = SlugPlan(strategy=strategy, rename=rename, tests_only=tests_only, dry_run=registry.is_scratch)
    selected: dict[str, tuple[SlugItem, RegistryEntry]] = {}
    for entry in entries:
        if entry.deprecated or not in_scope(entry, include_ollama, include_hf):
            continue
        if is_testing(entry, patterns) != tests_only or "slug" in layers.curated.get(entry.name, {}):
            continue
        base, display = simple_names(entry)
        item = SlugItem(
            name=entry.name, group="ollama" if is_ollama(entry) else "hf", current_slug=entry.slug,
            current_display_name=entry.display_name, base_slug=base, slug=base, display_name=display,
        )
        selected[entry.name] = (item, entry)
        plan.items.append(item)
    outsiders = [e for e in entries if e.name not in selected and not e.deprecated and e.slug]
    held = {e.slug for e in outsiders}
    by_base: dict[str, list[tuple[SlugItem, RegistryEntry]]] = defaultdict(list)
    for pair in selected.values():
        by_base[pair[0].base_slug].append(pair)
    for base, members in by_base.items():
        if len(members) > 1 or base in held:
            _disambiguate(members, strategy, base in held)
    _resolve(plan, selected, outsiders, entries, layers)
    for item, entry in selected.values():
        _decide(item, entry, layers, rename)
    return plan


def _resolve(
    plan: SlugPlan,
    selected: dict[str, tuple[SlugItem, RegistryEntry]],
    outsiders: Iterable[RegistryEntry],
    entries: Iterable[RegistryEntry],
    layers: RegistryLayers,
) -> None:
    """Mark what still collides (slugs, and names when renaming), to a fixed point."""
    outsiders, entries = list(outsiders), list(entries)
    while True:
        holders: dict[str, list[str]] = defaultdict(list)
        names: dict[str, list[str]] = defaultdict(list)
        for e in outsiders:
            holders[e.slug or ""].append(e.name)
        for e in entries:
            pair = selected.get(e.name)
            if pair is None:
                names[e.name].append(e.name)
                continue
            item = pair[0]
            if item.collides_with:  # skipped: keeps its slug and its name
                if item.current_slug:
                    holders[item.current_slug].append(item.name)
                names[item.name].append(item.name)
            else:
                holders[item.slug].append(item.name)
                renamed = plan.rename and item.name not in layers.curated
                names[item.slug if renamed else item.name].append(item.name)
        fresh = False
        for table in (holders, names):
            for key, holding in table.items():
                if len(holding) < 2:
                    continue
                for name in holding:
                    pair = selected.get(name)
                    if pair is not None and not pair[0].collides_with:
                        pair[0].collides_with = sorted(n for n in holding if n != name)
                        pair[0].reason = f"{key!r} would also name {', '.join(pair[0].collides_with)}"
                        fresh = True
        if not fresh:
            return


def _decide(item: SlugItem, entry: RegistryEntry, layers: RegistryLayers, rename: bool) -> None:
    """Fill ``item.action``, ``fields`` and ``new_name``."""
    if item.collides_with:
        item.action = "skip"
        return
    curated = layers.curated.get(entry.name, {})
    if item.slug != entry.slug:
        item.fields["slug"] = item.slug
    if item.display_name != entry.display_name and "display_name" not in curated:
        item.fields["display_name"] = item.display_name
    notes = ["display name kept (curated)"] if "display_name" in curated and item.display_name != entry.display_name else []
    if rename and item.slug != entry.name:
        if entry.name in layers.curated:
            notes.append("not renamed (curated; rename it in model_registry.curated.json)")
        else:
            item.new_name = item.slug
            item.action = "rename"
            item.reason = "; ".join([f"renamed from {entry.name}", *notes])
            return
    item.action = "update" if item.fields else "unchanged"
    item.reason = "; ".join(notes)


def apply_simple_slugs(
    registry: Registry, planner: Callable[[Registry], SlugPlan], *, allow_skip: bool = True, backup: bool = True
) -> SlugPlan:
    """Plan with ``planner`` and write the plan, in one batch of ``registry`` (after a
    backup of the files as they were, unless ``backup`` is off).

    Unresolved collisions without ``allow_skip`` raise before anything is written. On a
    scratch registry (a dry run) the writes go to memory and no backup is made.
    """
    with registry.batch():
        plan = planner(registry)
        plan.dry_run = registry.is_scratch
        if plan.unresolved and not allow_skip:
            shown = "; ".join(f"{i.name} ({i.slug!r} also names {', '.join(i.collides_with)})" for i in plan.unresolved[:5])
            more = f" and {len(plan.unresolved) - 5} more" if len(plan.unresolved) > 5 else ""
            raise ImageworksError(
                f"{len(plan.unresolved)} simple slug collision(s) left by --disambiguate {plan.strategy}: "
                f"{shown}{more}; nothing written",
                "choose another --disambiguate strategy or allow skipping (--allow-skip-on-collision)",
            )
        changes = plan.changes
        if changes and backup and not registry.is_scratch:
            copies = registry.backup()
            plan.backup = str(Path(copies[0]).parent) if copies else None
        raw = registry.layers().discovered if any(item.new_name for item in changes) else {}
        for item in changes:
            if item.new_name is None:
                registry.update(item.name, lambda _, values=item.fields: values)  # type: ignore[misc]  # a lambda with a default
                continue
            moved = {key: value for key, value in raw[item.name].items() if key != "name"}
            moved.update(item.fields)
            moved["model_aliases"] = sorted({*moved.get("model_aliases", []), item.name})
            registry.delete(item.name, backup=False, layers=("discovered",))
            registry.update(item.new_name, lambda _, values=moved: values)  # type: ignore[misc]
    return plan
