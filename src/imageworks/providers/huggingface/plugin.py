"""The ``huggingface`` source plugin: acquires models from the Hub (or ``HF_ENDPOINT``)."""

from __future__ import annotations

from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Source


class HuggingFaceSource(Source):
    """Model repositories on the Hugging Face Hub."""

    name = "huggingface"
    description = "Hugging Face Hub repos (owner/repo[@branch] or URL); honours HF_ENDPOINT and HF_TOKEN"

    def handles(self, identifier: str) -> bool:
        """Whether ``identifier`` parses as a Hub model reference."""
        from imageworks.core.config import load_config
        from imageworks.providers.huggingface.refs import parse_model_ref

        try:
            parse_model_ref(identifier, load_config().hf_endpoint)
        except ImageworksError:
            return False
        return True


@hookimpl
def imageworks_register_sources() -> list[Source]:
    """Provide the Hugging Face source."""
    return [HuggingFaceSource()]
