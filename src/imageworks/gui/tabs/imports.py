"""📁 Scan and 🦙 Import Ollama, the import forms of the 📥 Download & Import tab."""

from __future__ import annotations

import streamlit as st


def draw() -> None:
    """Draw both forms."""
    st.subheader("📁 Scan")
    st.info("The Scan form is not built yet; run `imageworks-download scan --base DIR`.")
    st.subheader("🦙 Import Ollama")
    st.info("The Import Ollama form is not built yet; run `imageworks-download import-ollama`.")
