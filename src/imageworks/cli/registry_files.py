"""``imageworks-download registry export|import``: copy the registry to and from JSON files.

``export --to-json DIR`` writes the configured registry (any backend) as the JSON
backend's three files in DIR; ``import --from-json DIR`` makes the configured registry's
layers those of the layer files in DIR. Both go through the store interface
(:meth:`RegistryStore.export_layers`, :meth:`RegistryStore.import_layers`), so a layer
file travels byte for byte: PostgreSQL -> JSON -> PostgreSQL, or the reverse, gives the
same files back. The side that is replaced is backed up first. A built-in plugin
(entry point ``cli-registry``).
"""

from __future__ import annotations

from pathlib import Path

import attrs
import click

from imageworks.cli import _output as out
from imageworks.cli.context import AppContext
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import LayerName, RegistryStore
from imageworks.core.layers import CURATED, DISCOVERED

pass_app = click.make_pass_decorator(AppContext)
FOLDER = click.Path(file_okay=False, path_type=Path)


@click.group("registry")
def registry_group() -> None:
    """Copy the registry to or from the JSON layer files (e.g. JSON <-> PostgreSQL)."""


def _report(action: str, source: str, target: str, files: dict[LayerName, bytes | None],
            store: RegistryStore, copies: list[str], as_json: bool) -> None:
    layers = store.read()
    counts = {"curated": len(layers.curated), "discovered": len(layers.discovered)}
    if as_json:
        out.emit_json({"action": action, "from": source, "to": target, "entries": counts,
                       "layer_files": {layer: data is not None for layer, data in files.items()}, "backup": copies})
        return
    if copies:
        from imageworks.services.maintain.backups import backup_place

        out.note(f"Backed up {target} to {backup_place(copies)}")
    out.note(f"{action.capitalize()}ed {counts['curated']} curated and {counts['discovered']} discovered entries "
             f"from {source} to {target}")


def _json_store(app: AppContext, folder: Path) -> RegistryStore:
    """The JSON backend's store in ``folder``, found through the plugin host like any backend."""
    backend = app.plugins.registry_backends().get("json")
    if backend is None:
        raise ImageworksError("the JSON registry backend is not loaded", "see `imageworks-download plugins`")
    return backend.open(attrs.evolve(app.config, registry_dir=folder))


@registry_group.command("export")
@click.option("--to-json", "folder", type=FOLDER, required=True, metavar="DIR",
              help="Folder to write model_registry.curated.json, .discovered.json and model_registry.json into.")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON report on stdout.")
@pass_app
def export_command(app: AppContext, folder: Path, as_json: bool) -> None:
    """Write the registry as JSON layer files in DIR (files already there are backed up first)."""
    source = app.registry.store
    files = source.export_layers()
    target = _json_store(app, folder.expanduser().absolute())
    copies = target.import_layers(files)
    _report("export", source.description, target.description, files, target, copies, as_json)


@registry_group.command("import")
@click.option("--from-json", "folder", type=FOLDER, required=True, metavar="DIR",
              help="Folder holding model_registry.curated.json and/or model_registry.discovered.json.")
@click.option("--no-backup", is_flag=True, help="Do not back up the current registry first.")
@click.option("--json", "as_json", is_flag=True, help="Plain JSON report on stdout.")
@pass_app
def import_command(app: AppContext, folder: Path, no_backup: bool, as_json: bool) -> None:
    """Make the registry's layers those of the JSON layer files in DIR (a layer DIR lacks becomes empty)."""
    folder = folder.expanduser().absolute()
    if not any((folder / name).is_file() for name in (CURATED, DISCOVERED)):
        raise ImageworksError(f"{folder} holds no registry layer files", f"expected {CURATED} and/or {DISCOVERED}")
    source = _json_store(app, folder)
    files = source.export_layers()
    target = app.registry.store
    copies = target.import_layers(files, backup_first=not no_backup)
    _report("import", source.description, target.description, files, target, copies, as_json)


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add the ``registry`` group to imageworks-download."""
    if program == "download":
        cli.add_command(registry_group)
