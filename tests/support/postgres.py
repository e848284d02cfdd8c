"""A throwaway PostgreSQL cluster for tests: Debian's server binaries, our own data folder.

:class:`PostgresCluster` runs ``initdb`` into a temporary folder and ``pg_ctl`` starts a
server that listens only on a Unix socket in that folder (no TCP port, nothing another
user's process could reach by accident), with ``fsync=off`` because the data is thrown
away. ``initdb`` refuses to run as root, and CI runs as root: then the folder belongs to
the ``postgres`` system user (created if missing) and the binaries run as that user
through ``runuser``. :func:`find_bindir` says where the binaries are, or ``None`` when
PostgreSQL is not installed (the fixtures then skip with that reason).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SUPERUSER = "postgres"  # the role initdb creates (-U); connections over the socket are trusted


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: ``pg_config --bindir``, else Debian's layout."""
    candidates: list[Path] = []
    if shutil.which("pg_config"):
        result = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=False)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    candidates += [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)


class PostgresCluster:
    """One running server in a temporary folder; :meth:`stop` removes it all."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="imageworks-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_root = os.geteuid() == 0
        self._names = itertools.count(1)
        if self.as_root:
            _ensure_system_user(SUPERUSER)
            account = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, account.pw_uid, account.pw_gid)
        os.chmod(self.root, 0o755)  # the socket lives here; our (root) client must reach it

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", SUPERUSER, "--"] if self.as_root else []
        result = subprocess.run([*prefix, *command], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr.strip()}\n{log}")

    def start(self) -> PostgresCluster:
        """initdb, then start the server on a socket in :attr:`root`; returns self."""
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "--no-sync", "-E", "UTF8", "--locale=C")
        options = f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c listen_addresses='' " \
                  f"-c unix_socket_directories={self.root} -c max_connections=120"
        self._run(str(self.bindir / "pg_ctl"), "start", "-w", "-t", "60", "-D", str(self.data),
                  "-l", str(self.log), "-o", options)
        return self

    def dsn(self, database: str = "postgres") -> str:
        """The connection string of ``database`` on this server (a socket, no password)."""
        return f"host={self.root} port=5432 user={SUPERUSER} dbname={database}"

    def create_database(self) -> str:
        """A new empty database; returns its name."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever still uses it."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run(str(self.bindir / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(self.data))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
