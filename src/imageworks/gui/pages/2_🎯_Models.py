"""The guide's Models page (2.2): browse, download, maintain and remove models.

Only the frame lives here: the sidebar's plugin load failures (no sidebar when none failed), the five tabs (one module
each under :mod:`imageworks.gui.tabs`) and the plugins' panels in their tab. Every action
is a CLI command built by :mod:`imageworks.gui.commands` from the CLI's own options, shown
before it runs, and run through the CLI's code path. Destructive forms default to dry run
and need a confirmation.
"""

from __future__ import annotations

import streamlit as st

from imageworks.gui.tabs import advanced, backends, browse, download, maintenance
from imageworks.gui.widgets import plugin_host

TABS = [
    ("📚 Browse & Manage", "browse", browse.draw),
    ("📥 Download & Import", "download", download.draw),
    ("🔧 Registry Maintenance", "maintenance", maintenance.draw),
    ("🔌 Backends", "backends", backends.draw),
    ("⚙️ Advanced Operations", "advanced", advanced.draw),
]


def main() -> None:
    """Draw the page."""
    st.set_page_config(page_title="Models", page_icon="🎯", layout="wide")
    host = plugin_host()
    failed = [r for r in host.records() if r.error]
    if failed:  # nothing to say when every plugin loaded
        with st.sidebar:
            st.header("Plugins")
            for record in failed:
                st.error(f"{record.name}: {record.error}")
    st.title("🎯 Models")
    panels = host.gui_panels()
    for tab, (_, key, draw) in zip(st.tabs([name for name, _, _ in TABS]), TABS, strict=True):
        with tab:
            draw()
            for panel in panels:
                if panel.tab == key:
                    st.subheader(panel.title)
                    panel.render()


main()
