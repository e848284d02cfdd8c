"""Serving command lines from registry entries: ``vllm serve``, ``lmdeploy serve api_server``, ``llama-server``.

Pure functions: an entry and :class:`LaunchOptions` in, a :class:`LaunchCommand` (an
argv list, never a shell string, plus the warnings a user should see) out. Nothing here
touches the disk or starts a process; :mod:`imageworks.services.serve.running` checks the
installation and runs the command, and :mod:`imageworks.services.serve.exports` writes the same
command lines into llama-swap's config.

What each stack is told, and why:

- vLLM: the model folder (a GGUF entry: its one ``.gguf`` file, since vLLM loads a
  single file), ``--served-model-name`` (the id ``/v1/models`` answers with),
  ``--quantization`` only where the detected method names one vLLM knows for sure
  (``awq``, ``gptq``, ``bitsandbytes``, ``compressed-tensors``; ``fp8`` is left to
  vLLM's own detection because both ``quant_method: fp8`` and compressed-tensors
  checkpoints are recorded as ``fp8``), ``--tokenizer`` for GGUF (the base repo: the
  GGUF's own tokenizer conversion is slow and not always right), ``--chat-template``
  when the template is a separate ``chat_template.jinja``, ``--max-model-len``.
- LMDeploy: the folder, ``--model-name``, ``--model-format`` for AWQ/GPTQ/
  compressed-tensors, ``--session-len``; its ``--chat-template`` takes LMDeploy's own
  JSON format, not a Hugging Face template, so it is passed only when the user names
  one. It warns when the model has no chat template or no ``generation_config.json``
  (guide 10).
- llama-server (llama.cpp): the GGUF file (the first part of a split), ``--alias``, and
  the plan the memory estimate was made for (:mod:`imageworks.services.memory.serving`):
  ``--ctx-size``, ``--parallel`` with ``--kv-unified`` (every slot may use the whole
  context, as llama-server's own default), ``--cache-type-k/-v`` when not f16. Without a
  plan: the context from ``--max-model-len``/``backend_config.max_model_len`` and
  llama-server's default of 4 slots, written out.

With a plan, vLLM also gets ``--max-model-len`` (the plan's context), ``--kv-cache-dtype
fp8`` for an fp8 cache and ``--max-num-seqs`` when the slots were chosen; LMDeploy
``--session-len`` and ``--max-batch-size`` likewise.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Sequence
from typing import Any, Literal

import attrs

from imageworks.core.errors import ImageworksError
from imageworks.core.model import RegistryEntry
from imageworks.services.memory.serving import LLAMA_CPP_DEFAULT_SLOTS, ServingPlan

#: The serving stacks a command can be built for.
Server = Literal["vllm", "lmdeploy", "llama-server"]
SERVERS: tuple[Server, ...] = ("vllm", "lmdeploy", "llama-server")

#: The port each stack listens on when told nothing (their own defaults; commands here always say
#: ``--port``, from the port plan of :mod:`imageworks.services.serve.endpoints`).
DEFAULT_PORTS: dict[Server, int] = {"vllm": 8000, "lmdeploy": 23333, "llama-server": 8080}
DEFAULT_EXECUTABLES: dict[Server, str] = {"vllm": "vllm", "lmdeploy": "lmdeploy", "llama-server": "llama-server"}

#: Download formats no stack here can load, and what to use instead.
_UNSERVABLE = {
    "exl2": "ExLlamaV2/TabbyAPI", "exl3": "ExLlamaV3/TabbyAPI", "mlx": "mlx-lm", "onnx": "ONNX Runtime",
}
#: vLLM ``--quantization`` values by download format, then by recorded quantization.
_VLLM_BY_FORMAT = {"awq": "awq", "gptq": "gptq", "bnb": "bitsandbytes"}
_VLLM_BY_QUANT = {"w4a16": "compressed-tensors", "w8a8": "compressed-tensors", "nvfp4": "compressed-tensors"}
#: LMDeploy ``--model-format`` values (its choices: hf, awq, gptq, compressed-tensors, fp8, mxfp4).
_LMDEPLOY_BY_FORMAT = {"awq": "awq", "gptq": "gptq"}
_LMDEPLOY_UNSUPPORTED = {"gguf": "llama.cpp, Ollama or vLLM", "bnb": "vLLM", **_UNSERVABLE}
#: Flags whose value is a secret (vLLM ``--api-key``, LMDeploy ``--api-keys``): never printed or logged.
SECRET_FLAGS = frozenset({"--api-key", "--api-keys", "--hf-token"})
_SPLIT_PART = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", re.IGNORECASE)


class LaunchError(ImageworksError):
    """A command cannot be built or run for this entry (wrong format, not installed, drifted, ...)."""


@attrs.define(kw_only=True, frozen=True)
class LaunchOptions:
    """What the user (or an export) sets; ``None`` means "from the registry, else the stack's default".

    ``port`` may be a string so that exports can write llama-swap's ``${PORT}`` macro.
    ``chat_template`` is a file path; ``extra_args`` are appended unchanged.
    """

    host: str = "127.0.0.1"
    port: int | str | None = None
    served_name: str | None = None
    max_model_len: int | None = None
    tokenizer: str | None = None
    chat_template: str | None = None
    executable: str | None = None
    extra_args: tuple[str, ...] = ()
    plan: ServingPlan | None = None  # the context, slots and cache type the estimate was made for


@attrs.define(kw_only=True, frozen=True)
class LaunchCommand:
    """A built command: the argv, the id it serves, where it answers, and warnings to show first."""

    server: Server
    argv: tuple[str, ...]
    served_name: str
    host: str
    port: int | str
    warnings: tuple[str, ...] = ()

    @property
    def shell(self) -> str:
        """The argv quoted for a POSIX shell (what llama-swap splits)."""
        return shlex.join(self.argv)

    @property
    def display(self) -> str:
        """:attr:`shell` with the values of key flags (``--api-key``, ...) shown as ``***``: what is printed and logged."""
        shown: list[str] = []
        for index, arg in enumerate(self.argv):
            flag, equals, _ = arg.partition("=")
            if equals and flag in SECRET_FLAGS:
                shown.append(f"{flag}=***")
            elif index and self.argv[index - 1] in SECRET_FLAGS:
                shown.append("***")
            else:
                shown.append(arg)
        return shlex.join(shown)

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible API root of the running server (a wildcard host is asked on loopback)."""
        return api_root(self.host, self.port)


