"""Finds plugins with stevedore, registers them with pluggy, and collects their work.

This is the only module that reads the ``imageworks.plugins`` entry-point group. Every
capability, built-in or third-party, is registered the same way. A plugin that fails to
import, to register, or to hand back well-formed objects is recorded as ``failed`` with
its error and left out; it never stops the CLI or the GUI.

Environment switches:

- ``IMAGEWORKS_LOAD_PLUGINS=a,b``: load only these third-party plugins (built-ins, the
  entry points of the ``imageworks`` distribution itself, always load unless disabled).
- ``IMAGEWORKS_DISABLE_PLUGINS=a,b``: do not load these plugins, built-ins included,
  except the essential ones (:data:`ESSENTIAL_PLUGINS`: the registry backend and the
  command groups that list and inspect): naming one is refused with
  :class:`EssentialPluginError`, as pytest refuses to disable its essential plugins.
- ``IMAGEWORKS_TRACE_PLUGINS=1``: print every hook call and result to stderr.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import sys
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, get_args

import attrs
import pluggy
from stevedore import NamedExtensionManager

from imageworks.core import hookspecs
from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import Detector, GuiPanel, RegistryBackend, Source
from imageworks.core.model import PluginRecord, Route, RouteRequest, Trust
from imageworks.core.settings import Setting

if TYPE_CHECKING:
    import click

    from imageworks.core.config import Config
    from imageworks.core.hookspecs import Program

ENTRY_POINT_GROUP = "imageworks.plugins"
BUILTIN_PREFIX = "imageworks."
# Without these nothing works and `imageworks-download plugins` could not say why.
ESSENTIAL_PLUGINS = frozenset({"registry-json", "cli-inventory", "cli-admin"})


class EssentialPluginError(ImageworksError):
    """``IMAGEWORKS_DISABLE_PLUGINS`` names a plugin the program cannot run without."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(names)
        listed = ", ".join(repr(n) for n in self.names)
        plural = "s" if len(self.names) > 1 else ""
        super().__init__(
            f"plugin{plural} {listed} {'are' if plural else 'is'} essential and cannot be disabled",
            f"remove {'them' if plural else 'it'} from IMAGEWORKS_DISABLE_PLUGINS",
        )


def _names(environ: Mapping[str, str], variable: str) -> set[str] | None:
    value = environ.get(variable)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _distributions() -> dict[str, tuple[str | None, str | None]]:
    """Entry-point name -> (distribution, version). stevedore's cache does not keep them."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found[ep.name] = (dist.name, dist.version) if dist is not None else (None, None)
    return found


#: What pluggy can take as a hook implementation (``_static_hook_attr``): anything else is passed over.
_HOOKABLE = (types.FunctionType, types.MethodType, staticmethod, classmethod)


class _Manager(pluggy.PluginManager):
    """pluggy's manager, quicker to register a module: a name that cannot be a hook implementation
    is passed over before pluggy's static look-up (about 800 names, 2.4 ms, at every start)."""

    def parse_hookimpl_opts(self, plugin: object, name: str) -> pluggy.HookimplOpts | None:
        """pluggy's answer, ``None`` at once for a module attribute of a kind pluggy never hooks."""
        if isinstance(plugin, types.ModuleType) and not isinstance(vars(plugin).get(name), _HOOKABLE):
            return None
        return super().parse_hookimpl_opts(plugin, name)


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".strip()
    return text.splitlines()[0] if text else type(error).__name__


