"""The plugin host survives a raising router and refuses to run without its essential plugins."""

from __future__ import annotations

import pluggy
import pytest

from imageworks import hookimpl
from imageworks.core import hookspecs, plugins
from imageworks.core.config import load_config
from imageworks.core.model import PluginRecord, Route, RouteRequest
from imageworks.core.plugins import EssentialPluginError, PluginHost
from tests.support.cli import cli

GGUF = RouteRequest(model_id="acme/tiny", format_type="gguf")


class _RaisingRouter:
    @hookimpl(tryfirst=True)
    def imageworks_route_location(self, request, config):  # type: ignore[no-untyped-def]
        raise RuntimeError("router exploded")


class _Answering:
    def __init__(self, label: str) -> None:
        self.label = label
        self.calls = 0

    @hookimpl
    def imageworks_route_location(self, request, config):  # type: ignore[no-untyped-def]
        self.calls += 1
        return Route(label=self.label, root="/" + self.label)


class _Declining:
    calls = 0

    @hookimpl(tryfirst=True)
    def imageworks_route_location(self, request, config):  # type: ignore[no-untyped-def]
        type(self).calls += 1
        return None


def test_a_raising_router_is_recorded_and_the_next_one_answers() -> None:
    host = plugins.get_plugins()
    host.pm.register(_RaisingRouter(), name="exploding-router")
    route = host.route(GGUF, load_config())
    assert route is not None and route.label == "windows_lmstudio"  # the built-in router answered
    record = {r.name: r for r in host.records()}["exploding-router"]
    assert record.status == "failed" and "router exploded" in (record.error or "")


def test_routers_keep_pluggy_order_and_firstresult() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    host = PluginHost(pm, {})
    first, later = _Answering("first"), _Answering("later")
    pm.register(later, name="later")  # pluggy calls the last registered first
    pm.register(first, name="first")
    pm.register(_Declining(), name="declining")  # tryfirst, but says "not mine"
    pm.register(_RaisingRouter(), name="raising")
    host._records["raising"] = PluginRecord(name="raising", module="t", distribution=None, version=None, status="loaded")
    route = host.route(GGUF, None)
    assert route is not None and route.label == "first"
    assert (first.calls, later.calls, _Declining.calls) == (1, 0, 1)
    assert host._records["raising"].status == "failed"


def test_no_router_answer_is_none() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_RaisingRouter(), name="raising")
    assert PluginHost(pm, {}).route(GGUF, None) is None


@pytest.mark.parametrize("name", ["registry-json", "cli-inventory", "cli-admin"])
def test_essential_plugins_refuse_to_be_disabled(name: str, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", f"detect-names, {name}")
    with pytest.raises(EssentialPluginError, match=name):
        PluginHost.load()
    result = cli(capsys, "list")
    assert result.code == 1 and result.out == ""
    assert result.err.count("\n") == 1 and result.err.startswith("Error: ")
    assert f"'{name}' is essential and cannot be disabled" in result.err
    assert "IMAGEWORKS_DISABLE_PLUGINS" in result.err


def test_disabling_sources_and_detectors_still_works(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "source-ollama, detect-names")
    records = {r.name: r for r in plugins.get_plugins().records()}
    assert records["detect-names"].status == records["source-ollama"].status == "disabled"
    result = cli(capsys, "list", "--json")
    assert result.code == 0, result.err
    assert result.json() == []
