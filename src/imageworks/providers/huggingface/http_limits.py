"""Bounds on the Hub's API answers: size once decompressed, and time to arrive.

An API answer is read whole into memory, so it is read here: in pieces, its
``Content-Encoding`` (``gzip`` or ``deflate``, the only ones asked for) decoded at most
1 MiB at a time, and refused with :class:`ApiAnswerTooLargeError` past ``max_bytes``
once decoded (1 MiB of gzip can become gigabytes) or :class:`ApiAnswerTooSlowError`
past ``seconds`` (a server that drips one byte just inside every read timeout). A body
that cannot be decoded, or another encoding, is :class:`UndecodableAnswerError`.
"""

from __future__ import annotations

import http.client
import time
import zlib
from collections.abc import Iterator

from imageworks.core.errors import ImageworksError

# A tree answer costs about 250 bytes per file (name, blob id, size, LFS sha256): a
# 10,000-file repo is ~3 MB, and 64 MiB leaves room for ~250,000 files. A bigger answer
# is an attack or a broken mirror.
MAX_API_ANSWER_BYTES = 64 * 1024 * 1024
API_ANSWER_SECONDS = 120.0  # the whole answer, however slowly it drips
PIECE = 1 << 20
ACCEPTED_ENCODINGS = "gzip, deflate"  # the only ones decoded here; anything else is refused


class ApiAnswerTooLargeError(ImageworksError):
    """An API answer grew past the cap once decompressed."""


class ApiAnswerTooSlowError(ImageworksError):
    """An API answer took longer than the deadline to arrive."""


class UndecodableAnswerError(ValueError):
    """An answer in an encoding not asked for, or whose encoding is broken."""


def read_answer(
    answer: http.client.HTTPResponse, what: str, max_bytes: int = MAX_API_ANSWER_BYTES, seconds: float | None = None
) -> bytes:
    """The decoded body of ``answer``, read to its end within ``max_bytes`` and ``seconds``
    (default :data:`API_ANSWER_SECONDS`).

    Raises the errors above, and :data:`imageworks.transfer.http_client.HTTP_ERRORS` when
    the exchange breaks. On any error the answer is left unfinished (close its connection).
    """
    encodings = [e.strip().lower() for e in ",".join(answer.headers.get_all("Content-Encoding") or []).split(",")]
    encodings = [e for e in encodings if e and e != "identity"]
    if len(encodings) > 1 or (encodings and encodings[0] not in {"gzip", "x-gzip", "deflate"}):
        raise UndecodableAnswerError(
            f"content encoding {', '.join(encodings)!r} (API answers must be plain or use {ACCEPTED_ENCODINGS})"
        )
    decoder = _Inflater(encodings[0]) if encodings else _Plain()
    seconds = API_ANSWER_SECONDS if seconds is None else seconds
    deadline = time.monotonic() + seconds
    parts: list[bytes] = []
    total = 0
    while True:
        chunk = answer.read1(PIECE)
        for piece in decoder.feed(chunk) if chunk else (decoder.finish(),):
            total += len(piece)
            _check(total, deadline, what, max_bytes, seconds)
            parts.append(piece)
        _check(total, deadline, what, max_bytes, seconds)
        if not chunk:
            if answer.length:  # the server closed before the end it announced
                raise http.client.IncompleteRead(b"", answer.length)
            answer.read()  # marks the answer finished, so that its connection can serve the next request
            return b"".join(parts)


def _check(total: int, deadline: float, what: str, max_bytes: int, seconds: float) -> None:
    if total > max_bytes:
        raise ApiAnswerTooLargeError(
            f"the Hub's answer to {what} is too large (over {max_bytes >> 20} MiB once decompressed)",
            "real metadata is far smaller; check HF_ENDPOINT",
        )
    if time.monotonic() > deadline:
        raise ApiAnswerTooSlowError(
            f"the Hub's answer to {what} took over {seconds:.0f}s to arrive",
            "try again later or set HF_ENDPOINT to a mirror",
        )


class _Plain:
    """An identity-encoded body, as it came."""

    def feed(self, data: bytes) -> Iterator[bytes]:
        yield data

    def finish(self) -> bytes:
        return b""


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
                raise UndecodableAnswerError(f"undecodable body ({error})") from error
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
            raise UndecodableAnswerError(f"undecodable body ({error})") from error

    def finish(self) -> bytes:
        try:
            tail = self._zlib.flush()
        except zlib.error as error:
            raise UndecodableAnswerError(f"undecodable body ({error})") from error
        if not self._zlib.eof:
            raise UndecodableAnswerError("undecodable body (the compressed stream ends early)")
        return tail
