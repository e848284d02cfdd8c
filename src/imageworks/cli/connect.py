"""``imageworks-download connect``: point a variant at the server that serves it.

Writes ``backend_config.base_url``, ``backend_config.api_key_env`` and
``backend_config.served_model_id`` into the curated layer (as ``set-roles`` writes roles), so no hand
edit of ``model_registry.curated.json`` is needed and a later scan or download keeps
them. A thin front end over :mod:`imageworks.services.serve.connect`; a built-in plugin
(entry point ``cli-connect``).
"""

from __future__ import annotations

import click

from imageworks.cli import _output as out
from imageworks.cli.context import AppContext
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl

pass_app = click.make_pass_decorator(AppContext)


@click.command("connect")
@click.argument("variant")
@click.option("--base-url", metavar="URL", help="The server's OpenAI API root, e.g. http://gpu-box:8000/v1 (http or https, no credentials).")
@click.option("--api-key-env", metavar="NAME", help="The environment variable holding the server's API key (its name; the key is never stored).")
@click.option("--served-id", metavar="ID", help="The id the server lists the model under (default: the recorded served id, else the variant name).")
@click.option("--clear", is_flag=True, help="Remove the base URL, key variable and served id connect set.")
@click.option("--json", "as_json", is_flag=True, help="Print where requests for VARIANT now go, as JSON.")
@pass_app
def connect_command(
    app: AppContext, variant: str, base_url: str | None, api_key_env: str | None, served_id: str | None,
    clear: bool, as_json: bool,
) -> None:
    """Connect VARIANT to its server: where the chat proxy and `export` send its requests
    (kept in the curated layer; options not given keep their value)."""
    from imageworks.services.serve.connect import check_servable_id, checked_connection, connection_change
    from imageworks.services.serve.endpoints import endpoint_for

    if clear == (base_url is not None or api_key_env is not None or served_id is not None):
        raise ImageworksError("give --base-url, --api-key-env or --served-id, or --clear", "see `connect --help`")
    connection = None if clear else checked_connection(base_url, api_key_env, served_id)
    registry = app.registry
    entry = registry.get(variant)
    check_servable_id(entry.backend, connection)
    stored = registry.set_curated(entry.name, connection_change(connection))
    endpoint = endpoint_for(stored, app.config.ollama_url)
    if as_json:
        out.emit_json({
            "name": stored.name,
            "base_url": endpoint.base_url if endpoint else None,
            "served_id": endpoint.model if endpoint else None,
            "api_key_env": endpoint.api_key_env if endpoint else None,
        })
        return
    if endpoint is None:
        out.echo(f"{stored.name}: no server recorded (set one with `connect {stored.name} --base-url URL`)")
        return
    key = f", key from ${endpoint.api_key_env}" if endpoint.api_key_env else ""
    verb = "Cleared; requests for" if clear else "Requests for"
    out.echo(f"{verb} {stored.name} go to {endpoint.base_url} as {endpoint.model!r}{key}")


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``connect`` to imageworks-download."""
    if program == "download":
        cli.add_command(connect_command)
