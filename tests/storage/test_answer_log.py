"""The answer log and the owners' feedback: the storage contract read by the vote buttons, the
gap report and the admin page (both stores), and SQLite's migrations to it."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from bot.advice import Profile
from bot.storage import (
    DAY_S,
    MIGRATIONS,
    SCHEMA_VERSION,
    AnswerRecord,
    Feedback,
    PendingQuestion,
    SQLiteStore,
    Store,
)
from tests.storage.conftest import Clock
from tests.telegram.support import sample_advice


def record(
    user_id: int = 1, question: str = "Comment gérer mes commandes WhatsApp ?", **changes: object
) -> AnswerRecord:
    base = AnswerRecord(
        answer_id=0,
        user_id=user_id,
        chat_id=10 * user_id,
        at=0.0,
        question=question,
        intent="need",
        mode="llm",
        provider="deepseek",
        model="deepseek-chat",
        fallback_reason=None,
        retrieved=("tool-whatsapp-business", "guide-pilote-messages", "tool-le-chat"),
        cited=("tool-whatsapp-business",),
        tools=("WhatsApp Business", "Le Chat Pro"),
        top_score=0.71,
        neighbour_need=False,
        latency_s=2.5,
        cost_eur=0.0021,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_store_satisfies_the_protocol(store: Store) -> None:
    typed: Store = store  # mypy checks the protocol; the call checks it at run time
    assert typed.answers_since(0) == []


def test_record_answer_round_trips_every_field(store: Store, clock: Clock) -> None:
    first = store.record_answer(record())
    second = store.record_answer(
        record(
            2,
            "Un outil pour mes devis ?",
            mode="degraded",
            fallback_reason="timeout",
            top_score=None,
            neighbour_need=True,
            at=clock.now - 60,
        )
    )
    assert first > 0 and second > first
    got = store.answer(first)
    assert got == record(answer_id=first, at=clock.now)  # at 0 means "now"
    other = store.answer(second)
    assert other is not None
    assert (other.mode, other.fallback_reason, other.top_score, other.neighbour_need) == (
        "degraded",
        "timeout",
        None,
        True,
    )
    assert other.at == clock.now - 60
    assert store.answer(999) is None


def test_answers_since_is_oldest_first_and_bounded(store: Store, clock: Clock) -> None:
    store.record_answer(record(question="récente", at=clock.now))
    store.record_answer(record(question="ancienne", at=clock.now - 3 * DAY_S))
    store.record_answer(record(question="trop vieille", at=clock.now - 10 * DAY_S))
    got = store.answers_since(clock.now - 5 * DAY_S)
    assert [a.question for a in got] == ["ancienne", "récente"]


def test_one_vote_per_answer_changeable(store: Store, clock: Clock) -> None:
    answer_id = store.record_answer(record())
    assert store.set_vote(answer_id, 1, -1)
    assert store.set_feedback_reason(answer_id, 1, "other", None)
    assert store.set_feedback_reason(answer_id, 1, None, "  Je n'ai pas de WhatsApp.  ")
    assert store.feedback(answer_id) == Feedback(
        answer_id, 1, -1, "other", "Je n'ai pas de WhatsApp.", clock.now
    )
    assert store.set_vote(answer_id, 1, -1)  # same vote again keeps the reason
    kept = store.feedback(answer_id)
    assert kept is not None and kept.reason == "other"
    clock.now += 5
    assert store.set_vote(answer_id, 1, +1)  # changed: a thumbs-up carries no reason
    assert store.feedback_since(0) == [Feedback(answer_id, 1, 1, None, None, clock.now)]


def test_vote_refused_on_unknown_or_foreign_answer(store: Store) -> None:
    mine = store.record_answer(record(1))
    assert not store.set_vote(mine, 2, -1)
    assert not store.set_vote(mine + 100, 1, -1)
    assert not store.set_feedback_reason(mine, 1, "unclear", None)  # no vote yet
    assert store.feedback_since(0) == []
    with pytest.raises(ValueError):
        store.set_vote(mine, 1, 0)
    store.set_vote(mine, 1, -1)
    with pytest.raises(ValueError):
        store.set_feedback_reason(mine, 1, "boring", None)


def test_comment_is_length_capped(store: Store) -> None:
    answer_id = store.record_answer(record())
    store.set_vote(answer_id, 1, -1)
    store.set_feedback_reason(answer_id, 1, "other", "x" * 5000)
    vote = store.feedback(answer_id)
    assert vote is not None and vote.comment is not None and len(vote.comment) == 500


def test_feedback_since_filters_by_last_change(store: Store, clock: Clock) -> None:
    old = store.record_answer(record(question="a"))
    store.set_vote(old, 1, 1)
    clock.now += DAY_S
    new = store.record_answer(record(question="b"))
    store.set_vote(new, 1, -1)
    assert [f.answer_id for f in store.feedback_since(clock.now - 60)] == [new]


def test_purge_drops_old_answers_and_their_votes(store: Store, clock: Clock) -> None:
    old = store.record_answer(record(question="vieille"))
    store.set_vote(old, 1, -1)
    clock.now += 40 * DAY_S
    recent = store.record_answer(record(question="récente"))
    store.set_vote(recent, 1, 1)
    assert store.purge(90, feedback_retention_days=30) == 2  # one answer, one vote
    assert [a.answer_id for a in store.answers_since(0)] == [recent]
    assert [f.answer_id for f in store.feedback_since(0)] == [recent]
    clock.now += 40 * DAY_S
    assert store.purge(30) == 2  # without its own setting, the general retention applies
    assert store.answers_since(0) == [] and store.feedback_since(0) == []


def test_forget_user_erases_answers_and_feedback(store: Store) -> None:
    for user in (1, 2):
        store.set_vote(store.record_answer(record(user)), user, -1)
    store.forget_user(1)
    assert [a.user_id for a in store.answers_since(0)] == [2]
    assert [f.user_id for f in store.feedback_since(0)] == [2]
    assert store.export_user(1)["answers"] == []


def test_export_user_holds_everything_about_them_as_json(store: Store) -> None:
    store.save_profile(1, Profile(sector="restauration", size="2-9", monthly_budget_eur=50))
    store.add_turn(10, 1, "Comment gérer mes commandes WhatsApp ?", "Centralisez-les.")
    store.save_last_advice(10, 1, "Comment gérer mes commandes WhatsApp ?", sample_advice())
    store.save_checklist(1, ["Mesurer", "Essayer"], "2026-11-23")
    store.toggle_tick(1, 0)
    store.record_question(1)
    store.add_usage(1, 900, 300, 0.002)
    store.set_reminder(1, 10, True)
    store.mark_question(PendingQuestion(5, 10, 1, "en cours ?", owner="w"))
    answer_id = store.record_answer(record(1))
    store.set_vote(answer_id, 1, -1)
    store.set_feedback_reason(answer_id, 1, "too_expensive", "Trop cher pour moi.")
    store.save_profile(2, Profile(sector="sante"))
    store.add_turn(20, 2, "question d'un autre", "x")

    data = json.loads(json.dumps(store.export_user(1), ensure_ascii=False))
    assert data["profile"]["sector"] == "restauration"
    assert [h["question"] for h in data["history"]] == ["Comment gérer mes commandes WhatsApp ?"]
    assert data["last_answers"][0]["advice"]["tools"][0]["name"] == "WhatsApp Business"
    assert data["checklist"]["items"] == [
        {"task": "Mesurer", "done": True},
        {"task": "Essayer", "done": False},
    ]
    assert data["answers"][0]["question"] == "Comment gérer mes commandes WhatsApp ?"
    assert data["answers"][0]["cited"] == ["tool-whatsapp-business"]
    assert data["feedback"][0]["reason"] == "too_expensive"
    assert data["feedback"][0]["comment"] == "Trop cher pour moi."
    assert data["usage"][0]["cost_eur"] == 0.002
    assert len(data["questions_asked_at"]) == 1
    assert data["questions_in_flight"][0]["question"] == "en cours ?"
    assert data["reminders"] == [{"chat_id": 10, "since": data["reminders"][0]["since"]}]
    assert "question d'un autre" not in json.dumps(data, ensure_ascii=False)


def test_export_of_an_unknown_user_is_empty(store: Store) -> None:
    data = store.export_user(42)
    assert data["profile"] is None and data["checklist"] is None
    for key in ("history", "answers", "feedback", "usage", "reminders", "last_answers"):
        assert data[key] == [], key


def test_migrates_a_version_3_file_to_the_answer_log(tmp_path: Path) -> None:
    path = tmp_path / "v3.db"
    db = sqlite3.connect(path)
    db.executescript("".join(MIGRATIONS[:3]))
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (3)")
    db.execute("INSERT INTO profiles VALUES (7, 'commerce', 'seul', 0, 'temps', 0)")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    assert store.schema_version == SCHEMA_VERSION == 6
    profile = store.get_profile(7)
    assert profile is not None and profile.sector == "commerce"
    answer_id = store.record_answer(record(7))
    assert store.set_vote(answer_id, 7, 1)


def test_answering_into_the_same_message_again_keeps_the_answer_id(store: Store) -> None:
    first = store.record_answer(record(question="v1"), message_id=7)
    store.set_vote(first, 1, -1)
    again = store.record_answer(record(question="v1 reprise", latency_s=9.0), message_id=7)
    other_chat = store.record_answer(record(2, question="ailleurs"), message_id=7)
    unkeyed = [store.record_answer(record(question="sans message")) for _ in range(2)]
    assert again == first and other_chat != first and unkeyed[0] != unkeyed[1]
    stored = store.answer(first)
    assert stored is not None and (stored.question, stored.latency_s) == ("v1 reprise", 9.0)
    assert [f.answer_id for f in store.feedback_since(0)] == [first]  # the vote stays
    assert len(store.answers_since(0)) == 4


def test_comment_is_awaited_only_in_reply_to_its_prompt_in_time(store: Store, clock: Clock) -> None:
    answer_id = store.record_answer(record(1))  # chat 10
    assert not store.await_comment(answer_id, 1, prompt_id=55, until=clock.now + 600)  # no vote
    store.set_vote(answer_id, 1, -1)
    store.set_feedback_reason(answer_id, 1, "other", None)
    assert store.await_comment(answer_id, 1, prompt_id=55, until=clock.now + 600)
    assert store.comment_awaited(10, 1, 55) == answer_id
    assert store.comment_awaited(10, 1, 54) is None  # a reply to another message
    assert store.comment_awaited(10, 2, 55) is None  # someone else replying
    assert store.comment_awaited(20, 1, 55) is None  # the same message id in another chat
    clock.now += 601
    assert store.comment_awaited(10, 1, 55) is None  # too late: a question again
    clock.now -= 601
    store.set_feedback_reason(answer_id, 1, None, "Je n'ai pas WhatsApp.")
    assert store.comment_awaited(10, 1, 55) is None  # one comment per prompt
    vote = store.feedback(answer_id)
    assert vote is not None and (vote.reason, vote.comment) == ("other", "Je n'ai pas WhatsApp.")


def _v3_file(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript("".join(MIGRATIONS[:3]))
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (3)")
    db.commit()
    db.close()


def _open_together(path: Path, processes: int = 4) -> list[Exception]:
    """Open one file from several threads released at the same instant; the errors."""
    barrier = threading.Barrier(processes)
    errors: list[Exception] = []

    def open_store() -> None:
        barrier.wait()
        try:
            SQLiteStore(path).close()
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(processes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("start", ["fresh", "version 3"])
def test_processes_opening_one_file_together_migrate_it_once(tmp_path: Path, start: str) -> None:
    """Workers started together (after an upgrade) open one file: the WAL switch and each
    migration step happen once, nobody fails with "database is locked"."""
    for round_ in range(10):
        path = tmp_path / f"{round_}.db"
        if start == "version 3":
            _v3_file(path)
        assert _open_together(path) == []
        assert SQLiteStore(path).schema_version == SCHEMA_VERSION
