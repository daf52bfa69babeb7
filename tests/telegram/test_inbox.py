"""The inbox: an update is stored before Telegram is told it arrived, then handled once.

Polling and the webhook run against the fake Bot API and a real SQLite store; handling runs
the real Application with a fake advisor. Every wait is on an event with a generous timeout
(the CI machine is loaded); leases expire on the store's clock, which the test moves.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from telegram import Bot, Update
from telegram.ext import AIORateLimiter

from bot.config import Settings
from bot.storage import SQLiteStore
from bot.telegram.app import ALLOWED_UPDATES, AnyApp, build_application
from bot.telegram.inbox import SECRET_HEADER, Consumer, Inbox, poll_updates, webhook_server
from tests.fakes.processes import free_port
from tests.fakes.telegram_server import FakeTelegram, text_update
from tests.telegram.support import FakeAdvisor

WAIT_S = 60.0  # generous: the CI machine runs other suites at the same time
SECRET = "inbox-secret_42"
QUESTION = "Je croule sous les commandes WhatsApp de ma boulangerie, que faire ?"
CHAT = 811


class Clock:
    """A store clock the test moves forward (leases expire without waiting)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def stored_ids(db: Path) -> set[int]:
    """Update ids in the inbox or already processed, read by a separate connection."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute(
            "SELECT update_id FROM inbox UNION SELECT update_id FROM processed_updates"
        )
        return {int(r[0]) for r in rows}
    finally:
        con.close()


def inbox_rows(db: Path) -> dict[int, str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return {int(u): str(p) for u, p in con.execute("SELECT update_id, payload FROM inbox")}
    finally:
        con.close()


class AckCheckingTelegram(FakeTelegram):
    """Fake Bot API that notes every update acknowledged (offset moved past it) before it
    was in the store."""

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db
        self.acked_unstored: list[int] = []

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        with self._cond:
            acked = [u["update_id"] for u in self._updates if offset and u["update_id"] < offset]
        if acked:
            known = stored_ids(self.db)
            self.acked_unstored += [u for u in acked if u not in known]
        return super()._get_updates(params)


async def wait_until(predicate: Callable[[], object], timeout: float = WAIT_S) -> None:
    """Poll a condition read from the store (no event to wait on), with a generous deadline."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


@asynccontextmanager
async def polling(fake: FakeTelegram, inbox: Inbox) -> AsyncIterator[None]:
    async with Bot(fake.token, base_url=fake.base_url) as bot:
        task = asyncio.create_task(poll_updates(bot, inbox, ALLOWED_UPDATES))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_polling_stores_every_update_before_acknowledging_it(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    store = SQLiteStore(db)
    fake = AckCheckingTelegram(db).start()
    try:
        ids = [fake.push_message(CHAT + n, CHAT + n, f"question {n}") for n in range(5)]
        async with polling(fake, Inbox(store, "w1", 15.0)):
            await fake.until(lambda f: f.pending_updates() == 0, timeout=WAIT_S)
            ids.append(fake.push_message(CHAT, CHAT, "encore une"))
            await fake.until(lambda f: f.pending_updates() == 0, timeout=WAIT_S)
        rows = inbox_rows(db)
        assert sorted(rows) == ids
        assert json.loads(rows[ids[0]])["message"]["text"] == "question 0"
        assert fake.acked_unstored == []
    finally:
        fake.stop()
        store.close()


async def test_polling_never_acknowledges_what_it_could_not_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "bot.sqlite3")
    store.close()  # every write fails, as when the database is down
    fake = FakeTelegram().start()
    try:
        fake.push_message(CHAT, CHAT, QUESTION)
        async with polling(fake, Inbox(store, "w1", 15.0)):
            # each failed batch is fetched again (a retry after a back-off), never confirmed
            await wait_until(lambda: fake.method_counts["getUpdates"] >= 3)
            assert fake.pending_updates() == 1
    finally:
        fake.stop()


async def post(port: int, payload: bytes | dict[str, Any], secret: str = SECRET) -> int:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", SECRET_HEADER: secret}
    async with httpx.AsyncClient(timeout=WAIT_S) as client:
        response = await client.post(f"http://127.0.0.1:{port}/hook", content=body, headers=headers)
    return response.status_code


@asynccontextmanager
async def webhook(inbox: Inbox) -> AsyncIterator[int]:
    server = webhook_server(inbox, SECRET, "/hook")
    port = free_port()
    server.listen(port, "127.0.0.1")
    try:
        yield port
    finally:
        server.stop()
        await server.close_all_connections()


