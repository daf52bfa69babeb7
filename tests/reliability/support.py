"""Shared pieces of the reliability tests: scripted fakes and a bot run through the real wiring.

`ScriptedLLM` answers each request from a function of that request (random latency, echoing
the question's marker, or a worst-case "leaky" model). `CountingTelegram` signals every final
answer (the message that carries the advice buttons) to asyncio waiters, so hundreds of
simulated users can wait without a thread each. `BotRun` starts the real PTB Application built
by `build_application` with advisors from `bot.wiring.build_advisor`.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram.ext import BaseRateLimiter

from bot import messages as msg
from bot.config import Settings
from bot.storage import SQLiteStore
from bot.telegram.app import ALLOWED_UPDATES, AnyApp, build_application
from bot.wiring import build_advisor
from retrieval import KnowledgeBase
from tests.fakes.llm_server import Behaviour, FakeLLMServer, RecordedRequest
from tests.fakes.telegram_server import FakeTelegram

os.environ.setdefault("PTB_TIMEDELTA", "1")

BOT_TOKEN = "7012345678:AAHk9vQ2xZb8LmN4pRtY6uWcE1sD3fG5hJ7"
API_KEY = "sk-live-4f9A2b7C1d8E3f6G0h5J9k2L7m4N1p8Q"
_QUESTION = re.compile(r"<question>\s*(.*?)\s*</question>", re.S)
_MARKER = re.compile(r"\bQ[0-9]+x[0-9]+\b")


def question_of(request: RecordedRequest) -> str:
    """The owner's question as the prompt wraps it (last user message)."""
    messages = request.body.get("messages") or []
    users = [m.get("content", "") for m in messages if m.get("role") == "user"]
    match = _QUESTION.search(users[-1]) if users else None
    return match.group(1) if match else ""


def marker_in(text: str) -> str | None:
    """The `Q<user>x<n>` marker a test put in a question, if any."""
    match = _MARKER.search(text)
    return match.group() if match else None


def draft(answer: str, **extra: Any) -> str:
    """A valid JSON draft as the system prompt asks for."""
    payload: dict[str, Any] = {"answer": answer, "tools": [], "citations": [1]}
    payload.update(extra)
    return json.dumps(payload, ensure_ascii=False)


def echo_marker(request: RecordedRequest) -> str:
    """A well-behaved answer naming the question's marker."""
    marker = marker_in(question_of(request)) or "sans-marqueur"
    return draft(f"Réponse à {marker} : commencez petit et mesurez [1].")


