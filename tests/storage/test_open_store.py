"""DATABASE_URL chooses the store: empty = SQLite in the data directory, a `postgresql://` URL =
PostgreSQL; a malformed URL is a French configuration error and the password never reaches the
logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from bot.guard import install_log_redaction, settings_secrets
from bot.postgres_store import PostgresStore
from bot.storage import SQLiteStore
from bot.wiring import open_store


def test_without_database_url_the_store_is_the_sqlite_file(tmp_path: Path) -> None:
    settings = load_settings({"PILOTE_IA_DATA_DIR": str(tmp_path)})
    store = open_store(settings)
    assert isinstance(store, SQLiteStore) and settings.db_path.is_file()
    store.close()


def test_a_postgresql_url_opens_postgres(pg_url: str, tmp_path: Path) -> None:
    settings = load_settings({"PILOTE_IA_DATA_DIR": str(tmp_path), "DATABASE_URL": pg_url})
    store = open_store(settings)
    assert isinstance(store, PostgresStore)
    assert store.mark_update(1) and not store.mark_update(1)
    store.close()
    assert not settings.db_path.exists()  # no SQLite file beside it


@pytest.mark.parametrize(
    "url",
    [
        "mysql://pilote:Secret-Pass-1@db/pilote",
        "postgresql://pilote:Secret-Pass-1@db:port/pilote",
        "postgresql//pilote:Secret-Pass-1@db/pilote",
        "pilote:Secret-Pass-1@db/pilote",
    ],
)
def test_a_malformed_url_is_a_french_error_naming_the_setting(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"DATABASE_URL": url})
    assert caught.value.problems == {
        "DATABASE_URL": "URL PostgreSQL attendue : "
        "postgresql://utilisateur:motdepasse@hôte:5432/base"
    }
    assert "Secret-Pass-1" not in str(caught.value)


def test_the_password_is_a_secret_of_the_settings(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://pilote:S3cret%2Fpw-42@db:5432/base"})
    assert "S3cret" not in repr(settings)
    assert "S3cret/pw-42" in settings_secrets(settings)  # the decoded password
    with caplog.at_level(logging.INFO):
        redactor = install_log_redaction(settings_secrets(settings))
        try:
            logging.getLogger("test.database_url").info("connecting with S3cret/pw-42")
        finally:
            for handler in logging.getLogger().handlers:
                handler.removeFilter(redactor)
    assert "connecting with" in caplog.text and "S3cret/pw-42" not in caplog.text
