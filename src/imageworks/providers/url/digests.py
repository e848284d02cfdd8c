"""The sha256 a server states for a file, read from its response headers.

``Repr-Digest: sha-256=:<base64>:`` (RFC 9530), ``Digest: sha-256=<base64>`` (RFC 3230),
or a strong ``X-Linked-Etag``/``ETag`` of 64 hex digits (as the Hugging Face CDN sends).
An md5 ETag (S3) or a weak one is no promise about the bytes and is ignored.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping

from imageworks.core.errors import ImageworksError

SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def stated_sha256(headers: Mapping[str, str]) -> str | None:
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
            return tag.strip('"').lower()
    return None


def sha256_option(value: str | None) -> str | None:
    """``--sha256`` in lower case; one clear error unless it is 64 hex digits."""
    if value is None:
        return None
    digest = value.strip().lower()
    if not SHA256_HEX.fullmatch(digest):
        raise ImageworksError(f"--sha256 {value!r} is not a sha256", "give the 64 hex digits of the file's sha256")
    return digest
