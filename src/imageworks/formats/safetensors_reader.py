"""Read a safetensors header: an 8-byte little-endian length, then that much JSON.

Nothing past the header is read. A length that is absurd (over 100 MB, or longer than
the file) is refused before allocating anything; the JSON is parsed within depth and count
limits (:mod:`imageworks.formats.bounded_json`).
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from imageworks.core.regular_files import open_regular
from imageworks.formats import bounded_json

MAX_HEADER = 100 * 1024 * 1024
MAX_DEPTH = 8  # {tensor: {dtype, shape: [...], data_offsets: [...]}} and __metadata__: 3 levels


class SafetensorsFormatError(ValueError):
    """The file is not a safetensors file or its header is damaged."""


@attrs.define(kw_only=True, frozen=True)
class TensorEntry:
    """One tensor of the header: dtype string (``F16``, ``I32``...) and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def elements(self) -> int:
        """Number of stored elements."""
        count = 1
        for dim in self.shape:
            count *= dim
        return count


@attrs.define(kw_only=True)
class SafetensorsHeader:
    """The parsed header of one file."""

    path: str
    tensors: dict[str, TensorEntry]
    metadata: dict[str, str]
    bytes_read: int


def read_header(path: str | Path) -> SafetensorsHeader:
    """Parse the header of ``path``; raise :class:`SafetensorsFormatError` when damaged.

    A ``path`` that is not a regular file (a FIFO, a device) raises
    :class:`~imageworks.core.errors.UnreadableFileError`, an :class:`OSError`.
    """
    with open_regular(path) as handle:  # a FIFO or device is refused, not read
        return read_header_from(handle, str(path))


def read_header_from(handle: BinaryIO, name: str) -> SafetensorsHeader:
    """Parse the header from an open, seekable binary ``handle`` (a file, or a ranged
    reader over HTTP); ``name`` labels it. Reads the 8-byte length and the JSON only."""
    prefix = handle.read(8)
    if len(prefix) < 8:
        raise SafetensorsFormatError("file is shorter than the 8-byte header length")
    (length,) = struct.unpack("<Q", prefix)
    handle.seek(0, 2)
    size = handle.tell()
    if length > MAX_HEADER or length > size - 8:
        raise SafetensorsFormatError(f"header claims {length} bytes in a {size}-byte file")
    handle.seek(8)
    raw = handle.read(length)
    if len(raw) < length:
        raise SafetensorsFormatError(f"header truncated at {8 + len(raw)} of {8 + length} bytes")
    try:
        data = bounded_json.loads(raw, "header", max_bytes=MAX_HEADER, max_depth=MAX_DEPTH)
    except bounded_json.JSONLimitError as error:
        raise SafetensorsFormatError(str(error)) from None
    if not isinstance(data, dict):
        raise SafetensorsFormatError("header is not a JSON object")
    metadata_raw: Any = data.pop("__metadata__", None) or {}
    tensors: dict[str, TensorEntry] = {}
    for tensor_name, info in data.items():
        if not isinstance(info, dict) or not isinstance(info.get("dtype"), str):
            raise SafetensorsFormatError(f"tensor {tensor_name!r} has no dtype")
        shape = info.get("shape", [])
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise SafetensorsFormatError(f"tensor {tensor_name!r} has a bad shape")
        tensors[tensor_name] = TensorEntry(name=tensor_name, dtype=info["dtype"].upper(), shape=tuple(shape))
    metadata = {str(k): str(v) for k, v in metadata_raw.items()} if isinstance(metadata_raw, dict) else {}
    return SafetensorsHeader(path=name, tensors=tensors, metadata=metadata, bytes_read=8 + length)
