"""The test suite's own plugin packages (``tests/plugins/*``), registered for this run only.

They are separate distributions (``imageworks-example-plugin``, the documented example for
third-party authors, and ``imageworks-broken-plugin``, broken on purpose) and must never
reach anything a user installs, not even the default dependency groups. So the test suite
registers them itself, the way an installer would: a ``<name>-<version>.dist-info`` with
their ``METADATA`` and ``entry_points.txt`` (taken from each plugin's ``pyproject.toml``)
in a folder on ``sys.path``, beside their ``src`` folders. ``PYTHONPATH`` carries the same
folders to every child process a test starts (console scripts, the GUI, the proxy).
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import tomllib
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
PACKAGES = ("example_plugin", "broken_plugin")


def _dist_info(project: dict[str, object]) -> dict[str, str]:
    """File name -> text of the ``.dist-info`` an installer would write for ``project``."""
    requires = "".join(f"Requires-Dist: {r}\n" for r in project.get("dependencies", []))  # type: ignore[union-attr]
    metadata = f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n{requires}"
    groups = project.get("entry-points", {})
    entry_points = "".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items()) + "\n"
        for group, points in groups.items()  # type: ignore[union-attr]
    )
    return {"METADATA": metadata, "entry_points.txt": entry_points, "top_level.txt": ""}


def register() -> list[str]:
    """Make the test plugins importable and discoverable here and in child processes.

    Returns the folders added to the front of ``sys.path``. The ``.dist-info`` folders live
    in one folder per checkout under the system temp folder, rewritten only when their text
    changes (stevedore's entry-point cache is keyed on the folders' times).
    """
    key = hashlib.sha256(str(PLUGINS).encode()).hexdigest()[:12]
    registry = Path(tempfile.gettempdir()) / f"imageworks-test-plugins-{os.getuid()}-{key}"
    folders = [str(registry)]
    for package in PACKAGES:
        project = tomllib.loads((PLUGINS / package / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        info = registry / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        for name, text in _dist_info(project).items():
            path = info / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                scratch = path.with_name(f".{name}.{os.getpid()}")
                scratch.write_text(text, encoding="utf-8")
                scratch.replace(path)  # atomic: another checkout's run may read it now
        folders.append(str(PLUGINS / package / "src"))
    for folder in reversed(folders):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in folders]
    os.environ["PYTHONPATH"] = os.pathsep.join([*folders, *inherited])
    return folders
