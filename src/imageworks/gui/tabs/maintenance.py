"""🔧 Registry Maintenance: 🔄 Normalize (the diff table), 🗑️ Purge and 🔨 Cleanup.

Every form runs one clean-up command of guide 7.2 with ``--json`` and draws its report
as a table. Commands that write default to a dry run (``--dry-run``, or leaving out
``--apply`` where the guide gives ``--dry-run|--apply``) and write only after the
confirmation box is ticked.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from imageworks.core.normalize import DIFF_FIELDS
from imageworks.gui.commands import OptionValue
from imageworks.gui.widgets import dry_run_gate, form_command, show_report

#: Purge and cleanup commands: what they remove (for the confirmation) and whether the
#: guide gives them a ``--dry-run|--apply`` pair (dry run by default) or a plain ``--dry-run``.
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
APPLY_PAIR = {"purge-logical-only", "apply-simple-slugs"}
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
        st.dataframe([diff_row(change) for change in changes], key="norm-diff")


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
        options["no_backup"] = not st.checkbox("Back up first", value=True, key=f"{key}-backup")
    form_command(key, "download", name, [], options, "Run", enabled=may_run, show=show_report)


def command_options(key: str, name: str) -> dict[str, OptionValue]:
    """The options of ``name`` beyond the dry run and the backup, as widgets."""
    if name == "purge-deprecated":
        return {"placeholders_only": st.checkbox("Only Ollama placeholders", key=f"{key}-placeholders")}
    if name == "purge-hf":
        return {"weights_root": st.text_input("Weights root (default: the weights root)", key=f"{key}-root"),
                "backend": st.text_input("Only this backend", key=f"{key}-backend")}
    if name == "purge-logical-only":
        return {"include_curated": st.checkbox("Also curated entries", key=f"{key}-curated")}
    if name == "reset-discovered":
        return {"backend": st.text_input("Backend (default: all)", key=f"{key}-backend")}
    if name == "prune-duplicates":
        return {"backend": st.text_input("Only this backend", key=f"{key}-backend"),
                "verbose": st.checkbox("Say why each is kept", key=f"{key}-verbose")}
    if name == "restore-ollama":
        return {"backup": st.text_input("Backup id or path (default: the newest)", key=f"{key}-backup-id"),
                "include_deprecated": st.checkbox("Deprecated entries too", key=f"{key}-deprecated")}
    if name == "backfill-ollama-paths":
        return {"no_set_format": st.checkbox("Leave download_format as it is", key=f"{key}-no-format")}
    scope: dict[str, OptionValue] = {
        "include_ollama": st.checkbox("Ollama entries", key=f"{key}-ollama"),
        "include_hf": st.checkbox("Hugging Face / local entries", key=f"{key}-hf"),
    }
    if name == "apply-simple-slugs":
        scope["disambiguate"] = st.selectbox("Disambiguate by", ["backend", "format", "producer", "index", "none"],
                                             key=f"{key}-disambiguate")
        scope["rename_slugs"] = st.checkbox("Rename entries to their slug", key=f"{key}-rename")
    return scope
