"""Role resolution and endpoints in the core, shared by list-roles and the proxy."""

from __future__ import annotations

from pathlib import Path

import pytest

from imageworks.core.model import BackendConfig, RegistryEntry
from imageworks.services.serve.endpoints import Endpoint, endpoint_for, variant_port
from imageworks.services.serve.roles import best_for_role, resolve_model
from tests.proxy.conftest import write_curated
from tests.support.cli import cli


def entry(name: str, path: Path | str | None, **fields: object) -> RegistryEntry:
    return RegistryEntry(name=name, download_path=str(path) if path else None, **fields)


def test_lower_priority_number_wins_then_unnumbered_then_not_installed(tmp_path: Path) -> None:
    here, gone = tmp_path, tmp_path / "gone"
    variants = [
        entry("b-unnumbered", here, roles=["vision"]),
        entry("c-two", here, roles=["vision"], role_priorities={"vision": 2}),
        entry("d-one-gone", gone, roles=["vision"], role_priorities={"vision": 1}),
        entry("a-unnumbered", here, roles=["vision"]),
        entry("e-chat", here, roles=["chat"], role_priorities={"chat": 0}),
    ]
    assert best_for_role(variants, "vision").name == "c-two"
    assert best_for_role(variants[:1] + variants[3:], "vision").name == "a-unnumbered"
    assert best_for_role([variants[2]], "vision").name == "d-one-gone"  # nothing better
    assert best_for_role(variants, "audio") is None


def test_model_names_resolve_by_name_served_id_alias_then_role(tmp_path: Path) -> None:
    variants = [
        entry("vision", tmp_path, served_model_id="served-x"),  # a variant named like a role
        entry("qwen-vl", tmp_path, roles=["vision", "chat"], model_aliases=["served-x-alias", "chat"]),
        entry("llava", tmp_path, served_model_id="llava:7b", roles=["chat"], role_priorities={"chat": 1}),
    ]
    assert (resolve_model(variants, "vision").entry.name, resolve_model(variants, "vision").matched) == ("vision", "name")
    assert resolve_model(variants, "served-x").entry.name == "vision"
    assert resolve_model(variants, "llava:7b").matched == "served id"
    assert resolve_model(variants, "chat").matched == "alias"  # an alias before a role
    assert resolve_model(variants[:1] + variants[2:], "chat").entry.name == "llava"
    assert resolve_model(variants, "nothing") is None


def test_roles_beat_capabilities(tmp_path: Path) -> None:
    variants = [
        entry("a-capable", tmp_path, capabilities={"vision": True}),
        entry("z-listed-gone", tmp_path / "gone", roles=["vision"]),  # listed, even not installed, beats capable
    ]
    assert best_for_role(variants, "vision").name == "z-listed-gone"
    assert resolve_model(variants, "vision").matched == "role"


def test_capabilities_are_the_fallback_first_by_name(tmp_path: Path) -> None:
    variants = [
        entry("m-capable", tmp_path, capabilities={"vision": True, "text": True}),
        entry("c-capable", tmp_path, capabilities={"vision": True}),
        entry("b-says-no", tmp_path, capabilities={"vision": False}),
        entry("x-chat", tmp_path, roles=["chat"], capabilities={"vision": False}),
    ]
    assert best_for_role(variants, "vision").name == "c-capable"
    assert best_for_role(list(reversed(variants)), "vision").name == "c-capable"  # not the input order
    found = resolve_model(variants, "vision")
    assert (found.entry.name, found.matched) == ("c-capable", "capability")
    assert best_for_role(variants, "chat").name == "x-chat"  # a role in roles[] still wins for its role


