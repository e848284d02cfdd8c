"""Model facts for a memory estimate from weight-file headers (GGUF, or config.json plus
safetensors), for files on disk; providers feed the same functions headers read remotely.

Only headers are read: a GGUF's key/value and tensor tables, a safetensors file's JSON
header, a config.json. The arithmetic lives in :mod:`imageworks.services.memory.estimate`.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from imageworks.core.detection import list_model_files
from imageworks.core.errors import first_line
from imageworks.core.memory_facts import HeaderFacts, ModelFacts
from imageworks.core.model import RegistryEntry
from imageworks.core.regular_files import read_regular_file
from imageworks.formats import bounded_json, gguf_reader, safetensors_reader
from imageworks.formats.gguf_reader import GGUFHeader
from imageworks.formats.safetensors_reader import SafetensorsHeader
from imageworks.services.memory import facts_cache
from imageworks.services.memory.estimate import facts_from_config, facts_from_gguf

#: Bytes per element of safetensors dtypes (the format's own list); F4 packs two a byte.
SAFETENSORS_DTYPE_BITS: dict[str, int] = {
    "F64": 64, "I64": 64, "U64": 64, "F32": 32, "I32": 32, "U32": 32, "F16": 16, "BF16": 16, "I16": 16,
    "U16": 16, "I8": 8, "U8": 8, "BOOL": 8, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8, "F6_E2M3": 6,
    "F6_E3M2": 6, "F4": 4,
}
MAX_CONFIG = 1024 * 1024
T = TypeVar("T")
log = logging.getLogger("imageworks.memory")
_SPLIT = re.compile(r"-\d{5}-of-\d{5}(?=\.gguf$)", re.IGNORECASE)  # llama.cpp's gguf-split part names


@functools.cache
def _quant_sizes() -> dict[int, tuple[int, int]]:
    """ggml type -> (elements per block, bytes per block), from the ``gguf`` package."""
    import gguf

    return {int(kind): sizes for kind, sizes in gguf.GGML_QUANT_SIZES.items()}


def gguf_tensor_bytes(header: GGUFHeader) -> int:
    """Bytes of every tensor's data in one GGUF file, from the tensor table alone."""
    sizes = _quant_sizes()
    total = 0
    for tensor in header.tensors:
        if tensor.ggml_type not in sizes:
            raise gguf_reader.GGUFFormatError(f"tensor {tensor.name!r} has unknown ggml type {tensor.ggml_type}")
        block, size = sizes[tensor.ggml_type]
        elements = 1
        for dim in tensor.shape:
            elements *= dim
        total += elements // block * size
    return total


def gguf_facts(headers: Sequence[GGUFHeader]) -> ModelFacts:
    """Facts of a GGUF model from the headers of all its shards (weights summed; the
    architecture keys come from the shard that carries them, the first)."""
    main = next((h for h in headers if "general.architecture" in h.fields), headers[0])
    weights = sum(gguf_tensor_bytes(h) for h in headers)
    tokens = main.arrays.get("tokenizer.ggml.tokens")
    return facts_from_gguf(main.fields, main.array_values, weights, vocab_size=tokens[1] if tokens else None)


