"""A throw-away PostgreSQL cluster on a free local port, for the tests and the benchmarks.

Uses the server binaries of the machine's PostgreSQL package (``initdb``/``pg_ctl``). When run as
root, the cluster runs as the ``postgres`` system user (PostgreSQL refuses to run as root).
Durability is switched off (``fsync=off``): the data is thrown away afterwards.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


class PostgresNotInstalled(RuntimeError):
    pass


def server_bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]))
    if candidates:
        return Path(candidates[-1]).parent
    raise PostgresNotInstalled(
        "PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql-15 package"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    def __init__(self) -> None:
        self.bin = server_bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="prompter-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "server.log"
        self.port = free_port()
        self._as_postgres = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}{log}")

    def start(self) -> str:
        self.sockets.mkdir(parents=True)
        self.log.touch()
        if self._as_postgres:
            shutil.chown(self.root, "postgres")
            for path in (self.sockets, self.log):
                shutil.chown(path, "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start_server()
        return self.url()

    def start_server(self) -> None:
        """Start the server on the cluster's data (again, after :meth:`stop_server`)."""
        options = " ".join(
            [
                f"-p {self.port}",
                f"-k {self.sockets}",
                "-c listen_addresses=127.0.0.1",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "-t", "30", "start"
        )

    def stop_server(self) -> None:
        """Stop the server and keep its data, as an outage does: a fast shutdown terminates every
        session (SQLSTATE 57P01) and refuses new connections until :meth:`start_server`."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+pg8000://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import pg8000.native

        conn = pg8000.native.Connection("postgres", host="127.0.0.1", port=self.port, database="postgres")
        try:
            conn.run(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def running_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
