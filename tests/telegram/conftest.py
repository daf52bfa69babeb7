"""A real PTB Application polling the fake Bot API, rebuilt on demand on the same SQLite file."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram.ext import AIORateLimiter

from bot.advice import AdvisorLike
from bot.config import Settings
from bot.storage import SQLiteStore
from bot.telegram.app import ALLOWED_UPDATES, AnyApp, build_application
from tests.fakes.telegram_server import FakeTelegram
from tests.telegram.support import FakeAdvisor

# PTB 22 warns on every RetryAfter unless timedelta values are opted into (as `run` does)
os.environ.setdefault("PTB_TIMEDELTA", "1")


class BotHarness:
    """Starts and stops the bot against the fake; `restart()` keeps the database."""

    def __init__(self, fake: FakeTelegram, data_dir: Path) -> None:
        self.fake = fake
        self.data_dir = data_dir
        self.app: AnyApp | None = None
        self.store: SQLiteStore | None = None
        self.advisor: AdvisorLike = FakeAdvisor()
        self.offline_advisor: AdvisorLike | None = None
        self.overrides: dict[str, Any] = {}

    def settings(self) -> Settings:
        values: dict[str, Any] = {
            "pilote_ia_data_dir": self.data_dir,
            "telegram_bot_token": self.fake.token,
            "telegram_api_base_url": self.fake.base_url,
            "llm_provider": "deepseek",
            "llm_api_key": "sk-test",
        }
        values.update(self.overrides)
        return Settings(**values)

    async def start(self, advisor: AdvisorLike | None = None, **overrides: Any) -> AnyApp:
        if advisor is not None:
            self.advisor = advisor
        self.overrides.update(overrides)
        settings = self.settings()
        self.store = SQLiteStore(settings.db_path)
        self.app = build_application(
            settings,
            self.advisor,
            self.store,
            offline_advisor=self.offline_advisor,
            rate_limiter=AIORateLimiter(max_retries=3),
        )
        await self.app.initialize()
        if self.app.post_init is not None:  # run_polling() would call it
            await self.app.post_init(self.app)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            poll_interval=0,
            timeout=1,
            allowed_updates=ALLOWED_UPDATES,
            drop_pending_updates=False,
        )
        return self.app

    async def stop(self) -> None:
        if self.app is None:
            return
        assert self.app.updater is not None
        if self.app.updater.running:
            await self.app.updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        assert self.store is not None
        self.store.close()
        self.app = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


@pytest.fixture
async def harness(fake: FakeTelegram, tmp_path: Path) -> AsyncIterator[BotHarness]:
    bot = BotHarness(fake, tmp_path / "data")
    yield bot
    await bot.stop()
