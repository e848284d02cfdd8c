"""aria2c's status is asked for again when the bytes left should have arrived, not a fixed tick later."""

from __future__ import annotations

from imageworks.transfer.aria2 import _next_look


def status(total: int, done: int) -> dict[str, str]:
    return {"totalLength": str(total), "completedLength": str(done), "status": "active"}


def test_the_next_look_comes_when_the_rest_should_have_arrived() -> None:
    # 10 MB/s recently, 0.5 MB left: look again in 0.05 s, not after the 0.2 s interval.
    samples = [(0.0, 0), (1.0, 10_000_000)]
    assert abs(_next_look({"a": status(10_500_000, 10_000_000)}, samples, 0.2) - 0.05) < 1e-9
    # Far from the end: the interval.
    assert _next_look({"a": status(100_000_000, 10_000_000)}, samples, 0.2) == 0.2
    # Nothing left (the answer will say complete): soon, but never a busy loop.
    assert _next_look({"a": status(10_000_000, 10_000_000)}, samples, 0.2) == 0.01


def test_without_a_rate_or_a_length_the_interval_holds() -> None:
    assert _next_look({"a": status(1_000, 0)}, [], 0.2) == 0.2
    assert _next_look({"a": status(1_000, 0)}, [(0.0, 0), (1.0, 0)], 0.2) == 0.2  # nothing arrived yet
    assert _next_look({"a": status(0, 0)}, [(0.0, 0), (1.0, 500)], 0.2) == 0.2  # length unknown yet