def safetensors_weight_bytes(headers: Sequence[SafetensorsHeader]) -> int:
    """Bytes of every tensor over the files: elements times dtype size."""
    bits = 0
    for header in headers:
        for tensor in header.tensors.values():
            if tensor.dtype not in SAFETENSORS_DTYPE_BITS:
                raise safetensors_reader.SafetensorsFormatError(f"tensor {tensor.name!r} has unknown dtype {tensor.dtype}")
            bits += tensor.elements * SAFETENSORS_DTYPE_BITS[tensor.dtype]
    return -(-bits // 8)


def safetensors_facts(config: dict[str, Any], headers: Sequence[SafetensorsHeader]) -> ModelFacts:
    """Facts of a safetensors model from its config.json and its files' headers."""
    return facts_from_config(config, safetensors_weight_bytes(headers))


def parse_config(text: str | bytes, name: str = "config.json") -> dict[str, Any]:
    """A config.json's object; :class:`ValueError` naming ``name`` when it is not a JSON
    object or exceeds the size, depth or count limits (:mod:`imageworks.formats.bounded_json`)."""
    data = bounded_json.loads(text, name, max_bytes=MAX_CONFIG)
    if not isinstance(data, dict):
        raise ValueError(f"{name} is not a JSON object")
    return data


def is_projector(name: str) -> bool:
    """A vision projector beside a GGUF model (``mmproj-*.gguf``), not the language model."""
    return "mmproj" in Path(name).name.lower()


def model_shards(files: Sequence[str], config: str) -> list[str]:
    """The safetensors files beside ``config`` that hold the model: every one in its
    folder, less Mistral's ``consolidated*`` copy when the Hugging Face shards are there."""
    folder = str(Path(config).parent)
    here = sorted(f for f in files if f.lower().endswith(".safetensors") and str(Path(f).parent) == folder)
    shards = [f for f in here if not Path(f).name.startswith("consolidated")]
    return shards or here


def named(name: str, read: Callable[[], T]) -> T:
    """``read()``, a damaged header's :class:`ValueError` prefixed with the file's ``name``
    (the readers' messages say what is wrong, not where)."""
    try:
        return read()
    except ValueError as error:
        raise type(error)(f"{name}: {error}") from error


def gguf_models(files: Sequence[str]) -> dict[str, list[str]]:
    """The GGUF language models among ``files``, each with its split parts
    (``x-00001-of-00002.gguf``...) under the name without the part number; projectors
    left out. Keys and parts sorted."""
    groups: dict[str, list[str]] = {}
    for name in files:
        if name.lower().endswith(".gguf") and not is_projector(name):
            groups.setdefault(_SPLIT.sub("", name), []).append(name)
    return {key: sorted(groups[key]) for key in sorted(groups)}


def local_facts(root: str | Path, files: Sequence[str], cache_dir: Path | None = None) -> ModelFacts | None:
    """Facts for the model made of ``files`` (relative to ``root``), or None when it has
    neither GGUF weights nor config.json plus safetensors.

    Remembered per process while every file keeps its size, mtime and inode, so the GUI
    (which re-runs ``list --json`` on every click) and the proxy (on every ``/v1/models``)
    read a model's headers once; with ``cache_dir``, also on disk between runs
    (:mod:`imageworks.services.memory.facts_cache`), damaged headers included. Raises
    :class:`OSError` or :class:`ValueError` (a damaged header or config, or several GGUF
    models that are not one model's parts) for the caller to report; only damage is
    remembered, never a file that could not be opened.
    """
    base = Path(root)
    signature = tuple(_signature(base / f) for f in files)
    if cache_dir is None or None in signature:
        return _cached_facts(str(base), tuple(files), signature)
    key = facts_cache.cache_key(str(base), tuple(files), signature)
    found, outcome = facts_cache.load(cache_dir, key)
    if not found:
        try:
            outcome = _cached_facts(str(base), tuple(files), signature)
        except ValueError as error:
            outcome = first_line(error)
        facts_cache.store(cache_dir, key, outcome)
    if isinstance(outcome, str):
        raise ValueError(outcome)
    return outcome


def _signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None  # the read below reports it
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


@functools.lru_cache(maxsize=1024)
def _cached_facts(root: str, files: tuple[str, ...], signature: tuple[tuple[int, int, int] | None, ...]) -> ModelFacts | None:
    del signature  # only part of the cache key: a changed file is read again
    base = Path(root)
    models = gguf_models(files)
    if len(models) > 1:
        raise ValueError(f"{len(models)} GGUF models side by side ({', '.join(models)[:120]}): no single estimate")
    if models:
        (ggufs,) = models.values()
        return gguf_facts([named(f, functools.partial(gguf_reader.read_header, base / f)) for f in ggufs])
    configs = sorted((f for f in files if Path(f).name == "config.json"), key=lambda f: f.count("/"))
    shards = model_shards(files, configs[0]) if configs else []
    if not shards:
        return None
    config = parse_config(read_regular_file(base / configs[0], MAX_CONFIG), configs[0])
    return safetensors_facts(config, [named(f, functools.partial(safetensors_reader.read_header, base / f)) for f in shards])


def entry_facts(entry: RegistryEntry, cache_dir: Path | None = None) -> HeaderFacts | None:
    """The facts of an installed entry from the headers of its files on disk (its recorded
    ``download_files``, else what its folder holds); None for a logical entry, one whose
    files are gone, or one with no GGUF or safetensors weights. A damaged or hostile file
    becomes the result's ``problem``, never an exception, so one entry cannot break a
    listing of the others. ``cache_dir``: keep the facts on disk (:func:`local_facts`)."""
    if entry.is_logical or not entry.download_path:
        return None
    path = Path(entry.download_path)
    try:
        if path.is_file():
            root, files = path.parent, [path.name]
        elif path.is_dir():
            root = path
            files = list(entry.download_files) or list_model_files(path)
        else:
            return None
        facts = local_facts(root, files, cache_dir)
    except (OSError, ValueError) as error:
        return HeaderFacts(label=entry.name, problem=first_line(error))
    except Exception as error:  # whatever else a hostile file provokes spoils only this entry
        log.debug("header facts of %s failed", entry.name, exc_info=True)
        return HeaderFacts(label=entry.name, problem=f"unexpected {type(error).__name__}: {first_line(error)}")
    if facts is None:
        return None
    return HeaderFacts(label=entry.name, facts=facts)
