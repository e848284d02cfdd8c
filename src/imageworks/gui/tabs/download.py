"""📥 Download & Import: 🌐 Download (dry run by default, a real run in the background), 📁 Scan and 🦙 Import Ollama.

The download form reads the repo's real file list with ``analyze --files --no-memory
--json`` when asked (metadata only, no header reads), so the weights (``--weights``) are
chosen from what is there, with their sizes, or by one of the GGUF quantisations and
its files as ``analyze`` lists them.

A dry run runs in the page, like every other form. A real download runs as a background
job (:mod:`imageworks.gui.jobs`) with ``--progress-json``: the page polls it once a
second and shows bytes, rate, ETA and files; a Cancel stops it and a later Download of
the same model resumes it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st

from imageworks.core.config import load_config
from imageworks.core.units import human_size
from imageworks.gui import commands, jobs
from imageworks.gui.commands import OptionValue
from imageworks.gui.tabs import imports
from imageworks.gui.widgets import cli_json, code, form_command
from imageworks.services.listing.labels import format_label

RECENT_JOBS = 5


def draw() -> None:
    """Draw the tab."""
    st.subheader("🌐 Download")
    download_form()
    download_jobs()
    imports.draw()


def download_form() -> None:
    """The download form: a dry run in the page, a real download as a background job."""
    id_col, branch_col = st.columns([3, 1])
    model = id_col.text_input("Model (owner/repo[@branch])", key="dl-model").strip()
    branch = branch_col.text_input("Branch", key="dl-branch", placeholder="main").strip()
    target = f"{model}@{branch}" if model and branch else model
    cols = st.columns(3)
    options: dict[str, OptionValue] = {
        "format": cols[0].text_input("Format", key="dl-format", help="Preferred format: gguf, awq, safetensors, ..."),
        "location": cols[1].text_input("Location", key="dl-location"),
        "support_repo": cols[2].text_input("Support repo", key="dl-support-repo",
                                           help="Another repo whose configs and tokenizer to add"),
    }
    if target:
        options["weights"] = ",".join(weight_choice(target))
    options |= {
        "include_optional": st.checkbox("Include optional files", key="dl-optional"),
        "force": st.checkbox("Force", key="dl-force"),
        "non_interactive": True,
        "dry_run": st.checkbox("Dry run", value=True, key="dl-dry-run"),
    }
    if not target:
        st.info("Enter a model id.")
        return
    if options["dry_run"]:
        form_command("dl", "download", "download", [target], options, "Download")
        return
    try:
        args = commands.build("download", "download", [target], options)
    except Exception as error:  # noqa: BLE001  (the form is incomplete or the CLI rejects it)
        st.warning(f"Not a valid command yet: {error}")
        return
    code(commands.shell_line("download", args), language="bash")
    st.caption("Runs in the background with `--progress-json` into the job folder; it goes on when you leave or reload the page.")
    if st.button("Download", key="dl-run"):
        job, new = jobs.start(job_folder(), target, "download", lambda progress: commands.build(
            "download", "download", [target], {**options, "progress_json": str(progress)}))
        if new:
            st.success(f"Started download job {job.id}.")
        else:
            st.info(f"{job.key} is already downloading (job {job.id}); not starting it twice.")


def weight_choice(target: str) -> list[str]:
    """The repo's real files (``analyze --files --no-memory --json``, read when asked), its formats and
    GGUF quantisations, and the weight files chosen for ``--weights`` (none: the
    download's own choice)."""
    if st.button("List the repo's files", key="dl-inspect"):
        with st.spinner(f"Reading {target}…"):
            found = cli_json("analyze", {"files": True, "no_memory": True}, arguments=[target])
        st.session_state["dl-analysis"] = (target, found)
        st.session_state.pop("dl-weights", None)
    shown, analysis = st.session_state.get("dl-analysis", (None, None))
    if shown != target or not isinstance(analysis, dict):
        st.caption("Without a choice of weights the download picks them (`--format`, else the preferred formats).")
        return []
    files = analysis.get("files") or []
    formats = ", ".join(format_label(f.get("format_type"), f.get("quantization"))
                        for f in analysis.get("formats") or []) or "none detected"
    st.caption(f"{len(files)} files, {human_size(int(analysis.get('total_size') or 0))}; formats: {formats}")
    with st.expander("Files"):
        st.dataframe([{"file": f["path"], "size": human_size(int(f["size"])), "weights": bool(f.get("weight"))}
                      for f in files], hide_index=True, placeholder="")
    sizes = {f["path"]: int(f["size"]) for f in files if f.get("weight")}
    by_quant: dict[str, list[str]] = analysis.get("gguf_quant_files") or {}
    if by_quant:
        st.selectbox("GGUF quantisation", [ANY_QUANT, *by_quant], key="dl-quant", on_change=_weights_of_quant,
                     args=(by_quant,), help="Chooses that quantisation's files (split parts included) as the weights")
    return st.multiselect("Weights", list(sizes), key="dl-weights",
                          format_func=lambda path: f"{path} ({human_size(sizes[path])})",
                          help="Exactly these weight files (--weights); none: the download chooses")


ANY_QUANT = "(the download chooses)"


def _weights_of_quant(by_quant: dict[str, list[str]]) -> None:
    """A GGUF quantisation was picked: its files become the chosen weights."""
    st.session_state["dl-weights"] = by_quant.get(st.session_state["dl-quant"], [])


def job_folder() -> Path:
    """The job folder of the current configuration."""
    return jobs.folder(load_config())


@st.fragment(run_every=1)
def download_jobs() -> None:
    """The running and recent download jobs, redrawn every second."""
    directory = job_folder()
    shown = [job for job in jobs.jobs(directory) if job.program == "download"][:RECENT_JOBS]
    if not shown:
        return
    st.markdown("**Download jobs**")
    if any(job.status() != "running" for job in shown) and st.button("Clear finished jobs", key="dl-clear"):
        jobs.clear_finished(directory)
        shown = [job for job in shown if job.status() == "running"]
    watched: set[str] = st.session_state.setdefault("dl-watched", set())
    finished_now = False
    for job in shown:
        status = job.status()
        with st.container(border=True, key=f"job-{job.id}"):
            draw_job(job, status)
        if status == "running":
            watched.add(job.id)
        elif job.id in watched:
            watched.discard(job.id)
            finished_now = True
    if finished_now:  # a job ended: redraw the whole page, so 📚 Browse & Manage shows the new entry
        st.rerun(scope="app")


def draw_job(job: jobs.Job, status: jobs.Status) -> None:
    """One job: what it runs, its progress and, once ended, its outcome."""
    started = dt.datetime.fromtimestamp(job.started).strftime("%H:%M:%S")
    icon = {"running": "⏳", "done": "✅", "failed": "❌", "cancelled": "⏹️"}[status]
    st.markdown(f"{icon} **{job.key}**: {status} (job {job.id}, started {started})")
    code(commands.shell_line("download", job.args), language="bash")
    progress = job.progress()
    if progress is not None:
        st.progress(progress.fraction, text=progress_text(progress))
    elif status == "running":
        st.caption("Planning the download…")
    if status == "running" and not st.button("Cancel", key=f"job-cancel-{job.id}"):
        return
    if status == "running":
        job.cancel()
        status = job.status()
    if status == "cancelled":
        st.caption("Cancelled: the partial files are kept; Download again to resume.")
    output = job.output().strip()
    if output:
        code(output)


def progress_text(progress: jobs.Progress) -> str:
    """Bytes done of total, rate, ETA and files, in one line."""
    eta = "—" if progress.eta_seconds is None else str(dt.timedelta(seconds=round(progress.eta_seconds)))
    return (f"{human_size(progress.bytes_done)} of {human_size(progress.bytes_total)} "
            f"({100 * progress.fraction:.0f}%) · {human_size(round(progress.speed))}/s · ETA {eta} · "
            f"{progress.files_done}/{progress.files_total} files")
