"""📥 Download & Import: 🌐 Download (dry run by default, a real run in the background), 📁 Scan and 🦙 Import Ollama.

A dry run runs in the page, like every other form. A real download runs as a background
job (:mod:`imageworks.gui.jobs`) with ``--progress-json``: the page polls it once a
second and shows bytes, rate, ETA and files; a Cancel stops it and a later Download of
the same model resumes it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import streamlit as st

from imageworks.cli._output import human_size
from imageworks.core.config import load_config
from imageworks.gui import commands, jobs
from imageworks.gui.commands import OptionValue
from imageworks.gui.tabs import imports
from imageworks.gui.widgets import form_command

RECENT_JOBS = 5


def draw() -> None:
    """Draw the tab."""
    st.subheader("🌐 Download")
    download_form()
    download_jobs()
    imports.draw()


def download_form() -> None:
    """The download form: a dry run in the page, a real download as a background job."""
    model = st.text_input("Model (owner/repo[@branch])", key="dl-model")
    cols = st.columns(2)
    options: dict[str, OptionValue] = {
        "format": cols[0].text_input("Format", key="dl-format"),
        "location": cols[1].text_input("Location", key="dl-location"),
        "include_optional": st.checkbox("Include optional files", key="dl-optional"),
        "force": st.checkbox("Force", key="dl-force"),
        "non_interactive": True,
        "dry_run": st.checkbox("Dry run", value=True, key="dl-dry-run"),
    }
    if not model:
        st.info("Enter a model id.")
        return
    if options["dry_run"]:
        form_command("dl", "download", "download", [model], options, "Download")
        return
    try:
        args = commands.build("download", "download", [model], options)
    except Exception as error:  # noqa: BLE001  (the form is incomplete or the CLI rejects it)
        st.warning(f"Not a valid command yet: {error}")
        return
    st.code(commands.shell_line("download", args), language="bash")
    st.caption("Runs in the background with `--progress-json` into the job folder; it goes on when you leave or reload the page.")
    if st.button("Download", key="dl-run"):
        job, new = jobs.start(job_folder(), model.strip(), "download", lambda progress: commands.build(
            "download", "download", [model], {**options, "progress_json": str(progress)}))
        if new:
            st.success(f"Started download job {job.id}.")
        else:
            st.info(f"{job.key} is already downloading (job {job.id}); not starting it twice.")


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
    st.code(commands.shell_line("download", job.args), language="bash")
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
        st.code(output, language="text")


def progress_text(progress: jobs.Progress) -> str:
    """Bytes done of total, rate, ETA and files, in one line."""
    eta = "—" if progress.eta_seconds is None else str(dt.timedelta(seconds=round(progress.eta_seconds)))
    return (f"{human_size(progress.bytes_done)} of {human_size(progress.bytes_total)} "
            f"({100 * progress.fraction:.0f}%) · {human_size(round(progress.speed))}/s · ETA {eta} · "
            f"{progress.files_done}/{progress.files_total} files")
