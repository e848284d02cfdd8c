"""Composition root of the three console scripts.

Each program is an empty ``click.Group`` that plugins fill through
``imageworks_register_commands`` (the built-in command groups are plugins too). Errors
become one line on stderr and exit status 1 (a usage error names the help of the
command it is about; a bare program or group prints its help and exits 0); the traceback is shown only under
``IMAGEWORKS_DEBUG=1`` and always goes to the log. Error lines often quote remote names,
so they are printed through :func:`terminal_safe` (one line, no control characters).
An ``OSError`` nothing closer caught still gets a plain "cannot ... PATH: reason" line.
"""

from __future__ import annotations

import atexit
import errno
import logging
import os
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from imageworks import __version__
from imageworks.cli._output import terminal_safe
from imageworks.cli.context import AppContext
from imageworks.cli.entry import resume_collection
from imageworks.core.config import TABLE_KEYS, Config, load_config
from imageworks.core.errors import ConfigError, ImageworksError
from imageworks.core.hookspecs import Program
from imageworks.core.logs import redact
from imageworks.core.plugins import PluginHost, get_plugins
from imageworks.services.log_file import setup_logging

PROGRAMS: dict[Program, tuple[str, str]] = {
    "download": ("imageworks-download", "Acquire, organise and audit model weights (Hugging Face, Ollama, local)."),
    "loader": ("imageworks-loader", "Refresh the discovered registry layer from Hugging Face folders and Ollama."),
    "model-registry": ("imageworks-model-registry", "Inspect and lock registry entries for deterministic serving."),
}
log = logging.getLogger("imageworks.cli")


def build_cli(program: Program) -> click.Group:
    """The click group of ``program`` with every plugin's commands added."""
    prog_name, help_text = PROGRAMS[program]

    @click.group(
        name=prog_name,
        help=help_text + "\n\nCommands come from plugins; `imageworks-download plugins` lists them.",
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    @click.version_option(__version__, prog_name=prog_name)
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        if ctx.obj is None:
            ctx.obj = AppContext(load_config(), get_plugins())

    get_plugins().register_commands(cli, program)
    return cli


def run(program: Program, args: Sequence[str] | None = None) -> int:
    """Run ``program`` with ``args``; return the exit status (0 success, 1 failure)."""
    args = list(sys.argv[1:] if args is None else args)
    prog_name = PROGRAMS[program][0]
    debug = os.environ.get("IMAGEWORKS_DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}
    try:
        config = load_config()
        setup_logging(config.log_dir, redact(" ".join([prog_name, *args])), config.debug)
        cli = build_cli(program)
        _check_config(config, get_plugins())
        resume_collection()
        result = cli.main(args, prog_name=prog_name, standalone_mode=False, obj=AppContext(config, get_plugins()))
        return result if isinstance(result, int) else 0
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.exceptions.NoArgsIsHelpError as bare:  # a bare program or group: its help, not an error
        click.echo(bare.ctx.get_help())
        return 0
    except click.Abort:
        click.echo("Error: aborted", err=True)
        return 1
    except click.ClickException as error:
        _error_line(f"{error.format_message()} (see `{_help_of(error, prog_name)}`)")
        log.error("usage error: %s", error.format_message())
        return 1
    except ImageworksError as error:
        _error_line(str(error))
        log.error("%s", error, exc_info=debug)
        return 1
    except KeyboardInterrupt:
        click.echo("Error: interrupted", err=True)
        return 1
    except OSError as error:  # a disk (or socket) failure no code closer to it explained
        log.exception("file system error")
        if debug:
            traceback.print_exc()
        _error_line(f"{describe_os_error(error)} (set IMAGEWORKS_DEBUG=1 for where it happened)")
        return 1
    except Exception as error:  # a bug: say so in one line, keep the traceback for the log
        log.exception("unexpected error")
        if debug:
            traceback.print_exc()
        first = (str(error).splitlines() or [""])[0]
        _error_line(f"unexpected {type(error).__name__}: {first} (set IMAGEWORKS_DEBUG=1 for the traceback)")
        return 1


def _check_config(config: Config, plugins: PluginHost) -> None:
    """Refuse a key of ``[tool.imageworks.model-downloader]`` nobody reads (with the closest
    known one) and a plugin setting of the wrong type, before any command runs."""
    declared = [setting for _plugin, setting in plugins.settings()]
    _check_keys(config.table, TABLE_KEYS | {s.name for s in declared}, config.pyproject)
    for setting in declared:
        config.setting(setting)


def _check_keys(table: Mapping[str, Any], known: Iterable[str], pyproject: Path | None) -> None:
    """Refuse a key of the table that neither the core nor a loaded plugin reads, naming
    the closest known key (a typo such as ``max_connection`` would silently change nothing)."""
    names = sorted(set(known))
    for key in sorted(table):
        if key in names:
            continue
        import difflib

        close = difflib.get_close_matches(key, names, n=1)
        hint = f"did you mean {close[0]!r}?" if close else "remove it, or enable the plugin that declares it"
        raise ConfigError(f"unknown key {key!r} in [tool.imageworks.model-downloader] of {pyproject}", hint)


def _help_of(error: click.ClickException, prog_name: str) -> str:
    """The help command of the (sub)command a usage error is about."""
    ctx = getattr(error, "ctx", None)
    return f"{ctx.command_path if ctx is not None else prog_name} --help"


def _error_line(text: str) -> None:
    click.echo(f"Error: {terminal_safe(text, one_line=True)}", err=True)


_OS_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def describe_os_error(error: OSError) -> str:
    """One line for an ``OSError``: which path, and what went wrong there."""
    reason = _OS_REASONS.get(error.errno or -1) or error.strerror or str(error) or type(error).__name__
    paths = [str(p) for p in (error.filename, error.filename2) if p is not None]
    if isinstance(error, ConnectionError | TimeoutError) and not paths:
        return f"a connection failed: {reason}"
    if not paths:
        return f"a system call failed: {reason}"
    return f"cannot use {' -> '.join(paths)}: {reason}"


def exit_now(code: int) -> None:
    """End the console script with ``code``, skipping the interpreter's teardown when it has nothing to do.

    Tearing down a few hundred modules costs 20-40 ms after the command is done. When the main
    thread is the only non-daemon thread left, a normal exit would run the ``atexit`` callbacks
    (``logging.shutdown``, ``weakref.finalize`` of temporary folders, ...) and flush the
    standard streams, then free memory the kernel frees anyway; so run those callbacks and flush,
    then ``os._exit``. Anything else (a thread still working, a profiler or tracer such as
    cProfile or coverage that writes its data at exit, a stream that cannot be flushed) takes
    the normal ``sys.exit``, with its usual reporting.
    """
    main = threading.main_thread()
    watched = sys.getprofile() is not None or sys.gettrace() is not None
    if not watched and all(t is main or t.daemon or not t.is_alive() for t in threading.enumerate()):
        try:
            atexit._run_exitfuncs()
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:  # e.g. a closed pipe: let the normal exit report it as usual
            sys.exit(code)
        os._exit(code)
    sys.exit(code)


def download_main() -> None:
    """``imageworks-download``."""
    exit_now(run("download"))


def loader_main() -> None:
    """``imageworks-loader``."""
    exit_now(run("loader"))


def model_registry_main() -> None:
    """``imageworks-model-registry``."""
    exit_now(run("model-registry"))
