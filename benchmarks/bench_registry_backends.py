"""The JSON files against PostgreSQL: ``list --json`` of 10,000 entries, and 50 writers at once.

Run: ``uv run python benchmarks/bench_registry_backends.py [--entries 10000] [--repeat 5] [--writers 50]``

Both registries hold the same entries (``bench_registry.make_registry``: half of them with
curated overlays); the PostgreSQL one is imported from the JSON files with
``registry import --from-json``, so the two are the same registry. PostgreSQL is a
throwaway cluster on a Unix socket (``tests/support/postgres.py``, ``fsync=off``, as in
the tests; needs Debian's ``postgresql``). Each row is the median wall time of whole
console-script processes, start-up included. The writers part starts ``--writers``
processes at once, each recording a model, incrementing one shared counter and removing
an entry (``tests/registry/load_writer.py``), and checks that nothing was lost.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_registry import make_registry, timed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.support.postgres starts the cluster

from tests.support.postgres import PostgresCluster, find_bindir  # noqa: E402

WRITER = ROOT / "tests" / "registry" / "load_writer.py"


def writers(env: dict[str, str], count: int) -> tuple[float, bool]:
    """Seconds for ``count`` concurrent writer processes, and whether nothing was lost."""
    seed = (
        "from imageworks.app import open_registry\nfrom imageworks.core.model import RegistryEntry\n"
        "r = open_registry()\nwith r.batch():\n    r.upsert(RegistryEntry(name='counter', backend='vllm'))\n"
        f"    for i in range({count}): r.upsert(RegistryEntry(name=f'old-{{i}}', backend='vllm'))\n"
    )
    subprocess.run([sys.executable, "-c", seed], env=env, check=True)
    start = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, str(WRITER), str(i)], env=env) for i in range(count)]
    codes = [p.wait() for p in processes]
    seconds = time.perf_counter() - start
    check = (
        "import sys\nfrom imageworks.app import open_registry\n"
        "e = {x.name: x for x in open_registry().entries()}\n"
        f"want = {{'counter'}} | {{f'model-{{i}}-vllm' for i in range({count})}}\n"
        f"sys.exit(0 if set(e) == want and e['counter'].extra['hits'] == {count} else 1)\n"
    )
    intact = codes == [0] * count and subprocess.run([sys.executable, "-c", check], env=env).returncode == 0
    return seconds, intact


def main() -> None:
    """Build both registries, time them, print markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--writers", type=int, default=50)
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL is not installed (Debian: apt-get install postgresql)")

    work = Path(tempfile.mkdtemp(prefix="iw-bench-backends-"))
    cluster = PostgresCluster(bindir).start()
    try:
        base = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEWORKS_")}
        base["IMAGEWORKS_LOG_DIR"] = str(work / "logs")
        json_env = {**base, "IMAGEWORKS_REGISTRY_DIR": str(work / "registry")}
        pg_env = {**base, "IMAGEWORKS_REGISTRY_DIR": str(work / "unused"), "IMAGEWORKS_REGISTRY_BACKEND": "postgres",
                  "IMAGEWORKS_REGISTRY_DSN": cluster.dsn(cluster.create_database())}
        make_registry(work / "registry", args.entries)
        script = shutil.which("imageworks-download") or str(Path(sys.executable).parent / "imageworks-download")
        subprocess.run([script, "list"], env=json_env, stdout=subprocess.DEVNULL, check=True)  # writes the snapshot
        subprocess.run([script, "registry", "import", "--from-json", str(work / "registry")], env=pg_env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        listed = {name: subprocess.run([script, "list", "--json"], env=env, capture_output=True, check=True).stdout
                  for name, env in (("json", json_env), ("postgres", pg_env))}
        assert listed["json"] == listed["postgres"], "the two backends list different registries"

        rows = []
        for label, command in (("list --json", ["list", "--json"]), ("list (table)", ["list"])):
            seconds = {name: timed([script, *command], env, args.repeat) for name, env in (("json", json_env), ("postgres", pg_env))}
            rows.append((label, seconds["json"], seconds["postgres"]))
        print(f"{args.entries} entries ({len(listed['json']) / 1e6:.1f} MB of list JSON), median of {args.repeat} processes\n")
        print("| command | JSON files (s) | PostgreSQL (s) | PostgreSQL / JSON |\n|---|---|---|---|")
        for label, json_s, pg_s in rows:
            print(f"| `imageworks-download {label}` | {json_s:.3f} | {pg_s:.3f} | {pg_s / json_s:.2f}x |")

        print(f"\n{args.writers} writer processes at once (record + shared counter + remove each)\n")
        print("| backend | seconds | nothing lost |\n|---|---|---|")
        for name, env in (("JSON files", {**json_env, "IMAGEWORKS_REGISTRY_DIR": str(work / "writers")}),
                          ("PostgreSQL", {**pg_env, "IMAGEWORKS_REGISTRY_DSN": cluster.dsn(cluster.create_database())})):
            seconds, intact = writers(env, args.writers)
            print(f"| {name} | {seconds:.1f} | {'yes' if intact else 'NO'} |")
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