class PluginHost:
    """The pluggy manager plus what we learnt loading it: a typed facade over ``pm.hook``."""

    def __init__(self, pm: pluggy.PluginManager, records: dict[str, PluginRecord]) -> None:
        self.pm = pm
        self._records = records
        self._collected: dict[str, list[Any]] = {}
        self._owners: dict[str, list[tuple[str, Any]]] = {}

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> PluginHost:
        """Discover, filter and register every plugin of the entry-point group."""
        environ = os.environ if environ is None else environ
        pm = _Manager(hookspecs.PROJECT)
        pm.add_hookspecs(hookspecs)
        if environ.get("IMAGEWORKS_TRACE_PLUGINS", "").strip() not in {"", "0"}:
            pm.trace.root.setwriter(sys.stderr.write)
            pm.enable_tracing()

        records: dict[str, PluginRecord] = {}
        allow = _names(environ, "IMAGEWORKS_LOAD_PLUGINS")
        deny = _names(environ, "IMAGEWORKS_DISABLE_PLUGINS") or set()
        if deny & ESSENTIAL_PLUGINS:
            raise EssentialPluginError(deny & ESSENTIAL_PLUGINS)
        # An empty allow-list reads the group without importing anything.
        entry_points = NamedExtensionManager(
            ENTRY_POINT_GROUP, names=[], on_missing_entrypoints_callback=None
        ).list_entry_points()
        wanted = []
        for ep in sorted(entry_points, key=lambda e: e.name):
            builtin = ep.value.startswith(BUILTIN_PREFIX)
            if ep.name in deny or (allow is not None and not builtin and ep.name not in allow):
                records[ep.name] = PluginRecord(name=ep.name, module=ep.value, distribution=None, version=None,
                                                status="disabled")
            else:
                wanted.append(ep.name)

        def failed(_manager: Any, ep: importlib.metadata.EntryPoint, error: BaseException) -> None:
            records[ep.name] = PluginRecord(name=ep.name, module=ep.value, distribution=None, version=None,
                                            status="failed", error=_one_line(error))

        manager = NamedExtensionManager(
            ENTRY_POINT_GROUP,
            names=wanted,
            name_order=True,
            on_load_failure_callback=failed,
            on_missing_entrypoints_callback=None,
        )
        for extension in manager:
            record = PluginRecord(name=extension.name, module=extension.entry_point.value, distribution=None,
                                  version=None, status="loaded")
            error = _register(pm, extension.plugin, extension.name)
            if error:
                record = _with(record, status="failed", error=error)
            else:
                hooks = sorted(caller.name for caller in pm.get_hookcallers(extension.plugin) or [])
                record = _with(record, hooks=tuple(hooks))
            records[extension.name] = record

        host = cls(pm, records)
        _WAITING.append(host)  # its converter hooks run when the converter is first needed (cattrs costs every start)
        if "imageworks.core.convert" in sys.modules:
            converter_hooks()
        return host

    # -- what was loaded -----------------------------------------------------------------
    def records(self) -> list[PluginRecord]:
        """Every plugin, loaded, failed or disabled, after validating what each provides."""
        self.sources()
        self.detectors()
        self.registry_backends()
        self.gui_panels()
        converter_hooks()
        # Distributions are read only here: scanning every installed package's metadata
        # costs more than the rest of start-up, and only `plugins` shows them.
        dists = _distributions()
        for name, record in self._records.items():
            dist, version = dists.get(name, (None, None))
            self._records[name] = _with(record, distribution=dist, version=version)
        return [self._records[name] for name in sorted(self._records)]

    # -- typed access to the hooks -------------------------------------------------------
    def sources(self) -> dict[str, Source]:
        """Source name -> source, from ``imageworks_register_sources``."""
        return {s.name: s for s in self._collect("imageworks_register_sources", lambda v: _valid(v, Source, "source"))}

    def source(self, name: str) -> Source:
        """The source called ``name``; a one-line error says why it is missing."""
        found = self.sources().get(name)
        if found is None:
            raise ImageworksError(f"source {name!r} is not available{self._why_missing(name)}")
        return found

    def source_for(self, identifier: str, config: Config | None = None) -> Source:
        """The first source, by ``priority`` then name, whose ``handles(identifier, config)`` is true.

        ``config`` defaults to the configuration loaded now (once, for every source). A
        source whose ``handles`` raises is reported as a failed plugin and skipped.
        """
        from imageworks.core.config import given_config

        config = given_config(config)
        owners = {id(value): plugin for plugin, value in self._collected_owners("imageworks_register_sources")}
        for source in sorted(self.sources().values(), key=lambda s: (s.priority, s.name)):
            try:
                if _handles(source, identifier, config):
                    return source
            except Exception as error:  # a plugin's bug must not stop the program
                self._fail(owners.get(id(source), ""), f"{source.name}.handles: {_one_line(error)}")
        raise ImageworksError(f"no source handles {identifier!r}{self._why_missing(None)}",
                              "use owner/repo[@branch], a Hub URL, hf://owner/repo or ollama://name:tag")

    def _why_missing(self, name: str | None) -> str:
        """``: plugin 'x' is disabled ...`` for the source plugins that are off, else ``""``."""
        def may_provide_sources(record: PluginRecord) -> bool:
            builtin = record.module.startswith(BUILTIN_PREFIX)
            return not builtin or record.module.startswith(BUILTIN_PREFIX + "providers.")

        off = [
            r for r in self._records.values()
            if r.status != "loaded" and may_provide_sources(r) and (name is None or name in r.name)
        ]
        reasons = []
        for record in sorted(off, key=lambda r: r.name):
            if record.status == "disabled":
                reasons.append(f"plugin {record.name!r} is disabled by IMAGEWORKS_DISABLE_PLUGINS "
                               "(remove it from that list to re-enable)")
            else:
                reasons.append(f"plugin {record.name!r} failed to load: {record.error}")
        return (": " + "; ".join(reasons)) if reasons else ""

    def detectors(self) -> list[Detector]:
        """Every detector, from ``imageworks_register_detectors``."""
        return self._collect("imageworks_register_detectors", _valid_detector)

    def registry_backends(self) -> dict[str, RegistryBackend]:
        """Backend name -> backend, from ``imageworks_register_registry_backends``."""
        backends = self._collect("imageworks_register_registry_backends",
                                 lambda v: _valid(v, RegistryBackend, "registry backend"))
        return {b.name: b for b in backends}

    def settings(self) -> list[tuple[str, Setting]]:
        """(plugin, setting) for every setting declared by a plugin (``imageworks_register_settings``)
        or by a source (its ``settings``)."""
        self._collect("imageworks_register_settings", _valid_setting)
        declared = list(self._owners["imageworks_register_settings"])
        for plugin, source in self._collected_owners("imageworks_register_sources"):
            declared += [(plugin, s) for s in getattr(source, "settings", ()) if _valid_setting(s) is None]
        return declared

    def gui_panels(self) -> list[GuiPanel]:
        """GUI panels, from ``imageworks_register_gui_panels``."""
        return self._collect("imageworks_register_gui_panels", lambda v: _valid(v, GuiPanel, "panel"))

    def route(self, request: RouteRequest, config: Any) -> Route | None:
        """The first router's answer for ``request`` (``imageworks_route_location``).

        Routers are asked one at a time in pluggy's call order; the first non-``None``
        answer wins (``firstresult``). A router that raises is recorded as a failed
        plugin and the next one is asked.
        """
        for _name, answer in self._each_outcome("imageworks_route_location", request=request, config=config):
            if answer is not None:
                return answer  # type: ignore[no-any-return]
        return None

    def register_commands(self, cli: click.Group, program: Program) -> None:
        """Let every plugin add its commands to ``cli``; a failing plugin is recorded."""
        self._call_each("imageworks_register_commands", cli=cli, program=program)

    # -- machinery -----------------------------------------------------------------------
    def _plugins_implementing(self, hook_name: str) -> list[tuple[str, object]]:
        caller = getattr(self.pm.hook, hook_name)
        found = []
        for impl in reversed(caller.get_hookimpls()):  # pluggy's own call order
            name = self.pm.get_name(impl.plugin)
            if name is not None:
                found.append((name, impl.plugin))
        return found

    def _each_outcome(self, hook_name: str, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        """(plugin, what its implementation returned), plugin by plugin in pluggy's order.

        Each call goes through pluggy (a subset caller holding that plugin only), so a
        ``firstresult`` hook gives one value, others a list; a raising plugin is
        recorded as failed and skipped. Lazy: stop iterating to stop calling.
        """
        for name, plugin in self._plugins_implementing(hook_name):
            others = [p for p in self.pm.get_plugins() if p is not plugin]
            caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
            try:
                outcome = caller(**kwargs)
            except Exception as error:  # a plugin's bug must not stop the program
                self._fail(name, f"{hook_name}: {_one_line(error)}")
                continue
            yield name, outcome

    def _call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a (list-returning) hook plugin by plugin so a failure is attributed."""
        return [(name, value) for name, outcome in self._each_outcome(hook_name, **kwargs) for value in outcome]

    def _collected_owners(self, hook_name: str) -> list[tuple[str, Any]]:
        """(plugin name, object) for every valid object collected from ``hook_name``."""
        self._collect(hook_name, lambda _value: None)
        return list(self._owners.get(hook_name, []))

    def _collect(self, hook_name: str, check: Callable[[Any], str | None]) -> list[Any]:
        if hook_name not in self._collected:
            owners: list[tuple[str, Any]] = []
            items: list[Any] = []
            seen: dict[str | None, str] = {}  # object name -> plugin (``check`` may let nameless ones by)
            for plugin_name, result in self._call_each(hook_name):
                try:
                    values = list(result or [])
                except TypeError:
                    self._fail(plugin_name, f"{hook_name} must return a list, got {type(result).__name__}")
                    continue
                for value in values:
                    problem = check(value)
                    key = getattr(value, "name", None)
                    if problem is None and key in seen:
                        problem = f"{key!r} is already provided by plugin {seen[key]!r}"
                    if problem:
                        self._fail(plugin_name, f"{hook_name}: {problem}")
                        continue
                    seen[key] = plugin_name
                    items.append(value)
                    owners.append((plugin_name, value))
            self._collected[hook_name] = items
            self._owners[hook_name] = owners
        return self._collected[hook_name]

    def _fail(self, name: str, error: str) -> None:
        record = self._records.get(name)
        if record is None:  # registered on the manager directly (an embedding program, a test)
            plugin = self.pm.get_plugin(name)
            if plugin is None:
                return
            module = getattr(plugin, "__name__", None) or type(plugin).__module__
            record = PluginRecord(name=name, module=module, distribution=None, version=None, status="loaded")
        joined = error if not record.error else f"{record.error}; {error}"
        self._records[name] = _with(record, status="failed", error=joined)


def _with(record: PluginRecord, **changes: Any) -> PluginRecord:
    return attrs.evolve(record, **changes)


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> str | None:
    """Register ``plugin``; return an error line instead of raising."""
    try:
        pm.register(plugin, name=name)
    except Exception as error:  # pluggy.PluginValidationError, duplicate names, ...
        return _one_line(error)
    unknown = [
        caller.name
        for caller in pm.get_hookcallers(plugin) or []
        if not caller.has_spec()
    ]
    if unknown:
        pm.unregister(plugin)
        return "unknown hook(s): " + ", ".join(sorted(unknown)) + " (misspelt? see docs/plugins.md)"
    return None


def _valid(value: Any, cls: type, kind: str) -> str | None:
    """Why ``value`` is not a named ``cls`` (``None`` when it is)."""
    if not isinstance(value, cls):
        return f"{value!r} is not an imageworks {cls.__name__}"
    name = getattr(value, "name", None)
    return None if isinstance(name, str) and name else f"{kind} {value!r} has no name"


def _valid_detector(value: Any) -> str | None:
    if isinstance(value, Detector) and value.trust not in get_args(Trust):
        return f"detector {value.name!r} has trust {value.trust!r} (header, config or name)"
    return _valid(value, Detector, "detector")


def _valid_setting(value: Any) -> str | None:
    from imageworks.core.config import TABLE_KEYS

    if isinstance(value, Setting) and value.name in TABLE_KEYS:
        return f"setting {value.name!r} is the core's"
    return _valid(value, Setting, "setting")


def _handles(source: Source, identifier: str, config: Config) -> bool:
    """``source.handles(identifier, config)``; a plugin written before ``handles`` took the
    config gets the identifier alone."""
    try:
        takes_config = len(inspect.signature(source.handles).parameters) >= 2
    except (TypeError, ValueError):
        takes_config = False
    return source.handles(identifier, config) if takes_config else source.handles(identifier)


_host: PluginHost | None = None
_WAITING: list[PluginHost] = []


def converter_hooks() -> None:
    """Run the converter hooks of the hosts built since the last call (core.convert calls it on its import)."""
    from imageworks.core.convert import converter

    while _WAITING:
        _WAITING.pop(0)._call_each("imageworks_register_converter_hooks", converter=converter)


def get_plugins() -> PluginHost:
    """The process-wide plugin host, built on first use."""
    global _host
    if _host is None:
        _host = PluginHost.load()
    return _host


def reset_plugins() -> None:
    """Forget the process-wide host (tests change the environment between builds)."""
    global _host
    _host = None
