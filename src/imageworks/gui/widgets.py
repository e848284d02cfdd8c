"""Streamlit pieces every tab shares: the plugin host, a form's command preview and run, JSON reads, the variant rows.

Every table goes through :func:`grid` (empty cells blank, byte columns in IEC units while
they stay numbers and sort as numbers) and every code box through :func:`code` (long
lines wrap, so a long error or path is read whole).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import streamlit as st

from imageworks.core.hookspecs import Program
from imageworks.core.plugins import PluginHost, get_plugins
from imageworks.core.units import human_size
from imageworks.gui import commands
from imageworks.gui.commands import OptionValue


def code(text: str, language: str = "text") -> None:
    """A code box whose long lines wrap."""
    st.code(text, language=language, wrap_lines=True)


def grid(rows: Iterable[dict[str, Any]], key: str | None = None, sizes: Iterable[str] = (),
         column_config: dict[str, Any] | None = None, whole: bool = False) -> None:
    """``rows`` as a table: a missing value is a blank cell (not ``None``); the columns
    named in ``sizes`` hold bytes and read as ``1.2 GiB``; ``whole`` shows every row
    (Streamlit's default height shows ten and scrolls)."""
    import pandas as pd  # type: ignore[import-untyped]  # (Streamlit's own dependency; no stubs installed)

    frame = pd.DataFrame(list(rows))
    formats: dict[str, Callable[[Any], str]] = {c: human_size for c in sizes if c in frame.columns}
    st.dataframe(frame.style.format(formats, na_rep=""), key=key, column_config=column_config, placeholder="",
                 height="content" if whole else "auto")


@st.cache_resource
def plugin_host() -> PluginHost:
    """The process's plugin host, built once (Streamlit re-runs the page script on every click)."""
    return get_plugins()


def form_command(key: str, program: Program, name: str, arguments: list[str], options: dict[str, OptionValue],
                 label: str, enabled: bool = True, show: Callable[[str], None] | None = None) -> None:
    """Show the command a form builds and run it when its button is pressed.

    After a run the whole page is drawn again, so every table above the form shows the
    registry as the command left it; the outcome is kept for that one redraw and shown
    under the form. ``show``, when given, draws the command's stdout (a ``--json`` report
    as a table) instead of the plain text.
    """
    try:
        args = commands.build(program, name, arguments, options)
    except Exception as error:  # noqa: BLE001  (the form is incomplete or the CLI rejects it)
        st.warning(f"Not a valid command yet: {error}")
        return
    code(commands.shell_line(program, args), language="bash")
    if st.button(label, key=f"{key}-run", disabled=not enabled):
        with st.spinner(f"Running {name}…"):
            st.session_state[f"{key}-outcome"] = commands.run(program, args)
        st.rerun(scope="app")
    show_outcome(key, show)


def show_outcome(key: str, show: Callable[[str], None] | None = None) -> None:
    """The outcome of form ``key``'s last run, once, on the redraw after it (see :func:`form_command`)."""
    outcome: commands.Outcome | None = st.session_state.pop(f"{key}-outcome", None)
    if outcome is None:
        return
    (st.success if outcome.exit_code == 0 else st.error)(f"exit status {outcome.exit_code}")
    if outcome.stdout and show is not None:
        show(outcome.stdout)
    elif outcome.stdout:
        code(outcome.stdout)
    if outcome.stderr:
        code(outcome.stderr)


def cli_json(name: str, options: dict[str, OptionValue] | None = None, arguments: Sequence[str] = ()) -> Any:
    """What ``imageworks-download NAME ARGUMENTS --json`` with ``options`` prints, parsed;
    ``None`` (and the error on the page) when it fails."""
    outcome = commands.run("download", commands.build("download", name, arguments, {**(options or {}), "json": True}))
    if outcome.exit_code != 0:
        st.error(outcome.stderr.strip() or f"{name} failed")
        return None
    return json.loads(outcome.stdout or "null")


def list_entries(options: dict[str, OptionValue]) -> list[dict[str, Any]]:
    """The rows of ``list --json`` with ``options``."""
    rows = cli_json("list", options)
    return rows if isinstance(rows, list) else []


def dry_run_gate(key: str, what: str) -> tuple[bool, bool]:
    """The "Dry run" box (ticked by default) of a destructive form and, once it is
    cleared, the confirmation box; returns ``(dry_run, may_run)``."""
    dry = st.checkbox("Dry run (show the plan, write nothing)", value=True, key=f"{key}-dry-run")
    if dry:
        return True, True
    return False, st.checkbox(f"I confirm: {what}", key=f"{key}-confirm")


def show_report(stdout: str) -> None:
    """A command's ``--json`` report: its warnings, its scalar fields and counts, then one
    row per item (a report that is a list is all items)."""
    report = json.loads(stdout)
    rows = report.get("items") if isinstance(report, dict) else report
    if isinstance(report, dict):
        for warning in report.get("warnings") or []:
            st.warning(str(warning))
        summary = {k: v for k, v in report.items() if not isinstance(v, list | dict)}
        summary.update(report.get("counts") or {})
        st.caption(", ".join(f"{k}: {v}" for k, v in summary.items()))
    if not isinstance(rows, list):
        st.json(report)
    elif rows:
        grid(_flat(row) for row in rows if isinstance(row, dict))
    else:
        st.info("Nothing to do.")


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    """A report row with list and object cells as text (a table column holds one type)."""
    return {
        k: ", ".join(map(str, v)) if isinstance(v, list) else json.dumps(v) if isinstance(v, dict) else v
        for k, v in row.items()
    }
