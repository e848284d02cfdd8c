"""📁 Scan and 🦙 Import Ollama, the import forms of the 📥 Download & Import tab.

Both default to a dry run (the plan as a table, nothing written); clearing "Dry run"
records what the plan says. They add or refresh entries and remove none, so they need
no further confirmation.
"""

from __future__ import annotations

import streamlit as st

from imageworks.gui.commands import OptionValue
from imageworks.gui.widgets import form_command, show_report


def draw() -> None:
    """Draw both forms."""
    st.subheader("📁 Scan")
    scan_form()
    st.subheader("🦙 Import Ollama")
    ollama_form()


def scan_form() -> None:
    """``scan --base DIR``: register ``<owner>/<repo>`` folders already on disk (guide 6.2)."""
    base = st.text_input("Base folder (holds <owner>/<repo> folders)", key="scan-base")
    cols = st.columns(2)
    options: dict[str, OptionValue] = {
        "base": base,
        "format": cols[0].text_input("Fallback format (when detection finds none)", key="scan-format"),
        "backend": cols[1].text_input("Backend (default: gguf for GGUF, vllm otherwise)", key="scan-backend"),
        "update_existing": st.checkbox("Update entries already registered", key="scan-update"),
        "include_testing": st.checkbox("Include testing/demo placeholders", key="scan-testing"),
        "dry_run": st.checkbox("Dry run (show the plan, write nothing)", value=True, key="scan-dry-run"),
        "json": True,
    }
    if not base:
        st.info("Enter the base folder to scan.")
        return
    form_command("scan", "download", "scan", [], options, "Scan", show=show_report)


def ollama_form() -> None:
    """``import-ollama``: record the models of the local Ollama store and server (guide 6.3)."""
    cols = st.columns(2)
    options: dict[str, OptionValue] = {
        "backend": cols[0].text_input("Backend", value="ollama", key="ollama-backend"),
        "location": cols[1].text_input("Location label (default: the store's root)", key="ollama-location"),
        "deprecate_placeholders": st.checkbox("Deprecate logical-only entries now covered or gone",
                                              key="ollama-deprecate"),
        "no_api": st.checkbox("Read the store only (do not ask the Ollama server)", key="ollama-no-api"),
        "dry_run": st.checkbox("Dry run (show the plan, write nothing)", value=True, key="ollama-dry-run"),
        "json": True,
    }
    if options["backend"] == "ollama":
        options["backend"] = None  # the default: keep the command line short
    form_command("ollama", "download", "import-ollama", [], options, "Import", show=show_report)
