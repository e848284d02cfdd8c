"""One hostile file spoils only its own entry (issue 27, item 2).

A registry holding a config.json nested 10,000 deep, a safetensors header nested 100,000
deep, a GGUF with 70,000 tensor infos and a GGUF with a bad magic, beside good models:
``list``, ``list --json``, ``list --details``, the GUI's Browse tab and the proxy's
``/v1/models`` show every entry, the hostile ones marked with a one-line reason naming
the file. Header facts are kept on disk, so an unchanged store is not read again.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import requests
from streamlit.testing.v1 import AppTest

from imageworks.formats import bounded_json, gguf_reader, safetensors_reader
from imageworks.gui import commands
from imageworks.gui.launcher import PAGE
from imageworks.services.memory import local_facts
from tests.hostile import hostile_store
from tests.proxy.conftest import ProxyServer

REASONS = {  # folder -> what its entry's problem must say
    "deep-config": "config.json nests deeper than",
    "deep-safetensors": "model.safetensors: header nests deeper than",
    "many-tensors": "many-Q4_K_M.gguf: 70000 tensors",
    "bad-magic": "bad-Q4_K_M.gguf: not a GGUF file",
}


@pytest.fixture
def store(tmp_path: Path) -> dict[str, str]:
    """The hostile and good folders, scanned; folder name -> variant name."""
    hostile_store.build(tmp_path / "models")
    outcome = commands.run("download", ["scan", "--base", str(tmp_path / "models")])
    assert outcome.exit_code == 0, outcome.stderr
    rows = json.loads(commands.run("download", ["list", "--json"]).stdout)
    by_folder = {Path(row["download_path"]).name: row["name"] for row in rows}
    assert set(by_folder) == {*hostile_store.GOOD, *hostile_store.HOSTILE}
    local_facts._cached_facts.cache_clear()
    return by_folder


def test_list_json_shows_every_entry_and_explains_the_hostile_ones(store: dict[str, str]) -> None:
    outcome = commands.run("download", ["list", "--json"])
    assert outcome.exit_code == 0, outcome.stderr
    rows = {row["name"]: row for row in json.loads(outcome.stdout)}
    assert set(rows) == set(store.values())
    for folder in hostile_store.GOOD:
        assert rows[store[folder]]["memory"]["weight_bytes"] > 0
        assert rows[store[folder]]["memory_problem"] is None
    for folder, reason in REASONS.items():
        assert rows[store[folder]]["memory"] is None
        assert reason in rows[store[folder]]["memory_problem"], rows[store[folder]]["memory_problem"]
        assert "\n" not in rows[store[folder]]["memory_problem"]


def test_list_and_list_details_show_every_entry(store: dict[str, str]) -> None:
    plain = commands.run("download", ["list"])
    assert plain.exit_code == 0 and f"{len(store)} variant(s)" in plain.stdout
    details = commands.run("download", ["list", "--details"])
    assert details.exit_code == 0, details.stderr
    for name in store.values():
        assert name in details.stdout
    for reason in REASONS.values():
        assert f"not estimated: {reason}" in details.stdout


def test_gui_browse_shows_every_entry_and_the_reason(store: dict[str, str]) -> None:
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert set(table["name"]) == set(store.values())
    problems = dict(zip(table["name"], table["header problem"], strict=True))
    for folder, reason in REASONS.items():
        assert reason in problems[store[folder]]


def test_proxy_lists_every_model(store: dict[str, str]) -> None:
    with ProxyServer() as proxy:
        response = requests.get(f"{proxy.url}/models", timeout=30)
    assert response.status_code == 200, response.text
    cards = {card["name"]: card for card in response.json()["data"]}
    assert set(cards) == set(store.values())
    for folder, reason in REASONS.items():
        assert reason in cards[store[folder]]["header_problem"]
    for folder in hostile_store.GOOD:
        assert "header_problem" not in cards[store[folder]]


def test_an_unchanged_store_is_not_read_again(store: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second ``list --json`` (a new process: no in-memory cache) takes every fact from disk."""
    first = commands.run("download", ["list", "--json"]).stdout
    assert len(list((tmp_path / "cache" / "header-facts").glob("*.json"))) == len(store)
    local_facts._cached_facts.cache_clear()

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a header was read again")

    monkeypatch.setattr(gguf_reader, "read_header", refuse)
    monkeypatch.setattr(safetensors_reader, "read_header", refuse)
    monkeypatch.setattr(local_facts, "read_regular_file", refuse)
    assert commands.run("download", ["list", "--json"]).stdout == first
    # a changed file is read again
    good = Path(json.loads(first)[[r["name"] for r in json.loads(first)].index(store["good-st"])]["download_path"])
    later = time.time() + 5
    os.utime(good / "model.safetensors", (later, later))
    local_facts._cached_facts.cache_clear()
    rows = {row["name"]: row for row in json.loads(commands.run("download", ["list", "--json"]).stdout)}
    assert "a header was read again" in rows[store["good-st"]]["memory_problem"]
    assert rows[store["good-gguf"]]["memory"]["weight_bytes"] > 0  # the others still from disk


def test_limits_name_the_file_and_cost_nothing(tmp_path: Path) -> None:
    """Each limit is one ValueError line naming the file; the count limit refuses before reading the table."""
    hostile_store.many_tensors_gguf(tmp_path, count=3_000_000 // 100)  # the header announces what it holds
    path = tmp_path / "many-Q4_K_M.gguf"
    raw = bytearray(path.read_bytes())
    raw[8:16] = (3_000_000).to_bytes(8, "little")  # announce 3 M tensor infos
    path.write_bytes(bytes(raw))
    started = time.perf_counter()
    with pytest.raises(gguf_reader.GGUFFormatError, match="3000000 tensors"):
        gguf_reader.read_header(path)
    assert time.perf_counter() - started < 2
    with pytest.raises(bounded_json.JSONLimitError, match="x.json nests deeper than 64 levels"):
        bounded_json.loads("[" * 100_000 + "]" * 100_000, "x.json", max_bytes=1 << 20)
    with pytest.raises(bounded_json.JSONLimitError, match="x.json nests deeper than 64 levels"):
        bounded_json.loads("[" * 200 + "]" * 200, "x.json", max_bytes=1 << 20)
    with pytest.raises(bounded_json.JSONLimitError, match="holds more than 10 values"):
        bounded_json.loads(json.dumps(list(range(11))), "x.json", max_bytes=1 << 20, max_items=10)
    with pytest.raises(bounded_json.JSONLimitError, match="larger than 4 bytes"):
        bounded_json.loads("[1,2]", "x.json", max_bytes=4)
    assert bounded_json.loads('{"a": [1, {"b": 2}]}', "x.json", max_bytes=100) == {"a": [1, {"b": 2}]}
