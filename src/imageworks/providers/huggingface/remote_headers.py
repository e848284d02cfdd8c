"""Model headers over HTTP, for ``analyze``'s memory estimate: only the bytes a GGUF's
key/value and tensor tables, or a safetensors file's 8-byte length and JSON header,
occupy, fetched with ``Range`` requests; never the weights.

:class:`RangedFile` is a read-only, seekable file over one URL. It holds the bytes read
so far from the start of the file and fetches more in growing ranges (``first`` bytes,
then doubling), refusing to go past ``limit``; the format readers in
:mod:`imageworks.formats` that parse files on disk parse it unchanged. A server that
ignores ``Range`` (olah's offline mirror answers 200 with the whole file) is read only as
far as needed, then the connection is closed. Bodies are read raw (``Accept-Encoding:
identity``; an encoded body is refused), each file within a deadline.

Requests go over :mod:`imageworks.transfer.http_client` (the standard library: no
``requests`` import for ``analyze``). The first range of a file walks its redirects hop by
hop, the token sent only to the endpoint's origin (a CDN gets none), and the next
ranges go straight to where the chain ended. The arithmetic is the core's
(:mod:`imageworks.services.memory.estimate`); this module only fetches bytes.
"""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import BinaryIO, cast
from urllib.parse import urlsplit

from imageworks.core.errors import ImageworksError, first_line
from imageworks.core.memory_facts import HeaderFacts, ModelFacts
from imageworks.formats import gguf_reader, safetensors_reader
from imageworks.providers.huggingface.metadata import RepoFile, RepoSnapshot, resolve_url
from imageworks.providers.huggingface.selection import gguf_groups, quant_label
from imageworks.services.memory import local_facts as memory_facts
from imageworks.transfer.http_client import HTTP_ERRORS, REDIRECTS, Connection, next_hop, origin

log = logging.getLogger("imageworks.huggingface")

GGUF_FIRST = 2 * 1024 * 1024  # most GGUF headers are a few MiB (Gemma 3's 262k-token vocabulary: 6.2 MiB)
GGUF_LIMIT = 64 * 1024 * 1024  # ~8x the largest vocabularies' headers: past it, not a header
SAFETENSORS_FIRST = 64 * 1024  # a shard's JSON header is tens of KiB
SAFETENSORS_LIMIT = 16 * 1024 * 1024
MAX_GGUF_MODELS = 32  # quants read per repository; the rest are named as not read
THREADS = 4
TIMEOUT = 30.0  # per connect/read
MAX_HOPS = 10  # redirects of one file
FILE_SECONDS = 120.0  # the whole header of one file, however slowly it drips
PIECE = 1 << 16


class HeaderTooLargeError(ImageworksError):
    """A header runs past the bytes this module will fetch for it."""


