"""A hostile Hub against ``download``, scenario by scenario, with both engines.

Each scenario is data: what the server serves and how it misbehaves, and what the
command must do about it (exit status and a phrase of the one-line error). Whatever the
scenario, nothing outside the store roots, the registry and the log changes, and the
token never reaches any origin but the configured one.
"""

from __future__ import annotations

import copy
import os
import shutil
import time
from pathlib import Path

import pytest

from imageworks.app import open_registry
from tests.security.conftest import TOKEN, Sandbox
from tests.support.cli import cli
from tests.support.hostile_hub import HostileFile, HostileHub, Scenario

WEIGHTS = os.urandom(3 * 1024 * 1024 + 17)
CONFIG = b'{"model_type": "llama"}'


def files(*extra: HostileFile) -> list[HostileFile]:
    return [HostileFile("config.json", CONFIG, sha256=None), HostileFile("model.safetensors", WEIGHTS), *extra]


# scenario, expected exit status (None: either, as long as what lands is right), phrase of the error
SCENARIOS: list[tuple[Scenario, int | None, str | None]] = [
    (Scenario("newline-in-name", files(HostileFile("x.json\n  dir=/tmp\n  out=pwned", b"{}", sha256=None))), 1, "refusing remote file name"),
    (Scenario("escape-in-name", files(HostileFile("\x1b]0;owned\x07tokenizer.json", b"{}", sha256=None))), 1, "refusing remote file name"),
    (Scenario("newline-in-commit", files(), commit="0123456789abcdef0123456789abcdef01234567\n  dir=/tmp"), 1, "commit"),
    (Scenario("slash-in-commit", files(), commit="../../../../tmp/x"), 1, "commit"),
    (Scenario("get-only-redirect", files(), redirect="get-only"), 0, None),
    (Scenario("same-origin-then-other", files(), redirect="chain"), 0, None),
    (Scenario("always-redirect", files(), redirect="always"), 0, None),
    (Scenario("content-length-lies", [HostileFile("config.json", CONFIG, sha256=None),
                                      HostileFile("model.safetensors", WEIGHTS[:1 << 20], content_length=20 << 20)]), None, None),
    (Scenario("gzip-bomb-api", files(), api_gzip_bomb=1 << 30), 1, "too large"),
    (Scenario("retry-after-negative", files(), api_failures=1, retry_after="-1"), 0, None),
    (Scenario("retry-after-nan", files(), api_failures=1, retry_after="NaN"), 0, None),
    (Scenario("empty-repo", []), 1, "no files"),
    (Scenario("one-byte-a-second", files(), drip=1.0), 1, "stalled"),
    (Scenario("zero-byte-weights", [HostileFile("config.json", CONFIG, sha256=None), HostileFile("model.safetensors", b"", sha256=None)]), 1, "model.safetensors"),
    (Scenario("bidi-in-name", files(HostileFile("nosj.\u202etokenizer.json", b"{}", sha256=None))), 1, "refusing remote file name"),
    (Scenario("overlong-name", files(HostileFile("x" * 240 + ".json", b"{}", sha256=None))), 1, "refusing remote file name"),
]


@pytest.mark.parametrize("engine", ["python", "aria2"])
@pytest.mark.parametrize(("scenario", "status", "phrase"), SCENARIOS, ids=[s.name for s, _, _ in SCENARIOS])
def test_hostile_hub(scenario: Scenario, status: int | None, phrase: str | None, engine: str, hostile, sandbox: Sandbox,
                     isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if engine == "aria2" and shutil.which("aria2c") is None:
        pytest.fail("aria2c is missing: .ci/run installs it")
    scenario = copy.deepcopy(scenario)  # the server counts down its faults in it
    hub: HostileHub = hostile(scenario)
    started = time.monotonic()
    result = cli(capsys, "download", scenario.repo, "--non-interactive", "--aria2" if engine == "aria2" else "--no-aria2")
    elapsed = time.monotonic() - started
    assert status is None or result.code == status, (result.out, result.err)
    target = isolated / "weights" / "evil" / "model"
    if result.code:
        errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
        assert len(errors) == 1 and (phrase is None or phrase in errors[0]), result.err
        assert "unexpected" not in result.err and "Traceback" not in result.err
        entries = open_registry().entries() if (isolated / "registry").exists() else []
        assert not [e for e in entries if e.download_path], "a failed download was recorded as installed"
    else:
        for item in scenario.files:
            assert (target / item.name).read_bytes() == item.body
    announced = {item.name: item.announced_size or 0 for item in scenario.files}
    for path in (target.rglob("*") if target.exists() else []):
        name = path.relative_to(target).as_posix().split(".imageworks-partial")[0]
        if path.is_file() and name in announced:
            assert path.stat().st_blocks * 512 <= announced[name] + (1 << 20), f"{path} holds more than the Hub announced"
    for item in scenario.files:  # a lying Content-Length cannot make an engine take much more than announced
        assert hub.bytes_sent(item.name) <= 2 * announced[item.name] + (4 << 20), f"{item.name}: {hub.bytes_sent(item.name)} bytes sent"
    assert elapsed < 60
    sandbox.assert_untouched()
    leaked = [seen for seen in hub.other_origins() if seen.authorization]
    assert not leaked, f"the token reached another origin: {leaked}"
    for seen in hub.other_origins():
        assert TOKEN not in repr(seen)
