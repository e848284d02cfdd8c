"""The ``huggingface`` source plugin: acquires models from the Hub (or ``HF_ENDPOINT``).

Handles ``owner/repo[@branch]``, ``hf://owner/repo[@branch]`` and Hub URLs
(``/tree/``, ``/blob/``, ``/resolve/``); plans with :mod:`.planning`, answers a plain
re-run with :mod:`.quick_check`, analyses with :mod:`.analysis`. Transfer, routing,
recording and the rest are the core's (:mod:`imageworks.services.acquire.acquisition`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Source
from imageworks.core.model import RegistryEntry

if TYPE_CHECKING:
    from imageworks.core.plans import AcquireRequest, Acquisition, SourceAnalysis, SourceContext

if TYPE_CHECKING:
    from imageworks.core.config import Config


class HuggingFaceSource(Source):
    """Model repositories on the Hugging Face Hub."""

    name: ClassVar[str] = "huggingface"
    description: ClassVar[str] = "Hugging Face Hub repos (owner/repo[@branch], hf:// or URL); honours HF_ENDPOINT and HF_TOKEN"
    priority: ClassVar[int] = 50

    def handles(self, identifier: str, config: Config | None = None) -> bool:
        """Whether ``identifier`` parses as a Hub model reference (on ``config``'s ``hf_endpoint``)."""
        from imageworks.core.config import given_config
        from imageworks.providers.huggingface.refs import parse_model_ref

        if "://" in identifier.split("/", 1)[0] and not identifier.startswith(("http://", "https://", "hf://")):
            return False  # another scheme (ollama://, s3://, ...) belongs to another source
        try:
            parse_model_ref(identifier, given_config(config).hf_endpoint)
        except ImageworksError:
            return False
        return True

    def plan(self, identifier: str, request: AcquireRequest, context: SourceContext) -> Acquisition:
        """Resolve the repo at one commit and choose its files."""
        from imageworks.providers.huggingface.planning import plan_hub_download

        return plan_hub_download(identifier, request, context)

    def installed(self, identifier: str, request: AcquireRequest, context: SourceContext) -> RegistryEntry | None:
        """The entry when the repo is installed at the branch's current commit (one small request)."""
        from imageworks.providers.huggingface.quick_check import installed_at_current_commit
        from imageworks.providers.huggingface.refs import branch_of, parse_model_ref

        ref = parse_model_ref(identifier, context.config.hf_endpoint)
        if ref.filename:
            return None
        target = None
        if request.location:  # a label or a path routes the same whatever the format
            from imageworks.core.model import RouteRequest
            from imageworks.core.routing import resolve_route, target_directory

            branch = branch_of(ref)
            route = resolve_route(
                RouteRequest(model_id=ref.repo_id, format_type=None, branch=branch, location=request.location), context.config, context.plugins
            )
            target = target_directory(route.root, ref.repo_id, branch)
        return installed_at_current_commit(ref, context.config.hf_endpoint, context.registry, target)

    def analyze(self, identifier: str, context: SourceContext) -> SourceAnalysis:
        """Formats, GGUF quants and files of the repo, from metadata and its config.json."""
        from imageworks.providers.huggingface.analysis import analyze

        detectors = context.plugins.detectors()
        return analyze(identifier, context.config.hf_endpoint, detectors, context.read_headers).as_source_analysis()


@hookimpl
def imageworks_register_sources() -> list[Source]:
    """Provide the Hugging Face source."""
    return [HuggingFaceSource()]
