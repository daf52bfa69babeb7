"""SIGKILL of a real bot process at random points while updates arrive, then a restart.

Polling against the fake Bot API, and a webhook fed as Telegram does (an update not answered
200 is sent again). Whatever the kill interrupts (an update received but not acknowledged, one
stored but not handled, a question half answered), every question ends up answered exactly
once: on one message of its chat, never two. The seed is printed; `KILL_SEED=<n>` replays it.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.llm_server import Behaviour
from tests.fakes.telegram_server import text_update
from tests.reliability.support import BOT_TOKEN, CountingTelegram, ScriptedLLM, echo_marker
from tests.scaleout.support import (
    Worker,
    answer_edits,
    bot_env,
    deliveries,
    no_tracebacks,
    wait_until,
)

pytestmark = pytest.mark.slow

KILLS = 4
PER_ROUND = 10  # questions arriving around each kill
USERS = [4100 + i for i in range(16)]
SETTLE_S = 300.0  # a restart loads the embedding model; the machine is loaded


def unsettled(db: Path) -> tuple[int, int]:
    """(inbox rows, questions in flight) in the bot's database; (-1, -1) while it is locked."""
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return (-1, -1)
    try:
        inbox = con.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
        pending = con.execute("SELECT COUNT(*) FROM pending_questions").fetchone()[0]
        return (int(inbox), int(pending))
    except sqlite3.Error:
        return (-1, -1)
    finally:
        con.close()


class Feed:
    """Questions sent to the bot: pushed to the fake (polling) or posted until a 200."""

    def __init__(self, telegram: CountingTelegram, worker: Worker, rng: random.Random) -> None:
        self.telegram, self.worker, self.rng = telegram, worker, rng
        self.asked: dict[int, int] = dict.fromkeys(USERS, 0)
        self.unposted: list[dict[str, Any]] = []
        self.next_id = 1

    @property
    def questions(self) -> set[str]:
        return {f"Q{u}x{n}" for u, count in self.asked.items() for n in range(count)}

    def ask(self) -> None:
        """A new question from a user whose last one was answered (the bot asks a user who
        has a question in progress to wait, it does not queue theirs); none when all wait."""
        answered = deliveries(self.telegram, USERS)
        free = [u for u in USERS if all(f"Q{u}x{n}" in answered for n in range(self.asked[u]))]
        if not free:
            return
        uid = self.rng.choice(free)
        text = f"Q{uid}x{self.asked[uid]} comment gagner du temps ?"
        self.asked[uid] += 1
        if self.worker.port is None:
            self.telegram.push_message(uid, uid, text)
        else:
            self.unposted.append(text_update(self.next_id, uid, text))
            self.next_id += 1
            self.post_all()

    def post_all(self) -> None:
        """Telegram keeps an update until the webhook answered 200."""
        self.unposted = [u for u in self.unposted if self.worker.post(u) != 200]


@pytest.mark.parametrize("mode", ["polling", "webhook"])
def test_random_kills_lose_and_double_nothing(tmp_path: Path, mode: str) -> None:
    seed = int(os.environ.get("KILL_SEED") or random.SystemRandom().randrange(10**6))
    print(f"\n[random-kills:{mode}] seed={seed} (replay: KILL_SEED={seed})")
    rng, llm_rng = random.Random(seed), random.Random(seed + 1)
    telegram = CountingTelegram(token=BOT_TOKEN).start()
    llm = ScriptedLLM(
        lambda r: Behaviour.stream(echo_marker(r), delay_s=llm_rng.uniform(0.3, 1.5))
    ).start()
    data = tmp_path / "data"
    env = bot_env(telegram, llm.base_url, data, INBOX_LEASE_S="2", LOG_LEVEL="DEBUG")
    log = tmp_path / "bot.log"
    worker = (
        Worker.webhook("bot", env, log, telegram)
        if mode == "webhook"
        else Worker("bot", env, log, telegram)
    )
    feed = Feed(telegram, worker, rng)
    kills: list[str] = []
    try:
        worker.start()
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.0, 3.0))  # some answers go through, or none
            kill_after = rng.randrange(1, PER_ROUND)
            for n in range(PER_ROUND):
                feed.ask()
                time.sleep(rng.uniform(0.0, 0.15))
                if n + 1 == kill_after:
                    time.sleep(rng.uniform(0.0, 0.5))
                    answered = sum(deliveries(telegram, USERS).values())
                    worker.kill()
                    state = unsettled(data / "pilote-ia.sqlite3")
                    kills.append(
                        f"after {len(feed.questions)} asked, {answered} answered, "
                        f"inbox/in flight {state}, unacked {telegram.pending_updates()}"
                    )
                    assert answered < len(feed.questions), "the kill must land mid-answers"
            worker.start()
            feed.post_all()
        for _ in range(PER_ROUND):
            feed.ask()

        def settled() -> bool:
            feed.post_all()
            done = feed.questions <= set(deliveries(telegram, USERS))
            return done and not feed.unposted and unsettled(data / "pilote-ia.sqlite3") == (0, 0)

        wait_until(
            settled, SETTLE_S, lambda: sorted(feed.questions - set(deliveries(telegram, USERS)))
        )
        worker.stop()  # nothing can arrive after this: the counts below are final
        delivered = deliveries(telegram, USERS)
        twice = {q: n for q, n in delivered.items() if n > 1}
        print(f"[random-kills:{mode}] {len(feed.questions)} questions, {KILLS} kills:")
        for line in kills:
            print(f"  kill {line}")
        edits = answer_edits(telegram)
        again = sum(1 for q in feed.questions if edits[q] > 1)
        print(f"  duplicates: {len(twice)}, answers re-shown on their own message: {again}")
        assert set(delivered) == feed.questions
        assert not twice, twice
        assert telegram.pending_updates() == 0
    finally:
        worker.stop()
        telegram.stop()
        llm.stop()
    no_tracebacks(log)
