"""Merged configuration: environment, then ``pyproject.toml``, then defaults.

Every value remembers where it came from (``Config.sources``) so that
``imageworks-download config`` can show it. The pyproject file is the nearest
``pyproject.toml`` above the working directory that has a
``[tool.imageworks.model-downloader]`` table; its folder is the *project root*, which
anchors the default registry (``configs/``) and log (``logs/``) folders. Without one,
they live under ``linux_wsl_root`` (``~/ai-models/registry`` and ``~/ai-models/logs``).
A plugin's own settings (:mod:`imageworks.core.settings`) are read from the same table
and environment through :meth:`Config.setting`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from imageworks.core.errors import ConfigError
from imageworks.core.settings import Setting, read_setting

DEFAULT_LINUX_WSL_ROOT = "~/ai-models"
DEFAULT_LMSTUDIO_ROOT = "/mnt/d/ai stuff/models/llm models"
#: LM Studio's own folder; its models live in ``models`` there (lmstudio.ai/docs, "Import
#: Models"; releases before 0.3 kept them in ``~/.cache/lm-studio/models``).
LMSTUDIO_HOMES = ("~/.lmstudio", "~/.cache/lm-studio")
DEFAULT_TEST_PATTERNS = ("testzzz", "demo-model", "model-awq", "model-fp16")
PYPROJECT_TABLE = ("tool", "imageworks", "model-downloader")
#: The keys of the table the core reads (plugins declare theirs: core.settings).
TABLE_KEYS = frozenset(["linux_wsl_root", "model_root", "windows_lmstudio_root", "registry_dir", "log_dir", "cache_dir", "max_connections", "transfer_engine", "stall_timeout", "locations", "ollama_base_url", "test_model_patterns", "host", "shared_roots", "registry_backend", "preferred_formats", "ollama_models", "ollama_host", "hf_endpoint"])


@attrs.define(kw_only=True, frozen=True)
class Config:
    """Resolved settings. Paths are absolute with ``~`` expanded."""

    linux_wsl_root: Path
    model_root: Path
    windows_lmstudio_root: Path
    registry_dir: Path
    log_dir: Path
    cache_dir: Path
    registry_backend: str
    transfer_engine: str
    max_connections: int
    stall_timeout: float
    preferred_formats: tuple[str, ...]
    test_model_patterns: tuple[str, ...]
    extra_locations: Mapping[str, Path]
    ollama_models: Path
    ollama_host: str | None
    ollama_base_url: str
    hf_endpoint: str
    debug: bool
    pyproject: Path | None
    gguf_location: str = "windows_lmstudio"  # the label GGUF goes to by default; why: sources["gguf_location"]
    lmstudio_models: Path | None = None  # LM Studio's own models folder (label ``lmstudio``) when GGUF goes there
    host: str = ""  # this host's name, recorded with its installs (core.hosts)
    shared_roots: tuple[Path, ...] = ()  # folders on storage every host mounts at the same path
    sources: Mapping[str, str] = attrs.field(factory=dict)
    table: Mapping[str, Any] = attrs.field(factory=dict, repr=False, eq=False)  # the raw pyproject table
    environ: Mapping[str, str] = attrs.field(factory=dict, repr=False, eq=False)

    def setting(self, declared: Setting) -> Any:
        """A plugin's declared setting: its environment variable, then the table, then its default."""
        return read_setting(declared, self.table, self.environ, self.pyproject)[0]

    @property
    def ollama_url(self) -> str:
        """The Ollama API to ask: ``IMAGEWORKS_OLLAMA_HOST`` when set, else the base URL."""
        return ollama_url(self.ollama_host) if self.ollama_host else self.ollama_base_url

    @property
    def locations(self) -> dict[str, Path]:
        """Location label -> root folder. ``linux_wsl`` is the weights folder itself."""
        return {
            "linux_wsl": self.model_root,
            "windows_lmstudio": self.windows_lmstudio_root,
            **({"lmstudio": self.lmstudio_models} if self.lmstudio_models else {}),
            **self.extra_locations,
        }

    def describe(self) -> list[tuple[str, str, str]]:
        """(setting, value, source) rows, secrets never included, for ``config``."""
        rows = []
        for attribute in attrs.fields(Config):
            if attribute.name in ("sources", "table", "environ"):
                continue
            value = getattr(self, attribute.name)
            if isinstance(value, tuple):
                shown = ",".join(str(v) for v in value)
            elif isinstance(value, Mapping):
                shown = ",".join(f"{k}={v}" for k, v in sorted(value.items()))
            else:
                shown = "" if value is None else str(value)
            rows.append((attribute.name, shown, self.sources.get(attribute.name, "default")))
        return rows


