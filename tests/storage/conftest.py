"""The `store` fixture: every contract test runs once per `Store` implementation, SQLite on a
file in tmp_path and PostgreSQL on a real server started by the tests (`tests.fakes.postgres`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.postgres_store import PostgresStore
from bot.storage import SQLiteStore, Store
from tests.fakes.postgres import PostgresServer, pg_server, pg_url  # noqa: F401 (fixtures)

STORES = ["sqlite", "postgres"]


class Clock:
    """A settable clock for the stores."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """One fresh database of one kind: opens stores on it (each a new connection, as another
    worker holds) and reads it directly."""

    kind: str  # "sqlite" or "postgres"
    location: str  # the SQLite file or the PostgreSQL URL
    opened: list[Store] = field(default_factory=list)

    def open(self, **kwargs: Any) -> Store:
        """A store on this database; closed after the test."""
        store: Store
        if self.kind == "sqlite":
            store = SQLiteStore(Path(self.location), **kwargs)
        else:
            store = PostgresStore(self.location, **kwargs)
        self.opened.append(store)
        return store

    def query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of one statement written with "?" placeholders (none for a write), on a
        connection of its own."""
        if self.kind == "sqlite":
            with closing(sqlite3.connect(self.location)) as db, db:
                return list(db.execute(sql, params).fetchall())
        with psycopg.connect(self.location, autocommit=True) as conn:
            cursor = conn.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]
            return list(cursor.fetchall()) if cursor.description else []

    def tables(self) -> dict[str, list[str]]:
        """Every table with its columns."""
        if self.kind == "sqlite":
            names = [r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type='table'")]
            return {t: [r[1] for r in self.query(f"PRAGMA table_info({t})")] for t in names}
        rows = self.query(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema='public' ORDER BY table_name, ordinal_position"
        )
        tables: dict[str, list[str]] = {}
        for table, column in rows:
            tables.setdefault(str(table), []).append(str(column))
        return tables

    def close(self) -> None:
        for store in self.opened:
            store.close()


@pytest.fixture(scope="session")
def pg_migrated(pg_server: PostgresServer) -> str:  # noqa: F811 (the imported fixture)
    """A database at the latest schema version, emptied before each test (a new database
    per test would cost half a second: creating it or copying a template)."""
    url = pg_server.create_database("migrated")
    PostgresStore(url).close()
    return url


def empty_tables(url: str) -> None:
    """Delete every row but the schema version, and restart the id sequences."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname='public'"
            " AND tablename<>'schema_version'"
        ).fetchall()
        conn.execute(f"TRUNCATE {', '.join(row[0] for row in rows)} RESTART IDENTITY")  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=STORES)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A fresh database of each kind."""
    if request.param == "sqlite":
        opened = Backend("sqlite", str(tmp_path / "s.db"))
    else:
        url = request.getfixturevalue("pg_migrated")
        empty_tables(url)
        opened = Backend("postgres", url)
    yield opened
    opened.close()


@pytest.fixture
def store(backend: Backend, clock: Clock) -> Store:
    """A fresh, empty store of each kind on the test's clock."""
    return backend.open(clock=clock)
