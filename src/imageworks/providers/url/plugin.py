"""The ``url`` source: a single ``.gguf`` or ``.safetensors`` file at a plain http(s) URL.

``imageworks-download download https://host/models/tiny-Q4_K_M.gguf`` plans with one
HEAD request (size, and the sha256 when the server states it, see :mod:`.digests`);
everything else is the core's, as for every source: routing (GGUF to the LM Studio root,
tensors to the weights root), the folder ``<root>/<host>/<file stem>``, the free-space
check, the multi-stream resumable transfer that checks the sha256 as bytes arrive,
detection, naming and recording. ``--sha256 HEX`` gives the digest when the server
states none, and must agree with it when it does.

URLs on the Hugging Face Hub (and ``HF_ENDPOINT``) stay the ``huggingface`` source's,
which is asked first. ``requests`` loads only when a URL is planned.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import unquote, urlsplit

from imageworks.core.config import Config
from imageworks.core.errors import ImageworksError
from imageworks.core.hookspecs import hookimpl
from imageworks.core.interfaces import Source
from imageworks.core.model import Detection
from imageworks.core.naming import split_quant
from imageworks.providers.url.digests import sha256_option, stated_sha256

if TYPE_CHECKING:  # the plan's types load when a URL is planned, not at every start
    from imageworks.core.plans import AcquireRequest, Acquisition, SourceAnalysis, SourceContext

FORMATS = {".gguf": "gguf", ".safetensors": "safetensors"}  # weight file extension -> format
HUB_HOSTS = ("huggingface.co", "hf.co")  # with their subdomains (CDNs): the huggingface source's
HEAD_TIMEOUT_SECONDS = 30


class UrlFileSource(Source):
    """One weight file (``.gguf``, ``.safetensors``) at a plain HTTP(S) URL."""

    name: ClassVar[str] = "url"
    description: ClassVar[str] = "A single .gguf or .safetensors file at an http(s):// URL (not the Hub's)"
    # After the huggingface source (50), which keeps Hub URLs; before third-party sources (100).
    priority: ClassVar[int] = 90

    def handles(self, identifier: str, config: Config | None = None) -> bool:
        """An ``http(s)://`` URL whose path ends in a weight file, on a host that is not
        the Hugging Face Hub's nor ``HF_ENDPOINT``'s (from ``config``, which the host passes)."""
        url = urlsplit(identifier)
        host = (url.hostname or "").lower()
        hub = host in HUB_HOSTS or host.endswith(tuple(f".{h}" for h in HUB_HOSTS))
        return (
            url.scheme in ("http", "https")
            and bool(host)
            and format_of(url.path) is not None
            and not hub
            and (config is None or url.netloc != urlsplit(config.hf_endpoint).netloc)
        )

    def plan(self, identifier: str, request: AcquireRequest, context: SourceContext) -> Acquisition:
        """One HEAD request for the size and digest; the file lands in ``<root>/<host>/<stem>``."""
        from imageworks.core.plans import Acquisition
        from imageworks.core.transfers import RemoteFile

        url = urlsplit(identifier)
        file_name = PurePosixPath(unquote(url.path)).name
        display = f"{url.hostname}/{file_name}"  # never the query string: it may hold a signature
        wanted = sha256_option(request.sha256)
        size, served = _head(identifier, display)
        if wanted and served and wanted != served:
            raise ImageworksError(
                f"--sha256 {wanted} differs from the sha256 the server states for {display} ({served})",
                "check the value you passed and the URL; nothing was downloaded",
            )
        sha256, stem, format_type = wanted or served, PurePosixPath(file_name).stem, format_of(file_name)
        return Acquisition(
            source=self.name,
            display=display,
            model_id=f"{url.hostname}/{stem}",  # the host without its port: ':' is no folder name
            hf_id=None,
            files=[RemoteFile(url=identifier, relative_path=file_name, size=size, sha256=sha256)],
            format_type=format_type,
            quantization=split_quant(stem)[1] if format_type == "gguf" else None,
            details={"sha256": sha256, "sha256_from": "--sha256" if wanted else "server" if served else None},
        )

    def analyze(self, identifier: str, context: SourceContext) -> SourceAnalysis:
        """The file's size, digest, and format and quantisation as its name says."""
        from imageworks.core.plans import AcquireRequest, RemoteFileFact, SourceAnalysis

        plan = self.plan(identifier, AcquireRequest(), context)
        (remote,) = plan.files
        guess = Detection(format_type=plan.format_type, quantization=plan.quantization,
                          evidence=(f"file name {remote.relative_path}",), detector=self.name)
        return SourceAnalysis(
            display=plan.display,
            files=[RemoteFileFact(path=remote.relative_path, size=remote.size, sha256=remote.sha256, weight=True)],
            formats=[guess],
            quant_files={plan.quantization: (remote.relative_path,)} if plan.quantization else {},
        )


def format_of(path: str) -> str | None:
    """``gguf`` or ``safetensors`` from a URL path's extension, else ``None``."""
    return FORMATS.get(PurePosixPath(unquote(path)).suffix.lower())


def _head(url: str, display: str) -> tuple[int, str | None]:
    """``(size, sha256 or None)`` from one HEAD request (redirects followed)."""
    import requests

    try:
        response = requests.head(url, allow_redirects=True, timeout=HEAD_TIMEOUT_SECONDS,
                                 headers={"Accept-Encoding": "identity"})
    except requests.RequestException as error:
        raise ImageworksError(f"cannot reach {display}: {type(error).__name__}", "check the URL and the network") from None
    if not response.ok:
        raise ImageworksError(f"HEAD {display} answered HTTP {response.status_code} {response.reason}", "check the URL")
    length = response.headers.get("Content-Length", "")
    if not length.isdigit():
        raise ImageworksError(
            f"the server sent no Content-Length for {display}",
            "this source needs the file's size before downloading; ask the server's owner or use another URL",
        )
    stated = (stated_sha256(r.headers) for r in (response, *reversed(response.history)))
    return int(length), next((digest for digest in stated if digest), None)


@hookimpl
def imageworks_register_sources() -> list[Source]:
    """Provide the URL source."""
    return [UrlFileSource()]
