"""Streamlit pieces every tab shares: the plugin host, a form's command preview and run, the variant rows."""

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
    """The process's plugin host, built once (Streamlit re-runs the page script on every click)."""
    return get_plugins()


def form_command(key: str, program: Program, name: str, arguments: list[str], options: dict[str, OptionValue],
                 label: str, enabled: bool = True) -> None:
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
