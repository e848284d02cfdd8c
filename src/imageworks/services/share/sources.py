"""The files of an installed variant, each with its sha256 (a recorded digest reused when the
file still stats as it did when hashed; otherwise hashed now)."""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from imageworks.core.disk_inventory import list_files, sha256_file
from imageworks.core.errors import ImageworksError
from imageworks.core.model import RegistryEntry

WEIGHT_SUFFIXES = (".gguf", ".safetensors", ".bin", ".pt", ".pth", ".onnx", ".ckpt", ".npz", ".h5", ".msgpack")


@attrs.define(frozen=True)
class SourceFile:
    """One file of a variant: where it is, its name inside the variant, size and digest."""

    path: Path
    relative: str
    size: int
    sha256: str
    gguf: bool = False  # a GGUF by its magic bytes (an Ollama blob has no suffix)
    shown_as: str = ""  # the name other apps get: ``relative``, or ``<model>-<QUANT>.gguf`` for a bare blob

    @property
    def is_gguf(self) -> bool:
        """Whether the file is a GGUF."""
        return self.gguf or self.relative.lower().endswith(".gguf")

    @property
    def app_name(self) -> str:
        """The file's name in another app's layout."""
        return self.shown_as or self.relative

    @property
    def is_weights(self) -> bool:
        """Whether the file holds weights (by suffix)."""
        return self.gguf or self.relative.lower().endswith(WEIGHT_SUFFIXES)


def variant_folder(entry: RegistryEntry) -> Path:
    """The folder the entry's ``download_files`` are relative to."""
    path = Path(entry.download_path or "")
    return path.parent if path.is_file() else path


def variant_files(entry: RegistryEntry) -> list[SourceFile]:
    """Every file of ``entry`` on disk, with digests; raise when it has none here."""
    if entry.is_logical:
        raise ImageworksError(f"{entry.name} has no local files to share", "download or scan it first")
    path = Path(entry.download_path or "")
    if not path.exists():
        raise ImageworksError(f"{entry.name}: {path} does not exist", "run `imageworks-download verify --fix-missing`")
    folder = variant_folder(entry)
    names = entry.download_files or ([path.name] if path.is_file() else list_files(path))
    recorded = {f.path: f for f in entry.artifacts.files}
    files = []
    for name in names:
        full = folder / name
        try:
            info = full.stat()
        except OSError as error:
            raise ImageworksError(f"{entry.name}: {full} is missing ({error.strerror})", "run `imageworks-download verify`") from error
        known = recorded.get(name)
        fresh = known is not None and known.sha256 and (known.size, known.mtime_ns, known.inode) == (
            info.st_size, info.st_mtime_ns, info.st_ino)
        digest = known.sha256 if fresh and known is not None and known.sha256 else sha256_file(full)
        gguf = _is_gguf(full)
        shown = gguf_name(entry) if gguf and not name.lower().endswith(".gguf") else ""
        files.append(SourceFile(path=full, relative=name, size=info.st_size, sha256=digest, gguf=gguf, shown_as=shown))
    return files


def _is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == b"GGUF"
    except OSError:
        return False


def gguf_name(entry: RegistryEntry) -> str:
    """A ``.gguf`` file name for a GGUF stored without one (an Ollama blob): ``gemma3-270m-Q4_K_M.gguf``."""
    base = (entry.served_model_id or entry.slug or entry.name).rsplit("/", 1)[-1].replace(":", "-")
    base = "".join(c if c.isalnum() or c in "._-" else "-" for c in base).strip("-.") or "model"
    quant = (entry.quantization or "").upper()
    return f"{base}-{quant}.gguf" if quant and quant.lower() not in base.lower() else f"{base}.gguf"


def real_path(path: Path) -> Path:
    """``path`` with links resolved (the file a hard link must be made to)."""
    return Path(os.path.realpath(path))
