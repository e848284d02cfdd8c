"""The digests a Hub publishes for a file, computed on what arrived.

LFS files carry a sha256 of their content (hashed while the bytes arrive, see the
engines). Every other file carries its git blob id: the sha1 of ``blob <size>\\0``
followed by the content. Those files are small (configs, tokenizers, READMEs), so they
are read back once when complete.
"""

from __future__ import annotations

import hashlib
import os

BLOCK = 1 << 20


def git_blob_id(fd: int, size: int) -> str:
    """The git blob id of the first ``size`` bytes behind the open descriptor ``fd``."""
    digest = hashlib.sha1(b"blob %d\0" % size, usedforsecurity=False)
    offset = 0
    while offset < size:
        block = os.pread(fd, min(BLOCK, size - offset), offset)
        if not block:
            break  # shorter than announced: the digest will not match
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()
