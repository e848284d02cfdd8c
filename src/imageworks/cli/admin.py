"""Self-description commands: ``plugins``, ``config`` and ``sources``.

A built-in plugin, added to every program through ``imageworks_register_commands``.
Secrets are never shown: ``config`` says only whether a token (or the registry DSN) is set.
"""

from __future__ import annotations

import os
from typing import Any

import click

from imageworks.cli import _output as out
from imageworks.cli.context import AppContext
from imageworks.core.hookspecs import hookimpl
from imageworks.core.settings import read_setting
from imageworks.services.log_file import LOG_FILE_NAME

pass_app = click.make_pass_decorator(AppContext)


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def plugins_command(app: AppContext, as_json: bool) -> None:
    """List plugins: status, hooks, distribution, and why a plugin failed."""
    records = app.plugins.records()
    if as_json:
        from imageworks.core.convert import converter

        out.emit_json([converter.unstructure(r) for r in records])
        return
    out.table(
        "Plugins (entry-point group imageworks.plugins)",
        ["Name", "Status", "Distribution", "Hooks", "Error"],
        [
            [
                r.name,
                r.status,
                f"{r.distribution} {r.version}" if r.distribution else r.module,
                ", ".join(h.removeprefix("imageworks_") for h in r.hooks),
                r.error,
            ]
            for r in records
        ],
    )


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def config_command(app: AppContext, as_json: bool) -> None:
    """Show the merged configuration and where each value came from."""
    rows = app.config.describe()
    rows.append(("log_file", str(app.config.log_dir / LOG_FILE_NAME), app.config.sources.get("log_dir", "default")))
    token = "set (hidden)" if os.environ.get("HF_TOKEN") else "not set"
    rows.append(("hf_token", token, "env HF_TOKEN" if os.environ.get("HF_TOKEN") else "default"))
    dsn = "set (hidden)" if os.environ.get("IMAGEWORKS_REGISTRY_DSN") else "not set"
    rows.append(("registry_dsn", dsn, "env IMAGEWORKS_REGISTRY_DSN" if os.environ.get("IMAGEWORKS_REGISTRY_DSN") else "default"))
    from imageworks.services.acquire.destinations import destinations

    for kind, _shown, route in destinations(app.config, app.plugins):
        rows.append((f"{kind}_destination", f"{route.root} ({route.label})", route.reason))
    declared = _plugin_settings(app)
    if as_json:
        shown: dict[str, dict[str, Any]] = {name: {"value": value, "source": source} for name, value, source in rows}
        shown.update({row[0]: {"value": row[1], "source": row[2], "plugin": row[3], "help": row[4]} for row in declared})
        out.emit_json(shown)
        return
    out.table("Configuration", ["Setting", "Value", "Source"], rows)
    if declared:
        out.table("Plugin settings", ["Setting", "Value", "Source", "Plugin", "Help"], [list(r) for r in declared])


def _plugin_settings(app: AppContext) -> list[tuple[str, str, str, str, str]]:
    """(setting, value, source, plugin, help) for every setting a plugin declares."""
    rows = []
    for plugin, setting in app.plugins.settings():
        value, source = read_setting(setting, app.config.table, app.config.environ, app.config.pyproject)
        shown = ",".join(str(v) for v in value) if isinstance(value, list) else "" if value is None else str(value)
        rows.append((setting.name, shown, source, plugin, setting.help))
    return rows


@click.command("sources")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON on stdout.")
@pass_app
def sources_command(app: AppContext, as_json: bool) -> None:
    """List model sources, in the order `download` asks them (lowest priority first)."""
    sources = sorted(app.plugins.sources().values(), key=lambda s: (s.priority, s.name))
    rows = [
        {"name": s.name, "priority": s.priority, "description": s.description, "class": type(s).__module__}
        for s in sources
    ]
    if as_json:
        out.emit_json(rows)
        return
    out.table("Sources", ["Name", "Priority", "Description", "Module"], [[str(v) for v in r.values()] for r in rows])


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``plugins`` and ``config`` to every program, ``sources`` to the downloader."""
    cli.add_command(plugins_command)
    cli.add_command(config_command)
    if program == "download":
        cli.add_command(sources_command)
