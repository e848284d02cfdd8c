"""Transfer engines: move a job's bytes from HTTP URLs to a folder, resumable and verified.

Independent of the registry: give an engine a :class:`TransferJob` and get back
:class:`VerifiedFile` entries, or an ``ImageworksError`` with a one-line message.
"""

from __future__ import annotations

import shutil

from imageworks.providers.huggingface.transfer.aria2 import Aria2Engine, find_aria2c
from imageworks.providers.huggingface.transfer.errors import (
    Aria2NotFoundError,
    AuthenticationRequiredError,
    ChecksumMismatchError,
    NotEnoughSpaceError,
    TransferError,
)
from imageworks.providers.huggingface.transfer.model import (
    Engine,
    ProgressCallback,
    RemoteFile,
    TransferJob,
    TransferProgress,
    VerifiedFile,
)
from imageworks.providers.huggingface.transfer.python_engine import PythonEngine


def select_engine(use_aria2: bool = True) -> Engine:
    """aria2c when wanted and installed, else the Python engine (``--no-aria2`` passes False)."""
    if use_aria2 and shutil.which("aria2c"):
        return Aria2Engine()
    return PythonEngine()


__all__ = [
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
