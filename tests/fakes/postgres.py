"""A real PostgreSQL server for tests: `initdb` into a temporary directory, `postgres` on a free
loopback port, one database per test.

The server binaries come from the system (Debian's `postgresql` package, which `.ci/run`
installs); `PG_BINDIR` names another directory. Without them the tests are skipped on a
developer's machine and FAIL in CI (`CI` set): the PostgreSQL contract suite must never be
silently skipped there. Running as root, the server runs as the `postgres` system user
(PostgreSQL refuses root) in a directory that user owns.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest

from tests.fakes.processes import free_port

SUPERUSER = "pilote"
PASSWORD = "pg-test-Secret-42"  # a password in the URL, as in production
START_TIMEOUT_S = 60.0
SYSTEM_USER = "postgres"


def find_bindir() -> Path | None:
    """The directory of `initdb` and `postgres`: $PG_BINDIR, else the newest Debian one."""
    configured = os.environ.get("PG_BINDIR")
    candidates = [Path(configured)] if configured else []
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_major, reverse=True)
    for bindir in candidates:
        if (bindir / "postgres").is_file() and (bindir / "initdb").is_file():
            return bindir
    return None


def _major(bindir: Path) -> int:
    name = bindir.parent.name
    return int(name) if name.isdigit() else 0


def require_bindir() -> Path:
    """The server binaries; a failure in CI when they are missing, a skip elsewhere."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    reason = "PostgreSQL server binaries not found (apt-get install postgresql)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the PostgreSQL tests must run in CI")
    pytest.skip(reason)


@dataclass
class PostgresServer:
    """A running server; `url(name)` is a `DATABASE_URL` for one of its databases."""

    port: int
    root: Path
    proc: subprocess.Popen[bytes]
    log: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    def url(self, dbname: str = "postgres") -> str:
        """A `postgresql://` URL with user and password, on the loopback address."""
        return f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, prefix: str = "t", *, template: str | None = None) -> str:
        """A new database, empty or a copy of the database of the URL `template` (which
        nobody may be connected to); its URL."""
        name = f"{prefix}_{next(self._names)}"
        copy = "" if template is None else f' TEMPLATE "{template.rsplit("/", 1)[1]}"'
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop the database of `url`, closing whatever still connects to it."""
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then remove the data directory."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def _as_server_user() -> dict[str, object]:
    """Popen arguments that run a command as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return {}
    account = pwd.getpwnam(SYSTEM_USER)
    env = {**os.environ, "HOME": account.pw_dir, "USER": SYSTEM_USER, "LOGNAME": SYSTEM_USER}
    return {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": [], "env": env}


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        account = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, account.pw_uid, account.pw_gid)


def _initdb(bindir: Path, root: Path) -> Path:
    data = root / "data"
    password_file = root / "pw"
    password_file.write_text(PASSWORD)
    _give_to_server_user(password_file)
    argv = [
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        SUPERUSER,
        f"--pwfile={password_file}",
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
    ]
    done = subprocess.run(argv, capture_output=True, check=False, **_as_server_user())  # type: ignore[call-overload]
    password_file.unlink()
    if done.returncode != 0:
        pytest.fail(f"initdb failed:\n{done.stdout.decode()}\n{done.stderr.decode()}")
    return data


def start_postgres(bindir: Path | None = None) -> PostgresServer:
    """initdb and start a server on a free loopback port; wait until it accepts logins."""
    bindir = bindir or require_bindir()
    # not under pytest's tmp_path: its parents are private to root, the server user could
    # not enter them
    root = Path(tempfile.mkdtemp(prefix="pilote-pg-"))
    _give_to_server_user(root)
    data = _initdb(bindir, root)
    sockets = root / "sockets"
    sockets.mkdir()
    _give_to_server_user(sockets)
    port = free_port()
    log = root / "server.log"
    argv = [str(bindir / "postgres"), "-D", str(data), "-k", str(sockets), "-p", str(port)]
    argv += ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"]
    argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
    with log.open("ab") as out:
        proc = subprocess.Popen(  # type: ignore[call-overload]
            argv, stdout=out, stderr=subprocess.STDOUT, **_as_server_user()
        )
    server = PostgresServer(port=port, root=root, proc=proc, log=log)
    _wait_ready(server)
    return server


def _wait_ready(server: PostgresServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if server.proc.poll() is not None or time.monotonic() > deadline:
                text = server.log.read_text(errors="replace")[-3000:]
                server.stop()
                pytest.fail(f"PostgreSQL did not start:\n{text}")
            time.sleep(0.1)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A server for the duration of the block."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """One server per test session (import this fixture into a conftest to use it)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A fresh database on the session's server, dropped after the test."""
    url = pg_server.create_database()
    yield url
    pg_server.drop_database(url)
