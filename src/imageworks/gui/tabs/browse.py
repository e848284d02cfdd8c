"""📚 Browse & Manage: the variant table with filters, the ``stats`` charts, one variant's
details, its roles (saved to the curated layer with ``set-roles``) and its backend config.

Rows come from ``list --json`` (the filters the CLI has are its options, "All hosts" and
"GPU memory" included; "installed" and the search box filter the rows it returns), with
the host and memory columns of :mod:`imageworks.gui.tabs.browse_columns`; the charts from
``stats --json``. Each variant shows where it is visible (its ``shared_links``) and offers
``share`` to other apps; the tab ends with ``dedupe`` (a dry run until cleared and
confirmed) and its undo (docs/sharing.md).
"""

from __future__ import annotations

import json
from typing import Any

import click
import streamlit as st

from imageworks.core.config import load_config
from imageworks.core.hosts import HostView
from imageworks.core.units import GIB, human_size
from imageworks.gui import commands
from imageworks.gui.commands import OptionValue
from imageworks.gui.tabs.browse_columns import host_columns, memory_columns
from imageworks.gui.widgets import cli_json, dry_run_gate, form_command, grid, list_entries, show_report

ANY = "(any)"
LARGEST = 10
INSTALLED = {ANY: None, "installed": True, "not installed": False}
# Byte counts stay numbers (they sort as numbers) but read as 1.2 GiB (core.units, as the
# CLI); token counts read as 131K.
SIZE_COLUMNS = ("size", "weights", "server total", "KV f16 / extra 1k tokens")
COLUMN_FORMATS = {"max context (tokens)": st.column_config.NumberColumn("max context", format="compact")}


def draw() -> None:
    """Draw the tab."""
    stats = cli_json("stats") or {}
    rows = filtered_rows(stats)
    if rows:
        view = HostView.of(load_config())
        grid([table_row(r, view) for r in rows], key="browse-table", sizes=SIZE_COLUMNS, column_config=COLUMN_FORMATS)
    elif rows is not None:
        st.info("No variants match.")
    statistics(stats, rows or [])
    if rows:
        details(rows)
    dedupe_section()


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
        "size": row.get("download_size_bytes"), **memory_columns(row), **host_columns(row, view),
        "location": row.get("download_location"), "installed": bool(row.get("installed")),
        "roles": ", ".join(row.get("roles") or []), "deprecated": bool(row.get("deprecated")),
        "display name": row.get("display_name"), "path": row.get("download_path"),
    }


def statistics(stats: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    """``stats --json`` as numbers, and where the disk goes: installed GiB per location,
    per backend, and the largest installed variants of the table."""
    if not stats:
        return
    st.subheader("Statistics")
    cols = st.columns(4)
    for column, key in zip(cols, ("total", "installed", "logical_only", "deprecated"), strict=True):
        column.metric(key.replace("_", " "), stats.get(key, 0))
    st.caption("`" + commands.shell_line("download", commands.build("download", "stats", options={"json": True})) + "`")
    largest = sorted(((int(r.get("download_size_bytes") or 0), str(r.get("name"))) for r in rows
                      if r.get("installed") and r.get("download_size_bytes")), reverse=True)[:LARGEST]
    charts = [
        ("Installed GiB per location", stats.get("installed_bytes_by_location") or {}),
        ("Installed GiB per backend", stats.get("installed_bytes_by_backend") or {}),
        (f"Largest installed variants (GiB, top {LARGEST})", {name: size for size, name in largest}),
    ]
    for column, (title, sizes) in zip(st.columns(len(charts)), charts, strict=True):
        column.caption(title)
        if sizes:
            column.bar_chart(gib_frame(sizes), x="where", y="GiB", horizontal=True, x_label="", y_label="GiB")


def gib_frame(sizes: dict[str, int]) -> Any:
    """Bytes per name as a two-column frame (``where``, ``GiB``), largest first."""
    import pandas as pd  # type: ignore[import-untyped]  # (Streamlit's own dependency; no stubs installed)

    ordered = sorted(sizes.items(), key=lambda item: item[1], reverse=True)
    return pd.DataFrame({"where": [k for k, _ in ordered], "GiB": [round(v / GIB, 3) for _, v in ordered]})


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
        "location": row.get("download_location"), "size": human_size(row.get("download_size_bytes")),
        "source": row.get("source_provider"), "hf id": row.get("hf_id"), "served id": row.get("served_model_id"),
        "licence": meta.get("license"), "chat template": meta.get("chat_template"),
        "installed": row.get("installed"), "locked": (row.get("version_lock") or {}).get("locked"),
    }
    st.dataframe([{"field": k, "value": "" if v is None else str(v)} for k, v in facts.items()], key="detail-facts")
    files = (row.get("artifacts") or {}).get("files") or []
    st.caption(f"Files ({len(files)})")
    if files:
        grid([{"path": f.get("path"), "size": f.get("size"), "sha256": f.get("sha256")} for f in files],
             key="detail-files", sizes=["size"])
    st.caption("Detected from")
    for line in meta.get("detection_evidence") or ["(no evidence recorded)"]:
        st.text(line)
    st.caption("Same weights as")
    st.text(", ".join(row.get("same_weights_as") or []) or "(no other entry)")
    st.caption("README signals")
    st.json(meta.get("readme_signals") or {})
    visibility(row)
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


