"""Privacy: `/oubli` erases the user from every table, retention purges old conversations, and
requests to the LLM provider carry no Telegram id or name."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.advice import Advice, Pilot, PilotStep
from bot.storage import DAY_S, SQLiteStore
from retrieval import KnowledgeBase
from tests.fakes.llm_server import Behaviour
from tests.reliability.support import (
    BotRun,
    CountingTelegram,
    ScriptedLLM,
    bot_settings,
    echo_marker,
)

OWNER, OTHER = 731594286, 648213579
NAME, USERNAME = "Jeanne Boulangère-Vasseur", "jeanne_fournil_56"
WORD = "Kouignamannerie"  # a word of the owner's question, to find it in any table


async def poll(check: Callable[[], Any], timeout: float = 15) -> Any:
    async with asyncio.timeout(timeout):
        while not (value := check()):
            await asyncio.sleep(0.05)
        return value


def every_value(db: Path) -> list[tuple[str, object]]:
    """(table, value) for every cell of every table of the SQLite file."""
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return [(t, v) for t in tables for row in con.execute(f"SELECT * FROM {t}") for v in row]
    finally:
        con.close()


def holds(cells: list[tuple[str, object]], needle: object) -> set[str]:
    return {t for t, v in cells if v == needle or (isinstance(v, str) and str(needle) in v)}


async def test_forget_erases_the_owner_everywhere_and_llm_sees_no_identity(
    telegram: CountingTelegram, real_kb: KnowledgeBase, tmp_path: Path
) -> None:
    identity = {"id": OWNER, "is_bot": False, "first_name": NAME, "username": USERNAME}
    extra = {"from": identity, "chat": {"id": OWNER, "type": "private", "first_name": NAME}}
    with ScriptedLLM(lambda r: Behaviour.stream(echo_marker(r))) as llm:
        settings = bot_settings(tmp_path / "data", telegram, llm.base_url)
        async with BotRun(settings, real_kb) as run:
            store = run.store
            assert store is not None and run.app is not None
            telegram.push_message(OWNER, OWNER, "/start", extra=extra)
            await poll(lambda: any(m.buttons for m in telegram.chat_messages(OWNER)))
            for step in range(4):  # the four profile taps, first choice each time
                board = [m for m in telegram.chat_messages(OWNER) if m.buttons][-1]
                telegram.push_callback(OWNER, OWNER, board.buttons[0][1], board.message_id)
                await poll(
                    lambda s=step: (
                        store.get_profile(OWNER)
                        and sum(
                            v is not None for v in store.get_profile(OWNER).model_dump().values()
                        )
                        == s + 1
                    )
                )
            for n in range(2):
                question = f"Q11x{n} ma {WORD} croule sous les commandes"
                telegram.push_message(OWNER, OWNER, question, extra=extra)
                final = await telegram.next_final(OWNER, n, timeout=20)
            telegram.push_message(OTHER, OTHER, "Q22x0 devis plus rapides ?")
            await telegram.next_final(OTHER, 0, timeout=20)
            telegram.push_callback(OWNER, OWNER, "a:ck", final.message_id)
            board = await poll(
                lambda: [
                    m
                    for m in telegram.chat_messages(OWNER)
                    if any(d.startswith("c:t:") for _, d in m.buttons)
                ]
            )
            telegram.push_callback(OWNER, OWNER, "c:t:0", board[-1].message_id)
            await poll(lambda: (c := store.checklist(OWNER)) and c.ticked)
            telegram.push_callback(OWNER, OWNER, "c:r1", board[-1].message_id)
            await poll(lambda: store.has_reminder(OWNER))
            assert run.app.job_queue is not None
            assert run.app.job_queue.get_jobs_by_name(f"rappel-{OWNER}")

            before = every_value(settings.db_path)
            assert {
                "profiles",
                "history",
                "checklists",
                "checklist_ticks",
                "usage",
                "questions",
                "reminders",
                "last_advice",
            } <= holds(before, OWNER)
            assert holds(before, WORD)  # the check below can fail

            telegram.push_message(OWNER, OWNER, "/oubli", extra=extra)
            confirm = await poll(
                lambda: [
                    m
                    for m in telegram.chat_messages(OWNER)
                    if ("Oui, tout effacer", "f:yes") in m.buttons
                ]
            )
            telegram.push_callback(OWNER, OWNER, "f:yes", confirm[-1].message_id)
            await poll(lambda: store.get_profile(OWNER) is None and not store.has_reminder(OWNER))
            await asyncio.sleep(0.2)
            jobs = run.app.job_queue.get_jobs_by_name(f"rappel-{OWNER}")
            assert all(job.removed for job in jobs)
            assert run.errors == []
        requests = llm.requests

    after = every_value(settings.db_path)
    assert holds(after, OWNER) == set()
    assert holds(after, WORD) == set()
    assert holds(after, OTHER)  # the other owner keeps their data

    assert len(requests) >= 3
    for request in requests:
        sent = request.raw.decode() + " ".join(f"{k}: {v}" for k, v in request.headers.items())
        for personal in (str(OWNER), str(OTHER), NAME, "Jeanne", USERNAME, f"User{OTHER}"):
            assert personal not in sent


def test_retention_purge_removes_old_conversations(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    store = SQLiteStore(tmp_path / "s.sqlite3", clock=lambda: now[0])
    advice = Advice(
        answer="ancienne",
        tools=[],
        sources=[],
        mode="offline",
        pilot=Pilot(goal="g", kpis=[], steps=[PilotStep(day=1, task="t")], budget_eur=0),
    )
    store.add_turn(1, 1, "vieille question", "vieille réponse")
    store.save_last_advice(1, 1, "vieille question", advice)
    store.mark_update(10)
    now[0] += 91 * DAY_S
    store.add_turn(1, 1, "question récente", "réponse récente")
    assert store.purge(90) == 3
    assert [t.question for t in store.history(1, 1, 10)] == ["question récente"]
    assert store.last_advice(1, 1) is None
    assert store.mark_update(10)  # its id was purged too
    store.close()
    cells = every_value(tmp_path / "s.sqlite3")
    assert holds(cells, "vieille") == set()
