"""The inbox: every update is stored before Telegram is told it arrived, then handled under a lease.

PTB's `run_polling` moves the getUpdates offset (which acknowledges updates to Telegram) before
handling them, and its webhook answers 200 once an update sits in an in-memory queue: a crash
in between drops the question. Here the receiving side (`poll_updates`, `WebhookServer`) only
acknowledges once `Store.inbox_put` committed the raw update, and the `Consumer` hands stored
updates to the Application under a lease (`Store.inbox_claim`) that it renews every third of its
length while it lives. A worker killed mid-answer leaves leased items that another worker (or
the restarted one) claims once the lease expired.

De-duplication stays where it was: the inbox refuses an update id already processed, and the
`BotHandlers.dedupe` gate records the update as processed (a question with its pending row)
when it first handles it. An item claimed again after a crash therefore either is handled for
the first time or stops at that gate, while its question, if any, is resumed by
`bot.telegram.resume`. The inbox record does not count as the dedupe record: handling must
still run once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from telegram import Bot, Update
from tornado.httpserver import HTTPServer
from tornado.web import Application as TornadoApp
from tornado.web import RequestHandler

from bot.storage import INBOX_CLAIM_LIMIT, InboxItem, Store

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 128  # updates handled at once by one worker (each may wait on the LLM)
IDLE_CLAIM_S = 1.0  # with nothing to do, look for other workers' expired items this often
POLL_TIMEOUT_S = 25  # long polling: getUpdates waits this long for new updates
RETRY_MIN_S, RETRY_MAX_S = 0.5, 15.0  # back-off of the receiving loops on errors
STOP_GRACE_S = 20.0  # on SIGTERM, updates being handled get this long to finish
MAX_BODY_BYTES = 1_000_000  # a Telegram update is a few kilobytes
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
INBOX_KEY = "pilote_ia.inbox"  # where build_application leaves the Inbox in bot_data


@dataclass
class Inbox:
    """Received updates kept in the store until a worker handled them."""

    store: Store
    owner: str  # this worker's process token, the holder of its leases
    lease_s: float
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def record(self, update_id: int, payload: str) -> bool:
        """Store an update (off the event loop); False when already there or processed."""
        fresh = await asyncio.to_thread(self.store.inbox_put, update_id, payload)
        if fresh:
            self.arrived.set()
        return fresh

    async def claim(self, limit: int) -> list[InboxItem]:
        """Lease up to `limit` free or expired items to this worker, oldest first."""
        return await asyncio.to_thread(self.store.inbox_claim, self.owner, self.lease_s, limit)

    async def renew(self) -> int:
        """Push forward the leases of the items this worker is handling."""
        return await asyncio.to_thread(self.store.inbox_renew, self.owner, self.lease_s)

    async def done(self, update_id: int) -> None:
        """Drop a handled update."""
        await asyncio.to_thread(self.store.inbox_done, update_id)


def inbox_of(app: Any) -> Inbox:
    """The Inbox `build_application` attached to the Application."""
    inbox = app.bot_data[INBOX_KEY]
    assert isinstance(inbox, Inbox)
    return inbox


# -- consuming ------------------------------------------------------------------


@dataclass
class Consumer:
    """Claims stored updates under a lease and feeds them to the Application."""

    app: Any  # telegram.ext.Application, initialized and started
    inbox: Inbox
    max_in_flight: int = MAX_IN_FLIGHT
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and handle until `stop` is set, renewing leases meanwhile; then let the
        updates in hand finish for a while (the rest is taken over after its lease)."""
        renewing = asyncio.create_task(self._renew_forever(), name="inbox-renew")
        try:
            while not stop.is_set():
                if len(self.tasks) >= self.max_in_flight:
                    await asyncio.wait(set(self.tasks), return_when=asyncio.FIRST_COMPLETED)
                elif await self.claim_once() == 0:
                    await _first_of(stop, self.inbox.arrived, timeout=IDLE_CLAIM_S)
        finally:
            await self._drain()
            renewing.cancel()

    async def claim_once(self) -> int:
        """Claim what there is room for and start handling it; items claimed."""
        room = self.max_in_flight - len(self.tasks)
        if room <= 0:
            return 0
        self.inbox.arrived.clear()
        try:
            items = await self.inbox.claim(min(room, INBOX_CLAIM_LIMIT))
        except Exception as exc:  # noqa: BLE001 - the database may come back
            log.warning("inbox claim failed: %s", type(exc).__name__)
            return 0
        for item in items:
            task = asyncio.create_task(self.handle(item), name=f"inbox-{item.update_id}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return len(items)

    async def handle(self, item: InboxItem) -> None:
        """Run the Application's handlers on one stored update, then drop it from the inbox.

        An update that fails is dropped too (the error handler told the user): retrying a
        poison update forever would block nobody but fill the logs."""
        try:
            update = Update.de_json(json.loads(item.payload), self.app.bot)
            await self.app.process_update(update)
        except asyncio.CancelledError:
            raise  # shutting down: the item stays leased, another worker takes it over
        except Exception:
            log.exception("update %s could not be handled", item.update_id)
        try:
            await self.inbox.done(item.update_id)
        except Exception as exc:  # noqa: BLE001 - its lease expires; dedupe stops a second run
            log.warning("inbox item %s not dropped: %s", item.update_id, type(exc).__name__)

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.inbox.lease_s / 3)
            try:
                await self.inbox.renew()
            except Exception as exc:  # noqa: BLE001 - renew again at the next tick
                log.warning("inbox lease renewal failed: %s", type(exc).__name__)

    async def _drain(self) -> None:
        if not self.tasks:
            return
        _, late = await asyncio.wait(set(self.tasks), timeout=STOP_GRACE_S)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    """Return when one of `events` is set or after `timeout` seconds."""
    waiters = [asyncio.create_task(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


# -- receiving: long polling --------------------------------------------------------


async def poll_updates(bot: Bot, inbox: Inbox, allowed_updates: Sequence[str]) -> None:
    """Long-poll getUpdates forever, storing each batch before the next call acknowledges it.

    Telegram forgets updates below the offset of a getUpdates call, so the offset moves past a
    batch only once every update of it is in the inbox: a crash before that re-delivers it."""
    offset: int | None = None
    delay = RETRY_MIN_S
    while True:
        try:
            batch = await _get_updates(bot, offset, POLL_TIMEOUT_S, allowed_updates)
            for update_id, payload in batch:
                await inbox.record(update_id, payload)
        except Exception as exc:  # noqa: BLE001 - Bot API or database: the batch stays unacknowledged
            log.warning("polling failed, retrying in %.1f s: %s", delay, type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
            continue
        delay = RETRY_MIN_S
        if batch:
            offset = batch[-1][0] + 1


async def _get_updates(
    bot: Bot, offset: int | None, timeout: int, allowed_updates: Sequence[str]
) -> list[tuple[int, str]]:
    """One getUpdates call: (update id, JSON) of each update, unknown fields included."""
    updates = await bot.get_updates(
        offset=offset, timeout=timeout, allowed_updates=list(allowed_updates)
    )
    return [(update.update_id, update.to_json()) for update in updates]


# -- receiving: webhook ---------------------------------------------------------------


class _HookHandler(RequestHandler):
    """POST of one update by Telegram: 200 only once it is stored."""

    def initialize(self, inbox: Inbox, secret: str) -> None:  # tornado's per-request setup
        self.inbox = inbox
        self.secret = secret

    async def post(self) -> None:
        given = self.request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            self.set_status(403)
            return
        try:
            payload = self.request.body.decode("utf-8")
            update_id = int(json.loads(payload)["update_id"])
        except (ValueError, KeyError, TypeError):
            self.set_status(400)
            return
        try:
            await self.inbox.record(update_id, payload)
        except Exception as exc:  # noqa: BLE001 - a non-200 makes Telegram send it again
            log.warning("inbox write failed for update %s: %s", update_id, type(exc).__name__)
            self.set_status(500)
            return
        self.set_status(200)

    def log_exception(self, *args: Any) -> None:  # no request bodies in the logs
        log.warning("webhook request failed")


def webhook_server(inbox: Inbox, secret: str, url_path: str) -> HTTPServer:
    """The HTTP server of the webhook (call `.listen(port, address)` on the running loop)."""
    routes = [(f"/{url_path.strip('/')}", _HookHandler, {"inbox": inbox, "secret": secret})]
    return HTTPServer(TornadoApp(routes), max_body_size=MAX_BODY_BYTES)


# -- serving ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Webhook:
    """Where Telegram posts updates and where this worker listens for them."""

    url: str
    url_path: str
    secret: str
    listen: str
    port: int


async def serve(app: Any, allowed_updates: Sequence[str], webhook: Webhook | None = None) -> None:
    """Run the bot through its inbox (polling, or the webhook) until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    inbox = inbox_of(app)
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        await app.start()
        receiver = await _start_receiving(app, inbox, allowed_updates, webhook)
        try:
            await Consumer(app, inbox).run(stop)
        finally:
            await receiver()
            await app.stop()
            if app.post_stop is not None:
                await app.post_stop(app)
    finally:
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


async def _start_receiving(
    app: Any, inbox: Inbox, allowed_updates: Sequence[str], webhook: Webhook | None
) -> Callable[[], Awaitable[None]]:
    """Start polling or the webhook server; returns the coroutine function that stops it."""
    bot: Bot = app.bot
    if webhook is None:
        await bot.delete_webhook(drop_pending_updates=False)
        polling = asyncio.create_task(poll_updates(bot, inbox, allowed_updates), name="polling")

        async def stop_polling() -> None:
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling

        return stop_polling
    server = webhook_server(inbox, webhook.secret, webhook.url_path)
    server.listen(webhook.port, webhook.listen)
    await bot.set_webhook(
        webhook.url,
        secret_token=webhook.secret,
        allowed_updates=list(allowed_updates),
        drop_pending_updates=False,
    )

    async def stop_server() -> None:
        server.stop()
        await server.close_all_connections()

    return stop_server
