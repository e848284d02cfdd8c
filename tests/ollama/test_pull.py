"""``download ollama://name:tag``: the server pulls (streamed progress), then the model is imported."""

from __future__ import annotations

from typing import Any

import pytest

from imageworks.core.config import load_config
from imageworks.core.plugins import get_plugins
from imageworks.core.transfers import TransferProgress
from imageworks.providers.ollama.pull import pull_model
from imageworks.providers.ollama.refs import pull_name
from imageworks.transfer import progress as progress_module
from tests.ollama.helpers import FakeOllamaServer, FakeOllamaStore
from tests.ollama.pull_server import PullBehaviour, serve_pulls
from tests.support.cli import cli
from tests.support.fixtures import TINY_REPO, hf_client_env, hub_server, tiny_repo  # noqa: F401  (fixtures)

NAME = "tiny:1b"
VARIANT = "tiny-1b-ollama-gguf-q4_k_m"


@pytest.fixture
def puller(use_server: FakeOllamaServer, store: FakeOllamaStore, tiny_gguf) -> PullBehaviour:
    """The loopback server can pull ``tiny:1b`` (a small Q4_K_M GGUF) into ``store``."""
    return serve_pulls(use_server, store, PullBehaviour(library={NAME: tiny_gguf()}))


def pulls(server: FakeOllamaServer) -> list[str]:
    return [r for r in server.requests if r.startswith("POST /api/pull")]


def error_line(result: Any) -> str:
    """The one error line of a failed run (progress lines may precede it on stderr)."""
    assert result.code == 1
    errors = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and result.err.strip().endswith(errors[0]), result.err
    return errors[0]


def recorded() -> dict[str, Any]:
    from imageworks.app import open_registry

    return {e.name: e for e in open_registry(load_config()).entries()}


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [
        ("ollama://llama3", "llama3"),
        ("ollama://llama3:8b", "llama3:8b"),
        ("llama3:8b", "llama3:8b"),
        ("library/llama3:8b-instruct-q4_K_M", "library/llama3:8b-instruct-q4_K_M"),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"),
        ("llama3", None),  # no tag: could be anything
        ("owner/repo", None),  # a Hub id
        ("owner/repo@main", None),
        ("a/b/c:t", None),  # three segments need a dotted host
        ("https://huggingface.co/owner/repo", None),
        ("x:", None),
    ],
)
def test_identifier_rule(identifier: str, expected: str | None) -> None:
    assert pull_name(identifier) == expected


def test_ollama_is_asked_before_the_hub() -> None:
    host = get_plugins()
    assert host.source_for("llama3:8b").name == "ollama"
    assert host.source_for("ollama://llama3").name == "ollama"
    assert host.source_for("owner/repo").name == "huggingface"
    assert host.source_for("owner/repo@main").name == "huggingface"


def test_download_pulls_and_records(capsys, puller: PullBehaviour, use_server: FakeOllamaServer, monkeypatch) -> None:
    seen: list[TransferProgress] = []

    class Recording(progress_module.ProgressReporter):
        def __call__(self, update: TransferProgress) -> None:
            seen.append(update)
            super().__call__(update)

    monkeypatch.setattr(progress_module, "ProgressReporter", Recording)
    result = cli(capsys, "download", f"ollama://{NAME}")
    assert result.code == 0, result.err
    assert f"Downloaded {NAME} as {VARIANT}" in result.out
    assert puller.pulled == [NAME]
    entry = recorded()[VARIANT]
    assert (entry.served_model_id, entry.source_provider, entry.backend) == (NAME, "ollama", "ollama")
    assert entry.download_path.endswith("sha256-" + entry.artifacts.files[0].sha256)
    done = [u.bytes_done for u in seen]
    assert len(done) >= 3 and done == sorted(done) and done[-1] == seen[-1].bytes_total > 0
    assert seen[-1].files_done == seen[-1].files_total == 1


def test_download_matches_import_ollama(capsys, puller: PullBehaviour) -> None:
    """The pulled model is recorded exactly as import-ollama records it."""
    assert cli(capsys, "download", NAME, "--json").code == 0
    pulled = recorded()[VARIANT]
    assert cli(capsys, "import-ollama", "--json").json()["counts"]["unchanged"] == 1
    assert recorded()[VARIANT] == pulled


def test_json_output_and_rerun_is_already_downloaded(capsys, puller: PullBehaviour, use_server) -> None:
    first = cli(capsys, "download", NAME, "--json")
    assert first.code == 0, first.err
    data = first.json()
    assert data["name"] == VARIANT and data["served_model_id"] == NAME and data["skipped"] is False
    again = cli(capsys, "download", f"ollama://{NAME}")
    assert again.code == 0 and f"Already downloaded: {VARIANT}" in again.out
    assert len(pulls(use_server)) == 1  # the re-run asked /api/show only
    assert cli(capsys, "download", NAME, "--json").json()["skipped"] is True


def test_dry_run_pulls_nothing(capsys, puller: PullBehaviour, use_server: FakeOllamaServer) -> None:
    text = cli(capsys, "download", f"ollama://{NAME}", "--dry-run")
    assert text.code == 0, text.err
    assert f"Would pull {NAME} through the Ollama server at {use_server.url} (not on the server yet)" in text.out
    plan = cli(capsys, "download", NAME, "--dry-run", "--json").json()
    assert (plan["source"], plan["model"], plan["host"], plan["action"]) == ("ollama", NAME, use_server.url, "pull")
    assert plan["present_on_server"] is False and plan["files"] == [] and plan["will_download"]["bytes"] is None
    assert pulls(use_server) == [] and recorded() == {}