class RangedFile:
    """A read-only, seekable file over ``url``, fetched from its start in growing ranges.

    The first range follows ``url``'s redirects (``token`` only on ``url``'s origin); the
    next ones go straight to where the chain ended, over the same kept-alive connection.
    """

    def __init__(self, url: str, token: str | None, size: int, *, name: str, first: int, limit: int) -> None:
        self.url, self.name, self.size = url, name, size
        self._home = origin(url)
        self._auth = {"Authorization": f"Bearer {token}"} if token else {}
        self._first, self._limit = first, limit
        self._data = bytearray()
        self._pos = 0
        self._deadline = time.monotonic() + FILE_SECONDS
        self._connection = Connection(TIMEOUT, TIMEOUT)
        self.requests = 0

    def __enter__(self) -> RangedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.close()

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes from the current position (fewer at the end of the file)."""
        end = self.size if size < 0 else min(self.size, self._pos + size)
        if end <= self._pos:
            return b""
        self._ensure(end)
        chunk = bytes(self._data[self._pos : end])
        self._pos = end
        return chunk

    def seek(self, offset: int, whence: int = 0) -> int:
        """Move to ``offset`` (from the start, the current position or the end); no request."""
        base = {0: 0, 1: self._pos, 2: self.size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        """The current position."""
        return self._pos

    @property
    def fetched(self) -> int:
        """Bytes of the file held (what a server honouring ``Range`` sent)."""
        return len(self._data)

    def _ensure(self, end: int) -> None:
        have = len(self._data)
        if end <= have:
            return
        want = min(self.size, max(end, 2 * have, self._first))
        if want > self._limit:
            raise HeaderTooLargeError(
                f"{self.name}: the header runs past {self._limit >> 20} MiB", "not read further; no estimate"
            )
        self._data += self._fetch(have, want)

    def _fetch(self, start: int, end: int) -> bytes:
        self.requests += 1
        answer = self._get({"Accept-Encoding": "identity", "Range": f"bytes={start}-{end - 1}"})
        try:
            if answer.status == 206:
                skip = 0
                if not (answer.getheader("Content-Range") or "").replace(" ", "").startswith(f"bytes{start}-"):
                    raise ImageworksError(f"{self.name}: the server sent another range than bytes {start}-{end - 1}")
            elif answer.status == 200:
                skip = start  # Range ignored: the body is the whole file, from byte 0
            else:
                raise ImageworksError(f"{self.name}: HTTP {answer.status} for bytes {start}-{end - 1}")
            if (answer.getheader("Content-Encoding") or "identity").lower() not in {"", "identity"}:
                raise ImageworksError(f"{self.name}: the server encoded the bytes asked for as identity")
            body = self._body(answer, skip + end - start)
        finally:
            if not answer.isclosed():  # a body not read to its end: this connection cannot serve the next range
                self._connection.close()
        if len(body) < skip + end - start:
            raise ImageworksError(f"{self.name}: the answer ended at byte {start + len(body) - skip}, short of {end}")
        return body[skip:]

    def _get(self, headers: dict[str, str]) -> http.client.HTTPResponse:
        """``GET`` with ``headers``, following redirects; later ranges go to where they ended."""
        for _hop in range(MAX_HOPS + 1):
            sent = {**headers, **self._auth} if origin(self.url) == self._home else headers
            answer = self._connection.request("GET", self.url, sent)
            location = answer.getheader("Location")
            if answer.status not in REDIRECTS or not location:
                return answer
            self._connection.close()  # whatever body the redirect has is not wanted
            self.url = next_hop(self.url, location)
            if urlsplit(self.url).scheme.lower() not in ("http", "https"):
                raise ImageworksError(f"{self.name} redirects to a non-HTTP address", "the server is misconfigured or hostile")
        raise ImageworksError(f"{self.name} redirects more than {MAX_HOPS} times", "the server is misconfigured or hostile")

    def _body(self, answer: http.client.HTTPResponse, length: int) -> bytes:
        parts, got = [], 0
        while got < length:
            piece = answer.read1(min(PIECE, length - got))
            if not piece:
                break
            parts.append(piece)
            got += len(piece)
            if time.monotonic() > self._deadline:
                raise ImageworksError(f"{self.name}: the header took over {FILE_SECONDS:.0f}s to arrive")
        if answer.length == 0:
            answer.read()  # the answer read to its announced end: its connection can serve the next range
        return b"".join(parts)


class HeaderFetcher:
    """Opens files of one repository snapshot as :class:`RangedFile`\\ s, token on its origin only."""

    def __init__(self, endpoint: str, snapshot: RepoSnapshot, token: str | None) -> None:
        self.endpoint, self.snapshot = endpoint, snapshot
        self._token = token

    def open(self, file: RepoFile, *, first: int, limit: int) -> RangedFile:
        """``file``, ready to be read from its start."""
        url = resolve_url(self.endpoint, self.snapshot, file.path)
        return RangedFile(url, self._token, file.size, name=file.path, first=first, limit=limit)

    def gguf_header(self, file: RepoFile) -> gguf_reader.GGUFHeader:
        """The key/value and tensor tables of a remote GGUF file."""
        with self.open(file, first=GGUF_FIRST, limit=GGUF_LIMIT) as remote:
            return memory_facts.named(file.path, lambda: gguf_reader.read_header_from(cast(BinaryIO, remote), file.path))

    def safetensors_header(self, file: RepoFile) -> safetensors_reader.SafetensorsHeader:
        """The JSON header of a remote safetensors file."""
        with self.open(file, first=SAFETENSORS_FIRST, limit=SAFETENSORS_LIMIT) as remote:
            return memory_facts.named(
                file.path, lambda: safetensors_reader.read_header_from(cast(BinaryIO, remote), file.path)
            )


def remote_memory(endpoint: str, snapshot: RepoSnapshot, token: str | None, config_text: str | None) -> tuple[HeaderFacts, ...]:
    """Facts for each model the repository offers: every GGUF quant (split parts
    together; at most :data:`MAX_GGUF_MODELS`) and, with a ``config.json``, the
    safetensors beside it. A file that cannot be read makes its item's ``problem``."""
    fetcher = HeaderFetcher(endpoint, snapshot, token)
    groups = list(gguf_groups(snapshot.files).items())
    jobs: list[tuple[str, Sequence[RepoFile], Callable[[], ModelFacts]]] = []
    for key, parts in groups[:MAX_GGUF_MODELS]:
        jobs.append((quant_label(key), parts, _gguf_job(fetcher, parts)))
    shards = memory_facts.model_shards([f.path for f in snapshot.files], "config.json") if config_text is not None else []
    if shards:
        files = [f for f in snapshot.files if f.path in shards]
        jobs.append(("safetensors", files, _safetensors_job(fetcher, config_text or "", files)))
    results = _parallel([job for _, _, job in jobs])
    items = [
        HeaderFacts(label=label, files=[f.path for f in files], facts=found)
        if isinstance(found, ModelFacts)
        else HeaderFacts(label=label, files=[f.path for f in files], problem=found)
        for (label, files, _), found in zip(jobs, results, strict=True)
    ]
    items += [HeaderFacts(label=quant_label(key), files=[f.path for f in parts], problem="not read: too many GGUF models")
              for key, parts in groups[MAX_GGUF_MODELS:]]
    return tuple(items)


def _gguf_job(fetcher: HeaderFetcher, parts: Sequence[RepoFile]) -> Callable[[], ModelFacts]:
    return lambda: memory_facts.gguf_facts([fetcher.gguf_header(part) for part in parts])


def _safetensors_job(fetcher: HeaderFetcher, config_text: str, files: Sequence[RepoFile]) -> Callable[[], ModelFacts]:
    def run() -> ModelFacts:
        config = memory_facts.parse_config(config_text)
        # a big model has dozens of shards: their headers arrive side by side
        with ThreadPoolExecutor(max_workers=min(THREADS, len(files)), thread_name_prefix="shards") as pool:
            headers = list(pool.map(fetcher.safetensors_header, files))
        return memory_facts.safetensors_facts(config, headers)

    return run


def _parallel(jobs: Sequence[Callable[[], ModelFacts]]) -> list[ModelFacts | str]:
    """Run ``jobs`` on a few threads; each result is its value or the one-line reason it failed."""

    def one(job: Callable[[], ModelFacts]) -> ModelFacts | str:
        try:
            return job()
        except (*HTTP_ERRORS, ImageworksError, ValueError) as error:
            log.warning("memory estimate: %s", error)
            return first_line(error)

    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=min(THREADS, len(jobs)), thread_name_prefix="headers") as pool:
        return list(pool.map(one, jobs))
