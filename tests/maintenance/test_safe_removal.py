"""Guide 13, the safe-removal checklist, run end to end as written (issue 12, item 7).

Three real models: a safetensors download and a GGUF download from the loopback Hub, and
an Ollama model imported from a real-format store. Step 1 takes the inventory, step 2
removes one download keeping its entry and purges the other, step 3 runs the audit
commands of the checklist; afterwards the registry, the disk and the audit agree.
Step 4 (``huggingface-cli scan-cache``) looks at the Hugging Face cache, which our
downloads do not use; step 5 (the change log) is the JSON the commands print.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.maintenance.conftest import GGUF_REPO
from tests.ollama.helpers import FakeOllamaStore
from tests.support.cli import cli
from tests.support.fixtures import TINY_REPO
from tests.support.hub_server import HubServer


def test_guide_13_safe_removal_checklist(
    hub_server: HubServer, hf_client_env: Path, tiny_repo: Path, gguf_repo: Path, ollama_store: FakeOllamaStore,
    isolated: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli(capsys, "download", TINY_REPO, "--no-aria2").code == 0
    assert cli(capsys, "download", GGUF_REPO, "--no-aria2").code == 0
    assert cli(capsys, "import-ollama", "--no-api").code == 0

    # 1. Inventory: list --details shows every variant; the JSON gives names and served ids
    details = cli(capsys, "list", "--details")
    assert details.code == 0, details.err
    entries = {e["name"]: e for e in cli(capsys, "list", "--json").json()}
    assert len(entries) == 3 and all(name in details.out for name in entries)
    (keep,) = (n for n, e in entries.items() if e["hf_id"] == TINY_REPO)
    (purge,) = (n for n, e in entries.items() if e["hf_id"] == GGUF_REPO)
    (ollama,) = (e for e in entries.values() if e["source_provider"] == "ollama")
    assert ollama["served_model_id"] == "llama3:8b"  # what `ollama rm` would be given
    kept_path, purged_path = Path(entries[keep]["download_path"]), Path(entries[purge]["download_path"])
    assert kept_path.is_dir() and purged_path.is_dir()

    # 2. CLI removal: files only (the entry stays), then entry and files
    removed = cli(capsys, "remove", keep, "--delete-files", "--force")
    assert removed.code == 0, removed.err
    purged = cli(capsys, "remove", purge, "--purge", "--delete-files", "--force")
    assert purged.code == 0, purged.err
    assert not kept_path.exists() and not purged_path.exists()
    assert not (isolated / "weights" / "acme").exists() and not (isolated / "lmstudio" / "acme").exists()

    # 3. Post-clean audit, as the checklist writes it
    fix = cli(capsys, "verify", "--fix-missing", "--json")
    assert fix.code == 0, fix.err
    normalize = cli(capsys, "normalize-formats", "--rebuild", "--prune-missing", "--apply", "--json")
    assert normalize.code == 0, normalize.err
    deprecated = cli(capsys, "purge-deprecated", "--apply", "--json")
    assert deprecated.code == 0, deprecated.err

    # afterwards: the purged entry is gone, the kept one is recorded as not installed,
    # the Ollama model is untouched, and the audit finds nothing more to do
    after = {e["name"]: e for e in cli(capsys, "list", "--json", "--include-logical").json()}
    assert purge not in after and keep in after and ollama["name"] in after
    assert not after[keep].get("download_path") and not after[keep].get("download_files")
    assert after[ollama["name"]]["download_path"] == ollama["download_path"]
    assert cli(capsys, "verify").code == 0
    again = cli(capsys, "normalize-formats", "--rebuild", "--prune-missing", "--dry-run", "--json")
    assert again.code == 0, again.err
    assert again.json()["changes"] == [] and again.json()["checked"] >= 1, again.out
