"""Odd ``Retry-After`` values from the Hub: always a finite, capped wait, never a crash."""

from __future__ import annotations

import datetime as dt
import os
import time
from email.utils import format_datetime

import pytest

from imageworks.core.http import parse_retry_after
from tests.spine.helpers import cli
from tests.support.hostile_hub import HostileFile, Scenario

FILES = [HostileFile("config.json", b'{"model_type": "llama"}', sha256=None), HostileFile("model.safetensors", os.urandom(4096))]
NOW = dt.datetime(2025, 1, 1, 12, 0, 0, tzinfo=dt.timezone.utc)


# -- Retry-After ------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "expected"), [
    ("5", 5.0), ("0", 0.0), ("2.5", 2.5), (" 7 ", 7.0), ("86400", 30.0),
    ("-1", 4.0), ("NaN", 4.0), ("nan", 4.0), ("inf", 4.0), ("-inf", 4.0), ("1e400", 4.0), ("soon", 4.0), ("", 4.0), (None, 4.0),
    (format_datetime(NOW + dt.timedelta(seconds=12), usegmt=True), 12.0),
    (format_datetime(NOW - dt.timedelta(hours=1), usegmt=True), 0.0),
    (format_datetime(NOW + dt.timedelta(days=2), usegmt=True), 30.0),
    ("Mon, 99 Foo 2025 99:99:99 GMT", 4.0),
])
def test_retry_after_is_always_a_finite_wait_within_the_cap(value: str | None, expected: float) -> None:
    assert parse_retry_after(value, 4.0, 30.0, now=NOW) == expected


def test_a_default_outside_the_cap_is_clamped_too() -> None:
    assert parse_retry_after("garbage", 99.0, 30.0) == 30.0
    assert parse_retry_after("garbage", -3.0, 30.0) == 0.0


@pytest.mark.parametrize("value", ["-1", "NaN", "inf", "garbage", "HTTP-DATE"])
def test_odd_retry_after_values_are_retried_not_fatal(value: str, hostile, capsys: pytest.CaptureFixture[str]) -> None:
    if value == "HTTP-DATE":
        value = format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1), usegmt=True)
    hub = hostile(Scenario("retry", list(FILES), api_failures=1, retry_after=value))
    started = time.monotonic()
    result = cli(capsys, "download", "evil/model", "--non-interactive", "--no-aria2")
    assert result.code == 0, result.err
    assert time.monotonic() - started < 15
    assert len([seen for seen in hub.requests() if seen.path.startswith("/api/")]) == 2
