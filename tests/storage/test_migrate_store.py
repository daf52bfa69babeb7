"""`pilote-ia migrate-store`: a seeded SQLite file copied to a real PostgreSQL, twice."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.advice import Profile
from bot.cli import main
from bot.postgres_store import PostgresStore
from bot.storage import PendingQuestion, SQLiteStore
from tests.storage.conftest import Backend, Clock
from tests.storage.test_answer_log import record
from tests.telegram.support import sample_advice


def seed(path: Path, clock: Clock) -> SQLiteStore:
    """Every table holds rows for two users, ids with gaps, and two identical question rows."""
    store = SQLiteStore(path, clock=clock)
    for user in (1, 2):
        store.save_profile(user, Profile(sector="restauration", size="2-9"))
        for turn in range(3):
            store.add_turn(10 * user, user, f"question {turn} ?", f"réponse {turn}")
        store.save_last_advice(10 * user, user, "question 2 ?", sample_advice())
        store.save_checklist(user, ["Mesurer", "Essayer", "Décider"], "2026-11-23")
        store.toggle_tick(user, 1)
        store.record_question(user)
        store.record_question(user)  # same instant: two identical rows, both kept
        store.add_usage(user, 900, 300, 0.002 * user)
        store.set_reminder(user, 10 * user, True)
        store.mark_question(PendingQuestion(100 + user, 10 * user, user, "en cours ?", owner="w"))
        answer_id = store.record_answer(record(user), message_id=50 + user)
        store.set_vote(answer_id, user, -1)
        store.set_feedback_reason(answer_id, user, "unclear", "Pas clair.")
        store.inbox_put(200 + user, f'{{"update_id": {200 + user}}}')
        clock.now += 60
    store.hold_budget(2, "w", 1.0, 300.0)
    store.mark_update(300)
    store.clear_history(10, 1)  # ids with a gap
    store.add_turn(10, 1, "après l'effacement", "ok")
    return store


def contents(backend: Backend) -> dict[str, Counter[tuple[Any, ...]]]:
    """Every row of every table, as multisets (floats and ints compare equal across stores)."""
    return {
        table: Counter(
            tuple(row) for row in backend.query(f"SELECT {', '.join(cols)} FROM {table}")
        )
        for table, cols in backend.tables().items()
        if table not in ("schema_version", "sqlite_sequence")
    }


def migrate(source: Path, url: str, capsys: pytest.CaptureFixture[str]) -> str:
    code = main(["migrate-store", "--from", f"sqlite:{source}", "--to", url])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def test_copies_every_table_once_and_a_second_run_changes_nothing(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    source = tmp_path / "pilote-ia.sqlite3"
    seed(source, clock).close()
    lite, pg = Backend("sqlite", str(source)), Backend("postgres", pg_url)
    rows = sum(sum(table.values()) for table in contents(lite).values())

    first = migrate(source, pg_url, capsys)
    assert contents(pg) == contents(lite)
    assert f"Total : {rows} ligne(s) copiée(s), 0 déjà présente(s)." in first
    assert "questions" in first and "pg-test" not in first  # no password in the summary

    second = migrate(source, pg_url, capsys)
    assert contents(pg) == contents(lite)
    assert f"Total : 0 ligne(s) copiée(s), {rows} déjà présente(s)." in second

    moved = PostgresStore(pg_url, clock=clock)
    copied = SQLiteStore(source, clock=clock)
    for user in (1, 2):
        assert moved.export_user(user) == copied.export_user(user)
    assert moved.questions_since(1, 0) == 2 and moved.pending_questions() != []
    moved.add_turn(10, 1, "sur PostgreSQL", "ok")  # the copied ids do not collide
    assert [t.question for t in moved.history(10, 1, 2)] == ["après l'effacement", "sur PostgreSQL"]
    new_answer = moved.record_answer(record(1))
    assert new_answer > max(a.answer_id for a in copied.answers_since(0))
    assert [i.update_id for i in moved.inbox_claim("w2", 30.0)] == [201, 202]
    moved.close()
    copied.close()


def test_an_interrupted_copy_is_completed_by_the_next_run(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = Clock()
    source = tmp_path / "pilote-ia.sqlite3"
    seed(source, clock).close()
    migrate(source, pg_url, capsys)
    pg = Backend("postgres", pg_url)
    pg.query("DELETE FROM history WHERE question=?", ("question 1 ?",))  # never copied
    pg.query("DELETE FROM questions WHERE user_id=2")
    again = migrate(source, pg_url, capsys)
    assert "Total : 3 ligne(s) copiée(s)" in again  # a turn, two identical question rows
    assert contents(pg) == contents(Backend("sqlite", str(source)))


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["--from", "sqlite:/nowhere/x.sqlite3"], "Fichier SQLite introuvable"),
        (["--from", "/tmp/x.sqlite3"], "Source invalide (--from)"),
        (["--to", "mysql://u:p@h/db"], "Destination invalide (--to)"),
        ([], "Destination invalide (--to)"),  # neither --to nor DATABASE_URL
    ],
)
def test_bad_arguments_are_explained_in_french(
    tmp_path: Path, argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    SQLiteStore(tmp_path / "s.sqlite3").close()
    defaults = {"--from": f"sqlite:{tmp_path / 's.sqlite3'}"}
    args = [*argv] + [x for k, v in defaults.items() if k not in argv for x in (k, v)]
    assert main(["migrate-store", *args]) == 1
    assert error in capsys.readouterr().err


def test_an_unreachable_target_is_explained(
    tmp_path: Path, pg_server: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.fakes.processes import free_port

    source = tmp_path / "s.sqlite3"
    SQLiteStore(source).close()
    url = pg_server.url().replace(f":{pg_server.port}/", f":{free_port()}/")
    assert main(["migrate-store", "--from", f"sqlite:{source}", "--to", url]) == 1
    assert "Copie interrompue" in capsys.readouterr().err
