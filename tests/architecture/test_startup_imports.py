"""Start-up imports only what the command needs: ``--help`` loads no heavy library and no use case.

Every command group is a plugin that the program imports to build ``--help``, so a heavy
import at the top of a command module is paid by every command. These tests run the
console script's code in a fresh interpreter and read ``sys.modules`` afterwards: what a
command imports, not how long it takes (speed is measured in ``benchmarks/``).

The console scripts end without the interpreter's teardown (``exit_now``); the tests at the
end run the real console script through pipes and check that nothing is lost by that:
output, exit status, the registry written and the log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imageworks.cli import _memory, cleanup, entry, export, launch, share
from imageworks.core import memory_facts
from imageworks.services.maintain import slugs
from imageworks.services.memory import estimate, serving
from imageworks.services.serve import commands
from imageworks.services.share import dedupe, stores
from tests.support.fixtures import TINY_REPO, hf_client_env, hub_server, tiny_repo, write_tiny_repo  # noqa: F401  (fixtures)
from tests.support.hub_server import HubServer

#: Libraries no command needs to start, list a registry or print help (stevedore and
#: importlib.metadata do load: stevedore discovers the plugins, as the design says).
HEAVY = (
    "yaml", "huggingface_hub", "requests", "urllib3", "httpx", "rich", "gguf", "numpy", "psycopg", "urllib.request",
)
#: What the Hub's metadata costs to import with the official client (``docs/dependencies.md``):
#: neither a download's metadata step nor ``analyze`` loads any of it.
HTTP_LIBRARIES = ("huggingface_hub", "httpx", "httpx2", "httpcore", "httpcore2", "requests", "urllib3")
#: Use cases only the commands that run them import.
SERVICES = (
    "imageworks.services.maintain",
    "imageworks.services.serve",
    "imageworks.services.share.dedupe",
    "imageworks.services.share.expose",
    "imageworks.services.share.checks",
    "imageworks.services.share.stores",
    "imageworks.services.memory",
    "imageworks.services.acquire",
    "imageworks.transfer",
    "imageworks.formats.gguf_reader",
    "imageworks.formats.safetensors_reader",
)
#: What ``--help`` (of the program or of a command) does not need: the registry and its
#: converter (cattrs), the plans and transfers of a download, the listing services.
NOT_FOR_HELP = (
    "cattrs",
    "imageworks.core.convert",
    "imageworks.core.registry",
    "imageworks.core.plans",
    "imageworks.core.source_inputs",
    "imageworks.core.transfers",
    "imageworks.core.memory_facts",
    "imageworks.services.listing.query",
)

PROBE = """
import json, sys
from imageworks.cli.main import run
code = run("download", sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported_by(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, extra: dict[str, str] | None = None
) -> set[str]:
    """The modules loaded by ``imageworks-download ARGS`` (run in a fresh interpreter).

    ``env`` replaces the environment; ``extra`` adds to the default one.
    """
    env = env or {
        **os.environ,
        "IMAGEWORKS_REGISTRY_DIR": str(tmp_path / "registry"),
        "IMAGEWORKS_LOG_DIR": str(tmp_path / "logs"),
        "HOME": str(tmp_path),
        **(extra or {}),
    }
    for _ in range(2):  # the first start fills stevedore's entry-point cache; the second is the one every later start is
        done = subprocess.run(
            [sys.executable, "-c", PROBE, *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, done.stderr
    return set(report["modules"])


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules for name in names if m == name or m.startswith(name + "."))


@pytest.mark.parametrize("args", [("--help",), ("list",), ("list", "--help"), ("download", "--help")])
def test_start_up_imports_no_heavy_library_and_no_unused_use_case(tmp_path: Path, args: tuple[str, ...]) -> None:
    modules = imported_by(tmp_path, *args)
    assert "imageworks.cli.cleanup" in modules  # every command group was registered
    assert loaded(modules, HEAVY) == []
    assert loaded(modules, SERVICES) == []


@pytest.mark.parametrize("args", [("--help",), ("list", "--help"), ("download", "--help"), ("share", "--help")])
def test_help_loads_no_converter_registry_or_plan(tmp_path: Path, args: tuple[str, ...]) -> None:
    builtins_only = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(tmp_path / "registry"), "HOME": str(tmp_path),
                     "IMAGEWORKS_LOG_DIR": str(tmp_path / "logs"), "IMAGEWORKS_LOAD_PLUGINS": ""}  # not the test suite's plugins
    modules = imported_by(tmp_path, *args, env=builtins_only)
    assert loaded(modules, NOT_FOR_HELP) == []


def test_the_no_op_rerun_of_an_installed_model_loads_no_use_case_it_does_not_run(
    tmp_path: Path, hub_server: HubServer, tiny_repo: Path, hf_client_env: Path  # noqa: F811
) -> None:
    env = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(tmp_path / "registry"), "IMAGEWORKS_LOG_DIR": str(tmp_path / "logs"),
           "IMAGEWORKS_MODEL_ROOT": str(tmp_path / "weights"), "HOME": str(tmp_path),
           "IMAGEWORKS_LOAD_PLUGINS": ""}  # built-ins only: the test suite's example plugin imports the job types
    first = subprocess.run([sys.executable, "-m", "imageworks.cli", "download", TINY_REPO, "--non-interactive", "--no-aria2"],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    modules = imported_by(tmp_path, "download", TINY_REPO, "--non-interactive", "--no-aria2", env=env)
    assert loaded(modules, HEAVY) == []
    # the one model-info request goes through the HTTP client (imageworks.transfer.http_client)
    http = {"imageworks.transfer", "imageworks.transfer.errors", "imageworks.transfer.http_client"}
    assert loaded(modules - http, SERVICES) == []  # no transfer engine, no acquisition, no memory estimate
    assert "imageworks.core.transfers" not in modules  # the transfer package's job types load when a job is built
    assert "imageworks.core.plans" not in modules  # a source is handed core.source_inputs; plans are for planning


def test_the_cli_copy_of_the_slug_strategies_is_the_services_own() -> None:
    assert cleanup.STRATEGIES == slugs.STRATEGIES


def test_the_cli_copies_of_option_values_are_the_services_own() -> None:
    """Options need their choices and help to build --help; the CLI holds copies of these
    (so --help imports no memory, share or launch service), and they must not drift."""
    assert share.MIN_SIZE == dedupe.MIN_SIZE
    assert share.APPS == stores.APPS
    assert export.SERVERS == commands.SERVERS
    assert launch.GGUF_CACHE_TYPES == memory_facts.GGUF_CACHE_TYPES
    assert tuple(dict.fromkeys(memory_facts.GGUF_CACHE_TYPES + memory_facts.SAFETENSORS_CACHE_TYPES)) == _memory.CACHE_TYPE_CHOICES
    assert estimate.DEFAULT_MARGIN.describe() == _memory.DEFAULT_MARGIN_TEXT
    assert (_memory.LLAMA_CPP_DEFAULT_SLOTS, _memory.VLLM_DEFAULT_SLOTS) == (serving.LLAMA_CPP_DEFAULT_SLOTS, serving.VLLM_DEFAULT_SLOTS)


# -- a plugin's converter hooks, now that the converter loads on first use ----------------------

CONVERTER_PLUGIN = '''
"""A third-party plugin that teaches the converter its own type."""
import attrs
from imageworks import hookimpl

@attrs.frozen
class Bucket:
    name: str

@hookimpl
def imageworks_register_converter_hooks(converter):
    converter.register_unstructure_hook(Bucket, lambda b: {"bucket": b.name})
'''

CONVERTER_PROBE = """
import sys
from imageworks.core.plugins import PluginHost
if sys.argv[1] == "converter-first":
    from imageworks.core.convert import converter
host = PluginHost.load()
before = "cattrs" in sys.modules
from imageworks.core.convert import converter
from converter_plugin import Bucket
record = {r.name: r for r in host.records()}["bucket"]
print(before, converter.unstructure(Bucket("b")), record.status)
"""


@pytest.mark.parametrize("order", ["host-first", "converter-first"])
def test_a_plugins_converter_hooks_run_whichever_loads_first(tmp_path: Path, order: str) -> None:
    """Installed as an installer would (a ``.dist-info`` with the entry point); its hook must
    reach the converter both when the host is built before the converter and after."""
    (tmp_path / "converter_plugin.py").write_text(textwrap.dedent(CONVERTER_PLUGIN), encoding="utf-8")
    info = tmp_path / "converter_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: converter-plugin\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[imageworks.plugins]\nbucket = converter_plugin\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("IMAGEWORKS_LOAD_PLUGINS", None)
    env.pop("IMAGEWORKS_DISABLE_PLUGINS", None)
    done = subprocess.run([sys.executable, "-c", CONVERTER_PROBE, order], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    loaded_before = "True" if order == "converter-first" else "False"
    assert done.stdout.strip() == f"{loaded_before} {{'bucket': 'b'}} loaded"


# -- the console script ends without the interpreter's teardown: nothing lost ------------------

def console_script() -> Path:
    return Path(sys.executable).parent / "imageworks-download"


def run_script(tmp_path: Path, *args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """The installed console script, its stdout and stderr pipes (block-buffered: no PYTHONUNBUFFERED)."""
    env = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(tmp_path / "registry"), "IMAGEWORKS_LOG_DIR": str(tmp_path / "logs"),
           "HOME": str(tmp_path)}
    env.pop("PYTHONUNBUFFERED", None)
    return subprocess.run([str(console_script()), *args], env=env, cwd=tmp_path, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120)


def test_the_console_script_keeps_its_output_exit_status_registry_and_log(tmp_path: Path) -> None:
    model = tmp_path / "models" / "acme" / "tiny"
    model.mkdir(parents=True)
    (model / "config.json").write_text('{"architectures": ["LlamaForCausalLM"]}', encoding="utf-8")
    (model / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    scanned = run_script(tmp_path, "scan", "--base", str(tmp_path / "models"))
    assert scanned.returncode == 0, scanned.stderr
    listed = run_script(tmp_path, "list", "--json")  # a registry written by one process, read by the next
    assert listed.returncode == 0, listed.stderr
    names = [e["name"] for e in json.loads(listed.stdout)]  # the whole JSON arrived through the pipe
    assert len(names) == 1
    helped = run_script(tmp_path, "--help")
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: imageworks-download")
    assert helped.stdout.rstrip().splitlines()[-1].split()[0] == "verify"  # the last command: the whole text arrived
    bad = run_script(tmp_path, "no-such-command")
    assert bad.returncode == 1 and bad.stderr.startswith("Error: No such command")
    missing = run_script(tmp_path, "remove", "no-such-variant", "--force")
    assert missing.returncode == 1 and missing.stderr.startswith("Error:")
    log = (tmp_path / "logs").glob("*")
    text = "".join(p.read_text(encoding="utf-8", errors="replace") for p in log if p.is_file())
    assert "imageworks-download scan" in text and "imageworks-download remove no-such-variant" in text
    assert "no-such-variant" in text.split("imageworks-download remove no-such-variant", 1)[1]  # the error line was logged


def test_a_full_pipe_still_fails_as_python_reports_it(tmp_path: Path) -> None:
    """Output that cannot be written is not lost silently: the status says so."""
    with open("/dev/full", "w") as full:
        done = run_script(tmp_path, "--help", stdout=full.fileno())
    assert done.returncode != 0


def test_a_working_thread_keeps_the_normal_exit(tmp_path: Path) -> None:
    """With a thread still running, ``exit_now`` leaves the ending to the interpreter (which waits for it)."""
    probe = textwrap.dedent("""
        import threading, time
        from imageworks.cli import main
        done = []
        threading.Thread(target=lambda: (time.sleep(0.3), done.append(1), print("thread finished", flush=True))).start()
        main.exit_now(0)
    """)
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and "thread finished" in ran.stdout


def test_exit_now_runs_what_atexit_holds_and_flushes(tmp_path: Path) -> None:
    marker = tmp_path / "atexit-ran"
    probe = textwrap.dedent(f"""
        import atexit, sys
        from pathlib import Path
        from imageworks.cli import main
        atexit.register(lambda: Path({str(marker)!r}).write_text("yes"))
        sys.stdout.write("buffered, not flushed")
        main.exit_now(3)
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=60)
    assert ran.returncode == 3 and ran.stdout == "buffered, not flushed"
    assert marker.read_text() == "yes"


# -- start-up without the cyclic garbage collector, the command with it -------------------------

COLLECTOR_PROBE = """
import atexit, gc, json, sys
from imageworks.cli import entry, main
seen = {}
build = main.build_cli
def spy(program):
    seen["collecting while plugins load"] = gc.isenabled()
    return build(program)
main.build_cli = spy
command = main.click.Group.invoke
def invoked(group, ctx):
    seen["collecting while the command runs"] = gc.isenabled()
    seen["start-up frozen"] = gc.get_freeze_count() > 0
    seen["young generation"] = gc.get_threshold()[0]
    return command(group, ctx)
main.click.Group.invoke = invoked
atexit.register(lambda: print(json.dumps(seen), file=sys.stderr))
sys.argv = ["imageworks-download", *sys.argv[1:]]
getattr(entry, sys.argv.pop(1))()
"""


@pytest.mark.parametrize("script", ["download_main", "loader_main", "model_registry_main"])
def test_entry_points_pause_the_collector_for_start_up_only(tmp_path: Path, script: str) -> None:
    """Start-up (imports, plugins) runs without the collector; the command runs with it, start-up frozen."""
    env = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(tmp_path / "registry"), "IMAGEWORKS_LOG_DIR": str(tmp_path / "logs"),
           "HOME": str(tmp_path)}
    ran = subprocess.run([sys.executable, "-c", COLLECTOR_PROBE, script, "config", "--help"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and ran.stdout.startswith("Usage: imageworks-"), ran.stderr
    assert json.loads(ran.stderr.strip().splitlines()[-1]) == {
        "collecting while plugins load": False, "collecting while the command runs": True, "start-up frozen": True,
        "young generation": entry.COMMAND_YOUNG_THRESHOLD,
    }


def test_run_in_process_leaves_the_collector_alone(tmp_path: Path) -> None:
    """``run`` (the GUI's jobs, plugin authors' tests) neither pauses nor freezes anything."""
    probe = "import gc; from imageworks.cli.main import run; code = run('download', ['--help']); " \
            "print(code, gc.isenabled(), gc.get_freeze_count(), gc.get_threshold() == (700, 10, 10))"
    env = {**os.environ, "IMAGEWORKS_REGISTRY_DIR": str(tmp_path / "registry"), "IMAGEWORKS_LOG_DIR": str(tmp_path / "logs"),
           "HOME": str(tmp_path)}
    ran = subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ran.stdout.strip().splitlines()[-1] == "0 True 0 True", ran.stderr


# -- pluggy's registration, quicker for modules: the same hooks found ---------------------------

def test_the_quick_manager_finds_the_hooks_pluggy_finds() -> None:
    """Every built-in plugin module, and a module with a bound method and a static method as
    hooks, registers the same implementations with the host's manager as with pluggy's own."""
    import importlib.metadata
    import types

    import pluggy

    from imageworks.core import hookspecs
    from imageworks.core.plugins import ENTRY_POINT_GROUP, _Manager

    class Holder:
        @hookspecs.hookimpl
        def imageworks_register_sources(self) -> list[object]:
            return []

        @staticmethod
        @hookspecs.hookimpl
        def imageworks_register_detectors() -> list[object]:
            return []

    odd = types.ModuleType("odd_plugin")
    odd.imageworks_register_sources = Holder().imageworks_register_sources  # type: ignore[attr-defined]
    odd.imageworks_register_detectors = Holder.__dict__["imageworks_register_detectors"]  # type: ignore[attr-defined]
    modules = [ep.load() for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
               if ep.value.startswith("imageworks.")] + [odd]

    def hooks(manager: pluggy.PluginManager) -> list[list[str]]:
        manager.add_hookspecs(hookspecs)
        for number, module in enumerate(modules):
            manager.register(module, name=str(number))
        return [sorted(c.name for c in manager.get_hookcallers(m) or []) for m in modules]

    found = hooks(_Manager(hookspecs.PROJECT))
    assert found == hooks(pluggy.PluginManager(hookspecs.PROJECT))
    assert found[-1] == ["imageworks_register_detectors", "imageworks_register_sources"]
    assert sum(len(names) for names in found) > len(modules)  # the built-ins' hooks were found too
@pytest.mark.parametrize("args", [
    ("download", TINY_REPO, "--dry-run", "--non-interactive"),  # the metadata step and the plan, no transfer
    ("analyze", TINY_REPO, "--files", "--json", "--no-memory"),
    ("analyze", TINY_REPO, "--files", "--json"),  # with the weight headers' ranged reads
])
def test_the_hub_metadata_step_imports_no_http_library(tmp_path: Path, args: tuple[str, ...]) -> None:
    with HubServer() as hub:
        hub.add_repo(TINY_REPO, write_tiny_repo(tmp_path / "hub-src"))
        modules = imported_by(tmp_path, *args, extra={"HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0"})
        asked = {record.path.split("?")[0] for record in hub.requests}
    assert "imageworks.providers.huggingface.hub_api" in modules
    assert any("/tree/" in path for path in asked)  # the command did read the repo
    if "--no-memory" not in args and "analyze" in args:
        assert any("/resolve/" in path and path.endswith(".safetensors") for path in asked)  # and the header
    assert loaded(modules, HTTP_LIBRARIES) == []
