"""The aria2 engine against hostile servers: its input file, redirects, lying lengths, stalls.

Everything runs against loopback servers: the hostile Hub and its witness origin from
``tests.support.hostile_hub``, the regular test Hub, and a few one-purpose handlers below.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.core.errors import UnsafePathError
from imageworks.providers.huggingface.transfer.safety import safe_relative_path


# -- names and the input file ----------------------------------------------------------

@pytest.mark.parametrize("name", [
    "x.json\n  dir=/tmp", "x.json\r", "a\tb", "nul\x00", "\x1b]0;owned\x07tokenizer.json", "del\x7f", "c1\x85x",
    "csi\x9b31m", "gpj.\u202eexe", "zero\u200bwidth", "line\u2028sep", "bom\ufeff.json", "lone\ud800", "a" * 240,
    "dir/" + "b" * 230 + ".json",
])
def test_safe_relative_path_refuses_control_and_disguising_characters(name: str) -> None:
    with pytest.raises(UnsafePathError, match="refusing remote file name") as caught:
        safe_relative_path(name)
    assert "\n" not in str(caught.value) and "\x1b" not in str(caught.value)


@pytest.mark.parametrize("name", ["config.json", "sub dir/ünïcode 日本.json", "a-b_c~d+e=f@g,h.json", "a" * 220])
def test_safe_relative_path_keeps_ordinary_names(name: str) -> None:
    assert safe_relative_path(name).as_posix() == name
