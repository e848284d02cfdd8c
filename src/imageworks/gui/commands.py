"""Build and run the exact CLI command of a GUI form, from the CLI's own Click definitions.

A form names a program, a command and option values by their long flag names (``dry_run`` is ``--dry-run``);
:func:`build` turns them into the argument list the CLI would get, refusing a name the
command does not define and letting Click itself parse the result, so a form can never
offer a flag the CLI lacks or produce a command the CLI rejects. :func:`run` runs the
arguments through :func:`imageworks.cli.main.run` (the console scripts' own code path,
structured log included) and captures what it prints.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import click

from imageworks.cli.main import PROGRAMS, build_cli
from imageworks.cli.main import run as run_program
from imageworks.core.hookspecs import Program

OptionValue = str | bool | list[str] | None  # a list: the option once per item (``multiple=True``)


@dataclass(frozen=True)
class Outcome:
    """What one CLI run returned and printed."""

    exit_code: int
    stdout: str
    stderr: str


def command(program: Program, name: str) -> click.Command:
    """The Click command ``name`` of ``program``, as the CLI builds it."""
    found = build_cli(program).commands.get(name)
    if found is None:
        raise KeyError(f"{PROGRAMS[program][0]} has no command {name!r}")
    return found


def build(program: Program, name: str, arguments: Sequence[str] = (), options: Mapping[str, OptionValue] | None = None) -> list[str]:
    """The argument list of ``name`` with ``arguments`` and the set ``options``.

    ``True`` adds a flag (the off switch of an on/off pair by its own name: ``no_backup``,
    ``apply``), a non-empty string adds ``--option value``, a list adds it once per
    item; ``False``, ``None`` and ``""`` leave the option out. ``arguments`` follow ``--``,
    so a name that reads as an option is passed as a name. Raises ``KeyError`` for an
    option the command does not define and ``click.UsageError`` when Click rejects the
    result.
    """
    cmd = command(program, name)
    by_name = {
        opt.lstrip("-").replace("-", "_"): p
        for p in cmd.params
        if isinstance(p, click.Option)
        for opt in (*p.opts, *p.secondary_opts)  # --no-backup, --apply of a --dry-run/--apply pair
        if opt.startswith("--")
    }
    args = [name]
    for key, value in (options or {}).items():
        option = by_name.get(key)
        if option is None:
            raise KeyError(f"{name} has no option {key!r}")
        if value is None or value is False or value == "":
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, list):
            args += [part for item in value for part in (flag, str(item))]
        elif option.is_flag:
            if value is not True:
                raise ValueError(f"{flag} is a flag; give True or False")
            args.append(flag)
        else:
            args += [flag, str(value)]
    if arguments:  # positionals after ``--``: a registry name like ``--fix-missing`` stays a name
        args += ["--", *(str(a) for a in arguments)]
    with cmd.make_context(name, list(args[1:]), resilient_parsing=False):
        pass  # Click parsed it: the CLI accepts this command line
    return args


def shell_line(program: Program, args: Sequence[str]) -> str:
    """The command line a user would type for ``args``."""
    return shlex.join([PROGRAMS[program][0], *args])


def run(program: Program, args: Sequence[str]) -> Outcome:
    """Run ``args`` in-process through the CLI's code path; capture its output."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_program(program, list(args))
    return Outcome(code, out.getvalue(), err.getvalue())
