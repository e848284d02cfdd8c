"""Where each app keeps its models on this machine.

Ollama's store is the configured ``ollama_models`` (``$OLLAMA_MODELS``); LM Studio's
models folder is the configured ``windows_lmstudio_root`` (``$IMAGEWORKS_LMSTUDIO_ROOT``,
the folder GGUF downloads are routed to); the Hugging Face cache is found as
huggingface_hub finds it (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else
``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``), read at call
time so a changed environment is seen.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import attrs

from imageworks.core.config import Config

App = Literal["ollama", "lmstudio", "hf-cache"]
SERVICE_STORE = Path("/usr/share/ollama/.ollama/models")  # the Linux systemd service's store (as providers.ollama reads it)
APPS: tuple[App, ...] = ("ollama", "lmstudio", "hf-cache")


def hf_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The Hugging Face hub cache folder, resolved as huggingface_hub resolves it."""
    env = os.environ if environ is None else environ
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser().absolute()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser().absolute() / "hub"
    xdg = env.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return (base / "huggingface" / "hub").absolute()


@attrs.define(frozen=True)
class AppStores:
    """The models folder of each app."""

    ollama: Path
    lmstudio: Path
    hf_cache: Path

    def of(self, app: App) -> Path:
        """The folder of ``app``."""
        return {"ollama": self.ollama, "lmstudio": self.lmstudio, "hf-cache": self.hf_cache}[app]


def ollama_store(config: Config) -> Path:
    """Ollama's store: ``OLLAMA_MODELS`` (or ``~/.ollama/models``); when that was not set and holds no
    models while the Linux service's store does, the service's (the one the running server reads)."""
    chosen = config.ollama_models
    if config.sources.get("ollama_models", "default") == "default" and not (chosen / "manifests").is_dir():
        try:
            if (SERVICE_STORE / "manifests").is_dir():
                return SERVICE_STORE
        except OSError:
            pass
    return chosen


def app_stores(config: Config) -> AppStores:
    """The stores of ``config`` (and the environment, for the Hugging Face cache)."""
    return AppStores(ollama=ollama_store(config), lmstudio=config.windows_lmstudio_root, hf_cache=hf_cache_dir())


def parse_apps(text: str) -> list[App]:
    """``ollama,lmstudio`` -> the apps, in order; raise ValueError naming an unknown one."""
    chosen: list[App] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        match = next((a for a in APPS if a == part), None)
        if match is None:
            raise ValueError(f"unknown app {part!r} (choose from {', '.join(APPS)})")
        if match not in chosen:
            chosen.append(match)
    if not chosen:
        raise ValueError(f"no app named (choose from {', '.join(APPS)})")
    return chosen
