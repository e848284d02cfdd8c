"""🔌 Backends: each configured server, whether it answers and what it serves, and the
launch command of a variant.

The servers are the Ollama host of ``config`` and every other variant's endpoint as ``list
--json`` gives it (``backend_config.base_url`` when recorded, else the variant's planned
port: the port plan ``serve-*``, the proxy and the exports share); each is asked
once, briefly, by :func:`imageworks.services.serve.probe.probe` (``/api/tags``, ``/v1/models``).
Launch notes are ``serve-vllm --print`` / ``serve-lmdeploy --print``: the command that
would start the server, run through the CLI without starting anything.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from imageworks.gui.widgets import cli_json, form_command, list_entries
from imageworks.services.serve.probe import ProbeResult, ServerKind, probe

PROBE_TTL = 15.0  # seconds: Streamlit re-runs the page on every click; do not re-ask on each


def draw() -> None:
    """Draw the tab."""
    rows = list_entries({"include_logical": True})
    st.subheader("Servers")
    servers = configured_servers(cli_json("config") or {}, rows)
    if st.button("Check again", key="backends-refresh"):
        cached_probe.clear()
    st.dataframe([server_row(kind, url, variants, cached_probe(url, kind)) for (kind, url), variants in servers.items()],
                 key="backends-table", placeholder="")
    st.subheader("Launch notes")
    launch_notes(rows)


def configured_servers(settings: dict[str, Any], rows: list[dict[str, Any]]) -> dict[tuple[ServerKind, str], list[str]]:
    """(kind, base URL) -> the variants that name it; the Ollama host always comes first."""
    ollama = str((settings.get("ollama_host") or {}).get("value") or "") or str(
        (settings.get("ollama_base_url") or {}).get("value") or "http://127.0.0.1:11434")
    if "://" not in ollama:
        ollama = "http://" + ollama
    servers: dict[tuple[ServerKind, str], list[str]] = {("ollama", ollama): []}
    for row in rows:
        if row.get("backend") == "ollama":
            servers[("ollama", ollama)].append(str(row["name"]))
        planned = None if row.get("backend") == "ollama" else (row.get("endpoint") or {}).get("base_url")
        url = planned or (row.get("backend_config") or {}).get("base_url")
        if isinstance(url, str) and url:
            servers.setdefault(("openai", url.rstrip("/")), []).append(str(row["name"]))
    return servers


@st.cache_data(ttl=PROBE_TTL, show_spinner=False)
def cached_probe(url: str, kind: ServerKind) -> ProbeResult:
    """:func:`probe`, remembered for a few seconds."""
    return probe(url, kind)


def server_row(kind: ServerKind, url: str, variants: list[str], result: ProbeResult) -> dict[str, Any]:
    """One row of the servers table."""
    return {
        "kind": "Ollama" if kind == "ollama" else "OpenAI-style",
        "base URL": url,
        "reachable": "✓" if result.reachable else "✗",
        "serves": ", ".join(result.models) if result.reachable else result.error,
        "variants in the registry": ", ".join(variants),
    }


def launch_notes(rows: list[dict[str, Any]]) -> None:
    """The launch command (``--print``) of an installed variant, and what its entry says."""
    installed = {str(r["name"]): r for r in rows if r.get("installed")}
    if not installed:
        st.info("No installed variant to launch.")
        return
    name = str(st.selectbox("Variant", list(installed), key="launch-variant"))
    server = str(st.radio("Server", ["vllm", "lmdeploy"], horizontal=True, key="launch-server"))
    row = installed[name]
    notes = {
        "format": row.get("download_format"),
        "chat template": (row.get("metadata") or {}).get("chat_template"),
        "served id": row.get("served_model_id"),
        "locked": (row.get("version_lock") or {}).get("locked"),
    }
    st.caption("; ".join(f"{k}: {v}" for k, v in notes.items() if v not in (None, "")))
    if row.get("backend_config"):
        st.json(row["backend_config"])
    form_command("launch", "download", f"serve-{server}", [name], {"print": True}, "Show the launch command")
