"""📚 Browse & Manage: the variant table with filters, the ``stats`` charts, one variant's
details, its roles (saved to the curated layer with ``set-roles``) and its backend config.

Rows come from ``list --json`` (the filters the CLI has are its options, "All hosts" and
"GPU memory" included; "installed" and the search box filter the rows it returns), with
the host and memory columns of :mod:`imageworks.gui.tabs.browse_columns`; the charts from
``stats --json``.
"""

from __future__ import annotations

import json
from typing import Any

import click
import streamlit as st

from imageworks.core.config import load_config
from imageworks.core.hosts import HostView
from imageworks.gui import commands
from imageworks.gui.commands import OptionValue
from imageworks.gui.tabs.browse_columns import host_columns, memory_columns
from imageworks.gui.widgets import cli_json, form_command, list_entries

ANY = "(any)"
INSTALLED = {ANY: None, "installed": True, "not installed": False}
# Byte and token counts stay numbers (they sort as numbers) but read as 1.2GB and 131K.
COLUMN_FORMATS = {
    "size (bytes)": st.column_config.NumberColumn("size", format="bytes"),
    "weights (bytes)": st.column_config.NumberColumn("weights", format="bytes"),
    "server total (bytes)": st.column_config.NumberColumn("server total", format="bytes",
                                                          help="weights + KV + compute + output at the engine's defaults"),
    "KV f16 per 1k tokens (bytes)": st.column_config.NumberColumn("KV f16 / extra 1k tokens", format="bytes"),
    "max context (tokens)": st.column_config.NumberColumn("max context", format="compact"),
}


def draw() -> None:
    """Draw the tab."""
    stats = cli_json("stats") or {}
    rows = filtered_rows(stats)
    if rows:
        view = HostView.of(load_config())
        st.dataframe([table_row(r, view) for r in rows], key="browse-table", column_config=COLUMN_FORMATS)
    elif rows is not None:
        st.info("No variants match.")
    statistics(stats)
    if rows:
        details(rows)


def choice(label: str, values: dict[str, int], key: str, column: Any) -> str:
    """A select box of ``ANY`` and the values ``stats`` counted; the chosen value or ``""``."""
    picked = str(column.selectbox(label, [ANY, *sorted(values)], key=key))
    return "" if picked == ANY else picked


