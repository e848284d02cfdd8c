"""🔌 Backends: not built yet; said plainly."""

from __future__ import annotations

import streamlit as st


def draw() -> None:
    """Draw the tab."""
    st.info("Backend reachability and launch notes are not built yet in the GUI.")
