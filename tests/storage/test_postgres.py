"""PostgresStore's own contract: migrations versioned like SQLite's, applied once when workers
start together, and failures that say what is wrong without the password."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from bot.errors import StorageError
from bot.postgres_store import PG_MIGRATIONS, PostgresStore
from bot.storage import MIGRATIONS, SCHEMA_VERSION, SQLiteStore, statements_of
from tests.fakes.postgres import PASSWORD, PostgresServer
from tests.storage.conftest import Backend


def test_schema_has_sqlites_versions_tables_and_columns(pg_url: str, tmp_path: Path) -> None:
    assert len(PG_MIGRATIONS) == len(MIGRATIONS) == SCHEMA_VERSION
    store = PostgresStore(pg_url)
    assert store.schema_version == SCHEMA_VERSION
    store.close()
    SQLiteStore(tmp_path / "s.db").close()
    sqlite_tables = Backend("sqlite", str(tmp_path / "s.db")).tables()
    sqlite_tables.pop("sqlite_sequence")
    assert Backend("postgres", pg_url).tables() == sqlite_tables


def _at_version(url: str, version: int) -> None:
    with psycopg.connect(url) as conn:
        for script in PG_MIGRATIONS[:version]:
            for statement in statements_of(script):
                conn.execute(statement)  # type: ignore[arg-type]
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (%s)", (version,))


def test_migrates_a_version_3_database_and_keeps_its_data(pg_url: str) -> None:
    _at_version(pg_url, 3)
    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO profiles VALUES (7, 'commerce', 'seul', 0, 'temps', 0)")
        conn.execute("INSERT INTO processed_updates VALUES (41, 1)")
    store = PostgresStore(pg_url)
    assert store.schema_version == SCHEMA_VERSION
    profile = store.get_profile(7)
    assert profile is not None and profile.sector == "commerce"
    assert store.mark_update(41) is False and store.inbox_put(41, "{}") is False
    store.close()
    again = PostgresStore(pg_url)  # re-opening migrates nothing
    assert again.schema_version == SCHEMA_VERSION and again.get_profile(7) == profile
    again.close()


def _open_together(url: str, workers: int = 4) -> list[BaseException]:
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def open_store() -> None:
        barrier.wait()
        try:
            PostgresStore(url).close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("start", ["empty", "version 3"])
def test_workers_starting_together_migrate_once(pg_server: PostgresServer, start: str) -> None:
    for _ in range(3):
        url = pg_server.create_database("together")
        if start == "version 3":
            _at_version(url, 3)
        assert _open_together(url) == []
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT version FROM schema_version").fetchall() == [
                (SCHEMA_VERSION,)
            ]
        pg_server.drop_database(url)


def test_a_refused_login_is_a_storage_error_without_the_password(pg_url: str) -> None:
    wrong = pg_url.replace(PASSWORD, "Not-The-Password-123")
    with pytest.raises(StorageError) as caught:
        PostgresStore(wrong)
    assert "password authentication failed" in str(caught.value)
    assert "Not-The-Password-123" not in str(caught.value)
    assert "DATABASE_URL" in str(caught.value)


def test_an_unreachable_server_is_a_storage_error(pg_server: PostgresServer) -> None:
    from tests.fakes.processes import free_port

    url = pg_server.url().replace(f":{pg_server.port}/", f":{free_port()}/")
    with pytest.raises(StorageError, match="DATABASE_URL"):
        PostgresStore(url)


def test_missing_binaries_fail_in_ci_and_skip_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fakes import postgres

    monkeypatch.setattr(postgres, "find_bindir", lambda: None)
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="must run in CI"):
        postgres.require_bindir()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        postgres.require_bindir()


def test_a_failed_statement_names_no_row_value(pg_migrated: str) -> None:
    store = PostgresStore(pg_migrated)
    try:
        with pytest.raises(StorageError) as caught:
            store._run("INSERT INTO processed_updates VALUES (%s, 0), (%s, 0)", (4242, 4242))
    finally:
        store.close()
    assert "duplicate key" in str(caught.value) and "4242" not in str(caught.value)
