"""The Models page under Streamlit's AppTest: tabs, command previews, dry-run default, gates."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from imageworks.gui import commands
from imageworks.gui.launcher import PAGE
from tests.support.fixtures import write_tiny_repo


def page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=30)
    at.run()
    assert not at.exception
    return at


def test_the_five_tabs_and_an_empty_registry() -> None:
    at = page()
    assert [t.label for t in at.tabs] == ["📚 Browse & Manage", "📥 Download & Import", "🔧 Registry Maintenance", "🔌 Backends", "⚙️ Advanced Operations"]
    assert any("No variants match" in i.value for i in at.info)


def test_download_form_previews_a_dry_run(tmp_path: Path) -> None:
    at = page()
    at.text_input(key="dl-model").input("org/model").run()
    assert at.checkbox(key="dl-dry-run").value is True
    assert any(c.value == "imageworks-download download --non-interactive --dry-run -- org/model" for c in at.code)


def test_remove_needs_confirmation_and_changes_the_registry(tmp_path: Path) -> None:
    write_tiny_repo(tmp_path / "scan" / "org" / "tiny")
    assert commands.run("download", ["scan", "--base", str(tmp_path / "scan")]).exit_code == 0
    at = page()
    assert at.dataframe[0].value.shape[0] == 1
    name = at.dataframe[0].value["name"][0]
    assert at.selectbox(key="rm-variant").options == [name]  # picked from the registry, as Verify does
    at.selectbox(key="rm-variant").set_value(name).run()
    at.checkbox(key="rm-dry-run").uncheck().run()
    assert at.button(key="rm-run").disabled
    at.radio(key="rm-mode").set_value("entry only (files stay on disk)").run()
    at.checkbox(key="rm-confirm").check().run()
    assert not at.button(key="rm-run").disabled
    at.button(key="rm-run").click().run()
    assert at.success, [e.value for e in at.error]
    assert commands.run("download", ["list", "--json", "--include-logical"]).stdout.strip() == "[]"


def test_remove_files_and_entry_deletes_both(tmp_path: Path) -> None:
    from imageworks.app import open_registry
    from imageworks.model_loader.download_adapter import record_download

    folder = tmp_path / "weights" / "org" / "tiny"
    write_tiny_repo(folder)
    name = record_download("org/tiny", "vllm", "safetensors", None, folder, "linux_wsl").name
    at = page()
    at.selectbox(key="rm-variant").set_value(name).run()
    at.radio(key="rm-mode").set_value("files and entry").run()
    assert "imageworks-download remove --delete-files --purge --dry-run -- " + name in [c.value for c in at.code]
    at.checkbox(key="rm-dry-run").uncheck().run()
    at.checkbox(key="rm-confirm").check().run()
    assert "imageworks-download remove --delete-files --purge --force -- " + name in [c.value for c in at.code]
    at.button(key="rm-run").click().run()
    assert at.success, [e.value for e in at.error]
    assert not folder.exists() and open_registry().find(name) is None


def test_no_plugin_box_when_every_plugin_loaded(monkeypatch) -> None:
    monkeypatch.setenv("IMAGEWORKS_DISABLE_PLUGINS", "broken")  # the dev group's broken-on-purpose test plugin
    from imageworks.core import plugins
    from imageworks.gui.widgets import plugin_host

    plugins.reset_plugins()
    plugin_host.clear()  # Streamlit keeps the host of an earlier test
    try:
        at = page()
        assert not at.sidebar.error and not at.sidebar.success and not at.sidebar.header
    finally:
        plugins.reset_plugins()
        plugin_host.clear()


def test_code_boxes_wrap_long_lines(tmp_path: Path) -> None:
    at = page()
    at.text_input(key="dl-model").input("org/" + "x" * 300).run()
    (box,) = [c for c in at.code if "org/xxx" in c.value]
    assert box.proto.wrap_lines
