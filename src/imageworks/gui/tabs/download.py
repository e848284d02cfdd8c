"""📥 Download & Import: 🌐 Download (dry run by default), 📁 Scan and 🦙 Import Ollama."""

from __future__ import annotations

import streamlit as st

from imageworks.gui.commands import OptionValue
from imageworks.gui.tabs import imports
from imageworks.gui.widgets import form_command


def draw() -> None:
    """Draw the tab."""
    st.subheader("🌐 Download")
    download_form()
    imports.draw()


def download_form() -> None:
    """The download form."""
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
