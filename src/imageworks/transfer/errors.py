"""Transfer failures a user can act on; each prints as one line (see ``core.errors``)."""

from __future__ import annotations

from imageworks.core.errors import ImageworksError


class TransferError(ImageworksError):
    """A download failed; what is on disk is kept so the same command resumes."""


class AuthenticationRequiredError(TransferError):
    """The server refused access (401/403): a gated or private repository."""

    def __init__(self, what: str, status: int, token_sent: bool) -> None:
        self.status = status
        if token_sent:
            hint = "the token in HF_TOKEN (or from `hf auth login`) has no access: accept the model's terms on the Hub or use another token"
        else:
            hint = (
                "the repository is gated or private: set HF_TOKEN (or run `hf auth login`) with a token that has access"
            )
        super().__init__(f"access to {what} was refused (HTTP {status})", hint)


class ChecksumMismatchError(TransferError):
    """A file's digest (sha256, or git blob id for small files) did not match the expected one (the Hub's, a server's or --sha256), twice; it was deleted."""

    def __init__(self, relative_path: str, expected: str, actual: str) -> None:
        self.relative_path = relative_path
        kind = "sha256" if len(expected) == 64 else "git blob id"
        super().__init__(
            f"{relative_path} is corrupt: {kind} {actual[:12]}... differs from the expected {expected[:12]}... after a retry",
            "the bad file was deleted; check the network or mirror and run the command again",
        )


class NotEnoughSpaceError(TransferError):
    """The target file system cannot hold the download; nothing was written."""

    def __init__(self, where: str, needed: int, free: int) -> None:
        super().__init__(
            f"not enough free space in {where}: need {_size(needed)}, only {_size(free)} free",
            "free some space or choose another --location; nothing was written",
        )


class Aria2NotFoundError(TransferError):
    """``aria2c`` is not on ``PATH``."""

    def __init__(self) -> None:
        super().__init__("aria2c was not found on PATH", "install aria2 (e.g. `apt install aria2`) or use --no-aria2")


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    return f"{count} B"
