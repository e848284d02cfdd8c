"""🔧 Registry Maintenance: normalize-formats and purge-deprecated, dry run by default."""

from __future__ import annotations

import streamlit as st

from imageworks.gui.widgets import form_command


def draw() -> None:
    """Draw the tab."""
    st.subheader("🔄 Normalize")
    apply = st.checkbox("Write the changes (default: show the diff only)", key="norm-apply")
    form_command("norm", "download", "normalize-formats", [], {"apply": apply}, "Normalize")
    st.subheader("🗑️ Purge deprecated")
    dry = st.checkbox("Dry run", value=True, key="purge-dry-run")
    confirmed = dry or st.checkbox("I understand this removes entries", key="purge-confirm")
    form_command("purge", "download", "purge-deprecated", [], {"dry_run": dry}, "Purge", enabled=confirmed)
