"""The guide's Python API (section 9): ``ModelDownloader`` and the analyzers.

A thin facade over the core and the providers; every method has a CLI twin and shares
its code path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imageworks.app import open_registry
from imageworks.core.config import Config, load_config
from imageworks.core.detection import FormatDetector as _CoreFormatDetector
from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import Detector
from imageworks.core.model import RegistryEntry
from imageworks.core.plans import SourceAnalysis, SourceContext
from imageworks.core.plugins import get_plugins
from imageworks.core.registry import Registry
from imageworks.services.acquire.recording import remove_download
from imageworks.services.listing.access import record_access
from imageworks.services.listing.query import ListQuery, select
from imageworks.services.listing.stats import registry_stats
from imageworks.services.maintain.verify import verify_entry

__all__ = ["FormatDetector", "ModelDownloader", "URLAnalyzer"]


class FormatDetector(_CoreFormatDetector):
    """The guide's analyser (9.3); with no argument it uses every registered detector."""

    def __init__(self, detectors: Sequence[Detector] | None = None) -> None:
        super().__init__(get_plugins().detectors() if detectors is None else detectors)


class ModelDownloader:
    """Acquire, list, verify and remove models programmatically."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or load_config()

    @property
    def registry(self) -> Registry:
        """The registry this downloader records into (opened fresh, so never stale)."""
        return open_registry(self.config)

    def download(self, model: str, **options: Any) -> RegistryEntry:
        """Download ``model`` (``owner/repo[@branch]`` or URL) and return its registry entry.

        ``options`` are the CLI flags as keywords: ``format_hint``, ``location``,
        ``include_optional``, ``weights`` (a sequence), ``support_repo``, ``force``,
        ``engine`` (``"python"`` or ``"aria2"``). Never asks questions (a GGUF repo gives its preferred quant).
        """
        from imageworks.core.plans import AcquireRequest, SourceContext
        from imageworks.services.acquire.acquisition import acquire, plan_acquisition

        plugins = get_plugins()
        request = AcquireRequest(non_interactive=True, **options)
        context = SourceContext(config=self.config, plugins=plugins, registry=self.registry)
        source = plugins.source_for(model, self.config)
        return acquire(source, plan_acquisition(source, model, request, context), request, context).entry

    def list_models(
        self,
        format_filter: str | None = None,
        location_filter: str | None = None,
        backend_filter: str | None = None,
        include_logical: bool = False,
        include_testing: bool = False,
    ) -> list[RegistryEntry]:
        """Variants as ``imageworks-download list`` shows them, with the same filters."""
        query = ListQuery(
            format=format_filter,
            location=location_filter,
            backend=backend_filter,
            include_logical=include_logical,
            include_testing=include_testing,
        )
        return select(self.registry.entries(), query, self.config.test_model_patterns)

    def remove_model(self, name: str, delete_files: bool = False, purge: bool = False) -> bool:
        """Remove ``name`` (metadata only by default); True when done. Unknown names raise."""
        remove_download(self.registry, name, keep_entry=not purge, delete=delete_files)
        return True

    def verify_model(self, name: str) -> bool:
        """True when the variant's files match what the registry recorded."""
        entry = self.registry.get(name)
        result = verify_entry(entry, neighbours=self.registry.entries())
        record_access(self.registry, [entry.name])
        return result.ok

    def get_stats(self) -> dict[str, Any]:
        """The numbers of ``imageworks-download stats --json``."""
        return registry_stats(self.registry.entries(), self.config.test_model_patterns)

    def model_path(self, name: str) -> Path:
        """The local path of an installed variant."""
        entry = self.registry.get(name)
        if entry.is_logical:
            raise ImageworksError(f"{entry.name} has no local files")
        record_access(self.registry, [entry.name])  # a serving helper is about to use it
        return Path(entry.download_path or "")


class URLAnalyzer:
    """Repository analysis without downloading (guide 9.3)."""

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or load_config()

    def analyze_url(self, url: str) -> SourceAnalysis:
        """What ``url`` offers (``analyze``'s code path, through the source that handles it):
        ``formats`` (best first, each with ``format_type``), ``total_size``, ``files``."""
        plugins = get_plugins()
        context = SourceContext(config=self.config, plugins=plugins, registry=open_registry(self.config),
                                read_headers=False)
        return plugins.source_for(url).analyze(url, context)
