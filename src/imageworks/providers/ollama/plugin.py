"""The ``ollama`` source plugin: models already in the local Ollama store or server.

``discover`` yields unsaved registry entries named as an import would name them;
``imageworks-download import-ollama`` (and the loader's ``rebuild-ollama``) record them
through :func:`imageworks.providers.ollama.importer.import_ollama`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from imageworks.core.config import load_config
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Source
from imageworks.core.model import BackendConfig, RegistryEntry
from imageworks.core.naming import display_name, slug


class OllamaSource(Source):
    """Ollama models on this machine (store on disk, server API when reachable)."""

    name: ClassVar[str] = "ollama"
    description: ClassVar[str] = "models in the local Ollama store ($OLLAMA_MODELS) and server (imported as GGUF)"

    def handles(self, identifier: str) -> bool:
        """``ollama://<name:tag>`` identifiers."""
        return identifier.startswith("ollama://")

    def discover(self, options: Mapping[str, Any]) -> Iterator[RegistryEntry]:
        """Unsaved entries for every readable model; options: ``config``, ``backend``, ``location``, ``use_api``."""
        from imageworks.providers.ollama.catalog import build_catalog
        from imageworks.providers.ollama.importer import variant_for

        config = options.get("config") or load_config()
        backend = str(options.get("backend") or "ollama")
        catalog = build_catalog(config, use_api=bool(options.get("use_api", True)))
        for model in catalog.models:
            if model.problem:
                continue
            family, name = variant_for(model, backend)
            path = model.path or f"ollama://{model.name}"
            yield RegistryEntry(
                name=name,
                family=family,
                display_name=display_name(family, model.quantization, "gguf"),
                slug=slug(family, model.quantization, "gguf"),
                backend=backend,
                backend_config=BackendConfig(model_path=path),
                served_model_id=model.name,
                source_provider="ollama",
                quantization=model.quantization,
                download_path=path,
                download_location=options.get("location"),
                download_format=model.format,
            )


@hookimpl
def imageworks_register_sources() -> list[Source]:
    """Provide the ``ollama`` source."""
    return [OllamaSource()]