def api_root(host: str, port: int | str) -> str:
    """``http://host:port/v1``, the OpenAI-compatible API root of a server bound to ``host`` (a wildcard
    address is asked on loopback, an IPv6 address is bracketed)."""
    host = "127.0.0.1" if host in {"0.0.0.0", "", "::"} else host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/v1"


def default_base_url(entry: RegistryEntry) -> str | None:
    """Where a server started for ``entry`` with the default options answers (loopback, its planned port:
    ``backend_config.port``, else the variant's own); ``None`` when its backend names no stack here (Ollama, unassigned)."""
    stack = server_for(entry)
    return api_root(LaunchOptions().host, _port(entry, LaunchOptions(), stack)) if stack else None


def build_command(server: Server, entry: RegistryEntry, options: LaunchOptions | None = None) -> LaunchCommand:
    """The command that serves ``entry`` with ``server``; :class:`LaunchError` when it cannot."""
    builders = {"vllm": vllm_command, "lmdeploy": lmdeploy_command, "llama-server": llama_server_command}
    return builders[server](entry, options or LaunchOptions())


def server_for(entry: RegistryEntry) -> Server | None:
    """The stack an entry's ``backend`` names (``gguf`` entries go to llama-server); ``None`` for
    Ollama and unassigned entries, which no command here starts."""
    backend = entry.backend.lower()
    if backend == "vllm":
        return "vllm"
    if backend == "lmdeploy":
        return "lmdeploy"
    if backend in {"gguf", "llama.cpp", "llama-cpp", "llamacpp", "llama-server"}:
        return "llama-server"
    return None


def vllm_command(entry: RegistryEntry, options: LaunchOptions) -> LaunchCommand:
    """``vllm serve <model> --served-model-name ... --host ... --port ...`` for ``entry``."""
    _refuse_unservable(entry, "vLLM")
    fmt = (entry.download_format or "").lower()
    warnings: list[str] = []
    served, port = _served_name(entry, options), _port(entry, options, "vllm")
    if fmt == "gguf":
        gguf = _gguf_files(entry)
        if len(gguf) > 1:
            raise LaunchError(
                f"{entry.name} is a GGUF split into {len(gguf)} files; vLLM loads a single file",
                "merge the parts first (llama-gguf-split --merge FIRST-PART OUT.gguf) or serve it with llama.cpp",
            )
        model = posixpath.join(_folder(entry), gguf[0])
    else:
        model = _folder(entry)
    argv = [options.executable or DEFAULT_EXECUTABLES["vllm"], "serve", _positional(model), "--served-model-name", _value(entry, served)]
    quant = _VLLM_BY_FORMAT.get(fmt) or _VLLM_BY_QUANT.get((entry.quantization or "").lower())
    if quant:
        argv += ["--quantization", quant]
    tokenizer = options.tokenizer or _extra_str(entry, "tokenizer")
    if tokenizer:
        argv += ["--tokenizer", _value(entry, tokenizer)]
    elif fmt == "gguf":
        warnings.append(
            f"{entry.name}: no base model known for the tokenizer, so vLLM will convert the GGUF's own "
            "(slow, and not right for every model); pass --tokenizer <base repo or folder>"
        )
    template = options.chat_template or _extra_str(entry, "chat_template") or _template_file(entry)
    if template:
        argv += ["--chat-template", _value(entry, template)]
    elif (entry.metadata.chat_template or "missing") == "missing" and not (fmt == "gguf" and tokenizer) and not is_embedding(entry):
        # (a GGUF served with its base repo's tokenizer gets that repo's template; embedding models do not chat)
        warnings.append(f"{entry.name}: no chat template recorded; chat requests will fail unless you pass --chat-template FILE")
    max_len = _context(entry, options)
    if max_len:
        argv += ["--max-model-len", str(max_len)]
    if options.plan is not None and options.plan.cache == "fp8":
        argv += ["--kv-cache-dtype", "fp8"]
    if options.plan is not None and "parallel" not in options.plan.defaulted:
        argv += ["--max-num-seqs", str(options.plan.slots)]
    argv += ["--host", options.host, "--port", str(port), *options.extra_args]
    return LaunchCommand(server="vllm", argv=tuple(argv), served_name=served, host=options.host, port=port, warnings=tuple(warnings))


