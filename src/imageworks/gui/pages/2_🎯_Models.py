"""The guide's Models page (2.2): browse, download, maintain and remove models.

Only drawing lives here; every action is a CLI command built by
:mod:`imageworks.gui.commands` from the CLI's own options, shown before it runs, and run
through the CLI's code path. Destructive forms default to dry run and need a confirmation.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from imageworks.core.hookspecs import Program
from imageworks.core.plugins import PluginHost, get_plugins
from imageworks.gui import commands
from imageworks.gui.commands import OptionValue


@st.cache_resource
def plugin_host() -> PluginHost:
    """The process's plugin host, built once (Streamlit re-runs this script on every click)."""
    return get_plugins()


def form_command(key: str, program: Program, name: str, arguments: list[str], options: dict[str, OptionValue], label: str, enabled: bool = True) -> None:
    """Show the command a form builds and run it when its button is pressed."""
    try:
        args = commands.build(program, name, arguments, options)
    except Exception as error:  # noqa: BLE001  (the form is incomplete or the CLI rejects it)
        st.warning(f"Not a valid command yet: {error}")
        return
    st.code(commands.shell_line(program, args), language="bash")
    if st.button(label, key=f"{key}-run", disabled=not enabled):
        outcome = commands.run(program, args)
        (st.success if outcome.exit_code == 0 else st.error)(f"exit status {outcome.exit_code}")
        if outcome.stdout:
            st.code(outcome.stdout, language="text")
        if outcome.stderr:
            st.code(outcome.stderr, language="text")


def list_entries(options: dict[str, OptionValue]) -> list[dict[str, Any]]:
    """The rows of ``list --json`` with ``options``."""
    outcome = commands.run("download", commands.build("download", "list", options={**options, "json": True}))
    if outcome.exit_code != 0:
        st.error(outcome.stderr.strip() or "list failed")
        return []
    rows = json.loads(outcome.stdout or "[]")
    return rows if isinstance(rows, list) else []


def browse_tab() -> None:
    """📚 Browse & Manage: the variant table with filters, and counts as charts."""
    cols = st.columns(4)
    fmt = cols[0].text_input("Format", key="browse-format")
    location = cols[1].text_input("Location", key="browse-location")
    backend = cols[2].text_input("Backend", key="browse-backend")
    search = cols[3].text_input("Search", key="browse-search")
    flags = st.columns(3)
    options: dict[str, OptionValue] = {
        "format": fmt,
        "location": location,
        "backend": backend,
        "show_deprecated": flags[0].checkbox("Deprecated", key="browse-deprecated"),
        "include_logical": flags[1].checkbox("Not installed (logical)", key="browse-logical"),
        "include_testing": flags[2].checkbox("Testing", key="browse-testing"),
    }
    rows = list_entries(options)
    if search:
        rows = [r for r in rows if search.lower() in json.dumps(r).lower()]
    st.caption(commands.shell_line("download", commands.build("download", "list", options=options)))
    if not rows:
        st.info("No variants match.")
        return
    table = [{"name": r.get("name"), "backend": r.get("backend"), "format": r.get("format"), "location": r.get("location"), "path": r.get("path")} for r in rows]
    st.dataframe(table, key="browse-table")
    per_backend: dict[str, int] = {}
    for r in rows:
        per_backend[str(r.get("backend"))] = per_backend.get(str(r.get("backend")), 0) + 1
    st.bar_chart(per_backend)


def download_tab() -> None:
    """📥 Download & Import: the download form (dry run by default)."""
    model = st.text_input("Model (owner/repo[@branch])", key="dl-model")
    cols = st.columns(2)
    options: dict[str, OptionValue] = {
        "format": cols[0].text_input("Format", key="dl-format"),
        "location": cols[1].text_input("Location", key="dl-location"),
        "include_optional": st.checkbox("Include optional files", key="dl-optional"),
        "force": st.checkbox("Force", key="dl-force"),
        "non_interactive": True,
        "dry_run": st.checkbox("Dry run", value=True, key="dl-dry-run"),
    }
    if not model:
        st.info("Enter a model id.")
        return
    form_command("dl", "download", "download", [model], options, "Download")


def maintenance_tab() -> None:
    """🔧 Registry Maintenance: normalize-formats and purge-deprecated, dry run by default."""
    st.subheader("🔄 Normalize")
    apply = st.checkbox("Write the changes (default: show the diff only)", key="norm-apply")
    form_command("norm", "download", "normalize-formats", [], {"apply": apply}, "Normalize")
    st.subheader("🗑️ Purge deprecated")
    dry = st.checkbox("Dry run", value=True, key="purge-dry-run")
    confirmed = dry or st.checkbox("I understand this removes entries", key="purge-confirm")
    form_command("purge", "download", "purge-deprecated", [], {"dry_run": dry}, "Purge", enabled=confirmed)


def backends_tab() -> None:
    """🔌 Backends: not built yet; said plainly."""
    st.info("Backend reachability and launch notes are not built yet in the GUI.")


def advanced_tab() -> None:
    """⚙️ Advanced Operations: 🗑️ Remove, dry run by default, confirmation required."""
    st.subheader("🗑️ Remove")
    variant = st.text_input("Variant", key="rm-variant")
    mode = st.radio("What to remove", ["metadata only", "files too", "purge the entry"], key="rm-mode")
    dry = st.checkbox("Dry run", value=True, key="rm-dry-run")
    confirmed = st.checkbox("I confirm the removal", key="rm-confirm")
    if not variant:
        st.info("Enter a variant.")
        return
    options: dict[str, OptionValue] = {
        "delete_files": mode == "files too",
        "purge": mode == "purge the entry",
        "dry_run": dry,
        "force": confirmed,
    }
    form_command("rm", "download", "remove", [variant], options, "Remove", enabled=dry or confirmed)


def main() -> None:
    """Draw the page."""
    st.set_page_config(page_title="Models", page_icon="🎯", layout="wide")
    host = plugin_host()
    failed = [r for r in host.records() if r.error]
    with st.sidebar:
        st.header("Plugins")
        for record in failed:
            st.error(f"{record.name}: {record.error}")
        if not failed:
            st.success("all plugins loaded")
    st.title("🎯 Models")
    names = ["📚 Browse & Manage", "📥 Download & Import", "🔧 Registry Maintenance", "🔌 Backends", "⚙️ Advanced Operations"]
    keys = ["browse", "download", "maintenance", "backends", "advanced"]
    drawers = [browse_tab, download_tab, maintenance_tab, backends_tab, advanced_tab]
    panels = host.gui_panels()
    for tab, key, draw in zip(st.tabs(names), keys, drawers, strict=True):
        with tab:
            draw()
            for panel in panels:
                if panel.tab == key:
                    st.subheader(panel.title)
                    panel.render()


main()
