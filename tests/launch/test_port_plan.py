"""One port plan: for every variant, ``serve-vllm``, ``serve-lmdeploy`` and
``serve-llama-server`` (``--print``), the chat proxy's routing, ``export litellm``, the
GUI's Backends tab (from ``list --json``) name the same endpoint, and ``export
llama-swap``'s command serves the same id with the same context and slots as
``serve-*``; a clash is refused by serve-* and left out of the exports, naming the fix."""

from __future__ import annotations

import shlex

import pytest
import yaml

from imageworks.app import open_registry
from imageworks.core.model import RegistryEntry
from imageworks.gui.tabs.backends import configured_servers
from imageworks.proxy.catalog import routable
from imageworks.services.serve.endpoints import variant_port
from tests.launch.conftest import GEMMA, MINILM
from tests.support.cli import cli


def printed_port(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    result = cli(capsys, *args, "--print")
    assert result.code == 0, result.err
    argv = shlex.split(result.out)
    flag = "--server-port" if "--server-port" in argv else "--port"
    return int(argv[argv.index(flag) + 1]), argv


def test_every_piece_names_the_same_endpoint(tiny_llama: str, capsys: pytest.CaptureFixture[str]) -> None:
    entries = {e.name: e for e in open_registry().entries()}
    tiny = tiny_llama
    stacks = {GEMMA: ["serve-llama-server", "serve-vllm"], MINILM: ["serve-vllm"], tiny: ["serve-vllm", "serve-lmdeploy"]}
    proxy = {entry.name: endpoint.base_url for entry, endpoint in routable(entries.values(), "http://127.0.0.1:11434")}
    litellm = {m["model_name"]: m["litellm_params"]["api_base"]
               for m in yaml.safe_load(cli(capsys, "export", "litellm").out)["model_list"]}
    rows = cli(capsys, "list", "--json").json()
    gui = {name: url for (_, url), names in configured_servers({}, rows).items() for name in names}
    swap = yaml.safe_load(cli(capsys, "export", "llama-swap").out)["models"]
    ports = set()
    for name, commands in stacks.items():
        expected = f"http://127.0.0.1:{variant_port(name)}/v1"
        for command in commands:
            port, argv = printed_port(capsys, command, name)
            assert f"http://127.0.0.1:{port}/v1" == expected, (command, name)
        assert proxy[name] == litellm[name] == gui[name] == expected
        served = shlex.split(swap[name]["cmd"])
        own = printed_port(capsys, commands[0], name)[1]
        for flag in ("--ctx-size", "--parallel", "--max-model-len", "--session-len"):  # the same plan pinned
            if flag in own:
                assert served[served.index(flag) + 1] == own[own.index(flag) + 1], (name, flag)
        assert name in served  # llama-swap asks for the variant's own id
        ports.add(variant_port(name))
    assert len(ports) == len(stacks)  # never two defaults on one port


def test_the_plan_follows_configuration(registry: dict[str, RegistryEntry], capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEWORKS_SERVE_PORTS", "21000-21999")
    port, _ = printed_port(capsys, "serve-llama-server", GEMMA)
    assert 21000 <= port <= 21999 and port == variant_port(GEMMA)
    open_registry().update(GEMMA, lambda current: {"backend_config": {**current.backend_config.extra, "port": 9123}})
    assert printed_port(capsys, "serve-llama-server", GEMMA)[0] == 9123
    (gemma,) = [m for m in yaml.safe_load(cli(capsys, "export", "litellm").out)["model_list"] if m["model_name"] == GEMMA]
    assert gemma["litellm_params"]["api_base"] == "http://127.0.0.1:9123/v1"
    monkeypatch.setenv("IMAGEWORKS_SERVE_PORTS", "80-70")
    bad = cli(capsys, "serve-vllm", MINILM, "--print")
    assert bad.code == 1 and bad.err.startswith("Error: IMAGEWORKS_SERVE_PORTS='80-70' is not a port range")


def test_a_clash_is_refused_with_the_fix(registry: dict[str, RegistryEntry], capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEWORKS_SERVE_PORTS", "18500-18500")  # every variant lands on one port
    refused = cli(capsys, "serve-llama-server", GEMMA, "--print")
    assert refused.code == 1 and refused.out == ""
    assert f"{GEMMA} and {MINILM} are both planned on port 18500" in refused.err and "backend_config.port" in refused.err
    assert cli(capsys, "serve-llama-server", GEMMA, "--print", "--port", "18501").code == 0  # an explicit port is the user's call
    exported = cli(capsys, "export", "litellm")
    assert yaml.safe_load(exported.out)["model_list"] == []
    assert "planned on the same port as" in exported.err