def find_pyproject(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """Return the nearest pyproject.toml at or above ``start`` with our table, and the table."""
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if not candidate.is_file():
            continue
        import tomllib  # only where a pyproject.toml is found (a start in an empty folder reads none)
        try:
            data = tomllib.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
            raise ConfigError(f"cannot read {candidate}: {error}") from error
        table: Any = data
        for key in PYPROJECT_TABLE:
            table = table.get(key) if isinstance(table, dict) else None
        if isinstance(table, dict):
            return candidate, table
    return None


class _Resolver:
    """Looks a setting up in env, then the pyproject table, then a default."""

    def __init__(self, environ: Mapping[str, str], table: dict[str, Any], pyproject: Path | None):
        self.environ = environ
        self.table = table
        self.pyproject = pyproject
        self.sources: dict[str, str] = {}

    def get(self, name: str, env: str | None, default: Any) -> Any:
        if env and self.environ.get(env):
            self.sources[name] = f"env {env}"
            return self.environ[env]
        if name in self.table:
            self.sources[name] = f"pyproject {self.pyproject}"
            return self.table[name]
        self.sources[name] = "default"
        return default

    def path(self, name: str, env: str | None, default: Path | str) -> Path:
        value = self.get(name, env, default)
        if not isinstance(value, str | Path):
            raise ConfigError(f"{name} must be a path, got {value!r} (from {self.sources[name]})")
        return Path(value).expanduser().absolute()

    def strings(self, name: str, env: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self.get(name, env, default)
        if isinstance(value, str) and self.sources[name].startswith("env "):
            value = [part.strip() for part in value.split(",")]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{name} must be a list of strings, got {value!r} (from {self.sources[name]})",
                              f'write it as {name} = ["a", "b"]')
        return tuple(v.lower() for v in value if v)


def load_config(environ: Mapping[str, str] | None = None, cwd: Path | None = None) -> Config:
    """Build the merged configuration. Raises :class:`ConfigError` on invalid values."""
    environ = os.environ if environ is None else environ
    found = find_pyproject((cwd or Path.cwd()).absolute())
    pyproject, table = found if found else (None, {})
    r = _Resolver(environ, table, pyproject)
    r.sources["pyproject"] = "nearest pyproject.toml with [tool.imageworks.model-downloader]" if pyproject else "none found"

    linux_root = r.path("linux_wsl_root", None, DEFAULT_LINUX_WSL_ROOT)
    anchor = pyproject.parent if pyproject else None
    model_root = r.path("model_root", "IMAGEWORKS_MODEL_ROOT", linux_root / "weights")
    lmstudio_root = r.path("windows_lmstudio_root", "IMAGEWORKS_LMSTUDIO_ROOT", DEFAULT_LMSTUDIO_ROOT)
    gguf_location, lmstudio_models, r.sources["gguf_location"] = _gguf_home(lmstudio_root, r.sources["windows_lmstudio_root"])
    registry_dir = r.path(
        "registry_dir", "IMAGEWORKS_REGISTRY_DIR", anchor / "configs" if anchor else linux_root / "registry"
    )
    log_dir = r.path("log_dir", "IMAGEWORKS_LOG_DIR", anchor / "logs" if anchor else linux_root / "logs")
    cache_dir = r.path("cache_dir", "IMAGEWORKS_CACHE_DIR", linux_root / "cache")

    connections = r.get("max_connections", "IMAGEWORKS_MAX_CONNECTIONS", 16)
    try:
        max_connections = int(connections)
    except (TypeError, ValueError):
        max_connections = 0
    if not 1 <= max_connections <= 16:
        raise ConfigError(
            f"max_connections must be a whole number from 1 to 16, got {connections!r} "
            f"(from {r.sources['max_connections']})"
        )

    engine = str(r.get("transfer_engine", "IMAGEWORKS_TRANSFER_ENGINE", "python")).lower()
    if engine not in {"python", "aria2"}:
        raise ConfigError(f"transfer_engine must be python or aria2, got {engine!r} (from {r.sources['transfer_engine']})")

    stall = r.get("stall_timeout", "IMAGEWORKS_STALL_TIMEOUT", 60)
    try:
        stall_timeout = float(stall)
    except (TypeError, ValueError):
        stall_timeout = 0.0
    if not 1 <= stall_timeout <= 3600:  # NaN fails both comparisons
        raise ConfigError(
            f"stall_timeout must be a number of seconds from 1 to 3600, got {stall!r} (from {r.sources['stall_timeout']})"
        )

    locations_table = r.get("locations", None, {})
    if not isinstance(locations_table, dict):
        raise ConfigError(f"locations must be a table of label = path (from {r.sources['locations']})")
    extra_locations = {
        str(label): Path(str(path)).expanduser().absolute() for label, path in sorted(locations_table.items())
    }

    base_url = r.get("ollama_base_url", "OLLAMA_BASE_URL", None) or (
        ollama_url(environ["OLLAMA_HOST"]) if environ.get("OLLAMA_HOST") else "http://127.0.0.1:11434"
    )
    if environ.get("OLLAMA_HOST") and not environ.get("OLLAMA_BASE_URL"):
        r.sources["ollama_base_url"] = "env OLLAMA_HOST"

    debug = str(environ.get("IMAGEWORKS_DEBUG", "")).strip().lower() in {"1", "true", "yes", "on"}
    if debug:
        r.sources["debug"] = "env IMAGEWORKS_DEBUG"
    builtin_patterns = set(DEFAULT_TEST_PATTERNS)
    test_patterns = r.strings("test_model_patterns", "IMAGEWORKS_TEST_MODEL_PATTERNS", DEFAULT_TEST_PATTERNS)

    # uname's nodename is gethostname(); importing socket or platform (9 regular expressions) costs every start
    host = str(r.get("host", "IMAGEWORKS_HOST", "") or os.uname().nodename).strip()
    shared = r.get("shared_roots", "IMAGEWORKS_SHARED_ROOTS", [])
    if isinstance(shared, str) and r.sources["shared_roots"].startswith("env "):
        shared = [part for part in shared.split(os.pathsep) if part.strip()]
    if not isinstance(shared, list | tuple) or not all(isinstance(p, str) for p in shared):
        raise ConfigError(f"shared_roots must be a list of folders, got {shared!r} (from {r.sources['shared_roots']})",
                          'write it as shared_roots = ["/srv/models"]')
    shared_roots = tuple(Path(p).expanduser().absolute() for p in shared)

    return Config(
        linux_wsl_root=linux_root,
        model_root=model_root,
        windows_lmstudio_root=lmstudio_root,
        gguf_location=gguf_location,
        lmstudio_models=lmstudio_models,
        registry_dir=registry_dir,
        log_dir=log_dir,
        cache_dir=cache_dir,
        registry_backend=str(r.get("registry_backend", "IMAGEWORKS_REGISTRY_BACKEND", "json")),
        transfer_engine=engine,
        max_connections=max_connections,
        stall_timeout=stall_timeout,
        preferred_formats=r.strings("preferred_formats", None, ("awq", "safetensors", "gguf")),
        test_model_patterns=tuple(sorted(builtin_patterns | set(test_patterns))),
        extra_locations=extra_locations,
        ollama_models=r.path("ollama_models", "OLLAMA_MODELS", "~/.ollama/models"),
        ollama_host=r.get("ollama_host", "IMAGEWORKS_OLLAMA_HOST", None),
        ollama_base_url=str(base_url),
        hf_endpoint=str(r.get("hf_endpoint", "HF_ENDPOINT", "https://huggingface.co")).rstrip("/"),
        debug=debug,
        pyproject=pyproject,
        host=host,
        shared_roots=shared_roots,
        sources=r.sources,
        table=table,
        environ=dict(environ),
    )


def _gguf_home(lmstudio_root: Path, source: str) -> tuple[str, Path | None, str]:
    """(label, LM Studio's models folder or None, why) of where GGUF goes by default: the
    guide's LM Studio root where it is set or exists (WSL), else LM Studio's own folder
    when LM Studio is installed, else beside the other weights."""
    if source != "default" or lmstudio_root.exists():
        return "windows_lmstudio", None, f"windows_lmstudio_root is {'set' if source != 'default' else 'present'}"
    for home in LMSTUDIO_HOMES:
        if Path(home).expanduser().is_dir():
            return "lmstudio", Path(home).expanduser() / "models", f"LM Studio is installed ({home}); {lmstudio_root} is absent"
    return "linux_wsl", None, f"{lmstudio_root} is absent and LM Studio is not installed: beside the other weights"


def given_config(config: Config | None) -> Config:
    """``config`` when the caller has one, else the configuration loaded now (for a direct
    call, such as a script asking a source whether it handles an identifier)."""
    return config if config is not None else load_config()


def ollama_url(host: str) -> str:
    """An Ollama host as a URL; like Ollama's own OLLAMA_HOST, this accepts ``host``, ``host:port`` or a URL."""
    if "://" in host:
        return host.rstrip("/")
    return f"http://{host}" if ":" in host else f"http://{host}:11434"