def lmdeploy_command(entry: RegistryEntry, options: LaunchOptions) -> LaunchCommand:
    """``lmdeploy serve api_server <folder> --model-name ... --server-name ... --server-port ...``."""
    fmt = (entry.download_format or "").lower()
    if fmt in _LMDEPLOY_UNSUPPORTED:
        raise LaunchError(
            f"LMDeploy cannot serve {entry.name}: it loads Hugging Face folders, not {fmt.upper()} weights",
            f"serve it with {_LMDEPLOY_UNSUPPORTED[fmt]}",
        )
    if is_embedding(entry):
        raise LaunchError(f"LMDeploy cannot serve {entry.name}: an embedding model, and LMDeploy serves chat only",
                          "serve it with vLLM (serve-vllm), which has /v1/embeddings")
    served, port = _served_name(entry, options), _port(entry, options, "lmdeploy")
    argv = [options.executable or DEFAULT_EXECUTABLES["lmdeploy"], "serve", "api_server", _positional(_folder(entry)), "--model-name", _value(entry, served)]
    model_format = _LMDEPLOY_BY_FORMAT.get(fmt) or (
        "compressed-tensors" if (entry.quantization or "").lower() in _VLLM_BY_QUANT else None
    )
    if model_format:
        argv += ["--model-format", model_format]
    warnings = []
    template = options.chat_template or _extra_str(entry, "lmdeploy_chat_template")
    if template:
        argv += ["--chat-template", _value(entry, template)]
    elif (entry.metadata.chat_template or "missing") == "missing":
        warnings.append(
            f"{entry.name}: no chat template (tokenizer_config.json or chat_template.jinja); LMDeploy falls back to "
            "the template it guesses from the model name, which may be wrong; pass --chat-template FILE.json "
            "(LMDeploy's format) if answers look garbled"
        )
    if "generation_config.json" not in entry.download_files:
        warnings.append(
            f"{entry.name}: no generation_config.json; LMDeploy will use its own sampling defaults "
            "(temperature, top_p, stop tokens) instead of the model's"
        )
    max_len = _context(entry, options)
    if max_len:
        argv += ["--session-len", str(max_len)]
    if options.plan is not None and "parallel" not in options.plan.defaulted:
        argv += ["--max-batch-size", str(options.plan.slots)]
    argv += ["--server-name", options.host, "--server-port", str(port), *options.extra_args]
    return LaunchCommand(server="lmdeploy", argv=tuple(argv), served_name=served, host=options.host, port=port, warnings=tuple(warnings))


def llama_server_command(entry: RegistryEntry, options: LaunchOptions) -> LaunchCommand:
    """``llama-server -m <file.gguf> --alias ... --host ... --port ...`` (GGUF entries only)."""
    if (entry.download_format or "").lower() != "gguf":
        raise LaunchError(f"llama-server loads GGUF files; {entry.name} is {entry.download_format or 'of unknown format'}")
    served, port = _served_name(entry, options), _port(entry, options, "llama-server")
    model = posixpath.join(_folder(entry), _gguf_files(entry)[0])  # llama.cpp finds the other parts of a split
    argv = [options.executable or DEFAULT_EXECUTABLES["llama-server"], "-m", _value(entry, model), "--alias", _value(entry, served)]
    max_len = _context(entry, options)
    if max_len:
        argv += ["--ctx-size", str(max_len)]
    slots = options.plan.slots if options.plan is not None else LLAMA_CPP_DEFAULT_SLOTS
    argv += ["--parallel", str(slots), "--kv-unified"]
    if options.plan is not None and options.plan.cache != "f16":
        argv += ["--cache-type-k", options.plan.cache, "--cache-type-v", options.plan.cache]
    if options.chat_template:
        argv += ["--chat-template-file", options.chat_template]
    argv += ["--host", options.host, "--port", str(port), *options.extra_args]
    return LaunchCommand(server="llama-server", argv=tuple(argv), served_name=served, host=options.host, port=port)