class ScriptedLLM(FakeLLMServer):
    """FakeLLMServer whose default answer is computed from each request."""

    def __init__(
        self,
        respond: Callable[[RecordedRequest], Behaviour],
        *,
        latency_s: float = 0.0,
        keep_requests: bool = True,
    ) -> None:
        super().__init__(latency_s=latency_s)
        self.respond = respond
        self.keep_requests = keep_requests
        self.count = 0

    def _record_and_next(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            self.count += 1
            if self.keep_requests:
                self._requests.append(request)
            queued = self._queue.popleft() if self._queue else None
        return queued or self.respond(request)


@dataclass
class Final:
    """One final answer as the fake saw it."""

    chat_id: int
    message_id: int
    text: str
    at: float


class CountingTelegram(FakeTelegram):
    """FakeTelegram that records final answers and wakes asyncio waiters per chat."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.finals: list[Final] = []
        self._waiters: dict[int, list[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = (
            defaultdict(list)
        )
        self._final_lock = threading.Lock()
        self._pending: set[int] = set()
        self.keep_calls = True

    def handle(self, method: str, params: dict[str, Any], files: Any) -> Any:
        result = super().handle(method, params, files)
        if not self.keep_calls:
            with self._cond:
                self.calls.clear()
        if method in ("sendMessage", "editMessageText"):
            self._maybe_final(method, params, result)
        return result

    def _maybe_final(self, method: str, params: dict[str, Any], result: Any) -> None:
        """Finals: the HTML edit of a placeholder, or an HTML message sent without one."""
        chat_id, text = int(params["chat_id"]), str(params.get("text", ""))
        html = str(params.get("parse_mode") or "").upper() == "HTML"
        now = time.monotonic()
        with self._final_lock:
            if method == "sendMessage" and text == msg.THINKING:
                self._pending.add(chat_id)
                return
            if not html:
                return  # plain previews while streaming, plain fallbacks
            if method == "editMessageText":
                if chat_id not in self._pending:
                    return
                self._pending.discard(chat_id)
            else:
                previous = [f for f in self.finals if f.chat_id == chat_id]
                if chat_id in self._pending or (previous and now - previous[-1].at < 1.0):
                    return  # a continuation part of a long answer
            self.finals.append(Final(chat_id, int(result["message_id"]), text, now))
            waiters = list(self._waiters.get(chat_id, ()))
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    def finals_of(self, chat_id: int) -> list[Final]:
        """Final answers sent to one chat, in order."""
        with self._final_lock:
            return [f for f in self.finals if f.chat_id == chat_id]

    async def next_final(self, chat_id: int, after: int, timeout: float) -> Final:
        """Wait until chat `chat_id` has more than `after` final answers; return the newest."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._final_lock:
            self._waiters[chat_id].append(entry)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    found = self.finals_of(chat_id)
                    if len(found) > after:
                        return found[after]
                    event.clear()
                    await event.wait()
        finally:
            with self._final_lock:
                self._waiters[chat_id].remove(entry)


def bot_settings(
    data_dir: Path, telegram: FakeTelegram, llm_url: str | None, **overrides: Any
) -> Settings:
    """Settings of a bot pointed at the fakes (LLM as the `custom` provider)."""
    values: dict[str, Any] = {
        "pilote_ia_data_dir": data_dir,
        "telegram_bot_token": telegram.token,
        "telegram_api_base_url": telegram.base_url,
    }
    if llm_url is not None:
        values.update(
            llm_provider="custom",
            llm_base_url=llm_url,
            llm_model="fake-model",
            llm_api_key=API_KEY,
            llm_timeout_s=5.0,
            llm_max_retries=2,
        )
    values.update(overrides)
    return Settings(**values)


class BotRun:
    """The real Application (real advisors, real store) polling a fake Bot API."""

    def __init__(
        self,
        settings: Settings,
        kb: KnowledgeBase,
        *,
        rate_limiter: BaseRateLimiter[Any] | None = None,
    ) -> None:
        self.settings = settings
        self.kb = kb
        self.rate_limiter = rate_limiter  # None: the application's default
        self.errors: list[BaseException] = []
        self.app: AnyApp | None = None
        self.store: SQLiteStore | None = None

    async def __aenter__(self) -> BotRun:
        settings = self.settings
        self.store = SQLiteStore(settings.db_path)
        self.advisor = build_advisor(settings, kb=self.kb)
        offline_settings = settings.model_copy(update={"llm_provider": None})
        self.offline = build_advisor(offline_settings, kb=self.kb) if not settings.offline else None
        app = build_application(
            settings,
            self.advisor,
            self.store,
            offline_advisor=self.offline,
            rate_limiter=self.rate_limiter,
        )

        async def record(_update: object, context: Any) -> None:
            self.errors.append(context.error)

        app.add_error_handler(record)
        await app.initialize()
        if app.post_init is not None:
            await app.post_init(app)
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            poll_interval=0,
            timeout=1,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        self.app = app
        return self

    async def __aexit__(self, *exc: object) -> None:
        app = self.app
        if app is not None:
            assert app.updater is not None
            if app.updater.running:
                await app.updater.stop()
            if app.running:
                await app.stop()
            await app.shutdown()
        await self.advisor.aclose()
        if self.offline is not None:
            await self.offline.aclose()
        if self.store is not None:
            self.store.close()
