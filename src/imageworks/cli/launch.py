"""``imageworks-download serve-vllm``, ``serve-lmdeploy`` and ``serve-llama-server`` (guide 10): start a serving stack from the registry.

A thin front end over :mod:`imageworks.services.serve.commands` (the command line) and
:mod:`imageworks.services.serve.running` (the checks, the run and the wait). ``--print`` shows
the command, shell-quoted, and exits; otherwise the command runs in the foreground:
once ``/v1/models`` lists the served id a line says where, and the command ends when
the server does (exit 1 if the server failed). Arguments after ``--`` go to the server unchanged.
``scripts/start_vllm_server.py`` is this command. A built-in plugin (entry point
``cli-launch``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from imageworks.cli import _output as out
from imageworks.cli.context import AppContext
from imageworks.core.hookspecs import hookimpl

if TYPE_CHECKING:  # the launch service is imported when a server is started, not to build --help
    from imageworks.services.serve.commands import Server

#: ``core.memory_facts.GGUF_CACHE_TYPES`` (a test keeps them equal), copied so --help loads no memory facts
GGUF_CACHE_TYPES = ("f16", "q8_0", "q4_0")

pass_app = click.make_pass_decorator(AppContext)


def _common(server: Server, bin_flag: str, env: str, template_help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The options both commands share (the executable flag is named per stack)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for option in reversed(
            [
                click.argument("variant"),
                click.option("--host", default="127.0.0.1", show_default=True, help="Address the server binds to."),
                click.option("--port", type=click.IntRange(1, 65535), help="Port (default: the variant's planned port: backend_config.port, else one derived from its name in IMAGEWORKS_SERVE_PORTS, 18000-18999)."),
                click.option("--served-name", metavar="ID", help="Id in /v1/models (default: served_model_id, else the variant name)."),
                click.option("--max-model-len", type=click.IntRange(1), metavar="TOKENS", help="Context length cap (default: backend_config.max_model_len)."),
                click.option("--chat-template", metavar="FILE", help=template_help),
                click.option(f"--{bin_flag}", "executable", envvar=env, show_envvar=True, metavar="PATH",
                             help=f"The {server} executable to run (default: {server} on PATH)."),
                click.option("--print", "--dry-run", "print_only", is_flag=True, help="Print the command (shell-quoted) and exit."),
                click.option("--timeout", type=click.FloatRange(min=0.1), default=600.0, show_default=True,
                             help="Seconds to wait for GET /v1/models to list the model."),
                click.argument("server_args", nargs=-1, type=click.UNPROCESSED, metavar="[-- SERVER_ARGS...]"),
            ]
        ):
            function = option(function)
        return function

    return decorate


@click.command("serve-vllm")
@_common("vllm", "vllm-bin", "IMAGEWORKS_VLLM_BIN", "Chat template file (default: the model's chat_template.jinja when it has one).")
@click.option("--tokenizer", metavar="REPO|DIR", help="Tokenizer for a GGUF (default: backend_config.tokenizer, else the card's base_model).")
@pass_app
def serve_vllm_command(app: AppContext, /, variant: str, tokenizer: str | None, **options: Any) -> None:
    """Start `vllm serve` for an installed VARIANT and wait until it answers."""
    _serve(app, "vllm", variant, tokenizer=tokenizer, **options)


@click.command("serve-llama-server")
@_common("llama-server", "llama-server-bin", "IMAGEWORKS_LLAMA_SERVER_BIN", "Jinja chat template file (default: the one in the GGUF).")
@click.option("--parallel", "slots", type=click.IntRange(1, 256), metavar="N",
              help="Slots (-np) sharing one unified KV cache (default: 4, llama-server's own).")
@click.option("--cache-type", type=click.Choice(GGUF_CACHE_TYPES), help="KV cache type for keys and values (default: f16).")
@pass_app
def serve_llama_server_command(app: AppContext, /, variant: str, slots: int | None, cache_type: str | None, **options: Any) -> None:
    """Start llama.cpp's `llama-server` for an installed GGUF VARIANT and wait until it answers.

    Pins the context (--max-model-len, else backend_config.max_model_len, else the model's),
    the slots and the cache type, as `list`/`analyze` estimate them.
    """
    _serve(app, "llama-server", variant, slots=slots, cache_type=cache_type, **options)


@click.command("serve-lmdeploy")
@_common("lmdeploy", "lmdeploy-bin", "IMAGEWORKS_LMDEPLOY_BIN", "LMDeploy chat template (its JSON format or a built-in name).")
@pass_app
def serve_lmdeploy_command(app: AppContext, /, variant: str, **options: Any) -> None:
    """Start `lmdeploy serve api_server` for an installed VARIANT and wait until it answers.

    Warns first when the model has no chat template or no generation_config.json.
    """
    _serve(app, "lmdeploy", variant, **options)


def _serve(
    app: AppContext,
    server: Server,
    variant: str,
    *,
    host: str,
    port: int | None,
    served_name: str | None,
    max_model_len: int | None,
    chat_template: str | None,
    executable: str | None,
    print_only: bool,
    timeout: float,
    server_args: tuple[str, ...],
    tokenizer: str | None = None,
    slots: int | None = None,
    cache_type: str | None = None,
) -> None:
    from imageworks.services.listing.access import record_access
    from imageworks.services.serve.commands import LaunchError, LaunchOptions
    from imageworks.services.serve.running import prepare, serving_plan, start, stop

    registry = app.registry
    entry = registry.get(variant)
    plan = None
    if server == "llama-server":
        try:
            plan = serving_plan(entry, max_model_len, slots, cache_type)
        except ValueError as error:
            raise LaunchError(str(error)) from error
    options = LaunchOptions(
        host=host, port=port, served_name=served_name, max_model_len=max_model_len, tokenizer=tokenizer,
        chat_template=chat_template, executable=executable, extra_args=server_args, plan=plan,
    )
    command = prepare(server, entry, options, neighbours=registry.entries())
    for warning in command.warnings:
        out.warn(warning)
    if print_only:
        click.echo(command.display)
        return
    record_access(registry, [entry.name])
    out.note(f"Starting: {command.display}")
    process = start(command, timeout=timeout)
    out.note(f"Serving {command.served_name} at {command.base_url} (pid {process.pid}); Ctrl-C stops it")
    try:
        status = process.wait()
    except KeyboardInterrupt:
        stop(process)
        raise
    if status:
        raise LaunchError(f"{command.argv[0]} exited with status {status}")


@hookimpl
def imageworks_register_commands(cli: click.Group, program: str) -> None:
    """Add ``serve-vllm``, ``serve-lmdeploy`` and ``serve-llama-server`` to ``imageworks-download``."""
    if program == "download":
        cli.add_command(serve_vllm_command)
        cli.add_command(serve_llama_server_command)
        cli.add_command(serve_lmdeploy_command)