def filtered_rows(stats: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The filters and the ``list --json`` rows they select; ``None`` (and the CLI's
    error on the page) when the CLI rejects the options (a GPU memory that is no size)."""
    cols = st.columns(4)
    options: dict[str, OptionValue] = {
        "format": choice("Format", stats.get("by_format", {}), "browse-format", cols[0]),
        "location": choice("Location", stats.get("by_location", {}), "browse-location", cols[1]),
        "backend": choice("Backend", stats.get("by_backend", {}), "browse-backend", cols[2]),
    }
    installed = INSTALLED[str(cols[3].selectbox("Installed", list(INSTALLED), key="browse-installed"))]
    boxes = st.columns([3, 1])
    search = boxes[0].text_input("Search (any field)", key="browse-search")
    gpu_mem = boxes[1].text_input("GPU memory (24GiB: largest context that fits)", key="browse-gpu-mem")
    flags = st.columns(4)
    options.update({
        "show_deprecated": flags[0].checkbox("Deprecated", key="browse-deprecated"),
        "include_logical": flags[1].checkbox("Not installed (logical)", key="browse-logical"),
        "include_testing": flags[2].checkbox("Testing", key="browse-testing"),
        "all_hosts": flags[3].checkbox("All hosts", key="browse-all-hosts"),
        "gpu_mem": gpu_mem.strip(),
    })
    if installed is False:
        options["include_logical"] = True  # without it, list shows installed variants only
    try:
        line = commands.shell_line("download", commands.build("download", "list", options=options))
    except click.UsageError as error:
        st.error(f"Error: {error.format_message()}")
        return None
    rows = list_entries(options)
    st.caption(line)
    if installed is not None:
        rows = [r for r in rows if bool(r.get("installed")) is installed]
    if search:
        rows = [r for r in rows if search.lower() in json.dumps(r).lower()]
    return rows


def table_row(row: dict[str, Any], view: HostView) -> dict[str, Any]:
    """The columns of the variant table (host ones as this host, ``view``, sees them);
    what decides a launch first (format, size, memory, host), names and paths last."""
    return {
        "name": row.get("name"), "backend": row.get("backend"),
        "format": row.get("download_format"), "quant": row.get("quantization"),
        "size (bytes)": row.get("download_size_bytes"), **memory_columns(row), **host_columns(row, view),
        "location": row.get("download_location"), "installed": bool(row.get("installed")),
        "roles": ", ".join(row.get("roles") or []), "deprecated": bool(row.get("deprecated")),
        "display name": row.get("display_name"), "path": row.get("download_path"),
    }


def statistics(stats: dict[str, Any]) -> None:
    """``stats --json`` as numbers and charts."""
    if not stats:
        return
    st.subheader("Statistics")
    cols = st.columns(4)
    for column, key in zip(cols, ("total", "installed", "logical_only", "deprecated"), strict=True):
        column.metric(key.replace("_", " "), stats.get(key, 0))
    st.caption("`" + commands.shell_line("download", commands.build("download", "stats", options={"json": True})) + "`")
    charts = [
        ("Installed bytes per location", "installed_bytes_by_location"),
        ("Installed bytes per backend", "installed_bytes_by_backend"),
        ("Variants per backend", "by_backend"),
        ("Variants per format", "by_format"),
    ]
    for column, (title, key) in zip(st.columns(len(charts)), charts, strict=True):
        column.caption(title)
        if stats.get(key):
            column.bar_chart(stats[key])


def details(rows: list[dict[str, Any]]) -> None:
    """One variant: facts, files, README signals, evidence, copies, roles and backend config."""
    st.subheader("Variant details")
    by_name = {str(r["name"]): r for r in rows}
    name = str(st.selectbox("Variant", list(by_name), key="browse-detail"))
    row = by_name[name]
    st.caption("`" + commands.shell_line("download", ["list", "--details", "--include-logical"]) + "` shows the same")
    meta = row.get("metadata") or {}
    facts = {
        "display name": row.get("display_name"), "backend": row.get("backend"), "format": row.get("download_format"),
        "quantization": row.get("quantization"), "path": row.get("download_path"),
        "location": row.get("download_location"), "size (bytes)": row.get("download_size_bytes"),
        "source": row.get("source_provider"), "hf id": row.get("hf_id"), "served id": row.get("served_model_id"),
        "licence": meta.get("license"), "chat template": meta.get("chat_template"),
        "installed": row.get("installed"), "locked": (row.get("version_lock") or {}).get("locked"),
    }
    st.dataframe([{"field": k, "value": "" if v is None else str(v)} for k, v in facts.items()], key="detail-facts")
    files = (row.get("artifacts") or {}).get("files") or []
    st.caption(f"Files ({len(files)})")
    if files:
        st.dataframe([{"path": f.get("path"), "size": f.get("size"), "sha256": f.get("sha256")} for f in files],
                     key="detail-files")
    st.caption("Detected from")
    for line in meta.get("detection_evidence") or ["(no evidence recorded)"]:
        st.text(line)
    st.caption("Same weights as")
    st.text(", ".join(row.get("same_weights_as") or []) or "(no other entry)")
    st.caption("README signals")
    st.json(meta.get("readme_signals") or {})
    roles_form(row)
    st.caption("Backend config")
    st.json(row.get("backend_config") or {})


def roles_form(row: dict[str, Any]) -> None:
    """``set-roles``: the variant's roles and priorities, saved to the curated layer."""
    name = str(row["name"])
    st.caption("Roles (saved to the curated layer)")
    current = ", ".join(row.get("roles") or [])
    priorities = ", ".join(f"{k}={v}" for k, v in (row.get("role_priorities") or {}).items())
    roles = [r.strip() for r in st.text_input("Roles, comma-separated", value=current, key=f"roles-{name}").split(",")]
    ranks = [p.strip() for p in st.text_input("Priorities (role=N, comma-separated; lower is preferred)",
                                              value=priorities, key=f"priorities-{name}").split(",")]
    chosen = [r for r in roles if r]
    options: dict[str, OptionValue] = {
        "role": chosen, "priority": [p for p in ranks if p] if chosen else [], "clear": not chosen,
    }
    form_command(f"roles-{name}", "download", "set-roles", [name], options, "Save roles")
