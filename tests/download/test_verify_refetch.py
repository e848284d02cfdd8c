"""``verify`` names the files that differ and the commands that fetch just those again:
run as printed against the loopback Hub, they repair the install without fetching the rest."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.download.conftest import MINILM
from tests.support.cli import cli
from tests.support.hub_server import HubServer


def test_verify_then_its_refetch_commands_repair_only_the_damaged_files(
    hub: HubServer, isolated: Path, minilm_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(capsys, "download", MINILM, "--non-interactive", "--no-aria2").code == 0
    target = isolated / "weights" / "sentence-transformers" / "all-MiniLM-L6-v2"
    tokenizer = target / "tokenizer.json"
    damaged = bytearray(tokenizer.read_bytes())
    damaged[100:110] = b"0123456789"  # same size, other bytes: only a digest sees it
    tokenizer.write_bytes(bytes(damaged))
    (target / "vocab.txt").unlink()

    (report,) = cli(capsys, "verify", "--json").json()
    assert report["status"] == "drift"
    assert {(f["path"], f["problem"]) for f in report["files"]} == {("tokenizer.json", "changed"), ("vocab.txt", "missing")}
    assert report["refetch"] == [f"rm -- {tokenizer}", f"imageworks-download download {MINILM} --location linux_wsl"]

    hub.requests.clear()
    for command in report["refetch"]:  # as a user pastes them
        argv = shlex.split(command)
        if argv[0] == "rm":
            for path in argv[2:]:
                Path(path).unlink()
        else:
            assert argv[:2] == ["imageworks-download", "download"]
            again = cli(capsys, *argv[1:], "--non-interactive", "--no-aria2")
            assert again.code == 0, again.err
    fetched = {Path(r.path.split("?")[0]).name for r in hub.requests if r.method == "GET" and "/resolve/" in r.path}
    assert fetched == {"tokenizer.json", "vocab.txt"}  # not the 87 MiB of weights, nor the rest
    assert tokenizer.read_bytes() == (minilm_dir / "tokenizer.json").read_bytes()
    assert cli(capsys, "verify").code == 0
