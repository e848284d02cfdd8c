"""ImageWorks model downloader: acquire, organise and audit model weights.

The package is a small core (:mod:`imageworks.core`) plus plugins discovered through the
``imageworks.plugins`` entry-point group. See ``docs/architecture.md``.
"""

__version__ = "0.1.0"

from imageworks.core.hookspecs import hookimpl

__all__ = ["__version__", "hookimpl"]
