"""The hook contract between the core and every plugin, built-in or third-party.

A plugin is a module (or object) named by an entry point in the ``imageworks.plugins``
group. It implements any of these hooks with ``@imageworks.core.hookspecs.hookimpl``
(also exported as ``imageworks.hookimpl``). Call order: pluggy calls implementations
last-registered first; built-ins and third parties are registered in entry-point name
order, so do not rely on order except through ``tryfirst``/``trylast``. Only
:func:`imageworks_route_location` is ``firstresult`` (it decides something); every other
hook collects one result per plugin.

``docs/plugins.md`` documents each hook with an example; ``tests/test_docs.py`` fails
when a hook or one of its arguments is missing there.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import pluggy

if TYPE_CHECKING:  # the core never imports click (or cattrs) at run time for these
    import cattrs
    import click

    from imageworks.core.config import Config
    from imageworks.core.interfaces import Detector, GuiPanel, RegistryBackend, Source
    from imageworks.core.model import Route, RouteRequest
    from imageworks.core.settings import Setting

PROJECT = "imageworks"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: The command-line programs, as ``imageworks_register_commands`` names them.
Program = Literal["download", "loader", "model-registry"]


@hookspec
def imageworks_register_sources() -> Iterable[Source]:
    """Return the model sources this plugin provides.

    A source knows how to acquire (``handles``) or find already-present
    (``discover``) models: Hugging Face, Ollama and local scan are built-in sources.
    Source names must be unique; a duplicate is reported as a plugin failure.
    """


@hookspec
def imageworks_register_detectors() -> Iterable[Detector]:
    """Return format/quantisation detectors.

    The core runs every detector on a :class:`~imageworks.core.model.DetectionSubject`
    and ranks the candidates by the detector's ``trust`` (header > config > name),
    then by ``confidence``. Detectors must read headers, never whole weight files.
    """


@hookspec(firstresult=True)
def imageworks_route_location(request: RouteRequest, config: Config) -> Route | None:
    """Decide where a model should be stored; the first non-``None`` answer wins.

    ``request.location`` holds the user's ``--location`` (a label or a path) when given.
    Return ``None`` to let other routers decide. Use ``tryfirst=True`` to override the
    built-in router.
    """


@hookspec
def imageworks_register_registry_backends() -> Iterable[RegistryBackend]:
    """Return registry storage backends; ``registry_backend`` in config picks one by name.

    The built-in ``json`` backend stores the layered JSON files of the guide (4.1).
    """


@hookspec
def imageworks_register_commands(cli: click.Group, program: Program) -> None:
    """Add click commands or groups to a command-line program.

    ``cli`` is the program's ``click.Group``; ``program`` says which one it is:
    ``"download"`` (``imageworks-download``), ``"loader"`` (``imageworks-loader``) or
    ``"model-registry"`` (``imageworks-model-registry``). Add only to the programs you
    mean to extend. Import click inside the plugin, never in the core.
    """


@hookspec
def imageworks_register_gui_panels() -> Iterable[GuiPanel]:
    """Return panels to show on the Streamlit Models page, each in a named tab."""


@hookspec
def imageworks_register_settings() -> Iterable[Setting]:
    """Return the settings this plugin reads (name, type, default, help, env variable).

    Users set them in ``[tool.imageworks.model-downloader]`` or the environment; the
    plugin reads one with ``config.setting(SETTING)`` on the config it is handed, and
    ``imageworks-download config`` lists it. A name the core or another plugin already
    uses is reported as a plugin failure.
    """


@hookspec
def imageworks_register_converter_hooks(converter: cattrs.Converter) -> None:
    """Register structure/unstructure hooks on the one cattrs converter.

    Called once per plugin host, when the converter is first needed (not to print --help),
    for plugins that carry their own attrs types into registry metadata or command output.
    """
