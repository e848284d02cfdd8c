"""``imageworks-download export litellm|llama-swap``: the registry as another router's config file.

A thin front end over :mod:`imageworks.services.serve.exports`: the same filters as ``list``
choose the variants (installed ones by default), the YAML goes to stdout or
``--output FILE`` (written whole, then moved into place, so a failed export never
leaves half a config), and a line on stderr names every variant left out and why.
``IMAGEWORKS_VLLM_BIN``, ``IMAGEWORKS_LMDEPLOY_BIN`` and ``IMAGEWORKS_LLAMA_SERVER_BIN``
name the executables written into llama-swap's ``cmd``. A built-in plugin (entry point ``cli-export``).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import click

from imageworks.cli import _output as out
from imageworks.cli._choices import check_backend, check_format, check_location
from imageworks.cli.context import AppContext
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # imported by the commands when they run, not to build --help
    from imageworks.core.model import RegistryEntry
    from imageworks.services.serve.commands import LaunchCommand, LaunchOptions, Server
    from imageworks.services.serve.exports import CommandBuilder

#: ``services.serve.commands.SERVERS`` (a test keeps them equal), copied so --help loads no launch code
SERVERS = ("vllm", "lmdeploy", "llama-server")

pass_app = click.make_pass_decorator(AppContext)


def _filters(function: Callable[..., Any]) -> Callable[..., Any]:
    """The ``list`` filters, plus ``--server`` and ``--output``."""
    for option in reversed(
        [
            click.option("--format", "format_filter", metavar="FORMAT", help="Only this download format (gguf, awq, safetensors, ...)."),
            click.option("--location", metavar="LABEL", help="Only this location label (linux_wsl, windows_lmstudio, ...)."),
            click.option("--backend", metavar="NAME", help="Only this backend (vllm, lmdeploy, gguf, ollama, ...)."),
            click.option("--show-deprecated", is_flag=True, help="Include deprecated entries."),
            click.option("--include-logical", is_flag=True, help="Include entries without local files (curated, ollama://)."),
            click.option("--include-testing", is_flag=True, help="Include testing/demo placeholders (testzzz, ...)."),
            click.option("--server", type=click.Choice(SERVERS), help="Serve every non-Ollama variant with this stack (default: by backend: vllm, lmdeploy, gguf -> llama-server)."),
            click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the YAML here instead of stdout."),
        ]
    ):
        function = option(function)
    return function


@click.group("export")
def export_group() -> None:
    """Write the registry as a LiteLLM or llama-swap config (YAML)."""


@export_group.command("litellm")
@_filters
@click.option("--api-base", metavar="URL", help="Send every non-Ollama variant to this OpenAI-compatible URL (a router such as llama-swap) instead of its own server.")
@click.option("--api-key-env", metavar="NAME", help="Write api_key as os.environ/NAME (LiteLLM reads it at start-up) instead of the placeholder 'none', "
              "NAME an IMAGEWORKS_BACKEND_KEY_* variable, for variants whose backend_config.api_key_env names no variable of their own (for all with --api-base).")
@pass_app
def export_litellm_command(app: AppContext, /, api_base: str | None, api_key_env: str | None, **options: Any) -> None:
    """A model_list for LiteLLM's config.yaml: openai/<served id> at each server, ollama/<name:tag> for Ollama."""
    from imageworks.services.serve.endpoints import BACKEND_KEY_PREFIX, allowed_key_env
    from imageworks.services.serve.exports import litellm_config

    if api_key_env is not None and not allowed_key_env(api_key_env):
        raise ImageworksError(
            f"--api-key-env wants an {BACKEND_KEY_PREFIX}* variable name, not {api_key_env!r}",
            "backend keys come only from IMAGEWORKS_BACKEND_KEY_* variables (docs/security.md)",
        )
    if api_base is not None and not re.match(r"^https?://[^\s/]+", api_base):
        raise ImageworksError(f"--api-base wants an http(s) URL, not {api_base!r}")
    entries, server, output = _chosen(app, options)
    config, notes = litellm_config(
        entries, _builder(), ollama_url=app.config.ollama_url, api_base=api_base, api_key_env=api_key_env, server=server
    )
    _emit(config, notes, output, len(config["model_list"]))


@export_group.command("llama-swap")
@_filters
@click.option("--health-check-timeout", type=click.IntRange(15), default=300, show_default=True,
              help="llama-swap's wait for a model to start (its own default, 120 s, is short for vLLM).")
@pass_app
def export_llama_swap_command(app: AppContext, /, health_check_timeout: int, **options: Any) -> None:
    """A models: map for llama-swap's config.yaml: cmd (the serve-* command with ${PORT}), proxy, aliases."""
    from imageworks.services.serve.exports import llama_swap_config

    entries, server, output = _chosen(app, options)
    config, notes = llama_swap_config(entries, _builder(), server=server, health_check_timeout=health_check_timeout)
    _emit(config, notes, output, len(config["models"]))


#: The executables written into llama-swap's cmd, as ``serve-vllm``/``serve-lmdeploy`` take them.
EXECUTABLE_VARIABLES: dict[Server, str] = {
    "vllm": "IMAGEWORKS_VLLM_BIN", "lmdeploy": "IMAGEWORKS_LMDEPLOY_BIN", "llama-server": "IMAGEWORKS_LLAMA_SERVER_BIN",
}


def _builder() -> CommandBuilder:
    """:func:`resolve` with each stack's executable taken from its environment variable, when set."""
    from imageworks.services.serve.running import resolve

    def build(server: Server, entry: RegistryEntry, options: LaunchOptions) -> LaunchCommand:
        executable = os.environ.get(EXECUTABLE_VARIABLES[server]) or None
        return resolve(server, entry, attrs.evolve(options, executable=executable) if executable else options)

    return build


def _chosen(app: AppContext, options: dict[str, Any]) -> tuple[list[RegistryEntry], Server | None, Path | None]:
    from imageworks.core.hosts import HostView
    from imageworks.services.listing.query import ListQuery, select

    everything = app.registry.entries()
    query = ListQuery(
        format=check_format(options["format_filter"], everything),
        location=check_location(options["location"], app.config, everything),
        backend=check_backend(options["backend"], everything),
        show_deprecated=options["show_deprecated"],
        include_logical=options["include_logical"],
        include_testing=options["include_testing"],
        host_view=HostView.of(app.config),  # the servers run here: this host's installs, as `list` shows
    )
    return select(everything, query, app.config.test_model_patterns), options["server"], options["output"]


def _emit(config: dict[str, Any], notes: list[str], output: Path | None, count: int) -> None:
    from imageworks.services.serve.exports import to_yaml

    for line in notes:
        out.warn(line)
    text = to_yaml(config)
    if output is None:
        click.echo(text, nl=False)
        return
    _write_whole(output, text)
    out.note(f"Wrote {count} model(s) to {output}")


def _write_whole(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then move it into place."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add the ``export`` group to ``imageworks-download``."""
    if program == "download":
        cli.add_command(export_group)
