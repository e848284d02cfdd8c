"""Text from outside never carries control characters to the terminal.

Entry names from a hand-edited registry, error messages quoting what a Hub said, paths:
printed as tables, lines, JSON or the one ``Error:`` line, they must not retitle the
window (``ESC ] 0 ; ... BEL``), clear the screen (``ESC [ 2 J``) or reorder text (bidi
overrides). They are shown escaped instead, and JSON still round-trips exactly.
"""

from __future__ import annotations

import errno
import json
import re
from pathlib import Path

import click
import pytest

from imageworks.cli import _output as out
from imageworks.cli import main
from tests.support.cli import cli
from tests.support.hostile_hub import HostileHub, Scenario, Witness, _bomb

TITLE = "\x1b]0;owned\x07"
CLEAR = "\x1b[2J"
HOSTILE = f"{TITLE}evil{CLEAR}\u202etxt.exe\x9b31m\r"
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def assert_inert(text: str) -> None:
    assert not RAW_CONTROL.search(text), repr(text)


@pytest.fixture
def hostile_registry(isolated: Path) -> str:
    registry = isolated / "registry"
    registry.mkdir()
    entry = {"name": HOSTILE, "display_name": HOSTILE, "backend": "vllm", "download_format": HOSTILE,
             "download_path": str(isolated), "download_location": "linux_wsl"}
    (registry / "model_registry.curated.json").write_text(json.dumps([entry]), encoding="utf-8")
    return HOSTILE


def test_a_table_shows_control_characters_escaped(hostile_registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "list", "--include-logical", "--include-testing", "--show-internal-names")
    assert result.code == 0, result.err
    assert_inert(result.out)
    assert "\\x1b]0;owned\\x07evil\\x1b[2J\\u202etxt.exe\\x9b31m\\x0d" in result.out


def test_details_and_json_are_inert_and_json_round_trips(hostile_registry: str, capsys: pytest.CaptureFixture[str]) -> None:
    details = cli(capsys, "list", "--include-logical", "--include-testing", "--details")
    assert details.code == 0, details.err
    assert_inert(details.out)
    listed = cli(capsys, "list", "--include-logical", "--include-testing", "--json")
    assert listed.code == 0, listed.err
    assert_inert(listed.out)
    assert json.loads(listed.out)[0]["name"] == HOSTILE


class RedirectingHub(HostileHub):
    """Answers model info with a redirect to a path full of escapes, which answers a gzip bomb."""

    class handler(HostileHub.handler):  # noqa: N801 - bound per server in start()
        def api(self, scenario: Scenario, rest: str) -> None:
            if "owned" not in rest:
                self.send(302, {"Location": "/api/models/%1b]0;owned%07%1b[2J/x"})
            else:
                self.send(200, {"Content-Type": "application/json", "Content-Encoding": "gzip"}, _bomb(256 << 20))


def test_an_error_quoting_a_remote_path_is_one_inert_line(witness: Witness, isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    with RedirectingHub(Scenario("says-escapes"), witness) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_HOME", str(isolated / "hf-home"))
        result = cli(capsys, "download", "evil/model", "--non-interactive", "--no-aria2")
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert result.code == 1 and len(errors) == 1 and "too large" in errors[0], result.err
    assert_inert(result.err)
    assert "/api/models/\\x1b]0;owned\\x07\\x1b[2J/x" in errors[0]


def test_an_error_quoting_a_configured_path_is_inert(isolated: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    blocker = isolated / f"registry{CLEAR}"
    blocker.write_text("a file where the registry folder should be\n", encoding="utf-8")
    monkeypatch.setenv("IMAGEWORKS_REGISTRY_DIR", str(blocker))
    result = cli(capsys, "list")
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert result.code == 1 and len(errors) == 1 and "registry\\x1b[2J" in errors[0], result.err
    assert_inert(result.err)


def test_a_failed_backup_is_explained_not_unexpected(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = isolated / "registry"
    registry.mkdir()
    (registry / "model_registry.curated.json").write_text(json.dumps([{"name": "m", "backend": "vllm"}]), encoding="utf-8")
    (registry / "backups").write_text("a file where the backups folder should be\n", encoding="utf-8")
    result = cli(capsys, "remove", "m", "--purge", "--force")
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert result.code == 1 and len(errors) == 1 and "cannot back up the registry" in errors[0], result.err
    assert json.loads((registry / "model_registry.curated.json").read_text(encoding="utf-8"))[0]["name"] == "m"


@pytest.mark.parametrize(("error", "expected"), [
    (OSError(errno.ENOSPC, "No space left on device", f"/data/{CLEAR}model.bin"), "cannot use /data/\\x1b[2Jmodel.bin: the disk is full"),
    (OSError(errno.EROFS, "Read-only file system", "/ro/x"), "cannot use /ro/x: the file system is read-only"),
    (FileExistsError(errno.EEXIST, "File exists", "/a", None, "/b"), "cannot use /a -> /b: File exists"),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "a connection failed: Connection reset by peer"),
])
def test_an_unexplained_os_error_is_one_plain_line(error: OSError, expected: str, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    @click.group()
    def broken() -> None:
        """A program whose only command fails the way a disk does."""

    @broken.command("fail")
    def fail() -> None:
        raise error

    monkeypatch.setattr(main, "build_cli", lambda program: broken)
    result = cli(capsys, "fail")
    assert result.code == 1
    assert result.err.strip() == f"Error: {expected} (set IMAGEWORKS_DEBUG=1 for where it happened)"


def test_every_console_helper_escapes(capsys: pytest.CaptureFixture[str]) -> None:
    out.echo(f"line {HOSTILE}\n\tindented")
    out.note(HOSTILE)
    out.warn(HOSTILE)
    out.table(HOSTILE, ["Name"], [[HOSTILE], ["two\nlines"]])
    out.emit_json({"name": HOSTILE})
    captured = capsys.readouterr()
    assert_inert(captured.out)
    assert_inert(captured.err)
    assert "line \\x1b]0;owned" in captured.out and "\n\tindented" in captured.out  # newline and tab pass in lines
    assert "two\\x0alines" in captured.out  # but not inside a table cell
    assert json.loads(captured.out[captured.out.index("{"):])["name"] == HOSTILE
