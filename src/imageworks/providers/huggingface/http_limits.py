"""Bounds on the Hub's API answers: size once decompressed, and time to arrive.

``huggingface_hub`` reads a whole API answer into memory and decodes its
``Content-Encoding`` without a limit, so 1 MiB of gzip can become gigabytes. Inside
:func:`bounded_api_answers` every response of the shared ``huggingface_hub`` client is
decoded here instead, in 1 MiB pieces, and aborted with :class:`ApiAnswerTooLargeError`
past :data:`MAX_API_ANSWER_BYTES` (or :class:`ApiAnswerTooSlowError` past
:data:`API_ANSWER_SECONDS`). Outside that block the hooks do nothing, so other use of
``huggingface_hub`` in the process (file downloads included) behaves as before.

The client is ``huggingface_hub``'s own default one (its event hooks, redirects,
timeouts and proxies kept) with two hooks added, installed through its public
``set_client_factory`` on first use.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import cast

import attrs
import httpx2

from imageworks.core.errors import ImageworksError

# A model-info answer with ``blobs=true`` costs about 250 bytes per file (name, blob id,
# size, LFS sha256) plus the model card's metadata: a 10,000-file repo is ~3 MB, and
# 64 MiB leaves room for ~250,000 files. A bigger answer is an attack or a broken mirror.
MAX_API_ANSWER_BYTES = 64 * 1024 * 1024
API_ANSWER_SECONDS = 120.0  # the whole answer, however slowly it drips
PIECE = 1 << 20
ACCEPTED_ENCODINGS = "gzip, deflate"  # the only ones decoded here; anything else is refused


class ApiAnswerTooLargeError(ImageworksError):
    """An API answer grew past the cap once decompressed."""


class ApiAnswerTooSlowError(ImageworksError):
    """An API answer took longer than the deadline to arrive."""


@attrs.frozen
class _Bounds:
    max_bytes: int
    seconds: float


_ACTIVE: ContextVar[_Bounds | None] = ContextVar("imageworks_api_bounds", default=None)
_INSTALL_LOCK = threading.Lock()
_installed = False


@contextmanager
def bounded_api_answers(max_bytes: int = MAX_API_ANSWER_BYTES, seconds: float = API_ANSWER_SECONDS) -> Iterator[None]:
    """Apply the caps to every ``huggingface_hub`` request made inside the block."""
    _install()
    token = _ACTIVE.set(_Bounds(max_bytes, seconds))
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _install() -> None:
    global _installed
    with _INSTALL_LOCK:
        if not _installed:
            from huggingface_hub import set_client_factory

            set_client_factory(bounded_client)
            _installed = True


def bounded_client() -> httpx2.Client:
    """``huggingface_hub``'s default client with the two bounding hooks appended."""
    # Private, but it is the factory set_client_factory replaces; uv.lock pins the version.
    from huggingface_hub.utils._http import default_client_factory

    client = default_client_factory()
    hooks = client.event_hooks
    client.event_hooks = {
        "request": [*hooks.get("request", []), _on_request],
        "response": [*hooks.get("response", []), _on_response],
    }
    return client


def _on_request(request: httpx2.Request) -> None:
    if _ACTIVE.get() is not None:
        request.headers["Accept-Encoding"] = ACCEPTED_ENCODINGS


def _on_response(response: httpx2.Response) -> None:
    bounds = _ACTIVE.get()
    if bounds is None:
        return
    encodings = [e.strip().lower() for e in response.headers.get_list("content-encoding", split_commas=True)]
    encodings = [e for e in encodings if e and e != "identity"]
    if len(encodings) > 1 or (encodings and encodings[0] not in {"gzip", "x-gzip", "deflate"}):
        response.close()
        raise ImageworksError(
            f"the Hub answered {response.url.path} with content encoding {', '.join(encodings)!r}",
            f"API answers must be plain or use {ACCEPTED_ENCODINGS}; check HF_ENDPOINT",
        )
    # Decoding moves here: httpx2 sees a plain body and no longer decodes it. The hook is
    # installed on a sync client only, whose responses carry a SyncByteStream.
    raw = cast(httpx2.SyncByteStream, response.stream)
    response.stream = _BoundedStream(raw, encodings[0] if encodings else None, bounds, response.url.path)
    if "content-encoding" in response.headers:
        del response.headers["content-encoding"]


class _BoundedStream(httpx2.SyncByteStream):
    """The decoded body of one answer, refused past its size or its deadline."""

    def __init__(self, raw: httpx2.SyncByteStream, encoding: str | None, bounds: _Bounds, what: str) -> None:
        self._raw = raw
        self._decoder = _Inflater(encoding) if encoding else None
        self._bounds = bounds
        self._what = what

    def __iter__(self) -> Iterator[bytes]:
        deadline = time.monotonic() + self._bounds.seconds
        total = 0
        for chunk in self._raw:
            for piece in self._decoder.feed(chunk) if self._decoder else (chunk,):
                total += len(piece)
                self._check(total, deadline)
                yield piece
        if self._decoder:
            tail = self._decoder.finish()
            total += len(tail)
            self._check(total, deadline)
            yield tail

    def _check(self, total: int, deadline: float) -> None:
        if total > self._bounds.max_bytes:
            raise ApiAnswerTooLargeError(
                f"the Hub's answer to {self._what} is too large (over {self._bounds.max_bytes >> 20} MiB once decompressed)",
                "real metadata is far smaller; check HF_ENDPOINT",
            )
        if time.monotonic() > deadline:
            raise ApiAnswerTooSlowError(
                f"the Hub's answer to {self._what} took over {self._bounds.seconds:.0f}s to arrive",
                "try again later or set HF_ENDPOINT to a mirror",
            )

    def close(self) -> None:
        self._raw.close()


class _Inflater:
    """gzip or deflate (zlib-wrapped or raw, as servers disagree) in pieces of at most 1 MiB."""

    def __init__(self, encoding: str) -> None:
        self._gzip = encoding in {"gzip", "x-gzip"}
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._first = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            piece = self._zlib.decompress(data, PIECE)
        except zlib.error as error:
            if not (self._first and not self._gzip):
                raise httpx2.DecodingError(f"cannot decode the answer: {error}") from error
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, no zlib header
            piece = self._decompress(data)
        self._first = False
        while piece:
            yield piece
            piece = self._decompress(self._zlib.unconsumed_tail)

    def _decompress(self, data: bytes) -> bytes:
        try:
            return self._zlib.decompress(data, PIECE)
        except zlib.error as error:
            raise httpx2.DecodingError(f"cannot decode the answer: {error}") from error

    def finish(self) -> bytes:
        try:
            return self._zlib.flush()
        except zlib.error as error:
            raise httpx2.DecodingError(f"cannot decode the answer: {error}") from error
