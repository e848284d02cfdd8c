"""Transfer progress speaks the CLI's units (binary IEC: KiB, MiB, GiB), on a terminal and off it."""

from __future__ import annotations

import io
import re

from imageworks.core.transfers import TransferProgress
from imageworks.transfer.progress import ProgressReporter

MIB = 1024**2


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_lines_use_binary_units() -> None:
    stream = io.StringIO()
    with ProgressReporter("model", stream=stream) as progress:
        progress(TransferProgress(bytes_done=3 * MIB // 2, bytes_total=3 * MIB, speed=512 * 1024, files_done=1,
                                  files_total=2))
    line = stream.getvalue().splitlines()[-1]
    assert line == "model: 1.5 MiB/3.0 MiB (50%) 512.0 KiB/s, 1/2 files"


def test_the_bar_uses_binary_units() -> None:
    stream = Terminal()
    with ProgressReporter("model", stream=stream) as progress:
        progress(TransferProgress(bytes_done=3 * MIB // 2, bytes_total=3 * MIB, speed=2 * MIB, files_done=1,
                                  files_total=2))
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
    assert "1.5/3.0 MiB" in text and "MiB/s" in text
    assert not re.search(r"\d (kB|MB|GB)\b", text)  # no decimal units
