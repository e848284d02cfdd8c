"""The reachability probe against loopback servers: up, down, slow, wrong answer."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from imageworks.services.serve.probe import models_url, probe
from tests.ollama.helpers import FakeOllamaServer, tags_entry
from tests.support.model_list_server import ModelListServer


@pytest.fixture
def openai_style() -> Iterator[ModelListServer]:
    with ModelListServer(["m1", "m2"]) as server:
        yield server


def test_models_url_of_each_kind() -> None:
    assert models_url("http://h:11434/", "ollama") == "http://h:11434/api/tags"
    assert models_url("http://h:8000", "openai") == "http://h:8000/v1/models"
    assert models_url("http://h:8000/v1/", "openai") == "http://h:8000/v1/models"


def test_an_ollama_server_lists_its_models() -> None:
    with FakeOllamaServer() as server:
        server.models = [tags_entry("gemma3:270m", "0" * 64), tags_entry("llama3:8b", "1" * 64)]
        result = probe(server.url, "ollama")
    assert result.reachable and result.models == ("gemma3:270m", "llama3:8b") and result.error is None
    assert server.requests == ["GET /api/tags"]


def test_an_openai_style_server_with_or_without_v1(openai_style: ModelListServer) -> None:
    url = openai_style.url
    assert probe(url, "openai").models == ("m1", "m2")
    assert probe(url + "/v1", "openai").reachable


def test_answers_that_are_not_a_model_list(openai_style: ModelListServer) -> None:
    url = openai_style.url
    assert probe(url, "ollama").error == "HTTP 404 Not Found"  # an OpenAI server is no Ollama
    openai_style.body = b"<html>not json</html>"
    result = probe(url, "openai")
    assert not result.reachable and result.error
    openai_style.body = {"models": []}
    assert probe(url, "openai").error == "the answer has no 'data' list"
    openai_style.status, openai_style.body = 503, {"error": "loading"}
    assert probe(url, "openai").error == "HTTP 503 Service Unavailable"


def test_a_closed_port_and_a_silent_server_are_unreachable_quickly() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    refused = probe(f"http://127.0.0.1:{port}", "ollama")
    assert not refused.reachable and "refused" in (refused.error or "").lower()
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        started = time.monotonic()
        result = probe(f"http://127.0.0.1:{silent.getsockname()[1]}", "openai", timeout=0.3)
        assert time.monotonic() - started < 2
    assert not result.reachable and result.error == "timed out"