SHARE_APPS = ["ollama", "lmstudio", "hf-cache"]


def visibility(row: dict[str, Any]) -> None:
    """Where the variant is visible (its recorded links), and the ``share`` form."""
    name = str(row["name"])
    links = row.get("shared_links") or []
    st.caption(f"Visible in other apps ({len(links)} link(s))")
    if links:
        st.dataframe([{"app": link.get("app"), "name": link.get("name"), "method": link.get("method"),
                       "path": link.get("path"), "host": link.get("host")} for link in links if isinstance(link, dict)],
                     key=f"links-{name}")
    if not row.get("installed"):
        return
    apps = st.multiselect("Share with (no new bytes: hard link, reflink, or a symlink where the app follows one)",
                          SHARE_APPS, default=SHARE_APPS, key=f"share-apps-{name}")
    dry, may = dry_run_gate(f"share-{name}", f"link {name} into {', '.join(apps) or 'no app'}")
    form_command(f"share-{name}", "download", "share", [name], {"to": ",".join(apps), "dry_run": dry, "json": True},
                 "Share", enabled=bool(apps) and may, show=show_report)


def dedupe_section() -> None:
    """``dedupe``: the duplicated weight files across the stores, folded only when confirmed; undo by id."""
    st.subheader("Duplicate weights across apps")
    dry, may = dry_run_gate("dedupe", "replace every duplicate by a hard link to one read-only copy")
    form_command("dedupe", "download", "dedupe", [], {"apply": not dry, "json": True},
                 "Find duplicates" if dry else "Fold duplicates", enabled=may, show=show_dedupe)
    undo = st.text_input("Undo a fold (its ID)", key="dedupe-undo-id").strip()
    if undo:
        form_command("dedupe-undo", "download", "dedupe", [], {"undo": undo, "json": True}, "Undo fold", show=show_report)


def show_dedupe(stdout: str) -> None:
    """The ``dedupe --json`` report: the bytes a fold frees, then one row per file of each group."""
    report = json.loads(stdout)
    st.metric("reclaimable bytes", report.get("reclaimable_bytes", 0))
    if report.get("journal"):
        st.caption(f"Folded {report.get('folded', 0)} file(s); undo with ID {report['journal']}")
    rows = []
    for group in report.get("groups") or []:
        rows.append({"sha256": group["sha256"][:12], "size": group["size"], "action": "keep",
                     "store": group["keeper"]["store"], "path": group["keeper"]["path"], "reason": ""})
        rows += [{"sha256": "", "size": group["size"], "action": d["action"], "store": d["store"], "path": d["path"],
                  "reason": d.get("reason", "")} for d in group.get("duplicates") or []]
    if rows:
        st.dataframe(rows, key="dedupe-groups")
    else:
        st.info("No weight file is held twice.")
    for line in report.get("notes") or []:
        st.caption(line)
