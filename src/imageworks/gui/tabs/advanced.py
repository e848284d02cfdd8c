"""⚙️ Advanced Operations: 🗑️ Remove, ✅ Verify and 📊 Profiles.

Remove picks a variant from the registry's (every one, logical and deprecated too) and
what goes: the download metadata, the files, the entry, or files and entry; it defaults to
a dry run and needs the confirmation box (it passes ``--force`` only then). Verify checks every installed variant or one; ``--fix-missing`` rewrites entries,
so it too needs the confirmation. Profiles shows ``config`` and the pyproject table
the configuration came from.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import streamlit as st

from imageworks.gui.commands import OptionValue
from imageworks.gui.widgets import cli_json, form_command, grid, list_entries, show_outcome

ALL = "(every installed variant)"


def draw() -> None:
    """Draw the tab."""
    st.subheader("🗑️ Remove")
    remove_form()
    st.subheader("✅ Verify")
    verify_form()
    st.subheader("📊 Profiles")
    profiles()


#: What Remove offers -> (``--delete-files``, ``--purge``).
REMOVE_MODES = {
    "download metadata only (files and entry stay)": (False, False),
    "files (the entry stays, not installed)": (True, False),
    "entry only (files stay on disk)": (False, True),
    "files and entry": (True, True),
}


def remove_form() -> None:
    """``remove VARIANT``: metadata only, the files, the entry, or files and entry."""
    names = [str(r["name"]) for r in list_entries({"include_logical": True, "show_deprecated": True,
                                                   "include_testing": True})]
    if not names:
        st.info("No variants in the registry.")
        show_outcome("rm")  # the removal of the last one
        return
    variant = str(st.selectbox("Variant to remove", names, key="rm-variant"))
    mode = str(st.radio("What to remove", list(REMOVE_MODES), key="rm-mode"))
    dry = st.checkbox("Dry run", value=True, key="rm-dry-run")
    confirmed = st.checkbox("I confirm the removal", key="rm-confirm")
    delete_files, purge = REMOVE_MODES[mode]
    options: dict[str, OptionValue] = {
        "delete_files": delete_files,
        "purge": purge,
        "dry_run": dry,
        "force": confirmed,
    }
    form_command("rm", "download", "remove", [variant], options, "Remove", enabled=dry or confirmed)


def verify_form() -> None:
    """``verify [VARIANT] [--fix-missing] [--quick]``."""
    names = [str(r["name"]) for r in list_entries({})]
    variant = st.selectbox("Variant", [ALL, *names], key="verify-variant")
    quick = st.checkbox("Quick (paths, file lists and sizes; no hashing)", key="verify-quick")
    fix = st.checkbox("Mark variants whose files are gone as not installed (--fix-missing)", key="verify-fix")
    confirmed = not fix or st.checkbox("I confirm: entries whose files are gone are rewritten", key="verify-confirm")
    options: dict[str, OptionValue] = {"fix_missing": fix, "quick": quick}
    form_command("verify", "download", "verify", [] if variant == ALL else [variant], options, "Verify",
                 enabled=confirmed)


def profiles() -> None:
    """``config`` (every setting and where it came from) and the pyproject table it read."""
    form_command("config", "download", "config", [], {}, "Show the configuration")
    settings = cli_json("config") or {}
    grid([{"setting": k, "value": v.get("value"), "source": v.get("source")} for k, v in settings.items()],
         key="config-table", whole=True)  # every setting in view, the plugins' too
    pyproject = str(settings.get("pyproject", {}).get("value") or "")
    if not pyproject or not Path(pyproject).is_file():  # `config` says "none found"
        st.info("No pyproject.toml with a [tool.imageworks] table above the working folder.")
        return
    st.caption(f"[tool.imageworks] of {pyproject}")
    st.json(imageworks_table(Path(pyproject)))


def imageworks_table(pyproject: Path) -> dict[str, Any]:
    """The ``[tool.imageworks]`` table of ``pyproject`` (empty when it is missing or unreadable)."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        st.error(f"cannot read {pyproject}: {error}")
        return {}
    table = data.get("tool", {}).get("imageworks", {})
    return table if isinstance(table, dict) else {}
