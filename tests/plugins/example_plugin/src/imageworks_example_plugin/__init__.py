"""An imageworks provider plugin: single weight files behind plain ``http(s)://`` URLs.

``imageworks-download download https://example.org/models/tiny-Q4_K_M.gguf`` asks this
source to plan: one HEAD request gives the size and, when the server states it, the
sha256. Everything else is the core's: routing (GGUF to the LM Studio root), the folder
``<root>/<host>/<file stem>``, the free-space check, the multi-stream resumable transfer
with the sha256 checked as bytes arrive, detection, naming and recording.

The sha256 is the user's ``--sha256 HEX``, else the server's: ``Repr-Digest:
sha-256=:<base64>:`` (RFC 9530), ``Digest: sha-256=<base64>`` (RFC 3230) or an
``X-Linked-Etag``/``ETag`` of 64 hex digits (as the Hugging Face CDN sends). Without one
the file is checked by its size and hashed when recorded.

Its own setting, ``example_refused_hosts`` (a list of hosts it never downloads from, in
``[tool.imageworks.model-downloader]`` or ``IMAGEWORKS_EXAMPLE_REFUSED_HOSTS``), is
declared in the source's ``settings`` (a plugin without a source declares its settings
with the ``imageworks_register_settings`` hook) and read from the config the host hands
to ``handles``: the plugin never loads the configuration itself.

A plugin imports only public imageworks modules (``imageworks.core.*``,
``imageworks.core.transfers``, ``imageworks.hookimpl``) and loads its heavy libraries
(here ``requests``) only when it works, since every command loads every plugin.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from imageworks import hookimpl
from imageworks.core.config import Config, given_config
from imageworks.core.errors import ImageworksError
from imageworks.core.interfaces import Source
from imageworks.core.model import Detection
from imageworks.core.naming import split_quant
from imageworks.core.plans import AcquireRequest, Acquisition, RemoteFileFact, SourceAnalysis, SourceContext
from imageworks.core.settings import Setting
from imageworks.core.transfers import RemoteFile

FORMATS = {".gguf": "gguf", ".safetensors": "safetensors"}  # weight file extension -> format
HUB_HOSTS = ("huggingface.co", "hf.co")  # with their subdomains (CDNs): the huggingface source's
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
REFUSED_HOSTS = Setting(name="example_refused_hosts", type="list", default=[], env="IMAGEWORKS_EXAMPLE_REFUSED_HOSTS",
                        help="hosts the example-url source never downloads from")


class UrlFileSource(Source):
    """One weight file (``.gguf``, ``.safetensors``) at a plain HTTP(S) URL."""

    name: ClassVar[str] = "example-url"
    description: ClassVar[str] = "A single .gguf or .safetensors file at an http(s):// URL (not the Hub's)"
    # After the built-in sources (huggingface 50, url 90): this example sees a URL only
    # when IMAGEWORKS_DISABLE_PLUGINS=source-url switches the built-in one off.
    priority: ClassVar[int] = 100
    settings: ClassVar[tuple[Setting, ...]] = (REFUSED_HOSTS,)  # shown by `imageworks-download config`

    def handles(self, identifier: str, config: Config | None = None) -> bool:
        """An ``http(s)://`` URL whose path ends in a weight file, on a host that is not
        the Hugging Face Hub's nor ``HF_ENDPOINT``'s (those are the huggingface source's)
        nor one of ``example_refused_hosts``."""
        config = given_config(config)
        url = urlsplit(identifier)
        host = (url.hostname or "").lower()
        hub = host in HUB_HOSTS or host.endswith(tuple(f".{h}" for h in HUB_HOSTS))
        return (
            url.scheme in ("http", "https")
            and bool(host)
            and _format_of(url.path) is not None
            and not hub
            and url.netloc != urlsplit(config.hf_endpoint).netloc
            and host not in {h.lower() for h in config.setting(REFUSED_HOSTS)}
        )

    def plan(self, identifier: str, request: AcquireRequest, context: SourceContext) -> Acquisition:
        """One HEAD request for the size and digest; the file lands in ``<root>/<host>/<stem>``."""
        url = urlsplit(identifier)
        file_name = PurePosixPath(unquote(url.path)).name
        display = f"{url.hostname}/{file_name}"  # never the query string: it may hold a signature
        size, served = _head(identifier, display)
        wanted = _sha256_option(request.sha256)
        if wanted and served and wanted != served:
            raise ImageworksError(
                f"--sha256 {wanted} differs from the sha256 the server states for {display} ({served})",
                "check the value you passed and the URL; nothing was downloaded",
            )
        sha256, stem, format_type = wanted or served, PurePosixPath(file_name).stem, _format_of(file_name)
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


def _format_of(path: str) -> str | None:
    """``gguf`` or ``safetensors`` from a URL path's extension, else ``None``."""
    return FORMATS.get(PurePosixPath(unquote(path)).suffix.lower())


def _head(url: str, display: str) -> tuple[int, str | None]:
    """``(size, sha256 or None)`` from one HEAD request (redirects followed)."""
    import requests

    try:
        response = requests.head(url, allow_redirects=True, timeout=30, headers={"Accept-Encoding": "identity"})
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
    stated = (_stated_sha256(r.headers) for r in (response, *reversed(response.history)))
    return int(length), next((digest for digest in stated if digest), None)


def _stated_sha256(headers: Mapping[str, str]) -> str | None:
    """The sha256 (hex) a response states for its file, if any."""
    for field in ("Repr-Digest", "Digest"):
        for member in headers.get(field, "").split(","):
            algorithm, _, value = member.partition("=")
            if algorithm.strip().lower() != "sha-256":
                continue
            try:  # RFC 9530 wraps the base64 in colons; RFC 3230 does not
                digest = base64.b64decode(value.split(";")[0].strip().strip(":"), validate=True)
            except (binascii.Error, ValueError):
                continue
            if len(digest) == 32:
                return digest.hex()
    for field in ("X-Linked-Etag", "ETag"):
        tag = headers.get(field, "").strip()
        if not tag.startswith("W/") and SHA256_HEX.fullmatch(tag.strip('"').lower()):
            return tag.strip('"').lower()  # a strong ETag that is a sha256, as the Hub's CDN sends
    return None


def _sha256_option(value: str | None) -> str | None:
    """``--sha256`` in lower case; one clear error unless it is 64 hex digits."""
    if value is None:
        return None
    digest = value.strip().lower()
    if not SHA256_HEX.fullmatch(digest):
        raise ImageworksError(f"--sha256 {value!r} is not a sha256", "give the 64 hex digits of the file's sha256")
    return digest


@hookimpl
def imageworks_register_sources() -> list[Source]:
    """Provide the URL source."""
    return [UrlFileSource()]
