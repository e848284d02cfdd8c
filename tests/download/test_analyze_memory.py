"""``analyze``'s memory estimate against the loopback Hub serving the real Gemma GGUF and
MiniLM snapshot: figures checked by hand from ``gguf.GGUFReader``'s values, only header
ranges fetched (bytes served counted), the ``--json`` shape, ``--gpu-mem`` and the token
kept on the Hub's origin."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from imageworks.providers.huggingface import remote_headers
from tests.download.conftest import GEMMA, MINILM
from tests.memory.hand import GemmaByHand
from tests.model_fixtures import link, write_gguf
from tests.support.cli import cli
from tests.support.hub_server import HubServer
from tests.support.ranges import requested_bytes

GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
CONFIGS = Path(__file__).parent.parent / "data" / "configs"
MiB, GiB = 1024**2, 1024**3


def served(hub: HubServer, pattern: str) -> tuple[list[str | None], int]:
    """The Range headers of the GETs for ``pattern`` and the body bytes the Hub sent."""
    records = [r for r in hub.requests_for(pattern) if r.method == "GET"]
    return [r.headers.get("Range") for r in records], sum(r.body_bytes for r in records)


def safetensors_header_length(path: Path) -> int:
    with path.open("rb") as handle:
        return struct.unpack("<Q", handle.read(8))[0]


@pytest.mark.large
def test_gguf_estimate_matches_a_hand_computation_and_reads_only_the_header(
    hub: HubServer, gemma_gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gpu = int(1.4 * GiB)  # small enough that memory, not the model, limits the f16 context
    data = cli(capsys, "analyze", GEMMA, "--json", "--gpu-mem", "1.4GiB").json()
    hand = GemmaByHand.read(gemma_gguf)
    (item,) = data["memory"]
    assert (item["label"], item["files"], item["problem"]) == ("q4_k_m", [GEMMA_FILE], None)
    found = item["estimate"]
    assert (found["source"], found["architecture"]) == ("gguf", "gemma3")
    assert found["weight_bytes"] == hand.weight_bytes
    assert (found["context_length"], found["layers"], found["sliding_window"]) == (hand.n_ctx, hand.n_layers, hand.window)
    assert set(found["kv_cache"]) == {"f16", "q8_0", "q4_0"}
    f16, q8 = found["kv_cache"]["f16"], found["kv_cache"]["q8_0"]
    assert f16["bytes_per_1k_tokens_all_layers"] == hand.n_layers * hand.f16_token_layer * 1024 == 18 * MiB
    assert q8["bytes_per_1k_tokens_all_layers"] == hand.n_layers * hand.q8_token_layer * 1024
    assert f16["bytes_per_1k_tokens"] == hand.full_layers * hand.f16_token_layer * 1024 == 3 * MiB  # an extra 1k past the window
    assert f16["bytes_per_1k_tokens_past_window"] == hand.full_layers * hand.f16_token_layer * 1024
    assert f16["bytes_at_context_length"] == hand.kv(hand.n_ctx, hand.f16_token_layer) == 111 * MiB
    fits = {fit["cache_type"]: fit for fit in found["fit"]}
    assert set(fits) == {"f16", "q8_0", "q4_0"}
    f16_fit = fits["f16"]
    assert (f16_fit["gpu_bytes"], f16_fit["margin_bytes"]) == (gpu, hand.margin(gpu))
    assert f16_fit["max_context"] == hand.max_context(gpu, hand.f16_token_layer)
    assert 0 < f16_fit["max_context"] < hand.n_ctx and not f16_fit["capped_by_model"]
    assert f16_fit["kv_bytes"] == hand.kv(f16_fit["max_context"], hand.f16_token_layer)
    assert fits["q8_0"]["max_context"] == hand.max_context(gpu, hand.q8_token_layer)
    # Only the header: every GET ranged, at most twice the header's bytes, never the weights.
    ranges, sent = served(hub, f"*/resolve/*/{GEMMA_FILE}")
    size = gemma_gguf.stat().st_size
    assert ranges and all(r and r.startswith("bytes=") and not r.endswith("-") for r in ranges)
    assert hand.data_offset <= requested_bytes(ranges, size) <= 2 * hand.data_offset
    assert sent <= 2 * hand.data_offset + 1  # + the redirect probe's one byte
    assert sent < size // 20


@pytest.mark.large
def test_gguf_estimate_in_text_states_the_margin(hub: HubServer, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "analyze", GEMMA, "--gpu-mem", "24GiB")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert f"  memory q4_k_m ({GEMMA_FILE}): gguf header, gemma3: weights 235.2 MiB, context length 32768" in lines
    assert ("    KV cache f16: 3.0 MiB per extra 1k tokens past the 512-token window (15 of 18 layers slide;"
            " 18.0 MiB per 1k on every layer)") in lines
    assert any(line.startswith("    KV cache q8_0: 1.6 MiB per extra 1k tokens") for line in lines)
    # the server as llama-server starts it when told nothing: 32k context, 4 slots, unified, f16
    assert ("    server total 424.4 MiB = weights 235.2 MiB + KV 133.5 MiB + compute 51.8 MiB + output 4.0 MiB"
            " (llama.cpp: 32768 tokens, 4 slot(s), f16 cache; engine defaults for context, parallel, cache_type)") in lines
    assert ("    on 24.0 GiB (margin 3.4 GiB = 1.0 GiB + 10%): f16 32768 tokens (model maximum), "
            "q8_0 32768 tokens (model maximum), q4_0 32768 tokens (model maximum)") in lines
    without = cli(capsys, "analyze", GEMMA).out
    assert "KV cache f16" in without and "margin" not in without
    (item,) = cli(capsys, "analyze", GEMMA, "--context", "4096", "--parallel", "1", "--cache-type", "q8_0", "--json").json()["memory"]
    chosen = item["estimate"]
    assert chosen["serving"]["context"] == 4096 and chosen["serving"]["parallel"] == 1 and chosen["serving"]["defaulted"] == []
    assert chosen["total_bytes"] == chosen["serving"]["total_bytes"] == sum(
        chosen["serving"][k] for k in ("weight_bytes", "kv_bytes", "compute_bytes", "output_bytes"))
    assert chosen["serving"]["kv_bytes"] == 3 * 4096 * 544 + 15 * 1024 * 544  # 1024 SWA cells for one slot
    bad = cli(capsys, "analyze", GEMMA, "--cache-type", "fp8")
    assert bad.code == 0 and "server total: not estimated (cache type 'fp8' is not one llama.cpp offers" in bad.out


@pytest.mark.large
def test_minilm_weights_from_the_safetensors_header_only(hub: HubServer, minilm_dir: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    data = cli(capsys, "analyze", MINILM, "--json", "--gpu-mem", "4GiB").json()
    (item,) = data["memory"]
    assert (item["label"], item["files"], item["problem"]) == ("safetensors", ["model.safetensors"], None)
    weights = minilm_dir / "model.safetensors"
    header = safetensors_header_length(weights)
    found = item["estimate"]
    assert found["weight_bytes"] == weights.stat().st_size - 8 - header
    config = json.loads((minilm_dir / "config.json").read_text())
    assert (found["source"], found["architecture"], found["context_length"]) == ("config.json", "bert", config["max_position_embeddings"])
    assert found["kv_cache"] == {} and "encoder" in found["no_kv_cache_reason"]
    assert [fit["max_context"] for fit in found["fit"]] == [512]
    ranges, sent = served(hub, "*/resolve/*/model.safetensors")
    assert all(r and not r.endswith("-") for r in ranges)
    assert requested_bytes(ranges, weights.stat().st_size) <= max(remote_headers.SAFETENSORS_FIRST, 8 + header)
    assert sent <= remote_headers.SAFETENSORS_FIRST + 1


@pytest.mark.large
def test_sharded_safetensors_with_a_decoder_config(hub: HubServer, minilm_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Qwen2.5-0.5B's real config beside two shards (MiniLM's real header twice): weights
    summed over the shards' headers, KV from the config (24 layers x 2 KV heads x 64)."""
    repo = tmp_path / "hub-src" / "sharded"
    repo.mkdir(parents=True)
    (repo / "config.json").write_text((CONFIGS / "qwen2.5-0.5b.config.json").read_text())
    for part in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        link(minilm_dir / "model.safetensors", repo / part)
    hub.add_repo("acme/sharded", repo)
    (item,) = cli(capsys, "analyze", "acme/sharded", "--json").json()["memory"]
    weights = minilm_dir / "model.safetensors"
    assert item["files"] == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    assert item["estimate"]["weight_bytes"] == 2 * (weights.stat().st_size - 8 - safetensors_header_length(weights))
    assert set(item["estimate"]["kv_cache"]) == {"f16", "fp8"}
    assert item["estimate"]["kv_cache"]["f16"]["bytes_per_1k_tokens"] == 24 * 2 * 64 * 2 * 2 * 1024
    assert item["estimate"]["kv_cache"]["fp8"]["bytes_per_1k_tokens"] == 24 * 2 * 64 * 2 * 1 * 1024
    assert item["estimate"]["fit"] == []