def test_capability_fallback_skips_not_installed_and_deprecated(tmp_path: Path) -> None:
    variants = [
        entry("a-gone", tmp_path / "gone", capabilities={"vision": True}),
        entry("b-logical", None, capabilities={"vision": True}),
        entry("c-deprecated", tmp_path, capabilities={"vision": True}, deprecated=True),
        entry("d-here", tmp_path, capabilities={"vision": True}),
    ]
    assert best_for_role(variants, "vision").name == "d-here"
    assert best_for_role(variants[:3], "vision") is None
    assert resolve_model(variants[:3], "vision") is None  # what the proxy answers with its 404
    assert best_for_role(variants, "audio") is None and resolve_model(variants, "audio") is None


@pytest.mark.parametrize(
    ("backend", "config", "expected"),
    [
        ("vllm", {}, f"http://127.0.0.1:{variant_port('m')}/v1"),  # the variant's port, whichever stack serves it
        ("vllm", {"port": 8001}, "http://127.0.0.1:8001/v1"),
        ("lmdeploy", {}, f"http://127.0.0.1:{variant_port('m')}/v1"),
        ("gguf", {}, f"http://127.0.0.1:{variant_port('m')}/v1"),
        ("vllm", {"base_url": "http://gpu-box:9000/v1/"}, "http://gpu-box:9000/v1"),
        ("unassigned", {"base_url": "http://gpu-box:9000/v1"}, "http://gpu-box:9000/v1"),
    ],
)
def test_endpoint_of_a_served_variant(backend: str, config: dict[str, object], expected: str) -> None:
    variant = RegistryEntry(name="m", backend=backend, backend_config=BackendConfig(extra=dict(config)))
    assert endpoint_for(variant, "http://ollama:11434") == Endpoint(base_url=expected, model="m")


def test_endpoint_of_ollama_and_of_nothing() -> None:
    ollama = RegistryEntry(name="m-ollama-gguf", backend="ollama", download_path="ollama://gemma3:270m")
    assert endpoint_for(ollama, "http://ollama:11434/") == Endpoint(base_url="http://ollama:11434/v1", model="gemma3:270m")
    keyed = RegistryEntry(name="k", backend="vllm", backend_config=BackendConfig(extra={"api_key_env": "IMAGEWORKS_BACKEND_KEY_MY"}))
    assert endpoint_for(keyed, "http://o").api_key_env == "IMAGEWORKS_BACKEND_KEY_MY"
    for refused in ("MY_KEY", "HF_TOKEN", "IMAGEWORKS_REGISTRY_DSN", "imageworks_backend_key_lower"):
        other = RegistryEntry(name="k", backend="vllm", backend_config=BackendConfig(extra={"api_key_env": refused}))
        assert endpoint_for(other, "http://o").api_key_env is None  # only names the operator set aside
    assert endpoint_for(RegistryEntry(name="u"), "http://o") is None  # unassigned, no base URL
    assert endpoint_for(RegistryEntry(name="o", backend="ollama"), "http://o") is None  # no name:tag


def test_list_roles_marks_the_variant_a_role_resolves_to(isolated: Path, capsys: pytest.CaptureFixture[str]) -> None:
    here = isolated / "weights"
    here.mkdir()
    write_curated(isolated / "registry", [
        {"name": "a-gone", "download_path": str(isolated / "gone"), "roles": ["vision"], "role_priorities": {"vision": 0}},
        {"name": "b", "download_path": str(here), "roles": ["vision", "chat"], "role_priorities": {"vision": 3},
         "capabilities": {"vision": True, "text": True}},
        {"name": "c", "download_path": str(here), "roles": ["vision"], "role_priorities": {"vision": 1}},
    ])
    rows = cli(capsys, "list-roles", "--json", "--show-capabilities").json()
    assert [(r["role"], r["name"], r["best"]) for r in rows] == [
        ("chat", "b", True), ("vision", "c", True), ("vision", "b", False), ("vision", "a-gone", False)
    ]
    assert rows[0]["capabilities"] == ["text", "vision"]
    table = cli(capsys, "list-roles", "--show-capabilities").out
    assert "Best" in table and "Capabilities" in table and "text, vision" in table
