"""``imageworks-gui``: run Streamlit on the Models page, on loopback, headless."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

PAGE = Path(__file__).parent / "pages" / "2_🎯_Models.py"


def streamlit_command(port: int, address: str) -> list[str]:
    """The ``streamlit run`` command line of the page."""
    return [
        sys.executable, "-m", "streamlit", "run", str(PAGE),
        "--server.address", address,
        "--server.port", str(port),
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """Start the GUI; return Streamlit's exit status."""
    parser = argparse.ArgumentParser(prog="imageworks-gui", description="Start the Streamlit Models page.")
    parser.add_argument("--port", type=int, default=8501, help="port to listen on (default: 8501)")
    parser.add_argument("--address", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    ns = parser.parse_args(argv)
    return subprocess.call(streamlit_command(ns.port, ns.address))