def test_several_quants_one_item_each_and_a_damaged_header_is_a_problem(
    hub_server: HubServer, hf_client_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "hub-src" / "quants"
    write_gguf(repo / "tiny-Q4_K_M.gguf", file_type=15)
    write_gguf(repo / "tiny-Q8_0.gguf", file_type=7)
    whole = write_gguf(tmp_path / "whole.gguf", file_type=1).read_bytes()
    (repo / "tiny-F16.gguf").write_bytes(whole[:40])  # a header cut short
    hub_server.add_repo("acme/tiny-gguf", repo)
    result = cli(capsys, "analyze", "acme/tiny-gguf", "--json")
    assert result.code == 0, result.err
    items = {item["label"]: item for item in result.json()["memory"]}
    assert set(items) == {"q4_k_m", "q8_0", "f16"}
    assert items["f16"]["estimate"] is None and items["f16"]["problem"].startswith("tiny-F16.gguf: truncated")
    for label in ("q4_k_m", "q8_0"):
        # write_gguf's one tensor: 4 x 8 float32; llama without its keys: no KV estimate
        assert items[label]["estimate"]["weight_bytes"] == 4 * 8 * 4
        assert items[label]["estimate"]["kv_cache"] == {} and items[label]["estimate"]["no_kv_cache_reason"]
    text = cli(capsys, "analyze", "acme/tiny-gguf").out
    assert "  memory f16 (tiny-F16.gguf): not estimated: " in text


def test_a_header_past_the_limit_is_not_read_further(hub_server: HubServer, hf_client_env: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "hub-src" / "vocab"
    write_gguf(repo / "big-vocab-Q4_K_M.gguf", tokens=40_000)  # ~600 KB of tokenizer in the header
    hub_server.add_repo("acme/big-vocab", repo)
    monkeypatch.setattr(remote_headers, "GGUF_FIRST", 64 * 1024)
    monkeypatch.setattr(remote_headers, "GGUF_LIMIT", 256 * 1024)
    (item,) = cli(capsys, "analyze", "acme/big-vocab", "--json").json()["memory"]
    assert item["estimate"] is None and "runs past" in item["problem"]
    ranges, sent = served(hub_server, "*/resolve/*.gguf")
    assert sent <= 256 * 1024 + 1
    assert requested_bytes(ranges, (repo / "big-vocab-Q4_K_M.gguf").stat().st_size) <= 256 * 1024


@pytest.mark.large
def test_token_stays_on_the_hub_when_lfs_redirects_to_a_cdn(hub: HubServer, monkeypatch: pytest.MonkeyPatch,
                                                            gemma_gguf: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    gated = tmp_path / "hub-src" / "gated"
    link(gemma_gguf, gated / GEMMA_FILE)
    hub.add_repo("acme/gated-gemma", gated, token="hf_secret")
    hub.lfs_redirect = True
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    (item,) = cli(capsys, "analyze", "acme/gated-gemma", "--json").json()["memory"]
    assert item["estimate"]["weight_bytes"] == GemmaByHand.read(gemma_gguf).weight_bytes
    resolved = hub.requests_for(f"/acme/gated-gemma/resolve/*/{GEMMA_FILE}")
    assert resolved and all(r.headers.get("Authorization") == "Bearer hf_secret" for r in resolved)
    cdn = hub.requests_for("/__cdn__/*")
    assert cdn and not any("Authorization" in r.headers for r in cdn)


@pytest.mark.parametrize("value", ["lots", "24XB", "0", "-1GiB", "GiB", "24iB"])
def test_bad_gpu_mem_is_one_error_line_and_no_request(hub_server: HubServer, hf_client_env: Path, value: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "analyze", "acme/anything", "--gpu-mem", value)
    assert result.code == 1 and result.out == ""
    (line,) = result.err.strip().splitlines()
    assert line.startswith("Error:") and "--gpu-mem" in line
    assert hub_server.requests == []


def test_no_memory_lists_each_quants_files_and_reads_no_weight_bytes(
    hub_server: HubServer, hf_client_env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = tmp_path / "hub-src" / "split"
    parts = ["tiny-Q4_K_M-00001-of-00002.gguf", "tiny-Q4_K_M-00002-of-00002.gguf"]
    for number, part in enumerate(parts, start=1):
        write_gguf(repo / part, file_type=15, split=(number, 2))
    write_gguf(repo / "tiny-Q8_0.gguf", file_type=7)
    hub_server.add_repo("acme/split-gguf", repo)
    data = cli(capsys, "analyze", "acme/split-gguf", "--json", "--files", "--no-memory").json()
    assert data["gguf_quants"] == ["q4_k_m", "q8_0"]
    assert data["gguf_quant_files"] == {"q4_k_m": parts, "q8_0": ["tiny-Q8_0.gguf"]}
    assert data["memory"] == [] and len(data["files"]) == 3
    assert served(hub_server, "*/resolve/*.gguf") == ([], 0)  # metadata only: no header read
    text = cli(capsys, "analyze", "acme/split-gguf", "--no-memory")
    assert text.code == 0 and "GGUF quantisations: q4_k_m, q8_0" in text.out and "memory" not in text.out
    with_memory = cli(capsys, "analyze", "acme/split-gguf", "--json").json()  # the same map with the estimate
    assert with_memory["gguf_quant_files"] == data["gguf_quant_files"]
    assert {item["label"]: item["files"] for item in with_memory["memory"]} == data["gguf_quant_files"]


def test_no_memory_with_gpu_mem_is_one_error_line_and_no_request(
    hub_server: HubServer, hf_client_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cli(capsys, "analyze", "acme/anything", "--no-memory", "--gpu-mem", "24GiB")
    assert result.code == 1 and result.out == ""
    (line,) = result.err.strip().splitlines()
    assert "--no-memory" in line and "--gpu-mem" in line
    assert hub_server.requests == []