def test_missing_model_404(capsys, use_server: FakeOllamaServer, store: FakeOllamaStore) -> None:
    serve_pulls(use_server, store, PullBehaviour(not_found_status=404))
    result = cli(capsys, "download", "ollama://nosuch:1b")
    assert result.code == 1
    assert "Ollama has no model 'nosuch:1b'" in result.err and "file does not exist" in result.err
    assert error_line(result) and recorded() == {}


def test_missing_model_in_stream(capsys, use_server: FakeOllamaServer, store: FakeOllamaStore) -> None:
    serve_pulls(use_server, store, PullBehaviour())
    result = cli(capsys, "download", "nosuch:1b")
    assert result.code == 1 and "Ollama has no model 'nosuch:1b'" in result.err
    assert error_line(result)


def test_stream_error_object(capsys, use_server: FakeOllamaServer, store: FakeOllamaStore, tiny_gguf) -> None:
    serve_pulls(use_server, store, PullBehaviour(library={NAME: tiny_gguf()}, fail_with="max retries exceeded: EOF"))
    result = cli(capsys, "download", NAME)
    assert result.code == 1
    assert f"could not pull {NAME}: max retries exceeded: EOF" in result.err
    assert error_line(result) and recorded() == {}


def test_dropped_connection(capsys, use_server: FakeOllamaServer, store: FakeOllamaStore, tiny_gguf) -> None:
    serve_pulls(use_server, store, PullBehaviour(library={NAME: tiny_gguf()}, drop_after=2))
    result = cli(capsys, "download", NAME)
    assert result.code == 1
    assert "dropped while pulling" in result.err and "resumes partial pulls" in result.err
    assert error_line(result) and recorded() == {}


def test_server_down(capsys) -> None:  # OLLAMA_HOST points at a closed port (no_real_ollama)
    for args in (("download", f"ollama://{NAME}"), ("download", NAME, "--dry-run")):
        result = cli(capsys, *args)
        assert result.code == 1
        assert "cannot reach the Ollama server at http://127.0.0.1:" in result.err and "OLLAMA_HOST" in result.err
        assert error_line(result)


def test_pull_progress_is_reported(puller: PullBehaviour, use_server: FakeOllamaServer) -> None:
    seen: list[TransferProgress] = []
    pull_model(use_server.url, NAME, seen.append)
    assert [u.bytes_done for u in seen] == sorted(u.bytes_done for u in seen)
    assert seen[-1].bytes_done == seen[-1].bytes_total == len(puller.library[NAME])


def test_disabled_plugin(capsys, monkeypatch, tiny_repo, hf_client_env) -> None:  # noqa: F811
    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "source-ollama")
    for identifier in (f"ollama://{NAME}", NAME):
        line = error_line(cli(capsys, "download", identifier))
        assert "source-ollama" in line and "IMAGEWORKS_DISABLE_PLUGINS" in line
    hub = cli(capsys, "download", TINY_REPO, "--dry-run", "--json")
    assert hub.code == 0, hub.err
    assert hub.json()["source"] == "huggingface" and hub.json()["files"]


def test_rerun_pulls_again_when_the_tag_moved(capsys, puller: PullBehaviour, use_server: FakeOllamaServer) -> None:
    assert cli(capsys, "download", NAME).code == 0
    use_server.blobs[NAME] = use_server.blobs[NAME][: -64] + "0" * 64  # the server now serves another blob
    assert "Already downloaded" not in cli(capsys, "download", NAME).out
    assert len(pulls(use_server)) == 2


def test_dry_run_when_present_and_location_label(capsys, puller: PullBehaviour, use_server) -> None:
    assert cli(capsys, "download", NAME).code == 0
    plan = cli(capsys, "download", NAME, "--dry-run", "--json", "--location", "linux_wsl").json()
    assert plan["present_on_server"] is True and plan["location"] == "linux_wsl"
    assert plan["registry_entries"] == [VARIANT]
    assert cli(capsys, "download", NAME, "--location", "linux_wsl").code == 0
    assert recorded()[VARIANT].download_location == "linux_wsl"
    assert "an Ollama pull lands in the server's own store" in error_line(cli(capsys, "download", NAME, "--location", "/tmp/x"))


def test_library_namespace_is_the_same_model(capsys, puller: PullBehaviour, use_server: FakeOllamaServer) -> None:
    puller.library["library/tiny:1b"] = puller.library[NAME]
    result = cli(capsys, "download", "library/tiny:1b", "--json")
    assert result.code == 0, result.err
    assert result.json()["name"] == VARIANT and result.json()["served_model_id"] == NAME
    assert "Already downloaded" in cli(capsys, "download", f"ollama://{NAME}").out


def test_hugging_face_gguf_through_ollama(capsys, puller: PullBehaviour, use_server: FakeOllamaServer) -> None:
    name = "hf.co/acme/Tiny-GGUF:Q4_K_M"
    puller.library[name] = puller.library[NAME]
    result = cli(capsys, "download", name, "--json")
    assert result.code == 0, result.err
    assert result.json()["served_model_id"] == name and result.json()["source_provider"] == "ollama"
    assert pulls(use_server) == [f"POST /api/pull {name}"]
