"""The ``ollama`` source plugin: models in the local Ollama store or server, and pulls.

``download ollama://<name:tag>`` (or a plain ``name:tag``, see :mod:`.refs`) has the
server pull the model and imports it (:mod:`.acquiring`).

``discover`` yields unsaved registry entries named as an import would name them;
``imageworks-download import-ollama`` (and the loader's ``rebuild-ollama``) record them
through :func:`imageworks.providers.ollama.importer.import_ollama`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from imageworks.core.config import Config, given_config
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Source
from imageworks.core.model import BackendConfig, RegistryEntry
from imageworks.core.naming import display_name, slug
from imageworks.providers.ollama.refs import is_scheme, pull_name

if TYPE_CHECKING:  # keep start-up light: the CLI loads every plugin before parsing its arguments
    from imageworks.core.plans import AcquireRequest, Acquisition, AcquisitionPlan, SourceContext
    from imageworks.core.registry import Registry
    from imageworks.core.transfers import ProgressCallback
    from imageworks.providers.ollama.importer import ImportReport


class OllamaSource(Source):
    """Ollama models on this machine (store on disk, server API when reachable)."""

    name: ClassVar[str] = "ollama"
    description: ClassVar[str] = (
        "Ollama models: pulls ollama://name:tag through the server ($OLLAMA_HOST); imports the local store"
    )
    priority: ClassVar[int] = 10

    def handles(self, identifier: str, config: Config | None = None) -> bool:
        """``ollama://<name>``, and plain names that only Ollama can mean (``name:tag``, see :mod:`.refs`)."""
        return is_scheme(identifier) or pull_name(identifier) is not None

    def plan(self, identifier: str, request: AcquireRequest, context: SourceContext) -> Acquisition:
        """What would be pulled from which server (no files: the server fetches them)."""
        from imageworks.providers.ollama.acquiring import plan_pull

        return plan_pull(identifier, request, context)

    def acquire(
        self, plan: AcquisitionPlan, context: SourceContext, progress: ProgressCallback | None
    ) -> RegistryEntry | None:
        """Pull through the server with progress, then import the model as ``import-ollama`` would."""
        from imageworks.providers.ollama.acquiring import acquire_pull

        return acquire_pull(plan, context, progress)

    def installed(self, identifier: str, request: AcquireRequest, context: SourceContext) -> RegistryEntry | None:
        """The entry when it is recorded, the server still serves that blob (one ``show``)
        and it carries the label ``--location`` asks for (else the import records it)."""
        from imageworks.providers.ollama.acquiring import installed_entry

        return installed_entry(identifier, request, context)

    def import_models(self, registry: Registry, options: Mapping[str, Any], context: SourceContext) -> ImportReport:
        """Record every model of the local store and server (``import-ollama``).

        Options: ``backend``, ``location``, ``deprecate_placeholders``, ``use_api``.
        """
        from imageworks.providers.ollama.importer import import_ollama

        return import_ollama(
            registry,
            dry_run=registry.is_scratch,
            backend=str(options.get("backend") or "ollama"),
            location=options.get("location"),
            deprecate_placeholders=bool(options.get("deprecate_placeholders")),
            use_api=bool(options.get("use_api", True)),
        )

    def backfill_paths(self, registry: Registry, *, set_format: bool = True) -> ImportReport:
        """Give logical-only Ollama entries the path of their blob (``backfill-ollama-paths``)."""
        from imageworks.providers.ollama.maintenance import backfill_ollama_paths

        return backfill_ollama_paths(registry, dry_run=registry.is_scratch, set_format=set_format)

    def restore(self, registry: Registry, *, backup: str | None, include_deprecated: bool) -> ImportReport:
        """Bring back Ollama entries of a registry backup that are missing now (``restore-ollama``)."""
        from imageworks.providers.ollama.maintenance import restore_ollama

        return restore_ollama(
            registry, dry_run=registry.is_scratch, backup=backup, include_deprecated=include_deprecated
        )

    def discover(self, options: Mapping[str, Any]) -> Iterator[RegistryEntry]:
        """Unsaved entries for every readable model; options: ``config``, ``backend``, ``location``, ``use_api``."""
        from imageworks.providers.ollama.catalog import build_catalog
        from imageworks.providers.ollama.importer import variant_for

        config = given_config(options.get("config"))
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