def is_embedding(entry: RegistryEntry) -> bool:
    """Whether the entry is an embedding model: an ``embedding`` role or capability, or a
    sentence-transformers model card."""
    signals = entry.metadata.readme_signals.get("backends")
    return (
        "embedding" in entry.roles
        or bool(entry.capabilities.get("embedding"))
        or (isinstance(signals, list) and "sentence-transformers" in signals)
    )


def served_name(entry: RegistryEntry) -> str:
    """The id the variant's server answers to: ``backend_config.served_model_id`` (set by a person,
    ``connect --served-id``), else the recorded ``served_model_id``, else the variant name."""
    chosen = entry.backend_config.extra.get("served_model_id")
    return chosen if isinstance(chosen, str) and chosen.strip() else entry.served_model_id or entry.name


def _value(entry: RegistryEntry, value: str) -> str:
    """A registry value given to an option; refused when the server would read it as an option."""
    if value.startswith("-"):
        raise LaunchError(
            f"{entry.name}: {value!r} would read as a command-line option",
            "give a plain name (--served-name) or fix the registry entry",
        )
    return value


def _positional(path: str) -> str:
    """A path given as a positional argument: ``./-x`` for a relative path that starts with ``-``."""
    return "./" + path if path.startswith("-") else path


def _served_name(entry: RegistryEntry, options: LaunchOptions) -> str:
    return options.served_name or served_name(entry)


def _context(entry: RegistryEntry, options: LaunchOptions) -> int | None:
    """The context to pin: the option, the plan's, else ``backend_config.max_model_len``."""
    return options.max_model_len or (options.plan.context if options.plan else None) or _extra_int(entry, "max_model_len")


def _port(entry: RegistryEntry, options: LaunchOptions, server: Server) -> int | str:
    """The option, else the variant's port in the one port plan (``endpoints.planned_port``)."""
    if options.port is not None:
        return options.port
    from imageworks.services.serve.endpoints import planned_port  # endpoints builds on this module

    return planned_port(entry)


def _folder(entry: RegistryEntry) -> str:
    """The entry's local folder: ``backend_config.model_path``, else ``download_path``."""
    if entry.backend.lower() == "ollama":
        raise LaunchError(
            f"{entry.name} lives in the Ollama store, which Ollama serves itself",
            f"run `ollama run {entry.served_model_id or entry.name}`, or download the GGUF from the Hub to serve it elsewhere",
        )
    path = entry.backend_config.model_path or entry.download_path
    if not path or "://" in path:
        raise LaunchError(f"{entry.name} has no local files to serve (logical entry: {path or 'no path'})")
    if path.lower().endswith(".gguf"):  # an entry whose path is the file itself
        return posixpath.dirname(path)
    return path


def _gguf_files(entry: RegistryEntry) -> list[str]:
    """The weight GGUFs of the entry (vision projectors left out), first part of a split first."""
    path = entry.backend_config.model_path or entry.download_path or ""
    if path.lower().endswith(".gguf"):
        names: Sequence[str] = [posixpath.basename(path)]
    else:
        names = entry.download_files
    weights = sorted(n for n in names if n.lower().endswith(".gguf") and not posixpath.basename(n).lower().startswith("mmproj"))
    if not weights:
        raise LaunchError(f"{entry.name} records no .gguf file", "run `imageworks-download normalize-formats --rebuild --apply`")
    parts = [n for n in weights if _SPLIT_PART.search(n)]
    return parts if parts and len(parts) == len(weights) else weights


def _template_file(entry: RegistryEntry) -> str | None:
    """A Jinja chat template file the entry ships, when the template is not in tokenizer_config.json."""
    if entry.metadata.chat_template != "file":
        return None
    for name in entry.download_files:
        if posixpath.basename(name) == "chat_template.jinja":
            return posixpath.join(_folder(entry), name)
    return None


def _refuse_unservable(entry: RegistryEntry, stack: str) -> None:
    fmt = (entry.download_format or "").lower()
    if fmt in _UNSERVABLE:
        raise LaunchError(f"{stack} cannot serve {entry.name} ({fmt.upper()} weights)", f"serve it with {_UNSERVABLE[fmt]}")


def _extra(entry: RegistryEntry, key: str) -> Any:
    return entry.backend_config.extra.get(key)


def _extra_str(entry: RegistryEntry, key: str) -> str | None:
    value = _extra(entry, key)
    return value if isinstance(value, str) and value else None


def _extra_int(entry: RegistryEntry, key: str) -> int | None:
    value = _extra(entry, key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
