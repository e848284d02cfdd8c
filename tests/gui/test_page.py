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
    at.text_input(key="rm-variant").input(name).run()
    at.checkbox(key="rm-dry-run").uncheck().run()
    assert at.button(key="rm-run").disabled
    at.radio(key="rm-mode").set_value("purge the entry").run()
    at.checkbox(key="rm-confirm").check().run()
    assert not at.button(key="rm-run").disabled
    at.button(key="rm-run").click().run()
    assert at.success, [e.value for e in at.error]
    assert commands.run("download", ["list", "--json", "--include-logical"]).stdout.strip() == "[]"
