"""The Telegram bot's own overhead per update, measured through the fake Bot API.

An instant fake advisor answers, so the figure is PTB + our handlers + SQLite + HTTP to the
fake: from update injection to the final editMessageText (with buttons) recorded by the fake.
Telegram's flood limiter is disabled here (it would measure Telegram's quotas, not the bot).

    PYTHONPATH=. .venv/bin/python benchmarks/bot_overhead.py [N]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram.ext import AIORateLimiter  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.storage import SQLiteStore  # noqa: E402
from bot.telegram.app import ALLOWED_UPDATES, build_application  # noqa: E402
from tests.fakes.telegram_server import Call, FakeTelegram  # noqa: E402
from tests.telegram.support import FakeAdvisor  # noqa: E402


def _final_edit(fake: FakeTelegram, chat: int) -> Call | None:
    for call in fake.calls_to("editMessageText"):
        if int(call.params["chat_id"]) == chat and "a:ck" in call.params.get("reply_markup", ""):
            return call
    return None


async def measure(n: int) -> list[float]:
    fake = FakeTelegram().start()
    data = Path(tempfile.mkdtemp())
    settings = Settings(
        pilote_ia_data_dir=data,
        telegram_bot_token=fake.token,
        telegram_api_base_url=fake.base_url,
    )
    store = SQLiteStore(settings.db_path)
    limiter = AIORateLimiter(overall_max_rate=0, group_max_rate=0)
    app = build_application(settings, FakeAdvisor(), store, rate_limiter=limiter)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES)
    latencies = []
    try:
        for i in range(n + 5):  # 5 warm-up updates
            chat = 10_000 + i
            start = time.monotonic()
            fake.push_message(chat, chat, "Je croule sous les commandes WhatsApp, que faire ?")
            done: Call = await fake.until(lambda f, c=chat: _final_edit(f, c))
            if i >= 5:
                latencies.append((done.at - start) * 1000)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        store.close()
        fake.stop()
    return latencies


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    ms = sorted(asyncio.run(measure(n)))
    p50 = statistics.median(ms)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * len(ms))) - 1)]
    print(f"bot overhead per update over {len(ms)} updates (instant advisor, fake Bot API):")
    print(f"  p50 {p50:.1f} ms   p95 {p95:.1f} ms   max {ms[-1]:.1f} ms")


if __name__ == "__main__":
    main()
