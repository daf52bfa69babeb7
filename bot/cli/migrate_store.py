"""`pilote-ia migrate-store --from sqlite:PATH --to postgresql://…`: copy a deployment's state
from its SQLite file to PostgreSQL.

Both sides are first brought to the latest schema version, then every table is copied row by
row in batches, each batch its own transaction. A row already in PostgreSQL (same key) is
skipped, never overwritten, so running the command twice changes nothing and an interrupted
copy resumes where it stopped. Tables without a key (`questions`) get only the copies they
lack. Identity sequences are moved past the copied ids so new rows do not collide.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bot.config import Settings, is_postgres_url
from bot.errors import StorageError

BATCH_ROWS = 500  # rows per INSERT (and per transaction): 500 × 18 columns stays far below
# PostgreSQL's 65535 parameters

# French wording of this command (user-facing).
BAD_SOURCE = "Source invalide (--from) : sqlite:CHEMIN attendu, ex. sqlite:data/pilote-ia.sqlite3"
NO_SOURCE = "Fichier SQLite introuvable : {path} (--from)."
BAD_TARGET = (
    "Destination invalide (--to) : postgresql://utilisateur:motdepasse@hôte:5432/base "
    "attendue (ou DATABASE_URL)."
)
FAILED = "Copie interrompue : {error}\nRelancez la commande : les lignes déjà copiées sont gardées."
HEADER = "Copie de {source} vers PostgreSQL ({target}) :"
TABLE_LINE = "  {table:<18} {copied:>8} copiée(s), {skipped:>8} déjà présente(s)"
TOTAL = "Total : {copied} ligne(s) copiée(s), {skipped} déjà présente(s)."


@dataclass
class TableCount:
    """Rows of one table copied and skipped (already in PostgreSQL)."""

    table: str
    copied: int = 0
    skipped: int = 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the migrate-store subcommand."""
    parser = subparsers.add_parser(
        "migrate-store", help="copier l'état du bot d'un fichier SQLite vers PostgreSQL"
    )
    parser.add_argument(
        "--from",
        dest="source",
        metavar="sqlite:CHEMIN",
        help="fichier SQLite à copier (défaut : celui du dossier de données)",
    )
    parser.add_argument(
        "--to", dest="target", metavar="postgresql://…", help="base cible (défaut : DATABASE_URL)"
    )
    parser.set_defaults(handler=run_migrate_store)


def run_migrate_store(args: argparse.Namespace, settings: Settings) -> int:
    """Copy every table, then print the counts in French."""
    source = _source_path(args.source, settings)
    if source is None:
        return _fail(BAD_SOURCE)
    if not source.is_file():
        return _fail(NO_SOURCE.format(path=source))
    target = args.target or (
        settings.database_url.get_secret_value() if settings.database_url else None
    )
    if target is None or not is_postgres_url(target):
        return _fail(BAD_TARGET)
    try:
        counts = copy_store(source, target, progress=None)
    except StorageError as exc:
        return _fail(FAILED.format(error=exc))
    print(HEADER.format(source=source.name, target=describe_url(target)))
    for count in counts:
        print(TABLE_LINE.format(table=count.table, copied=count.copied, skipped=count.skipped))
    copied, skipped = sum(c.copied for c in counts), sum(c.skipped for c in counts)
    print(TOTAL.format(copied=copied, skipped=skipped))
    return 0


def _source_path(raw: str | None, settings: Settings) -> Path | None:
    if raw is None:
        return settings.db_path
    scheme, _, path = raw.partition(":")
    return Path(path) if scheme == "sqlite" and path else None


