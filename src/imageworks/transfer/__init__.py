"""Transfer engines: move a job's bytes from HTTP URLs to a folder, resumable and verified.

Independent of the registry: give an engine a :class:`TransferJob` and get back
:class:`VerifiedFile` entries, or an ``ImageworksError`` with a one-line message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imageworks.transfer.errors import (
    Aria2NotFoundError,
    AuthenticationRequiredError,
    ChecksumMismatchError,
    NotEnoughSpaceError,
    TransferError,
)

if TYPE_CHECKING:
    from imageworks.core.transfers import (
        Engine,
        ProgressCallback,
        RemoteFile,
        TransferJob,
        TransferProgress,
        VerifiedFile,
    )
    from imageworks.transfer.aria2 import Aria2Engine, find_aria2c
    from imageworks.transfer.python_engine import PythonEngine

# The engines start threads, and aria2's imports its RPC client (requests): load them on
# first use, so a command that only plans (or finds the model current) never pays for them.
# The job's types too: a command that only asks the Hub (through http_client, a module of
# this package) never builds them.
_LAZY = {
    "Aria2Engine": "imageworks.transfer.aria2",
    "find_aria2c": "imageworks.transfer.aria2",
    "PythonEngine": "imageworks.transfer.python_engine",
    **dict.fromkeys(
        ("Engine", "ProgressCallback", "RemoteFile", "TransferJob", "TransferProgress", "VerifiedFile"),
        "imageworks.core.transfers",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'imageworks.transfer' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


ENGINE_NAMES = ("python", "aria2")


def select_engine(name: str = "python") -> Engine:
    """The engine called ``name``: ``python`` (the default) or ``aria2``.

    The Python engine is the default because it is the faster one in every measured case
    (``docs/benchmarks.md``, "Transfers"): aria2c tops out near 0.6 GB/s on a fast link,
    where the Python engine, hashing while it receives, passes 1 GB/s; behind a
    per-connection cap both add streams, and the Python engine decides how many by
    measuring. ``aria2`` stays available on request and needs ``aria2c`` installed.
    """
    if name == "aria2":
        from imageworks.transfer.aria2 import Aria2Engine, find_aria2c

        find_aria2c()  # a clear error when it is missing
        return Aria2Engine()
    if name == "python":
        from imageworks.transfer.python_engine import PythonEngine

        return PythonEngine()
    from imageworks.core.errors import ImageworksError

    raise ImageworksError(f"unknown transfer engine {name!r}", f"use one of: {', '.join(ENGINE_NAMES)}")


__all__ = [
    "ENGINE_NAMES",
    "Aria2Engine",
    "Aria2NotFoundError",
    "AuthenticationRequiredError",
    "ChecksumMismatchError",
    "Engine",
    "NotEnoughSpaceError",
    "ProgressCallback",
    "PythonEngine",
    "RemoteFile",
    "TransferError",
    "TransferJob",
    "TransferProgress",
    "VerifiedFile",
    "find_aria2c",
    "select_engine",
]
