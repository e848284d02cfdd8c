"""Deprecated import path, kept for one release: the transfer value types live in the kernel,
:mod:`imageworks.core.transfers` (plugin authors import them from there)."""

from imageworks.core.transfers import (
    Engine,
    ProgressCallback,
    RemoteFile,
    TransferJob,
    TransferProgress,
    VerifiedFile,
)

__all__ = ["Engine", "ProgressCallback", "RemoteFile", "TransferJob", "TransferProgress", "VerifiedFile"]