def describe_url(url: str) -> str:
    """The database of a URL as shown to the operator: base, host and port, no credentials."""
    parts = urlsplit(url)
    host = parts.hostname or "socket local"
    port = f":{parts.port}" if parts.port else ""
    return f"base {parts.path.strip('/') or '(défaut)'} sur {host}{port}"


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def copy_store(source: Path, target: str, *, progress: bool | None = None) -> list[TableCount]:
    """Copy every table of the SQLite file into the PostgreSQL database; counts per table.

    `progress` None shows the bar only on a terminal.
    """
    import psycopg
    from tqdm import tqdm

    from bot.postgres_store import PostgresStore
    from bot.storage import SQLiteStore

    SQLiteStore(source).close()  # both at the latest schema version
    PostgresStore(target).close()
    try:
        with (
            closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as lite,
            psycopg.connect(target, autocommit=True) as pg,  # each batch commits alone
        ):
            tables = _tables(lite)
            total = sum(_count(lite, table) for table in tables)
            hidden = not sys.stderr.isatty() if progress is None else not progress
            with tqdm(total=total, unit=" lignes", disable=hidden) as bar:
                counts = []
                for table in tables:
                    bar.set_description(table)
                    counts.append(_copy_table(lite, pg, table, bar))
                _advance_identities(pg)
    except (sqlite3.Error, psycopg.Error) as exc:
        raise StorageError(f"{type(exc).__name__}: {exc}") from exc
    return counts


def _tables(lite: sqlite3.Connection) -> list[str]:
    """The bot's tables in creation order (parents before the rows that name them)."""
    rows = lite.execute(
        "SELECT name FROM sqlite_master WHERE type='table'"
        " AND name NOT IN ('schema_version', 'sqlite_sequence') ORDER BY rowid"
    ).fetchall()
    return [str(row[0]) for row in rows]


def _count(lite: sqlite3.Connection, table: str) -> int:
    return int(lite.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def _columns(lite: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in lite.execute(f"PRAGMA table_info({table})")]


def _batches(lite: sqlite3.Connection, table: str, columns: Sequence[str]) -> Iterator[list[Any]]:
    cursor = lite.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid")
    while rows := cursor.fetchmany(BATCH_ROWS):
        yield rows


def _has_key(pg: Any, table: str) -> bool:
    """True when the PostgreSQL table has a primary key or a unique constraint."""
    row = pg.execute(
        "SELECT COUNT(*) FROM pg_index WHERE indrelid=%s::regclass AND indisunique", (table,)
    ).fetchone()
    return bool(row[0])


def _copy_table(lite: sqlite3.Connection, pg: Any, table: str, bar: Any) -> TableCount:
    count = TableCount(table)
    columns = _columns(lite, table)
    if not _has_key(pg, table):
        return _copy_keyless(lite, pg, table, columns, bar)
    for rows in _batches(lite, table, columns):
        inserted = _insert(pg, table, columns, rows)
        count.copied += inserted
        count.skipped += len(rows) - inserted
        bar.update(len(rows))
    return count


def _insert(pg: Any, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
    """Insert a batch in one statement, keeping rows whose key is already there; inserted."""
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(rows))}"
        " ON CONFLICT DO NOTHING"
    )
    cursor = pg.execute(sql, [value for row in rows for value in row])
    return int(cursor.rowcount)


def _copy_keyless(
    lite: sqlite3.Connection, pg: Any, table: str, columns: Sequence[str], bar: Any
) -> TableCount:
    """A table without a key: each distinct row gets the copies PostgreSQL lacks (identical
    rows are counted on both sides, so a second run adds none)."""
    count = TableCount(table)
    listed = ", ".join(columns)
    cursor = lite.execute(f"SELECT {listed}, COUNT(*) FROM {table} GROUP BY {listed}")
    match = " AND ".join(f"{column} IS NOT DISTINCT FROM %s" for column in columns)
    empty = pg.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
    while groups := cursor.fetchmany(BATCH_ROWS):
        missing: list[Sequence[Any]] = []
        for *row, copies in groups:
            found = 0  # a first copy into an empty table needs no look-up
            if not empty:
                query = f"SELECT COUNT(*) FROM {table} WHERE {match}"
                found = int(pg.execute(query, row).fetchone()[0])
            missing += [row] * max(0, int(copies) - found)
        inserted = _insert(pg, table, columns, missing) if missing else 0
        rows = sum(int(group[-1]) for group in groups)
        count.copied += inserted
        count.skipped += rows - inserted
        bar.update(rows)
    return count


def _advance_identities(pg: Any) -> None:
    """Move each identity sequence past the largest copied id."""
    columns = pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema='public' AND is_identity='YES'"
    ).fetchall()
    for table, column in columns:
        pg.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX({column}), 0) + 1,"
            f" false) FROM {table}",
            (table, column),
        )
