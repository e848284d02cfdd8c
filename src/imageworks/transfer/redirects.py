"""Follow a file's redirects ourselves, so a bearer token reaches only the configured origin.

A downloader that follows redirects on its own (aria2c does, resending every header)
hands the token to whatever host a redirect names. :func:`probe` walks the chain hop by
hop with the request the downloader will make (``GET`` with ``Range: bytes=0-0``: a Hub
may redirect only ``GET``), sends the token only to the origin of the file's own URL, and
reports where the chain ends, whether the token may go there, and the file size the end
of the chain announces. :func:`probe_all` does this for many files at once.

The requests go through :mod:`~imageworks.transfer.http_client` (the standard library),
as the Python engine's do; :func:`follow` is the hop-by-hop walk both use.
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import attrs

from imageworks.transfer.errors import TransferError
from imageworks.transfer.http_client import HTTP_ERRORS, REDIRECTS, Connection, finish, next_hop, origin

MAX_HOPS = 10
PROBE_THREADS = 16
_TOTAL = re.compile(r"^bytes\s+(?:\d+-\d+|\*)/(\d+)$")


@attrs.frozen
class Probed:
    """Where a file's redirect chain ends.

    ``authorized``: the end is on the configured origin, so the token may go with it.
    ``total``: the full size that answer announces (Content-Range, or Content-Length of a
    200), or ``None``; ``status``: its HTTP status.
    """

    url: str
    authorized: bool
    status: int
    total: int | None


def scoped(headers: Mapping[str, str], url: str, home: tuple[str, str | None, int | None]) -> dict[str, str]:
    """``headers`` for a request to ``url``: ``Authorization`` only when ``url`` is on ``home``, the token's origin."""
    if origin(url) == home:
        return dict(headers)
    return {k: v for k, v in headers.items() if k.lower() != "authorization"}


def follow(
    connection: Connection,
    url: str,
    headers: Mapping[str, str],
    *,
    home: tuple[str, str | None, int | None],
    what: str,
    max_hops: int = MAX_HOPS,
) -> tuple[str, http.client.HTTPResponse]:
    """``GET`` ``url`` and the redirects it leads to, hop by hop; returns the last URL and its answer (body unread).

    ``Authorization`` goes only to ``home``'s origin. Raises one of
    :data:`~imageworks.transfer.http_client.HTTP_ERRORS` when a hop cannot be reached,
    and :class:`TransferError` for a chain longer than ``max_hops`` or one that leaves HTTP(S).
    """
    current = url
    for _hop in range(max_hops + 1):
        answer = connection.request("GET", current, scoped(headers, current, home))
        location = answer.getheader("Location")
        if answer.status not in REDIRECTS or not location:
            return current, answer
        finish(answer)  # a redirect's small body, so the connection carries the next hop
        current = next_hop(current, location)
        if urlsplit(current).scheme.lower() not in ("http", "https"):
            raise TransferError(
                f"{what} redirects to a non-HTTP address {_short(current)!r}",
                "the server is misconfigured or hostile; nothing was downloaded",
            )
    raise TransferError(
        f"{what} redirects more than {max_hops} times",
        "the server is misconfigured or hostile; nothing was downloaded",
    )


def probe(
    url: str, headers: Mapping[str, str], *, what: str | None = None, timeout: float = 30.0, max_hops: int = MAX_HOPS
) -> Probed:
    """Follow ``url``'s redirects with ranged ``GET`` requests; ``Authorization`` only on ``url``'s origin.

    Raises one of :data:`~imageworks.transfer.http_client.HTTP_ERRORS` (an ``OSError``:
    a protocol error is raised as :class:`ConnectionError`) when a hop cannot be reached
    or breaks the exchange, and :class:`TransferError` for a chain longer than
    ``max_hops`` or one that leaves HTTP(S).
    """
    home = origin(url)
    sent = {**headers, "Range": "bytes=0-0", "Accept-Encoding": "identity"}
    with Connection(connect_timeout=timeout, read_timeout=timeout) as connection:
        try:
            current, answer = follow(connection, url, sent, home=home, what=what or _name(url), max_hops=max_hops)
            finish(answer, limit=1)  # the byte asked for: closing with it unread resets the connection
        except http.client.HTTPException as error:  # not an OSError: callers catch OSError for "unreachable"
            raise ConnectionError(f"{type(error).__name__}: {error}") from error
        return Probed(current, origin(current) == home, answer.status, _total(answer))


def probe_all(
    files: Sequence[tuple[str, str]], headers: Mapping[str, str], *, timeout: float = 30.0, threads: int = PROBE_THREADS
) -> list[Probed | Exception]:
    """:func:`probe` every ``(url, name)`` concurrently; each result is a :class:`Probed` or the exception it raised."""

    def one(file: tuple[str, str]) -> Probed | Exception:
        try:
            return probe(file[0], headers, what=file[1], timeout=timeout)
        except (*HTTP_ERRORS, TransferError) as error:
            return error

    if not files:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(files))), thread_name_prefix="probe") as pool:
        return list(pool.map(one, files))


def _total(answer: http.client.HTTPResponse) -> int | None:
    found = _TOTAL.match((answer.getheader("Content-Range") or "").strip())
    if answer.status == 206 and found:
        return int(found.group(1))
    length = answer.getheader("Content-Length") or ""
    return int(length) if answer.status == 200 and length.isdigit() else None


def _name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1] or url


def _short(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "..."
