"""A real SQLite store seeded with answers and votes, for the gap report's tests."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.storage import AnswerRecord, SQLiteStore

NOW = 1_800_000_000.0
DAY = 86_400.0


class Clock:
    """A settable clock for the store (votes are dated by it)."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def answer(
    question: str, *, user_id: int = 1, at: float = NOW - DAY, **changes: object
) -> AnswerRecord:
    """An answer as the bot logs it: well retrieved, in scope, unless `changes` say otherwise."""
    base = AnswerRecord(
        answer_id=0,
        user_id=user_id,
        chat_id=100 + user_id,
        at=at,
        question=question,
        intent="need",
        mode="offline",
        provider=None,
        model=None,
        fallback_reason=None,
        retrieved=("tool-whatsapp-business", "guide-pilote-messages"),
        cited=("tool-whatsapp-business",),
        tools=("WhatsApp Business",),
        top_score=0.72,
        neighbour_need=False,
        latency_s=1.2,
        cost_eur=0.0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "pilote-ia.sqlite3", clock=clock)
    yield opened
    opened.close()
