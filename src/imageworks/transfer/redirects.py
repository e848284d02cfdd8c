"""Follow a file's redirects ourselves, so a bearer token reaches only the configured origin.

A downloader that follows redirects on its own (aria2c does, resending every header)
hands the token to whatever host a redirect names. :func:`probe` walks the chain hop by
hop with the request the downloader will make (``GET`` with ``Range: bytes=0-0``: a Hub
may redirect only ``GET``), sends the token only to the origin of the file's own URL, and
reports where the chain ends, whether the token may go there, and the file size the end
of the chain announces. :func:`probe_all` does this for many files at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin, urlsplit

import attrs
import requests
from requests.utils import requote_uri

from imageworks.transfer.errors import TransferError

MAX_HOPS = 10
PROBE_THREADS = 16
REDIRECTS = {301, 302, 303, 307, 308}
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


def origin(url: str) -> tuple[str, str | None, int | None]:
    """Scheme, host and port of ``url``: the unit a token is scoped to."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    return parts.scheme.lower(), parts.hostname, parts.port or default


def probe(
    url: str, headers: Mapping[str, str], *, what: str | None = None, timeout: float = 30.0, max_hops: int = MAX_HOPS
) -> Probed:
    """Follow ``url``'s redirects with ranged ``GET`` requests; ``Authorization`` only on ``url``'s origin.

    Raises :class:`requests.RequestException` when a hop cannot be reached, and
    :class:`TransferError` for a chain longer than ``max_hops`` or one that leaves HTTP(S).
    """
    home = origin(url)
    current = url
    label = what or _name(url)
    with requests.Session() as session:
        for _hop in range(max_hops + 1):
            sent = {**headers, "Range": "bytes=0-0", "Accept-Encoding": "identity"}
            if origin(current) != home:
                sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
            # stream: only the headers are read, whatever body a hostile server sends
            with session.get(current, headers=sent, allow_redirects=False, stream=True, timeout=timeout) as answer:
                if answer.headers.get("Content-Length") == "1":
                    answer.raw.read(1)  # the byte asked for: closing with it unread resets the connection
                location = answer.headers.get("Location")
                if answer.status_code not in REDIRECTS or not location:
                    return Probed(current, origin(current) == home, answer.status_code, _total(answer))
            current = requote_uri(urljoin(current, location))
            if urlsplit(current).scheme.lower() not in ("http", "https"):
                raise TransferError(
                    f"{label} redirects to a non-HTTP address {_short(current)!r}",
                    "the server is misconfigured or hostile; nothing was downloaded",
                )
    raise TransferError(
        f"{label} redirects more than {max_hops} times",
        "the server is misconfigured or hostile; nothing was downloaded",
    )


def probe_all(
    files: Sequence[tuple[str, str]], headers: Mapping[str, str], *, timeout: float = 30.0, threads: int = PROBE_THREADS
) -> list[Probed | Exception]:
    """:func:`probe` every ``(url, name)`` concurrently; each result is a :class:`Probed` or the exception it raised."""

    def one(file: tuple[str, str]) -> Probed | Exception:
        try:
            return probe(file[0], headers, what=file[1], timeout=timeout)
        except (requests.RequestException, TransferError) as error:
            return error

    if not files:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(files))), thread_name_prefix="probe") as pool:
        return list(pool.map(one, files))


def _total(answer: requests.Response) -> int | None:
    found = _TOTAL.match(answer.headers.get("Content-Range", "").strip())
    if answer.status_code == 206 and found:
        return int(found.group(1))
    length = answer.headers.get("Content-Length", "")
    return int(length) if answer.status_code == 200 and length.isdigit() else None


def _name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[-1] or url


def _short(url: str) -> str:
    return url if len(url) <= 80 else url[:77] + "..."
