"""⚙️ Advanced Operations: 🗑️ Remove, dry run by default, confirmation required."""

from __future__ import annotations

import streamlit as st

from imageworks.gui.commands import OptionValue
from imageworks.gui.widgets import form_command


def draw() -> None:
    """Draw the tab."""
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
