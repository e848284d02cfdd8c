"""🔧 Registry Maintenance: 🔄 Normalize (the diff table), 🗑️ Purge and 🔨 Cleanup.

Every form runs one clean-up command of guide 7.2 with ``--json`` and draws its report
as a table. Every form is a dry run until its box is cleared and the confirmation
ticked: the commands that remove or replace entries get ``--apply`` (they preview
without it), ``backfill-ollama-paths`` (which only adds paths) loses ``--dry-run``.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from imageworks.gui.commands import OptionValue
from imageworks.gui.widgets import dry_run_gate, form_command, show_report
from imageworks.services.maintain.normalize import DIFF_FIELDS

#: Purge and cleanup commands: what they remove (for the confirmation).
PURGES = {
    "purge-deprecated": "this removes deprecated entries from both layers",
    "purge-hf": "this drops the discovered entries under the weights root",
    "purge-logical-only": "this removes entries without local files",
    "reset-discovered": "this drops the discovered entries of a backend",
}
CLEANUPS = {
    "prune-duplicates": "this drops stale duplicate entries",
    "apply-simple-slugs": "this rewrites slugs and display names",
    "restore-ollama": "this brings back Ollama entries from a backup",
    "backfill-ollama-paths": "this records store paths for logical-only Ollama entries",
    "preview-simple-slugs": "",  # read only
}
Widget = tuple[str, str, str | list[str]]  # (option, label, "box" | "text" | the choices)
SLUG_SCOPE: list[Widget] = [("include_ollama", "Ollama entries", "box"), ("include_hf", "Hugging Face / local entries", "box")]
#: The widgets of each command's own options.
OPTION_WIDGETS: dict[str, list[Widget]] = {
    "purge-deprecated": [("placeholders_only", "Only Ollama placeholders", "box")],
    "purge-hf": [("weights_root", "Weights root (default: the weights root)", "text"),
                 ("backend", "Only this backend", "text")],
    "purge-logical-only": [("include_curated", "Also curated entries", "box")],
    "reset-discovered": [("backend", "Backend (default: all)", "text")],
    "prune-duplicates": [("backend", "Only this backend", "text"), ("verbose", "Say why each is kept", "box")],
    "restore-ollama": [("backup", "Backup id or path (default: the newest)", "text"),
                       ("include_deprecated", "Deprecated entries too", "box")],
    "backfill-ollama-paths": [("no_set_format", "Leave download_format as it is", "box")],
    "preview-simple-slugs": SLUG_SCOPE,
    "apply-simple-slugs": [*SLUG_SCOPE,
                           ("disambiguate", "Disambiguate by", ["backend", "format", "producer", "index", "none"]),
                           ("rename_slugs", "Rename entries to their slug", "box")],
}
#: The commands that preview unless ``--apply`` (cli/_dry_run.py); the others write unless ``--dry-run``.
APPLY_PAIR = {"purge-deprecated", "purge-hf", "purge-logical-only", "reset-discovered", "prune-duplicates",
              "apply-simple-slugs", "restore-ollama"}
NO_BACKUP_FLAG = {"purge-deprecated", "purge-hf", "purge-logical-only", "reset-discovered", "prune-duplicates",
                  "apply-simple-slugs"}


def draw() -> None:
    """Draw the tab."""
    st.subheader("🔄 Normalize")
    normalize_form()
    st.subheader("🗑️ Purge")
    registry_form("purge", PURGES)
    st.subheader("🔨 Cleanup")
    registry_form("cleanup", CLEANUPS)


def normalize_form() -> None:
    """``normalize-formats``: the diff of a dry run, or ``--apply`` after the confirmation."""
    cols = st.columns(3)
    options: dict[str, OptionValue] = {
        "rebuild": cols[0].checkbox("Rebuild sizes, checksums, inventories", key="norm-rebuild"),
        "prune_missing": cols[1].checkbox("Prune entries whose files are gone", key="norm-prune"),
        "no_backup": not cols[2].checkbox("Back up first", value=True, key="norm-backup"),
        "json": True,
    }
    dry, may_run = dry_run_gate("norm", "write the changes to the registry")
    options["apply"] = not dry
    form_command("norm", "download", "normalize-formats", [], options, "Normalize", enabled=may_run,
                 show=show_normalize)


def show_normalize(stdout: str) -> None:
    """The diff of a ``normalize-formats --json`` report: one row per changed entry."""
    report = json.loads(stdout)
    changes = report.get("changes", [])
    st.caption(f"{'written' if report.get('applied') else 'dry run: nothing written'}; "
               f"checked {report.get('checked', 0)}, {len(changes)} change(s)")
    if changes:
        st.dataframe([diff_row(change) for change in changes], key="norm-diff", placeholder="")


def diff_row(change: dict[str, Any]) -> dict[str, Any]:
    """One row of the diff table: ``before → after`` in each changed column."""
    row: dict[str, Any] = {"variant": change.get("name"), "action": change.get("action")}
    fields = change.get("fields", {})
    for field in DIFF_FIELDS:
        value = fields.get(field, {})
        row[field] = f"{value.get('before')} → {value.get('after')}" if field in change.get("changed", []) else ""
    row["note"] = change.get("note", "")
    return row


def registry_form(key: str, choices: dict[str, str]) -> None:
    """One of ``choices`` with its options; dry run by default, a confirmation to write."""
    name = st.selectbox("Command", list(choices), key=f"{key}-command")
    options = command_options(key, name)
    options["json"] = True
    if not choices[name]:  # read only
        form_command(key, "download", name, [], options, "Preview", show=show_report)
        return
    dry, may_run = dry_run_gate(key, choices[name])
    if name in APPLY_PAIR:
        options["apply"] = not dry
    else:
        options["dry_run"] = dry
    if name in NO_BACKUP_FLAG:
        options["no_backup"] = not st.checkbox("Back up first", value=True, key=f"{key}-make-backup")
    form_command(key, "download", name, [], options, "Run", enabled=may_run, show=show_report)


def command_options(key: str, name: str) -> dict[str, OptionValue]:
    """The options of ``name`` beyond the dry run and the backup, as widgets."""
    options: dict[str, OptionValue] = {}
    for option, label, kind in OPTION_WIDGETS[name]:
        widget_key = f"{key}-{option.replace('_', '-')}"
        if kind == "box":
            options[option] = st.checkbox(label, key=widget_key)
        elif kind == "text":
            options[option] = st.text_input(label, key=widget_key)
        else:  # a choice among the values Click accepts, the CLI's default first
            options[option] = st.selectbox(label, kind, key=widget_key)
    return options
