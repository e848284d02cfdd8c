"""The guide's import path for the download adapter (guide 9.2).

The recording policy itself (naming, inventory, merge) is core machinery and lives in
:mod:`imageworks.core.recording`; this module only keeps ``from
imageworks.model_loader.download_adapter import record_download`` working.
"""

from __future__ import annotations

from imageworks.core.recording import RECORDED_FIELDS, list_downloads, record_download, remove_download

__all__ = ["RECORDED_FIELDS", "list_downloads", "record_download", "remove_download"]
