"""📚 Browse & Manage: the variant table with filters, and counts as charts."""

from __future__ import annotations

import json

import streamlit as st

from imageworks.gui import commands
from imageworks.gui.commands import OptionValue
from imageworks.gui.widgets import list_entries


def draw() -> None:
    """Draw the tab."""
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
    table = [{"name": r.get("name"), "backend": r.get("backend"), "format": r.get("format"),
              "location": r.get("location"), "path": r.get("path")} for r in rows]
    st.dataframe(table, key="browse-table")
    per_backend: dict[str, int] = {}
    for r in rows:
        per_backend[str(r.get("backend"))] = per_backend.get(str(r.get("backend")), 0) + 1
    st.bar_chart(per_backend)
