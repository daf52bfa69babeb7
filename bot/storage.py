"""State of the bot: profiles, history, checklists, usage, processed updates, reminders, the
questions in flight (so a crash loses none of them), the answer log with the owners' feedback
on it, the inbox of received updates and the budget holds of answers in progress.

This module owns the `Store` protocol, its row types and the SQLite schema: `MIGRATIONS[i]`
upgrades a database from version i to i+1; `schema_version` records where a file stands.
`SqlStore` holds the queries both databases share, written once with "?" placeholders;
`SQLiteStore` here and `bot.postgres_store.PostgresStore` (same schema versions) add their
connection handling and the steps whose locking differs. `bot.wiring.open_store` picks one
from the settings, and handlers only see the protocol.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from bot.advice import Advice, Profile, Turn, Usage
from bot.errors import StorageError

DAY_S = 86_400.0

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: core tables
    """
    CREATE TABLE profiles (
        user_id INTEGER PRIMARY KEY,
        sector TEXT, size TEXT, monthly_budget_eur REAL, priority TEXT,
        updated_at REAL NOT NULL
    );
    CREATE TABLE history (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        chat_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
        question TEXT NOT NULL, answer TEXT NOT NULL, created_at REAL NOT NULL
    );
    CREATE INDEX history_by_conversation ON history (chat_id, user_id, id);
    CREATE INDEX history_by_age ON history (created_at);
    CREATE TABLE last_advice (
        chat_id INTEGER NOT NULL, user_id INTEGER NOT NULL,
        question TEXT NOT NULL, payload TEXT NOT NULL, created_at REAL NOT NULL,
        PRIMARY KEY (chat_id, user_id)
    );
    CREATE TABLE checklists (
        user_id INTEGER PRIMARY KEY,
        items TEXT NOT NULL, start_date TEXT NOT NULL, created_at REAL NOT NULL
    );
    CREATE TABLE checklist_ticks (
        user_id INTEGER NOT NULL, idx INTEGER NOT NULL,
        PRIMARY KEY (user_id, idx)
    );
    CREATE TABLE questions (user_id INTEGER NOT NULL, at REAL NOT NULL);
    CREATE INDEX questions_by_user ON questions (user_id, at);
    CREATE TABLE usage (
        user_id INTEGER NOT NULL, day TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL DEFAULT 0, completion_tokens INTEGER NOT NULL DEFAULT 0,
        cost_eur REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, day)
    );
    CREATE TABLE processed_updates (update_id INTEGER PRIMARY KEY, at REAL NOT NULL);
    """,
    # 1 -> 2: opt-in daily reminders
    """
    CREATE TABLE reminders (
        user_id INTEGER PRIMARY KEY, chat_id INTEGER NOT NULL, created_at REAL NOT NULL
    );
    """,
    # 2 -> 3: questions in flight, resumed after a crash
    """
    CREATE TABLE pending_questions (
        update_id INTEGER PRIMARY KEY,
        chat_id INTEGER NOT NULL, user_id INTEGER NOT NULL, question TEXT NOT NULL,
        reply_to INTEGER, placeholder_id INTEGER,
        owner TEXT NOT NULL, lease_until REAL NOT NULL, created_at REAL NOT NULL
    );
    CREATE INDEX pending_by_user ON pending_questions (user_id);
    """,
    # 3 -> 4: answer log and the owners' votes on it
    """
    CREATE TABLE answers (
        answer_id INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id INTEGER NOT NULL, chat_id INTEGER NOT NULL, created_at REAL NOT NULL,
        question TEXT NOT NULL, intent TEXT NOT NULL, mode TEXT NOT NULL,
        provider TEXT, model TEXT, fallback_reason TEXT,
        retrieved TEXT NOT NULL, cited TEXT NOT NULL, tools TEXT NOT NULL,
        top_score REAL, neighbour_need INTEGER NOT NULL,
        latency_s REAL NOT NULL, cost_eur REAL NOT NULL,
        message_id INTEGER,
        UNIQUE (chat_id, message_id)
    );
    CREATE INDEX answers_by_age ON answers (created_at);
    CREATE INDEX answers_by_user ON answers (user_id);
    CREATE TABLE feedback (
        answer_id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL, vote INTEGER NOT NULL,
        reason TEXT, comment TEXT, created_at REAL NOT NULL,
        comment_prompt_id INTEGER, comment_until REAL
    );
    CREATE INDEX feedback_by_age ON feedback (created_at);
    CREATE INDEX feedback_by_user ON feedback (user_id);
    """,
    # 4 -> 5: inbox of received updates, written before they are acknowledged; the part of a
    # user's daily budget each worker reserves while an LLM answers them
    """
    CREATE TABLE inbox (
        update_id INTEGER PRIMARY KEY,
        payload TEXT NOT NULL, received_at REAL NOT NULL,
        owner TEXT, lease_until REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX inbox_by_age ON inbox (received_at, update_id);
    CREATE TABLE budget_holds (
        user_id INTEGER NOT NULL, holder TEXT NOT NULL,
        amount_eur REAL NOT NULL, until REAL NOT NULL,
        PRIMARY KEY (user_id, holder)
    );
    """,
    # 5 -> 6: the final reply of an answer, kept with its question until delivered
    """
    ALTER TABLE pending_questions ADD COLUMN final_parts TEXT;
    ALTER TABLE pending_questions ADD COLUMN final_markup TEXT;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

USER_TABLES = (
    "profiles",
    "history",
    "last_advice",
    "checklists",
    "checklist_ticks",
    "questions",
    "usage",
    "reminders",
    "pending_questions",
    "feedback",
    "answers",
    "budget_holds",
)
PENDING_LEASE_S = 60.0  # a question's owner renews it while alive; expired = orphaned


@dataclass(frozen=True)
class Checklist:
    """A user's two-week checklist: items in order and the indexes ticked."""

    items: tuple[str, ...]
    ticked: frozenset[int]
    start_date: str  # ISO date of day 1

    @property
    def progress(self) -> str:
        """Progress as shown to users, e.g. "4/12"."""
        return f"{len(self.ticked)}/{len(self.items)}"


@dataclass(frozen=True)
class LastAdvice:
    """The last answer given in a conversation, for the buttons under it."""

    question: str
    advice: Advice


@dataclass(frozen=True)
class Reminder:
    """An opt-in daily reminder."""

    user_id: int
    chat_id: int


@dataclass(frozen=True)
class FinalReply:
    """The last message of an answer as rendered: its HTML parts and the JSON of the inline
    keyboard under the last part (None without one)."""

    parts: tuple[str, ...]
    markup: str | None = None


@dataclass(frozen=True)
class PendingQuestion:
    """A question being answered: recorded with its update id, deleted once answered.

    `owner` names the process answering it (see `bot.telegram.resume.process_token`);
    `lease_until` is pushed forward while that process lives, so another process may take
    over the question once the lease expired. `final` is the answer's reply once ready
    (`Store.keep_final`): a question resumed with one is delivered again, not answered again.
    """

    update_id: int
    chat_id: int
    user_id: int
    question: str
    owner: str
    reply_to: int | None = None
    placeholder_id: int | None = None
    created_at: float = 0.0
    lease_until: float = 0.0
    final: FinalReply | None = None


FEEDBACK_REASONS = ("unclear", "wrong_tool", "too_expensive", "wrong_fact", "other")
MAX_COMMENT_CHARS = 500
EXPORT_HISTORY_ROWS = 1000  # a copy stays a file a phone opens; retention keeps it far below


@dataclass(frozen=True)
class AnswerRecord:
    """One final answer sent to an owner, kept for feedback, the gap report and the admin page."""

    answer_id: int  # 0 before `record_answer` assigns it
    user_id: int
    chat_id: int
    at: float  # unix time the answer was sent
    question: str  # the owner's text as answered (already length-capped)
    intent: str  # Advice.intent
    mode: str  # "llm" | "offline" | "degraded"
    provider: str | None  # Advice.usage.provider when tokens were spent, else settings' or None
    model: str | None
    fallback_reason: str | None
    retrieved: tuple[str, ...]  # fiche ids the search returned, best first
    cited: tuple[str, ...]  # fiche ids of Advice.sources
    tools: tuple[str, ...]  # tool names proposed
    top_score: float | None  # best dense cosine of the search (Advice.trace.top_score)
    neighbour_need: bool  # offline composer had no need match and fell back
    latency_s: float
    cost_eur: float  # LLM + transcription cost of this answer


@dataclass(frozen=True)
class Feedback:
    """An owner's vote on one answer, with the reason and comment given after a 👎."""

    answer_id: int
    user_id: int
    vote: int  # +1 or -1
    reason: str | None  # one of FEEDBACK_REASONS, or None
    comment: str | None  # optional free text after a 👎 (length-capped)
    at: float  # last change


@dataclass(frozen=True)
class InboxItem:
    """A received update, kept until a worker has handled it."""

    update_id: int
    payload: str  # the update's JSON exactly as Telegram sent it
    received_at: float
    owner: str | None  # the worker holding its lease, None when free
    lease_until: float


INBOX_CLAIM_LIMIT = 32


@dataclass(frozen=True)
class UsageTotals:
    """Aggregated usage for `/usage`."""

    users: int
    questions_today: int
    questions_total: int
    cost_today_eur: float
    cost_total_eur: float


class Store(Protocol):
    """What the Telegram face needs from persistent state."""

    def get_profile(self, user_id: int) -> Profile | None: ...
    def save_profile(self, user_id: int, profile: Profile) -> None: ...
    def history(self, chat_id: int, user_id: int, limit: int) -> list[Turn]: ...
    def add_turn(self, chat_id: int, user_id: int, question: str, answer: str) -> None: ...
    def clear_history(self, chat_id: int, user_id: int) -> None: ...
    def save_last_advice(
        self, chat_id: int, user_id: int, question: str, advice: Advice
    ) -> None: ...
    def last_advice(self, chat_id: int, user_id: int) -> LastAdvice | None: ...
    def save_checklist(self, user_id: int, items: Sequence[str], start_date: str) -> None: ...
    def checklist(self, user_id: int) -> Checklist | None: ...
    def toggle_tick(self, user_id: int, idx: int) -> Checklist | None: ...
    def record_question(self, user_id: int) -> None: ...
    def questions_since(self, user_id: int, since: float) -> int: ...
    def add_usage(
        self, user_id: int, prompt_tokens: int, completion_tokens: int, cost: float
    ) -> None: ...
    def cost_today(self, user_id: int) -> float: ...
    def hold_budget(self, user_id: int, holder: str, daily_cap: float, lease_s: float) -> bool: ...
    def usage_totals(self) -> UsageTotals: ...
    def mark_update(self, update_id: int) -> bool: ...
    def mark_question(self, pending: PendingQuestion) -> bool: ...
    def set_placeholder(self, update_id: int, message_id: int) -> None: ...
    def keep_final(
        self, asked: PendingQuestion, answer: str, final: FinalReply, usage: Usage | None
    ) -> None: ...
    def finish_question(self, update_id: int) -> None: ...
    def pending_questions(self) -> list[PendingQuestion]: ...
    def claim_question(self, update_id: int, previous_owner: str, owner: str) -> bool: ...
    def renew_questions(self, owner: str) -> int: ...
    def set_reminder(self, user_id: int, chat_id: int, enabled: bool) -> None: ...
    def reminders(self) -> list[Reminder]: ...
    def has_reminder(self, user_id: int) -> bool: ...
    def record_answer(self, record: AnswerRecord, *, message_id: int | None = None) -> int: ...
    def answer(self, answer_id: int) -> AnswerRecord | None: ...
    def answers_since(self, since: float) -> list[AnswerRecord]: ...
    def set_vote(self, answer_id: int, user_id: int, vote: int) -> bool: ...
    def set_feedback_reason(
        self, answer_id: int, user_id: int, reason: str | None, comment: str | None
    ) -> bool: ...
    def feedback(self, answer_id: int) -> Feedback | None: ...
    def await_comment(self, answer_id: int, user_id: int, prompt_id: int, until: float) -> bool: ...
    def comment_awaited(self, chat_id: int, user_id: int, prompt_id: int) -> int | None: ...
    def feedback_since(self, since: float) -> list[Feedback]: ...
    def export_user(self, user_id: int) -> dict[str, object]: ...
    def purge(self, retention_days: int, feedback_retention_days: int | None = None) -> int: ...
    def forget_user(self, user_id: int) -> None: ...
    def inbox_put(self, update_id: int, payload: str) -> bool: ...
    def inbox_claim(
        self, owner: str, lease_s: float, limit: int = INBOX_CLAIM_LIMIT
    ) -> list[InboxItem]: ...
    def inbox_renew(self, owner: str, lease_s: float) -> int: ...
    def inbox_done(self, update_id: int) -> None: ...
    def close(self) -> None: ...


def statements_of(script: str) -> list[str]:
    """The statements of a migration script (they hold no ";" inside a literal)."""
    return [part.strip() for part in script.split(";") if part.strip()]


def utc_day(ts: float) -> str:
    """The UTC day of a timestamp, as the usage table keys it (YYYY-MM-DD)."""
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


BUSY_TIMEOUT_S = 5.0
WAL_RETRY_S = 0.05


def _use_wal(db: sqlite3.Connection) -> None:
    """Switch the file to WAL, retrying while another process holds it: the switch needs an
    exclusive lock and SQLite may refuse it at once ("database is locked") instead of
    calling the busy handler, when several processes open a new file together."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(WAL_RETRY_S)


ANSWER_COLUMNS = (
    "answer_id, user_id, chat_id, created_at, question, intent, mode, provider, model,"
    " fallback_reason, retrieved, cited, tools, top_score, neighbour_need, latency_s, cost_eur"
)
ANSWER_UPDATED = (
    "created_at",
    "question",
    "intent",
    "mode",
    "provider",
    "model",
    "fallback_reason",
    "retrieved",
    "cited",
    "tools",
    "top_score",
    "neighbour_need",
    "latency_s",
    "cost_eur",
)
FEEDBACK_COLUMNS = "answer_id, user_id, vote, reason, comment, created_at"


PENDING_INSERTED = (
    "update_id, chat_id, user_id, question, owner, reply_to, placeholder_id, created_at,"
    " lease_until"
)
PENDING_COLUMNS = PENDING_INSERTED + ", final_parts, final_markup"
# What a final answer writes with its reply (`Store.keep_final`), "?" placeholders; the usage
# upsert qualifies the old row's columns, as PostgreSQL requires and SQLite accepts.
ADD_TURN_SQL = (
    "INSERT INTO history (chat_id, user_id, question, answer, created_at) VALUES (?, ?, ?, ?, ?)"
)
ADD_USAGE_SQL = (
    "INSERT INTO usage VALUES (?, ?, ?, ?, ?) ON CONFLICT (user_id, day) DO UPDATE SET"
    " prompt_tokens=usage.prompt_tokens+excluded.prompt_tokens,"
    " completion_tokens=usage.completion_tokens+excluded.completion_tokens,"
    " cost_eur=usage.cost_eur+excluded.cost_eur"
)
KEEP_FINAL_SQL = "UPDATE pending_questions SET final_parts=?, final_markup=? WHERE update_id=?"


def final_statements(
    asked: PendingQuestion, answer: str, final: FinalReply, usage: Usage | None, now: float
) -> list[tuple[str, tuple[object, ...]]]:
    """The statements of `Store.keep_final` ("?" placeholders), to run in one transaction."""
    chat_id, user_id = asked.chat_id, asked.user_id
    statements: list[tuple[str, tuple[object, ...]]] = [
        (ADD_TURN_SQL, (chat_id, user_id, asked.question, answer, now)),
        (KEEP_FINAL_SQL, (json.dumps(list(final.parts)), final.markup, asked.update_id)),
    ]
    if usage is not None:
        tokens = (usage.prompt_tokens, usage.completion_tokens, usage.cost_eur)
        statements.append((ADD_USAGE_SQL, (user_id, utc_day(now), *tokens)))
    return statements


def profile_of(row: Sequence[Any]) -> Profile:
    """A profile from its row (sector, size, monthly_budget_eur, priority)."""
    sector, size, budget, priority = row
    return Profile(sector=sector, size=size, monthly_budget_eur=budget, priority=priority)


def advice_payload(advice: Advice) -> str:
    """The stored form of the last advice of a conversation."""
    return json.dumps({"advice": advice.model_dump(mode="json")}, ensure_ascii=False)


def last_advice_of(row: Sequence[Any]) -> LastAdvice:
    """The last advice from its row (question, payload)."""
    data = json.loads(str(row[1]))
    stored = dict(data["advice"])
    if data.get("degraded") and stored.get("mode") == "offline":  # saved before "degraded"
        stored["mode"] = "degraded"
    return LastAdvice(question=str(row[0]), advice=Advice.model_validate(stored))


def checklist_of(row: Sequence[Any], ticks: Sequence[Sequence[Any]]) -> Checklist:
    """A checklist from its row (items, start_date) and its tick rows (idx)."""
    return Checklist(
        items=tuple(json.loads(str(row[0]))),
        ticked=frozenset(int(str(t[0])) for t in ticks),
        start_date=str(row[1]),
    )


def pending_of(row: Sequence[Any]) -> PendingQuestion:
    """A question in flight from its row (`PENDING_COLUMNS`)."""
    update_id, chat_id, user_id, question, owner, reply_to, placeholder, at, lease = row[:9]
    parts, markup = row[9:]
    final = None
    if parts is not None:
        texts = tuple(str(part) for part in json.loads(str(parts)))
        final = FinalReply(texts, None if markup is None else str(markup))
    return PendingQuestion(
        update_id=int(update_id),
        chat_id=int(chat_id),
        user_id=int(user_id),
        question=str(question),
        owner=str(owner),
        reply_to=None if reply_to is None else int(reply_to),
        placeholder_id=None if placeholder is None else int(placeholder),
        created_at=float(at),
        lease_until=float(lease),
        final=final,
    )


def _ids(raw: object) -> tuple[str, ...]:
    return tuple(str(item) for item in json.loads(str(raw)))


def answer_of(row: Sequence[Any]) -> AnswerRecord:
    """An answer log entry from its row (`ANSWER_COLUMNS`)."""
    (answer_id, user_id, chat_id, at, question, intent, mode, provider, model, reason) = row[:10]
    retrieved, cited, tools, top_score, neighbour, latency, cost = row[10:]
    return AnswerRecord(
        answer_id=int(answer_id),
        user_id=int(user_id),
        chat_id=int(chat_id),
        at=float(at),
        question=str(question),
        intent=str(intent),
        mode=str(mode),
        provider=None if provider is None else str(provider),
        model=None if model is None else str(model),
        fallback_reason=None if reason is None else str(reason),
        retrieved=_ids(retrieved),
        cited=_ids(cited),
        tools=_ids(tools),
        top_score=None if top_score is None else float(top_score),
        neighbour_need=bool(neighbour),
        latency_s=float(latency),
        cost_eur=float(cost),
    )


def feedback_of(row: Sequence[Any]) -> Feedback:
    """A vote from its row (`FEEDBACK_COLUMNS`)."""
    answer_id, user_id, vote, reason, comment, at = row
    return Feedback(
        answer_id=int(answer_id),
        user_id=int(user_id),
        vote=int(vote),
        reason=None if reason is None else str(reason),
        comment=None if comment is None else str(comment),
        at=float(at),
    )


# What the other workers reserved on the user's budget (params: user, holder, now, now): holds
# not expired whose holder still has a live question of the user in flight. A hold stops
# counting once its question is answered, or taken over from a dead worker.
RESERVED_SQL = (
    "SELECT COALESCE(SUM(h.amount_eur), 0) FROM budget_holds h"
    " WHERE h.user_id=? AND h.holder<>? AND h.until>? AND EXISTS (SELECT 1 FROM"
    " pending_questions p WHERE p.user_id=h.user_id AND p.owner=h.holder AND p.lease_until>?)"
)
# What one answer may cost: the dearest answer in the log (0 before the first one).
ANSWER_COST_SQL = "SELECT COALESCE(MAX(cost_eur), 0) FROM answers"


def budget_allows(
    spent: Sequence[Any] | None, reserved: Sequence[Any] | None, daily_cap: float
) -> bool:
    """Whether an answer may start: today's cost (usage row, or None) plus what answers in
    progress on other workers reserved (`RESERVED_SQL` row) stays under the cap."""
    cost = 0.0 if spent is None else float(spent[0])
    held = 0.0 if reserved is None else float(reserved[0])
    return cost + held < daily_cap


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _export_checklist(checklist: Checklist) -> dict[str, object]:
    return {
        "start_date": checklist.start_date,
        "items": [
            {"task": item, "done": idx in checklist.ticked}
            for idx, item in enumerate(checklist.items)
        ],
    }


def _export_answer(record: AnswerRecord) -> dict[str, object]:
    data = asdict(record)
    data.pop("user_id")
    data["at"] = _iso(record.at)
    for key in ("retrieved", "cited", "tools"):
        data[key] = list(data[key])
    return data


def _export_feedback(vote: Feedback) -> dict[str, object]:
    data = asdict(vote)
    data.pop("user_id")
    data["at"] = _iso(vote.at)
    return data


# Runs one read query written with "?" placeholders; the rows.
RowsQuery = Callable[[str, Sequence[object]], list[Any]]


def export_user_data(
    user_id: int, now: float, profile: Profile | None, checklist: Checklist | None, rows: RowsQuery
) -> dict[str, object]:
    """The user's copy (GDPR art. 15 and 20) from a store's read queries."""
    answers = rows(
        f"SELECT {ANSWER_COLUMNS} FROM answers WHERE user_id=? ORDER BY answer_id", (user_id,)
    )
    votes = rows(
        f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE user_id=? ORDER BY answer_id", (user_id,)
    )
    asked = rows("SELECT at FROM questions WHERE user_id=? ORDER BY at", (user_id,))
    in_flight = rows(
        "SELECT chat_id, question, created_at FROM pending_questions"
        " WHERE user_id=? ORDER BY created_at",
        (user_id,),
    )
    reminders = rows("SELECT chat_id, created_at FROM reminders WHERE user_id=?", (user_id,))
    return {
        "user_id": user_id,
        "exported_at": _iso(now),
        "profile": None if profile is None else profile.model_dump(mode="json"),
        "history": _export_history(user_id, rows),
        "last_answers": _export_last_advice(user_id, rows),
        "checklist": None if checklist is None else _export_checklist(checklist),
        "answers": [_export_answer(answer_of(row)) for row in answers],
        "feedback": [_export_feedback(feedback_of(row)) for row in votes],
        "usage": _export_usage(user_id, rows),
        "questions_asked_at": [_iso(float(at)) for (at,) in asked],
        "questions_in_flight": [
            {"chat_id": int(c), "question": str(q), "received_at": _iso(float(at))}
            for c, q, at in in_flight
        ],
        "reminders": [{"chat_id": int(c), "since": _iso(float(at))} for c, at in reminders],
    }


def _export_history(user_id: int, rows: RowsQuery) -> list[dict[str, object]]:
    found = rows(
        "SELECT chat_id, question, answer, created_at FROM history WHERE user_id=?"
        " ORDER BY id DESC LIMIT ?",
        (user_id, EXPORT_HISTORY_ROWS),
    )
    return [
        {"chat_id": int(c), "at": _iso(float(at)), "question": str(q), "answer": str(a)}
        for c, q, a, at in reversed(found)
    ]


def _export_last_advice(user_id: int, rows: RowsQuery) -> list[dict[str, object]]:
    found = rows(
        "SELECT chat_id, question, payload, created_at FROM last_advice WHERE user_id=?",
        (user_id,),
    )
    return [
        {
            "chat_id": int(c),
            "at": _iso(float(at)),
            "question": str(q),
            "advice": json.loads(str(payload)).get("advice"),
        }
        for c, q, payload, at in found
    ]


def _export_usage(user_id: int, rows: RowsQuery) -> list[dict[str, object]]:
    found = rows(
        "SELECT day, prompt_tokens, completion_tokens, cost_eur FROM usage"
        " WHERE user_id=? ORDER BY day",
        (user_id,),
    )
    return [
        {
            "day": str(day),
            "prompt_tokens": int(p),
            "completion_tokens": int(c),
            "cost_eur": round(float(cost), 6),
        }
        for day, p, c, cost in found
    ]


# Queries the backends' own read-then-write steps share ("?" placeholders).
CHECKLIST_SQL = "SELECT items, start_date FROM checklists WHERE user_id=?"
TICKS_SQL = "SELECT idx FROM checklist_ticks WHERE user_id=?"
TICK_SQL = "INSERT INTO checklist_ticks VALUES (?, ?)"
UNTICK_SQL = "DELETE FROM checklist_ticks WHERE user_id=? AND idx=?"
SPENT_SQL = "SELECT cost_eur FROM usage WHERE user_id=? AND day=?"
HOLD_SQL = (
    "INSERT INTO budget_holds VALUES (?, ?, ?, ?) ON CONFLICT (user_id, holder)"
    " DO UPDATE SET amount_eur=excluded.amount_eur, until=excluded.until"
)
RECORD_ANSWER_SQL = (
    "INSERT INTO answers (user_id, chat_id, created_at, question, intent, mode,"
    " provider, model, fallback_reason, retrieved, cited, tools, top_score,"
    " neighbour_need, latency_s, cost_eur, message_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (chat_id, message_id) DO UPDATE SET"
    + ",".join(f" {c}=excluded.{c}" for c in ANSWER_UPDATED)
    + " RETURNING answer_id"
)


def pending_params(pending: PendingQuestion, now: float) -> tuple[object, ...]:
    """The values of a new question in flight, in `PENDING_INSERTED` order."""
    return (
        pending.update_id,
        pending.chat_id,
        pending.user_id,
        pending.question,
        pending.owner,
        pending.reply_to,
        pending.placeholder_id,
        now,
        now + PENDING_LEASE_S,
    )


def answer_params(record: AnswerRecord, at: float, message_id: int | None) -> tuple[object, ...]:
    """The values of `RECORD_ANSWER_SQL`."""
    return (
        record.user_id,
        record.chat_id,
        at,
        record.question,
        record.intent,
        record.mode,
        record.provider,
        record.model,
        record.fallback_reason,
        json.dumps(list(record.retrieved)),
        json.dumps(list(record.cited)),
        json.dumps(list(record.tools), ensure_ascii=False),
        record.top_score,
        int(record.neighbour_need),
        record.latency_s,
        record.cost_eur,
        message_id,
    )


class SqlStore(ABC):
    """The `Store` queries both databases share, written once with "?" placeholders.

    A backend runs them through four adapters (`_run`, `_one`, `_all`, `_script`) and
    implements what genuinely differs: opening and migrating, and the read-then-write steps
    that two workers may race on (`mark_question`, `toggle_tick`, `hold_budget`,
    `inbox_claim`), each with its own database's locking.
    """

    _clock: Callable[[], float]

    # -- adapters -------------------------------------------------------------

    @abstractmethod
    def _run(self, sql: str, params: Sequence[object] = ()) -> int:
        """Run one statement, atomic on its own; rows affected."""

    @abstractmethod
    def _one(self, sql: str, params: Sequence[object] = ()) -> Any:
        """The first row of one statement (a read, or a write with RETURNING), or None."""

    @abstractmethod
    def _all(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """Every row of one read."""

    @abstractmethod
    def _script(self, statements: Sequence[tuple[str, Sequence[object]]]) -> int:
        """Run statements in one transaction; rows affected in all."""

    # -- what each backend does its own way -----------------------------------

    @abstractmethod
    def mark_question(self, pending: PendingQuestion) -> bool:
        """Record the update id and the question in flight at once; False when processed."""

    @abstractmethod
    def toggle_tick(self, user_id: int, idx: int) -> Checklist | None:
        """Tick or untick item `idx` atomically; None when there is no such item."""

    @abstractmethod
    def hold_budget(self, user_id: int, holder: str, daily_cap: float, lease_s: float) -> bool:
        """Reserve the cost of one answer on the user's budget, atomically between workers."""

    @abstractmethod
    def inbox_claim(
        self, owner: str, lease_s: float, limit: int = INBOX_CLAIM_LIMIT
    ) -> list[InboxItem]:
        """Lease free or expired inbox items to `owner`, oldest first, none twice."""

    @abstractmethod
    def close(self) -> None:
        """Release the database."""

    # -- profiles -------------------------------------------------------------

    def get_profile(self, user_id: int) -> Profile | None:
        """The stored profile, or None."""
        row = self._one(
            "SELECT sector, size, monthly_budget_eur, priority FROM profiles WHERE user_id=?",
            (user_id,),
        )
        return None if row is None else profile_of(row)

    def save_profile(self, user_id: int, profile: Profile) -> None:
        """Insert or replace the profile."""
        self._run(
            "INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE"
            " SET sector=excluded.sector, size=excluded.size,"
            " monthly_budget_eur=excluded.monthly_budget_eur, priority=excluded.priority,"
            " updated_at=excluded.updated_at",
            (
                user_id,
                profile.sector,
                profile.size,
                profile.monthly_budget_eur,
                profile.priority,
                self._clock(),
            ),
        )

    # -- history --------------------------------------------------------------

    def history(self, chat_id: int, user_id: int, limit: int) -> list[Turn]:
        """The last `limit` turns of this chat+user, oldest first."""
        if limit <= 0:
            return []
        rows = self._all(
            "SELECT question, answer FROM history WHERE chat_id=? AND user_id=?"
            " ORDER BY id DESC LIMIT ?",
            (chat_id, user_id, limit),
        )
        return [Turn(question=str(q), answer=str(a)) for q, a in reversed(rows)]

    def add_turn(self, chat_id: int, user_id: int, question: str, answer: str) -> None:
        """Append one exchange."""
        self._run(ADD_TURN_SQL, (chat_id, user_id, question, answer, self._clock()))

    def clear_history(self, chat_id: int, user_id: int) -> None:
        """Forget the conversation of this chat+user (the profile stays)."""
        self._script(
            [
                (f"DELETE FROM {table} WHERE chat_id=? AND user_id=?", (chat_id, user_id))
                for table in ("history", "last_advice")
            ]
        )

    def save_last_advice(self, chat_id: int, user_id: int, question: str, advice: Advice) -> None:
        """Keep the last answer for the buttons under it."""
        self._run(
            "INSERT INTO last_advice VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id, user_id)"
            " DO UPDATE SET question=excluded.question, payload=excluded.payload,"
            " created_at=excluded.created_at",
            (chat_id, user_id, question, advice_payload(advice), self._clock()),
        )

    def last_advice(self, chat_id: int, user_id: int) -> LastAdvice | None:
        """The last answer in this conversation, or None."""
        row = self._one(
            "SELECT question, payload FROM last_advice WHERE chat_id=? AND user_id=?",
            (chat_id, user_id),
        )
        return None if row is None else last_advice_of(row)

    # -- checklists -----------------------------------------------------------

    def save_checklist(self, user_id: int, items: Sequence[str], start_date: str) -> None:
        """Replace the user's checklist; ticks start empty."""
        self._script(
            [
                (
                    "INSERT INTO checklists VALUES (?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE"
                    " SET items=excluded.items, start_date=excluded.start_date,"
                    " created_at=excluded.created_at",
                    (user_id, json.dumps(list(items)), start_date, self._clock()),
                ),
                ("DELETE FROM checklist_ticks WHERE user_id=?", (user_id,)),
            ]
        )

    def checklist(self, user_id: int) -> Checklist | None:
        """The user's checklist with its ticks, or None."""
        row = self._one(CHECKLIST_SQL, (user_id,))
        if row is None:
            return None
        return checklist_of(row, self._all(TICKS_SQL, (user_id,)))

    # -- quotas and usage -----------------------------------------------------

    def record_question(self, user_id: int) -> None:
        """Count one question now (for the hourly quota and `/usage`)."""
        self._run("INSERT INTO questions VALUES (?, ?)", (user_id, self._clock()))

    def questions_since(self, user_id: int, since: float) -> int:
        """Questions asked by the user since the timestamp."""
        row = self._one(
            "SELECT COUNT(*) FROM questions WHERE user_id=? AND at>=?", (user_id, since)
        )
        return int(row[0]) if row else 0

    def add_usage(
        self, user_id: int, prompt_tokens: int, completion_tokens: int, cost: float
    ) -> None:
        """Add LLM tokens and cost to today's row."""
        self._run(
            ADD_USAGE_SQL, (user_id, utc_day(self._clock()), prompt_tokens, completion_tokens, cost)
        )

    def cost_today(self, user_id: int) -> float:
        """LLM cost spent by the user today (UTC day), in euros."""
        row = self._one(SPENT_SQL, (user_id, utc_day(self._clock())))
        return float(row[0]) if row else 0.0

    def usage_totals(self) -> UsageTotals:
        """Users, questions and LLM cost, today and overall."""
        now = self._clock()
        midnight = now - now % DAY_S
        questions = self._one(
            "SELECT COUNT(DISTINCT user_id), COALESCE(SUM(CASE WHEN at>=? THEN 1 ELSE 0 END), 0),"
            " COUNT(*) FROM questions",
            (midnight,),
        )
        costs = self._one(
            "SELECT COALESCE(SUM(CASE WHEN day=? THEN cost_eur ELSE 0 END), 0),"
            " COALESCE(SUM(cost_eur), 0) FROM usage",
            (utc_day(now),),
        )
        return UsageTotals(
            users=int(questions[0]),
            questions_today=int(questions[1]),
            questions_total=int(questions[2]),
            cost_today_eur=float(costs[0]),
            cost_total_eur=float(costs[1]),
        )

    # -- idempotence and questions in flight ----------------------------------

    def mark_update(self, update_id: int) -> bool:
        """Record an update id; False when it was already processed."""
        inserted = self._run(
            "INSERT INTO processed_updates VALUES (?, ?) ON CONFLICT DO NOTHING",
            (update_id, self._clock()),
        )
        return inserted == 1

    def set_placeholder(self, update_id: int, message_id: int) -> None:
        """Remember the "searching…" message of a question in flight (to edit it on resume)."""
        self._run(
            "UPDATE pending_questions SET placeholder_id=? WHERE update_id=?",
            (message_id, update_id),
        )

    def keep_final(
        self, asked: PendingQuestion, answer: str, final: FinalReply, usage: Usage | None
    ) -> None:
        """An answer is ready: in one transaction, add the exchange to the history, its LLM
        usage (if any) to today's, and keep its reply on the question in flight, so that a
        resumer delivers that reply instead of answering (and recording) it again."""
        self._script(final_statements(asked, answer, final, usage, self._clock()))

    def finish_question(self, update_id: int) -> None:
        """The question got its final reply: forget it."""
        self._run("DELETE FROM pending_questions WHERE update_id=?", (update_id,))

    def pending_questions(self) -> list[PendingQuestion]:
        """Every question in flight, oldest first."""
        rows = self._all(
            f"SELECT {PENDING_COLUMNS} FROM pending_questions ORDER BY created_at, update_id"
        )
        return [pending_of(row) for row in rows]

    def claim_question(self, update_id: int, previous_owner: str, owner: str) -> bool:
        """Take over a question from `previous_owner`; False when someone else was faster
        (the conditional UPDATE sees a concurrent claim once it committed)."""
        claimed = self._run(
            "UPDATE pending_questions SET owner=?, lease_until=? WHERE update_id=? AND owner=?",
            (owner, self._clock() + PENDING_LEASE_S, update_id, previous_owner),
        )
        return claimed == 1

    def renew_questions(self, owner: str) -> int:
        """Push forward the lease of `owner`'s questions (it is alive); rows renewed."""
        return self._run(
            "UPDATE pending_questions SET lease_until=? WHERE owner=?",
            (self._clock() + PENDING_LEASE_S, owner),
        )

    # -- reminders ------------------------------------------------------------

    def set_reminder(self, user_id: int, chat_id: int, enabled: bool) -> None:
        """Opt in or out of the daily reminder."""
        if enabled:
            self._run(
                "INSERT INTO reminders VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE"
                " SET chat_id=excluded.chat_id, created_at=excluded.created_at",
                (user_id, chat_id, self._clock()),
            )
        else:
            self._run("DELETE FROM reminders WHERE user_id=?", (user_id,))

    def reminders(self) -> list[Reminder]:
        """Every opted-in reminder (to re-schedule at startup)."""
        rows = self._all("SELECT user_id, chat_id FROM reminders ORDER BY user_id")
        return [Reminder(user_id=int(u), chat_id=int(c)) for u, c in rows]

    def has_reminder(self, user_id: int) -> bool:
        """True when the user opted in."""
        return self._one("SELECT 1 FROM reminders WHERE user_id=?", (user_id,)) is not None

    # -- answer log and feedback ----------------------------------------------

    def record_answer(self, record: AnswerRecord, *, message_id: int | None = None) -> int:
        """Log one final answer; its answer_id (`record.at` 0 means now).

        `message_id` is the chat message the answer is shown in (its placeholder): answering
        into the same message again (a question resumed after a crash that followed its
        delivery) updates the same entry and keeps its id, so the keyboard under the answer
        and any vote on it stay valid.
        """
        row = self._one(
            RECORD_ANSWER_SQL, answer_params(record, record.at or self._clock(), message_id)
        )
        return int(row[0])

    def answer(self, answer_id: int) -> AnswerRecord | None:
        """One logged answer, or None."""
        row = self._one(f"SELECT {ANSWER_COLUMNS} FROM answers WHERE answer_id=?", (answer_id,))
        return None if row is None else answer_of(row)

    def answers_since(self, since: float) -> list[AnswerRecord]:
        """Answers sent since the timestamp, oldest first."""
        rows = self._all(
            f"SELECT {ANSWER_COLUMNS} FROM answers WHERE created_at>=?"
            " ORDER BY created_at, answer_id",
            (since,),
        )
        return [answer_of(row) for row in rows]

    def set_vote(self, answer_id: int, user_id: int, vote: int) -> bool:
        """Record or change the user's vote (+1/-1) on their own answer; False when the answer
        is unknown or not theirs. A changed vote keeps no stale reason or comment."""
        if vote not in (1, -1):
            raise ValueError(f"vote must be +1 or -1, not {vote}")
        voted = self._run(  # one statement: the answer's owner is checked as the vote is written
            "INSERT INTO feedback (answer_id, user_id, vote, created_at) SELECT ?, ?, ?, ?"
            " WHERE EXISTS (SELECT 1 FROM answers WHERE answer_id=? AND user_id=?)"
            " ON CONFLICT (answer_id) DO UPDATE SET"
            " reason=CASE WHEN feedback.vote=excluded.vote THEN feedback.reason END,"
            " comment=CASE WHEN feedback.vote=excluded.vote THEN feedback.comment END,"
            " comment_prompt_id=CASE WHEN feedback.vote=excluded.vote"
            " THEN feedback.comment_prompt_id END,"
            " vote=excluded.vote, created_at=excluded.created_at",
            (answer_id, user_id, vote, self._clock(), answer_id, user_id),
        )
        return voted == 1

    def set_feedback_reason(
        self, answer_id: int, user_id: int, reason: str | None, comment: str | None
    ) -> bool:
        """Attach a reason and/or a comment to the user's vote; False without such a vote.

        A None argument leaves the stored value as it is; the comment is length-capped.
        """
        if reason is not None and reason not in FEEDBACK_REASONS:
            raise ValueError(f"unknown feedback reason {reason!r}")
        capped = comment.strip()[:MAX_COMMENT_CHARS] if comment is not None else None
        capped = capped or None
        updated = self._run(
            "UPDATE feedback SET reason=COALESCE(?, reason), comment=COALESCE(?, comment),"
            " comment_prompt_id=CASE WHEN CAST(? AS TEXT) IS NULL THEN comment_prompt_id END,"
            " created_at=? WHERE answer_id=? AND user_id=?",
            (reason, capped, capped, self._clock(), answer_id, user_id),
        )
        return updated == 1

    def await_comment(self, answer_id: int, user_id: int, prompt_id: int, until: float) -> bool:
        """The message `prompt_id` asked the user for a comment on their vote, until `until`;
        False without such a vote."""
        updated = self._run(
            "UPDATE feedback SET comment_prompt_id=?, comment_until=?"
            " WHERE answer_id=? AND user_id=?",
            (prompt_id, until, answer_id, user_id),
        )
        return updated == 1

    def comment_awaited(self, chat_id: int, user_id: int, prompt_id: int) -> int | None:
        """The answer whose vote awaits a comment from the user in reply to `prompt_id` in
        this chat (and still in time), or None."""
        row = self._one(
            "SELECT f.answer_id FROM feedback f JOIN answers a ON a.answer_id=f.answer_id"
            " WHERE a.chat_id=? AND f.user_id=? AND f.comment_prompt_id=? AND f.comment_until>=?",
            (chat_id, user_id, prompt_id, self._clock()),
        )
        return None if row is None else int(row[0])

    def feedback(self, answer_id: int) -> Feedback | None:
        """The vote on one answer, or None."""
        row = self._one(f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE answer_id=?", (answer_id,))
        return None if row is None else feedback_of(row)

    def feedback_since(self, since: float) -> list[Feedback]:
        """Votes given or changed since the timestamp, oldest first."""
        rows = self._all(
            f"SELECT {FEEDBACK_COLUMNS} FROM feedback WHERE created_at>=?"
            " ORDER BY created_at, answer_id",
            (since,),
        )
        return [feedback_of(row) for row in rows]

    # -- access and portability -----------------------------------------------

    def export_user(self, user_id: int) -> dict[str, object]:
        """Everything stored about the user, as JSON-serialisable data (GDPR art. 15 and 20)."""
        profile, checklist = self.get_profile(user_id), self.checklist(user_id)
        return export_user_data(user_id, self._clock(), profile, checklist, self._all)

    # -- retention and erasure ------------------------------------------------

    def purge(self, retention_days: int, feedback_retention_days: int | None = None) -> int:
        """Delete, in one transaction, conversation content, questions in flight, update ids
        and inbox items older than the retention, expired budget holds, and logged answers
        with their votes older than `feedback_retention_days` (default: the same retention);
        rows deleted.

        Counters (questions, usage) hold no message text and stay until `forget_user`.
        """
        now = self._clock()
        cutoff = now - retention_days * DAY_S
        days = retention_days if feedback_retention_days is None else feedback_retention_days
        old_answers = now - days * DAY_S
        return self._script(
            [
                *[
                    (f"DELETE FROM {table} WHERE created_at<?", (cutoff,))
                    for table in ("history", "last_advice", "pending_questions")
                ],
                ("DELETE FROM processed_updates WHERE at<?", (cutoff,)),
                ("DELETE FROM inbox WHERE received_at<?", (cutoff,)),
                ("DELETE FROM budget_holds WHERE until<?", (now,)),
                (
                    "DELETE FROM feedback WHERE answer_id IN"
                    " (SELECT answer_id FROM answers WHERE created_at<?)",
                    (old_answers,),
                ),
                ("DELETE FROM answers WHERE created_at<?", (old_answers,)),
            ]
        )

    def forget_user(self, user_id: int) -> None:
        """Erase everything stored about the user, in every table."""
        self._script([(f"DELETE FROM {t} WHERE user_id=?", (user_id,)) for t in USER_TABLES])

    # -- inbox ----------------------------------------------------------------

    def inbox_put(self, update_id: int, payload: str) -> bool:
        """Keep a received update until handled; False when already in the inbox or processed
        (one statement: checked and written at once)."""
        inserted = self._run(
            "INSERT INTO inbox (update_id, payload, received_at) SELECT ?, ?, ? WHERE NOT EXISTS"
            " (SELECT 1 FROM processed_updates WHERE update_id=?)"
            " ON CONFLICT (update_id) DO NOTHING",
            (update_id, payload, self._clock(), update_id),
        )
        return inserted == 1

    def inbox_renew(self, owner: str, lease_s: float) -> int:
        """Push forward the leases of `owner`'s inbox items; rows renewed."""
        return self._run(
            "UPDATE inbox SET lease_until=? WHERE owner=?", (self._clock() + lease_s, owner)
        )

    def inbox_done(self, update_id: int) -> None:
        """The update was handled: drop it from the inbox."""
        self._run("DELETE FROM inbox WHERE update_id=?", (update_id,))


class SQLiteStore(SqlStore):
    """`Store` on one SQLite file in WAL mode; safe to share between threads (one connection
    behind a lock; the read-then-write steps take the write lock first, `BEGIN IMMEDIATE`)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # the busy timeout first: two workers opening the file together must wait for
            # each other's switch to WAL instead of failing with "database is locked"
            self._db = sqlite3.connect(
                path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
            )
            self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            _use_wal(self._db)
            self._db.execute("PRAGMA synchronous=NORMAL")
            self.migrate()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open {path.name}: {exc}") from exc

    # -- schema ---------------------------------------------------------------

    @property
    def schema_version(self) -> int:
        """Version of the schema in the file."""
        row = self._one("SELECT version FROM schema_version")
        return int(row[0]) if row else 0

    def migrate(self, target: int = SCHEMA_VERSION) -> None:
        """Apply pending migrations up to `target`, each in its own transaction.

        Each step takes the write lock first and reads the version under it, so two
        processes opening one file at once (two workers after an upgrade) migrate it once:
        the second waits, sees the new version and skips the step.
        """
        self._db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        while (version := self.schema_version) < target:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self.schema_version == version:
                    for statement in statements_of(MIGRATIONS[version]):
                        self._db.execute(statement)
                    self._db.execute("DELETE FROM schema_version")
                    self._db.execute("INSERT INTO schema_version VALUES (?)", (version + 1,))
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- adapters -------------------------------------------------------------

    def _cursor(self, sql: str, params: Sequence[object]) -> sqlite3.Cursor:
        try:
            with self._lock:
                return self._db.execute(sql, params)
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc

    def _run(self, sql: str, params: Sequence[object] = ()) -> int:
        return self._cursor(sql, params).rowcount

    def _one(self, sql: str, params: Sequence[object] = ()) -> Any:
        # every row is stepped under the lock: a write with RETURNING is then complete
        # (committed) before the lock is released
        try:
            with self._lock:
                rows = self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc
        return rows[0] if rows else None

    def _all(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        try:
            with self._lock:
                return list(self._db.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc

    def _script(self, statements: Sequence[tuple[str, Sequence[object]]]) -> int:
        with self._transaction():
            return sum(self._db.execute(sql, params).rowcount for sql, params in statements)

    @contextmanager
    def _transaction(self, begin: str = "BEGIN") -> Iterator[None]:
        """One transaction under the store's lock: committed, or rolled back on any error."""
        try:
            with self._lock:
                self._db.execute(begin)
                try:
                    yield
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StorageError(str(exc)) from exc

    # -- read-then-write steps, under the write lock --------------------------

    def mark_question(self, pending: PendingQuestion) -> bool:
        """Record the update id and the question in flight in one transaction.

        False (and nothing written) when the update was already processed. `created_at` and
        `lease_until` come from the store's clock.
        """
        now = self._clock()
        with self._transaction("BEGIN IMMEDIATE"):
            cursor = self._db.execute(
                "INSERT INTO processed_updates VALUES (?, ?) ON CONFLICT DO NOTHING",
                (pending.update_id, now),
            )
            fresh = cursor.rowcount == 1
            if fresh:
                self._db.execute(
                    f"INSERT INTO pending_questions ({PENDING_INSERTED})"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    pending_params(pending, now),
                )
        return fresh

    def toggle_tick(self, user_id: int, idx: int) -> Checklist | None:
        """Tick or untick item `idx` (atomically: no tap lost between workers); None when
        there is no such item."""
        with self._transaction("BEGIN IMMEDIATE"):
            row = self._db.execute(CHECKLIST_SQL, (user_id,)).fetchone()
            if row is None or not 0 <= idx < len(json.loads(str(row[0]))):
                return None
            cursor = self._db.execute(UNTICK_SQL, (user_id, idx))
            if cursor.rowcount == 0:
                self._db.execute(TICK_SQL, (user_id, idx))
            ticks = self._db.execute(TICKS_SQL, (user_id,)).fetchall()
        return checklist_of(row, ticks)

    def hold_budget(self, user_id: int, holder: str, daily_cap: float, lease_s: float) -> bool:
        """Let `holder` (the process token naming its questions in flight) start an LLM answer
        for the user: False when today's cost plus what other workers' answers in progress
        reserved reached `daily_cap`. Otherwise the holder reserves the cost of one answer
        (`ANSWER_COST_SQL`) for `lease_s` or until its question of the user leaves its hands.
        Atomic between workers."""
        now = self._clock()
        with self._transaction("BEGIN IMMEDIATE"):
            spent = self._db.execute(SPENT_SQL, (user_id, utc_day(now))).fetchone()
            reserved = self._db.execute(RESERVED_SQL, (user_id, holder, now, now)).fetchone()
            if not budget_allows(spent, reserved, daily_cap):
                return False
            amount = self._db.execute(ANSWER_COST_SQL).fetchone()[0]
            self._db.execute(HOLD_SQL, (user_id, holder, amount, now + lease_s))
        return True

    def inbox_claim(
        self, owner: str, lease_s: float, limit: int = INBOX_CLAIM_LIMIT
    ) -> list[InboxItem]:
        """Lease to `owner` the free items and those whose lease expired, oldest first."""
        now = self._clock()
        with self._transaction("BEGIN IMMEDIATE"):
            rows = self._db.execute(
                "SELECT update_id, payload, received_at FROM inbox"
                " WHERE owner IS NULL OR lease_until<? ORDER BY received_at, update_id LIMIT ?",
                (now, limit),
            ).fetchall()
            self._db.executemany(
                "UPDATE inbox SET owner=?, lease_until=? WHERE update_id=?",
                [(owner, now + lease_s, row[0]) for row in rows],
            )
        return [InboxItem(int(u), str(p), float(at), owner, now + lease_s) for u, p, at in rows]

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()
