"""A lazy GGUF header reader: walks the key/value table with ``struct``, skipping arrays.

``gguf.GGUFReader`` maps the whole file and turns every tokenizer entry into Python
objects (seconds for a 262k-token vocabulary). Detection needs a dozen scalars, so this
reader keeps only scalar values, records arrays as ``(element type, count)`` and skips
their contents: fixed-size arrays with one seek, string arrays by hopping over their
length prefixes; numeric arrays of up to :data:`KEPT_ARRAY` elements (per-layer values
such as ``head_count_kv`` or a sliding-window pattern) are kept. It then reads the tensor
table for shapes and types. It never reads tensor data.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import attrs

from imageworks.core.regular_files import open_regular

GGUF_MAGIC = b"GGUF"
MAX_STRING = 64 * 1024 * 1024  # a chat template is kilobytes; this bounds damaged lengths
MAX_COUNT = 1 << 32
# A GGUF holds tens of keys and at most a few thousand tensors (DeepSeek-V3: ~1,100 per
# file); a table announcing more is refused before it becomes millions of Python objects.
MAX_TENSORS = 1 << 16
MAX_KEYS = 1 << 16
MAX_DIMS = 8
KEPT_ARRAY = 512  # llama.cpp's LLAMA_MAX_LAYERS: per-layer arrays fit, vocabularies do not
CHUNK = 1 << 16  # measured: larger windows cost more in copying than they save

# GGUF value types (gguf.GGUFValueType); only the struct format matters here.
_SCALARS: dict[int, str] = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
STRING, ARRAY = 8, 9


class GGUFFormatError(ValueError):
    """The file is not a GGUF file, or its header is truncated or damaged."""


@attrs.define(kw_only=True, frozen=True)
class TensorInfo:
    """One entry of the tensor table: name, shape (GGUF order) and ggml type number."""

    name: str
    shape: tuple[int, ...]
    ggml_type: int
    offset: int


@attrs.define(kw_only=True)
class GGUFHeader:
    """What the header says. ``fields`` holds scalars; ``arrays`` holds (type, count) of
    every array and ``array_values`` the contents of the small numeric ones."""

    path: str
    version: int
    fields: dict[str, Any] = attrs.field(factory=dict)
    arrays: dict[str, tuple[int, int]] = attrs.field(factory=dict)
    array_values: dict[str, tuple[Any, ...]] = attrs.field(factory=dict)
    tensors: list[TensorInfo] = attrs.field(factory=list)
    bytes_read: int = 0
    data_offset: int = 0  # where tensor data starts (end of the tensor table, aligned); 0 unread

    @property
    def parameter_count(self) -> int:
        """Elements over every tensor of this file (one shard of a split model)."""
        total = 0
        for tensor in self.tensors:
            count = 1
            for dim in tensor.shape:
                count *= dim
            total += count
        return total


class _Cursor:
    """Sequential reads over a file through one growing window, counting bytes read."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.buf = b""
        self.pos = 0
        self.base = 0  # file offset of buf[0]
        self.bytes_read = 0

    def _fill(self, need: int) -> None:
        if self.pos + need <= len(self.buf):
            return
        # Drop what was consumed, then read at least a chunk past what is needed.
        start = self.base + self.pos
        if self.pos > len(self.buf):
            self.handle.seek(start)
            rest = b""
        else:
            rest = self.buf[self.pos :]
        want = max(need - len(rest), CHUNK)
        more = self.handle.read(want)
        self.bytes_read += len(more)
        self.buf, self.base, self.pos = rest + more, start, 0
        if len(self.buf) < need:
            raise GGUFFormatError(f"truncated header at byte {start + len(self.buf)}")

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self._fill(size)
        value = struct.unpack_from("<" + fmt, self.buf, self.pos)[0]
        self.pos += size
        return value

    def values(self, fmt: str, count: int) -> tuple[Any, ...]:
        size = struct.calcsize(fmt) * count
        self._fill(size)
        found = struct.unpack_from(f"<{count}{fmt}", self.buf, self.pos)
        self.pos += size
        return found

    def string(self, len_fmt: str) -> str:
        length = self.unpack(len_fmt)
        if length > MAX_STRING:
            raise GGUFFormatError(f"string length {length} is not plausible")
        self._fill(length)
        raw = self.buf[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def skip(self, size: int) -> None:
        if self.pos + size <= len(self.buf):
            self.pos += size
            return
        # Past the window: seek instead of reading what we would throw away.
        target = self.base + self.pos + size
        self.handle.seek(0, 2)
        if target > self.handle.tell():
            raise GGUFFormatError(f"truncated header: array runs past end of file ({target} bytes)")
        self.buf, self.base, self.pos = b"", target, 0
        self.handle.seek(target)

    def skip_strings(self, count: int, len_fmt: str) -> None:
        step = struct.calcsize(len_fmt)
        unpack_from = struct.Struct("<" + len_fmt).unpack_from
        remaining = count
        while remaining:
            self._fill(step)
            buf, pos, end = self.buf, self.pos, len(self.buf)
            # Hop over as many strings as this window holds before refilling.
            while remaining and pos + step <= end:
                length = unpack_from(buf, pos)[0]
                if length > MAX_STRING:
                    raise GGUFFormatError(f"string length {length} is not plausible")
                pos += step + length
                remaining -= 1
            self.pos = pos  # may lie past the window: the next _fill seeks there


def _read_value(cur: _Cursor, vtype: int, len_fmt: str) -> Any:
    if vtype in _SCALARS:
        return cur.unpack(_SCALARS[vtype])
    if vtype == STRING:
        return cur.string(len_fmt)
    raise GGUFFormatError(f"unknown value type {vtype}")


def read_header(path: str | Path, with_tensors: bool = True) -> GGUFHeader:
    """Read the GGUF header of ``path``; raise :class:`GGUFFormatError` when it is not one.

    A ``path`` that is not a regular file (a FIFO, a device) raises
    :class:`~imageworks.core.errors.UnreadableFileError`, an :class:`OSError`.
    """
    with open_regular(path) as handle:  # a FIFO or device is refused, not read
        return read_header_from(handle, str(path), with_tensors)


def read_header_from(handle: BinaryIO, name: str, with_tensors: bool = True) -> GGUFHeader:
    """Read a GGUF header from an open, seekable binary ``handle`` (a file, or a ranged
    reader over HTTP); ``name`` labels it."""
    cur = _Cursor(handle)
    cur._fill(4)
    if cur.buf[:4] != GGUF_MAGIC:
        raise GGUFFormatError("not a GGUF file (bad magic)")
    cur.pos = 4
    version = cur.unpack("I")
    if version not in (1, 2, 3):
        raise GGUFFormatError(f"unsupported GGUF version {version}")
    len_fmt = "I" if version == 1 else "Q"  # version 1 used 32-bit counts and lengths
    n_tensors, n_kv = cur.unpack(len_fmt), cur.unpack(len_fmt)
    if n_tensors > MAX_TENSORS or n_kv > MAX_KEYS:
        raise GGUFFormatError(
            f"{n_tensors} tensors and {n_kv} keys: more than the {MAX_TENSORS} tensors or {MAX_KEYS} keys a model holds"
        )
    header = GGUFHeader(path=name, version=version)
    for _ in range(n_kv):
        key = cur.string(len_fmt)
        vtype = cur.unpack("I")
        if vtype == ARRAY:
            etype, count = cur.unpack("I"), cur.unpack(len_fmt)
            if count > MAX_COUNT:
                raise GGUFFormatError(f"array {key!r} count {count} is not plausible")
            header.arrays[key] = (etype, count)
            if etype == STRING:
                cur.skip_strings(count, len_fmt)
            elif etype in _SCALARS and count <= KEPT_ARRAY:
                header.array_values[key] = cur.values(_SCALARS[etype], count)
            elif etype in _SCALARS:
                cur.skip(count * struct.calcsize(_SCALARS[etype]))
            else:
                raise GGUFFormatError(f"array {key!r} of unsupported type {etype}")
        else:
            header.fields[key] = _read_value(cur, vtype, len_fmt)
    if with_tensors:
        header.tensors = list(_tensors(cur, n_tensors, len_fmt))
        alignment = header.fields.get("general.alignment", 32)
        alignment = alignment if isinstance(alignment, int) and alignment > 0 else 32
        header.data_offset = -(-(cur.base + cur.pos) // alignment) * alignment
    header.bytes_read = cur.bytes_read
    return header


def _tensors(cur: _Cursor, count: int, len_fmt: str) -> Iterator[TensorInfo]:
    for _ in range(count):
        name = cur.string(len_fmt)
        n_dims = cur.unpack("I")
        if n_dims > MAX_DIMS:
            raise GGUFFormatError(f"tensor {name!r} has {n_dims} dimensions")
        shape = tuple(cur.unpack(len_fmt) for _ in range(n_dims))
        yield TensorInfo(name=name, shape=shape, ggml_type=cur.unpack("I"), offset=cur.unpack("Q"))