async def test_webhook_answers_200_only_once_the_update_is_stored(tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    store = SQLiteStore(db)
    try:
        async with webhook(Inbox(store, "w1", 15.0)) as port:
            assert await post(port, text_update(41, CHAT, QUESTION), secret="wrong") == 403
            assert await post(port, b'{"no": "update id"}') == 400
            assert inbox_rows(db) == {}
            assert await post(port, text_update(42, CHAT, QUESTION)) == 200
            assert json.loads(inbox_rows(db)[42])["message"]["text"] == QUESTION
    finally:
        store.close()


async def test_webhook_refuses_an_update_it_could_not_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "bot.sqlite3")
    store.close()  # the write fails: Telegram must get an error and deliver it again
    async with webhook(Inbox(store, "w1", 15.0)) as port:
        assert await post(port, text_update(43, CHAT, QUESTION)) == 500


@asynccontextmanager
async def running_bot(fake: FakeTelegram, store: SQLiteStore, data: Path) -> AsyncIterator[AnyApp]:
    """The real Application (fake advisor) started without any update source of its own."""
    settings = Settings(
        pilote_ia_data_dir=data,
        telegram_bot_token=fake.token,
        telegram_api_base_url=fake.base_url,
        llm_provider="deepseek",
        llm_api_key="sk-test",
    )
    app = build_application(
        settings, FakeAdvisor(), store, rate_limiter=AIORateLimiter(max_retries=3)
    )
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    await app.start()
    try:
        yield app
    finally:
        await app.stop()
        await app.shutdown()


def finals(fake: FakeTelegram, chat: int) -> list[Any]:
    """Final answers of a chat: the messages carrying the advice buttons."""
    return [m for m in fake.chat_messages(chat) if any(d == "a:ck" for _, d in m.buttons)]


async def test_the_same_update_posted_twice_is_answered_once(tmp_path: Path) -> None:
    db = tmp_path / "data" / "pilote-ia.sqlite3"
    store = SQLiteStore(db)
    fake = FakeTelegram().start()
    try:
        async with running_bot(fake, store, tmp_path / "data") as app:
            inbox = Inbox(store, "w1", 15.0)
            stop = asyncio.Event()
            consumer = asyncio.create_task(Consumer(app, inbox).run(stop))
            async with webhook(inbox) as port:
                update = text_update(51, CHAT, QUESTION)
                assert await post(port, update) == 200
                assert await post(port, update) == 200  # Telegram retried: already stored
                await fake.until(lambda f: finals(f, CHAT), timeout=WAIT_S)
                await wait_until(lambda: not inbox_rows(db) and not store.pending_questions())
                assert await post(port, update) == 200  # after handling: already processed
            stop.set()
            await asyncio.wait_for(consumer, WAIT_S)
        assert len(finals(fake, CHAT)) == 1
        assert len(fake.chat_messages(CHAT)) == 1  # the placeholder became the answer
        assert inbox_rows(db) == {}
    finally:
        fake.stop()
        store.close()


async def test_an_expired_lease_hands_the_update_to_another_worker(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "data" / "pilote-ia.sqlite3"
    store = SQLiteStore(db, clock=clock)
    fake = FakeTelegram().start()
    try:
        assert store.inbox_put(61, json.dumps(text_update(61, CHAT, QUESTION)))
        # a worker claimed it, then died without handling it
        assert [i.update_id for i in store.inbox_claim("dead-worker", 15.0)] == [61]
        async with running_bot(fake, store, tmp_path / "data") as app:
            consumer = Consumer(app, Inbox(store, "w2", 15.0))
            assert await consumer.claim_once() == 0  # still leased to the dead worker
            clock.now += 16.0
            assert await consumer.claim_once() == 1
            await asyncio.wait_for(asyncio.gather(*consumer.tasks), WAIT_S)
            assert len(finals(fake, CHAT)) == 1
            assert inbox_rows(db) == {}
            assert store.inbox_claim("w3", 15.0) == []
    finally:
        fake.stop()
        store.close()


async def test_an_update_handled_before_a_crash_is_not_answered_again(tmp_path: Path) -> None:
    clock = Clock()
    db = tmp_path / "data" / "pilote-ia.sqlite3"
    store = SQLiteStore(db, clock=clock)
    fake = FakeTelegram().start()
    try:
        update = text_update(71, CHAT, QUESTION)
        assert store.inbox_put(71, json.dumps(update))
        async with running_bot(fake, store, tmp_path / "data") as app:
            # a worker claimed and answered it, then died before dropping it from the inbox
            (item,) = store.inbox_claim("dead-worker", 15.0)
            await app.process_update(Update.de_json(json.loads(item.payload), app.bot))
            assert len(finals(fake, CHAT)) == 1
            clock.now += 16.0
            consumer = Consumer(app, Inbox(store, "w2", 15.0))
            assert await consumer.claim_once() == 1
            await asyncio.wait_for(asyncio.gather(*consumer.tasks), WAIT_S)
        assert len(finals(fake, CHAT)) == 1  # stopped by the de-duplication gate
        assert len(fake.chat_messages(CHAT)) == 1
        assert inbox_rows(db) == {}
    finally:
        fake.stop()
        store.close()
