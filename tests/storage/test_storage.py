"""The store contract on SQLite and PostgreSQL (round trips, retention purge, forget_user) and
SQLite's schema migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.advice import Profile, Usage
from bot.errors import StorageError
from bot.storage import (
    DAY_S,
    MIGRATIONS,
    PENDING_LEASE_S,
    SCHEMA_VERSION,
    FinalReply,
    PendingQuestion,
    SQLiteStore,
    Store,
    utc_day,
)
from tests.storage.conftest import Backend, Clock
from tests.storage.test_answer_log import record as answer_record
from tests.telegram.support import sample_advice


def test_fresh_file_is_at_latest_version_in_wal(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "s.db")
    assert store.schema_version == SCHEMA_VERSION == 6
    store.close()
    mode = sqlite3.connect(tmp_path / "s.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_migrates_a_version_1_file_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0])
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.execute("INSERT INTO profiles VALUES (7, 'restauration', '2-9', 50, 'temps', 0)")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.schema_version == SCHEMA_VERSION
    profile = store.get_profile(7)
    assert profile is not None and profile.sector == "restauration"
    store.set_reminder(7, 70, True)  # table added by migration 2
    assert store.has_reminder(7)


def test_round_trips(store: Store) -> None:
    store.save_profile(1, Profile(sector="commerce", size="seul", monthly_budget_eur=0))
    assert store.get_profile(1) == Profile(sector="commerce", size="seul", monthly_budget_eur=0)
    for i in range(5):
        store.add_turn(10, 1, f"q{i}", f"a{i}")
    store.add_turn(20, 1, "autre chat", "x")
    assert [t.question for t in store.history(10, 1, 3)] == ["q2", "q3", "q4"]
    advice = sample_advice(degraded=True)
    store.save_last_advice(10, 1, "q4", advice)
    last = store.last_advice(10, 1)
    assert last is not None and last.advice == advice and last.advice.degraded
    store.clear_history(10, 1)
    assert store.history(10, 1, 3) == [] and store.last_advice(10, 1) is None
    assert store.history(20, 1, 3) != [] and store.get_profile(1) is not None


def test_checklist_ticks(store: Store) -> None:
    store.save_checklist(1, ["a", "b", "c"], "2026-11-23")
    assert store.toggle_tick(1, 1) is not None
    checklist = store.toggle_tick(1, 2)
    assert checklist is not None and checklist.ticked == {1, 2} and checklist.progress == "2/3"
    checklist = store.toggle_tick(1, 1)
    assert checklist is not None and checklist.progress == "1/3"
    assert store.toggle_tick(1, 9) is None
    store.save_checklist(1, ["x"], "2026-11-24")
    checklist = store.checklist(1)
    assert checklist is not None and checklist.ticked == frozenset()


def test_usage_quota_and_idempotence(store: Store, clock: Clock) -> None:
    store.record_question(1)
    clock.now += 10
    store.record_question(1)
    store.record_question(2)
    assert store.questions_since(1, clock.now - 5) == 1
    store.add_usage(1, 100, 50, 0.01)
    store.add_usage(1, 100, 50, 0.02)
    assert abs(store.cost_today(1) - 0.03) < 1e-9
    clock.now += DAY_S
    assert store.cost_today(1) == 0
    totals = store.usage_totals()
    assert (totals.users, totals.questions_total, totals.questions_today) == (2, 3, 0)
    assert abs(totals.cost_total_eur - 0.03) < 1e-9 and totals.cost_today_eur == 0
    assert store.mark_update(42) is True
    assert store.mark_update(42) is False


def test_retention_purge_keeps_recent_rows(store: Store, clock: Clock) -> None:
    store.add_turn(1, 1, "vieux", "x")
    store.mark_update(1)
    clock.now += 40 * DAY_S
    store.add_turn(1, 1, "récent", "y")
    assert store.purge(30) == 2
    assert [t.question for t in store.history(1, 1, 10)] == ["récent"]
    assert store.mark_update(1) is True


def test_forget_user_erases_every_table(backend: Backend) -> None:
    store = backend.open()
    for user in (1, 2):
        store.save_profile(user, Profile(sector="sante"))
        store.add_turn(5, user, "q", "a")
        store.save_last_advice(5, user, "q", sample_advice())
        store.save_checklist(user, ["a"], "2026-11-23")
        store.toggle_tick(user, 0)
        store.record_question(user)
        store.add_usage(user, 1, 1, 0.1)
        assert store.hold_budget(user, "w", 1.0, 60.0)
        store.set_reminder(user, 5, True)
        store.mark_question(PendingQuestion(100 + user, 5, user, "en cours ?", owner="w"))
        store.set_vote(store.record_answer(answer_record(user)), user, -1)
    store.forget_user(1)
    assert [p.user_id for p in store.pending_questions()] == [2]
    checked = []
    for table, columns in backend.tables().items():
        if "user_id" in columns:
            [(left,)] = backend.query(f"SELECT COUNT(*) FROM {table} WHERE user_id=1")
            [(kept,)] = backend.query(f"SELECT COUNT(*) FROM {table} WHERE user_id=2")
            assert (table, left) == (table, 0)
            assert kept == 1, table
            checked.append(table)
    assert len(checked) == 12  # every table holding a user id was filled for both users


def test_migrates_a_version_2_file_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + MIGRATIONS[1])
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (2)")
    db.execute("INSERT INTO profiles VALUES (7, 'commerce', 'seul', 0, 'temps', 0)")
    db.execute(
        "INSERT INTO history (chat_id, user_id, question, answer, created_at)"
        " VALUES (70, 7, 'q', 'a', 1)"
    )
    db.execute("INSERT INTO processed_updates VALUES (41, 1)")
    db.execute("INSERT INTO reminders VALUES (7, 70, 1)")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.schema_version == SCHEMA_VERSION
    profile = store.get_profile(7)
    assert profile is not None and profile.sector == "commerce"
    assert [t.answer for t in store.history(70, 7, 5)] == ["a"]
    assert store.has_reminder(7) and store.mark_update(41) is False
    assert store.pending_questions() == []  # table added by migration 3
    assert store.mark_question(PendingQuestion(42, 70, 7, "q ?", owner="w"))
    assert [p.update_id for p in store.pending_questions()] == [42]
    store.close()
    assert SQLiteStore(path).schema_version == SCHEMA_VERSION  # re-opening migrates nothing


def test_question_in_flight_is_recorded_with_its_update(store: Store, clock: Clock) -> None:
    pending = PendingQuestion(9, 90, 1, "Comment répondre plus vite ?", owner="a", reply_to=4)
    assert store.mark_question(pending) is True
    assert store.mark_update(9) is False  # the update id was recorded in the same transaction
    assert store.mark_question(pending) is False  # a re-delivery writes nothing
    store.set_placeholder(9, 12)
    [row] = store.pending_questions()
    assert (row.chat_id, row.user_id, row.question, row.reply_to, row.placeholder_id) == (
        90,
        1,
        "Comment répondre plus vite ?",
        4,
        12,
    )
    assert row.created_at == clock.now and row.lease_until == clock.now + PENDING_LEASE_S
    clock.now += 30
    assert store.renew_questions("a") == 1 and store.renew_questions("b") == 0
    assert store.pending_questions()[0].lease_until == clock.now + PENDING_LEASE_S
    assert store.claim_question(9, "z", "b") is False  # not z's question
    assert store.claim_question(9, "a", "b") is True
    assert store.claim_question(9, "a", "c") is False  # b was faster
    assert store.pending_questions()[0].owner == "b"
    store.finish_question(9)
    assert store.pending_questions() == []


def test_purge_drops_old_questions_in_flight(store: Store, clock: Clock) -> None:
    store.mark_question(PendingQuestion(1, 10, 1, "vieille question", owner="a"))
    clock.now += 40 * DAY_S
    store.mark_question(PendingQuestion(2, 10, 1, "récente", owner="a"))
    assert store.purge(30) == 2  # the old row and its update id
    assert [p.question for p in store.pending_questions()] == ["récente"]


def test_a_ready_reply_is_kept_with_its_question_and_recorded_once(
    store: Store, clock: Clock
) -> None:
    asked = PendingQuestion(9, 90, 1, "Comment répondre plus vite ?", owner="a")
    store.mark_question(asked)
    store.add_usage(1, 100, 10, 0.001)  # an earlier answer of the day
    usage = Usage(provider="p", model="m", prompt_tokens=900, completion_tokens=300, cost_eur=0.02)
    markup = '{"inline_keyboard": [[{"text": "👍", "callback_data": "v:u:1"}]]}'
    final = FinalReply(("<b>Réponse</b> 1/2", "suite 2/2"), markup)
    store.keep_final(asked, "Centralisez vos messages.", final, usage)
    [row] = store.pending_questions()
    assert row.final == final
    assert [(t.question, t.answer) for t in store.history(90, 1, 5)] == [
        ("Comment répondre plus vite ?", "Centralisez vos messages.")
    ]
    assert store.cost_today(1) == pytest.approx(0.021)
    assert store.export_user(1)["usage"] == [
        {
            "day": utc_day(clock.now),
            "prompt_tokens": 1000,
            "completion_tokens": 310,
            "cost_eur": 0.021,
        }
    ]
    # claimed by a resumer, the question keeps its reply; finished, it is gone
    assert store.claim_question(9, "a", "b")
    assert store.pending_questions()[0].final == final
    store.finish_question(9)
    assert store.pending_questions() == []


def test_a_reply_without_keyboard_usage_or_pending_row_still_records_the_exchange(
    store: Store,
) -> None:
    store.mark_question(PendingQuestion(1, 10, 1, "autre question", owner="a"))
    asked = PendingQuestion(2, 10, 1, "hors ligne ?", owner="a")  # never marked
    store.keep_final(asked, "Réponse hors ligne.", FinalReply(("Réponse",)), None)
    assert [t.answer for t in store.history(10, 1, 5)] == ["Réponse hors ligne."]
    assert store.cost_today(1) == 0.0
    [other] = store.pending_questions()
    assert other.update_id == 1 and other.final is None


def test_a_failed_ready_reply_writes_nothing(store: Store) -> None:
    """History, usage and the reply are one transaction: all or nothing."""
    asked = PendingQuestion(3, 10, 1, "q ?", owner="a")
    store.mark_question(asked)
    usage = Usage(provider="p", model="m", prompt_tokens=1, completion_tokens=0, cost_eur=0)
    bad = usage.model_copy(update={"prompt_tokens": None})  # NOT NULL column: the insert fails
    with pytest.raises(StorageError):
        store.keep_final(asked, "x", FinalReply(("x",)), bad)
    assert store.history(10, 1, 5) == [] and store.pending_questions()[0].final is None
