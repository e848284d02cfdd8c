"""A hostile Ollama store or server must not make us read, record or delete files outside the store.

Each test builds a real-format store in ``tmp_path`` whose manifest (or server answer)
aims at a "secret" or a weights-root file, also in ``tmp_path``, imports it, and checks
the forged model is refused while a good one beside it imports, and that the aimed-at
file was neither recorded nor changed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imageworks.app import open_registry
from imageworks.core.config import load_config
from imageworks.core.errors import UnsafePathError
from imageworks.core.safe_paths import contained, require_sha256_digest
from imageworks.providers.ollama.store import read_store
from tests.ollama.helpers import (
    CONFIG_MEDIA,
    LAYER_MEDIA,
    MANIFEST_MEDIA,
    FakeOllamaServer,
    FakeOllamaStore,
    split_name,
    tags_entry,
)
from tests.security.conftest import SECRET
from tests.support.cli import cli

HEX = "ab" * 32


def write_manifest(store: FakeOllamaStore, name: str, layers: list[tuple[str, str]], config: str | None = None) -> Path:
    """A manifest for ``name`` whose layers (kind, digest text) are written exactly as given."""
    host, namespace, model, tag = split_name(name)
    path = store.root / "manifests" / host / namespace / model / tag
    path.parent.mkdir(parents=True, exist_ok=True)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA,
        "layers": [{"mediaType": LAYER_MEDIA + kind, "digest": digest, "size": 1} for kind, digest in layers],
    }
    if config is not None:
        manifest["config"] = {"mediaType": CONFIG_MEDIA, "digest": config, "size": 1}
    path.write_text(json.dumps(manifest), encoding="utf-8")
    return path


def import_json(capsys: pytest.CaptureFixture[str]) -> dict:
    result = cli(capsys, "import-ollama", "--no-api", "--json")
    assert result.code == 0, result.err
    return result.json()


def registry_text(tmp_path: Path) -> str:
    return "".join(p.read_text() for p in sorted((tmp_path / "registry").glob("*.json")))


def climbing_digest(store: FakeOllamaStore, target: Path) -> str:
    """``sha256:x/../../..<target>``: climbs out of ``blobs`` through a folder the store provides."""
    (store.root / "blobs" / "sha256-x").mkdir()
    return "sha256:x/../../../" + target.relative_to(store.root.parent).as_posix()


def absolute_digest(target: Path) -> str:
    """An "algorithm" that is an absolute path: ``/…/db:password`` names ``/…/db-password``."""
    head, _, tail = str(target).rpartition("-")
    return f"{head}:{tail}"


@pytest.mark.parametrize("forge", [climbing_digest, lambda store, target: absolute_digest(target)], ids=["climb", "absolute"])
def test_a_licence_layer_cannot_copy_a_secret_into_the_registry(
    forge, store: FakeOllamaStore, secret: Path, tiny_gguf, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = store.add_blob(tiny_gguf())
    store.add_model("good:1b", good)
    write_manifest(store, "evil:1b", [("model", f"sha256:{good}"), ("license", forge(store, secret))])
    report = import_json(capsys)
    assert "root:$6$" not in registry_text(tmp_path)
    assert secret.read_bytes() == SECRET
    actions = {i["served_model_id"]: (i["action"], i["reason"]) for i in report["items"]}
    assert actions["good:1b"][0] == "add"
    assert actions["evil:1b"][0] == "skip" and "not a sha256 digest" in actions["evil:1b"][1]


def test_a_model_layer_naming_a_weights_file_is_never_recorded_or_deleted(
    store: FakeOllamaStore, tiny_gguf, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights_file = tmp_path / "weights" / "acme" / "tiny" / "model.gguf"
    weights_file.parent.mkdir(parents=True)
    weights_file.write_bytes(tiny_gguf(seed=1))
    before = weights_file.read_bytes()
    write_manifest(store, "evil:1b", [("model", climbing_digest(store, weights_file))])
    report = import_json(capsys)
    for entry in open_registry(load_config()).entries():  # what a user cleaning up would run
        cli(capsys, "remove", entry.name, "--delete-files", "--force")
    assert weights_file.read_bytes() == before
    assert [(i["served_model_id"], i["action"]) for i in report["items"]] == [("evil:1b", "skip")]


def test_a_blob_symlinked_out_of_the_store_is_refused(
    store: FakeOllamaStore, secret: Path, tiny_gguf, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = store.add_blob(tiny_gguf())
    store.blob_file(HEX).symlink_to(secret)
    store.add_model("good:1b", good)
    write_manifest(store, "evil:1b", [("model", f"sha256:{good}"), ("license", f"sha256:{HEX}")])
    models = {m.name: m for m in read_store(store.root)}
    assert models["good:1b"].problem is None
    assert "leads outside" in (models["evil:1b"].problem or "") and models["evil:1b"].license is None
    import_json(capsys)
    assert "root:$6$" not in registry_text(tmp_path)
    assert secret.read_bytes() == SECRET


def test_a_blob_linked_to_another_blob_of_the_store_still_works(store: FakeOllamaStore, tiny_gguf) -> None:
    real = store.add_blob(tiny_gguf())
    store.blob_file(HEX).symlink_to(store.blob_file(real).name)  # relative, inside blobs/
    write_manifest(store, "linked:1b", [("model", f"sha256:{HEX}")])
    (model,) = read_store(store.root)
    assert model.problem is None and model.quantization == "q4_k_m"


def test_a_manifest_symlinked_out_of_the_store_is_refused(
    store: FakeOllamaStore, tiny_gguf, tmp_path: Path
) -> None:
    digest = store.add_blob(tiny_gguf())
    outside = tmp_path / "secrets" / "manifest.json"
    outside.parent.mkdir()
    outside.write_text(json.dumps({"layers": [{"mediaType": LAYER_MEDIA + "model", "digest": f"sha256:{digest}"}]}))
    link = store.root / "manifests" / "registry.ollama.ai" / "library" / "evil" / "1b"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside)
    (model,) = read_store(store.root)
    assert "manifest refused" in (model.problem or "") and model.manifest_digest is None


def test_upper_case_hex_is_normalised(store: FakeOllamaStore, tiny_gguf) -> None:
    digest = store.add_blob(tiny_gguf())
    write_manifest(store, "loud:1b", [("model", f"sha256:{digest.upper()}")], config=f"sha256:{HEX.upper()}")
    (model,) = read_store(store.root)
    assert model.problem is None and model.model_digest == digest
    assert model.layers[0].digest == f"sha256:{digest}"


@pytest.mark.parametrize(
    "text",
    [
        "sha256:" + "a" * 63,
        "sha256:" + "a" * 65,
        "sha256:" + "a" * 64 + "\n",
        " sha256:" + "a" * 64,
        "sha256-" + "a" * 64,
        "sha512:" + "a" * 64,
        "SHA256:" + "a" * 64,
        "sha256:" + "g" * 64,
        "sha256:" + "a" * 60 + "/../",
        "/etc/passwd",
        "",
        None,
        64,
    ],
)
def test_require_sha256_digest_refuses_everything_else(text: object) -> None:
    with pytest.raises(UnsafePathError, match="not a sha256 digest"):
        require_sha256_digest(text)


def test_contained_resolves_before_checking(tmp_path: Path, secret: Path) -> None:
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "link").symlink_to(secret)
    assert contained(root / "sub" / ".." / "sub", root) == (root / "sub").resolve()
    for escape in (root / "link", root / "sub" / ".." / ".." / "secrets", root):
        with pytest.raises(UnsafePathError):
            contained(escape, root)


def test_a_server_naming_a_weights_file_as_its_blob_is_not_trusted(
    store: FakeOllamaStore, tiny_gguf, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    weights_file = tmp_path / "weights" / "acme" / "blobs" / f"sha256-{HEX}"  # a blob name, but no store around it
    weights_file.parent.mkdir(parents=True)
    weights_file.write_bytes(tiny_gguf())
    with FakeOllamaServer() as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        server.models.append(tags_entry("remote:1b", HEX))
        server.blobs["remote:1b"] = str(weights_file)
        assert cli(capsys, "import-ollama", "--json").code == 0
    (entry,) = open_registry(load_config()).entries()
    assert entry.download_path == "ollama://remote:1b"
    assert weights_file.exists()
