"""The example distribution's second plugin (entry point ``example-catalog``): a source
that only discovers, a subcommand and a GUI panel. The test suite uses it to prove that a
separate distribution can add a subcommand and a panel of the Models page through the
``imageworks.plugins`` entry-point group.

The source, ``example-catalog``, reads a JSON catalog (a list of ``{"id", "path",
"format"}`` objects) named by ``IMAGEWORKS_EXAMPLE_CATALOG``; the ``example-import``
command records every model of that catalog with the core's recording policy. The panel,
in the 📥 Download & Import tab, is a form for that command: it shows the exact command
line and runs it through the CLI, like the page's own forms.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import click

from imageworks import hookimpl
from imageworks.core.interfaces import GuiPanel, Source
from imageworks.core.model import RegistryEntry


class CatalogSource(Source):
    """Models listed in a JSON catalog file."""

    name = "example-catalog"
    description = "Models listed in the JSON file named by IMAGEWORKS_EXAMPLE_CATALOG"

    def handles(self, identifier: str) -> bool:
        """Identifiers of the form ``catalog:<id>``."""
        return identifier.startswith("catalog:")

    def discover(self, options: Mapping[str, Any]) -> Iterator[RegistryEntry]:
        """One (unsaved) entry per catalog item."""
        catalog = Path(options.get("catalog") or os.environ["IMAGEWORKS_EXAMPLE_CATALOG"])
        for item in json.loads(catalog.read_text(encoding="utf-8")):
            yield RegistryEntry(
                name=item["id"],
                download_path=item["path"],
                download_format=item.get("format"),
                source_provider=self.name,
            )


@click.command("example-import")
@click.option("--catalog", type=click.Path(exists=True, dir_okay=False), help="Catalog JSON file.")
def example_import(catalog: str | None) -> None:
    """Record every model of the example catalog in the registry."""
    from imageworks.core.config import load_config
    from imageworks.core.plugins import get_plugins
    from imageworks.core.registry import Registry
    from imageworks.services.acquire.recording import record_download

    registry = Registry.open(load_config(), get_plugins())
    for entry in CatalogSource().discover({"catalog": catalog}):
        stored = record_download(
            hf_id=None,
            backend="example",
            format_type=entry.download_format,
            quantization=None,
            path=entry.download_path or "",
            location="custom",
            family=entry.name,
            source_provider=entry.source_provider,
            registry=registry,
        )
        click.echo(f"recorded {stored.name}")


@hookimpl
def imageworks_register_sources() -> list[Source]:
    """Provide the catalog source."""
    return [CatalogSource()]


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``example-import`` to imageworks-download only."""
    if program == "download":
        cli.add_command(example_import)


def render_catalog_panel() -> None:
    """The panel: the catalog file, and the ``example-import`` command it makes (streamlit
    is imported only here: every command loads every plugin, the GUI alone draws)."""
    import streamlit as st

    from imageworks.gui.widgets import form_command

    catalog = st.text_input("Catalog JSON file", key="example-catalog")
    if not catalog:
        st.info("Enter the catalog file to import.")
        return
    form_command("example-catalog", "download", "example-import", [], {"catalog": catalog}, "Import the catalog")


@hookimpl
def imageworks_register_gui_panels() -> list[GuiPanel]:
    """Provide the catalog import panel (in the download tab)."""
    return [GuiPanel(name="example-catalog", tab="download", title="📒 Example catalog", render=render_catalog_panel)]
