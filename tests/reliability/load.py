"""Load run: N simulated owners each ask M questions in a row through the fake Bot API.

Each owner waits for the answer before asking the next question; owners run concurrently.
The bot is the real Application (real advisors, store, LLM client over HTTP) and the fake
LLM takes `latency` seconds (uniform in a range) per answer. Used by `test_load.py` and
printed by `load_report.py`.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bot.telegram.retry import RetryingRateLimiter
from retrieval import KnowledgeBase
from tests.fakes.llm_server import Behaviour
from tests.reliability.support import (
    BotRun,
    CountingTelegram,
    ScriptedLLM,
    bot_settings,
    echo_marker,
    marker_in,
)

QUESTIONS = (
    "je tiens une boulangerie, je croule sous les commandes WhatsApp, que faire ?",
    "comment répondre plus vite aux demandes de devis de mes clients ?",
    "quel outil pour traduire mon site en anglais sans trop dépenser ?",
    "je perds du temps à saisir mes factures fournisseurs",
    "et moins cher ?",
)


@dataclass
class LoadResult:
    """What one load run measured."""

    users: int
    per_user: int
    seconds: float
    latencies: list[float]
    rss_mb_by_round: list[float]
    peak_rss_mb: float
    answers_per_marker: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    llm_requests: int = 0

    @property
    def answered(self) -> int:
        """Final answers counted."""
        return sum(self.answers_per_marker.values())

    @property
    def throughput(self) -> float:
        """Answers per second over the whole run."""
        return self.answered / self.seconds

    def percentile(self, q: float) -> float:
        """Answer time percentile (0-100), in seconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    def summary(self) -> str:
        """One line per figure, for humans."""
        return "\n".join([
            f"users x messages      : {self.users} x {self.per_user}",
            f"answered              : {self.answered} (duplicates: "
            f"{sum(1 for n in self.answers_per_marker.values() if n > 1)}, errors: {self.errors})",
            f"total time            : {self.seconds:.1f} s",
            f"throughput            : {self.throughput:.1f} answers/s",
            f"answer time p50/p95/max: {self.percentile(50):.2f} / {self.percentile(95):.2f} / "
            f"{max(self.latencies):.2f} s (mean {statistics.fmean(self.latencies):.2f} s)",
            f"RSS after each round  : {', '.join(f'{r:.0f}' for r in self.rss_mb_by_round)} MB",
            f"peak RSS              : {self.peak_rss_mb:.0f} MB",
            f"LLM requests          : {self.llm_requests}",
        ])  # fmt: skip


async def run_load(
    kb: KnowledgeBase,
    data_dir: Path,
    *,
    users: int = 300,
    per_user: int = 5,
    latency: tuple[float, float] = (1.0, 2.0),
    answer_timeout_s: float = 90.0,
) -> LoadResult:
    """Run the load and return its figures (raises TimeoutError if an answer never comes)."""
    low, high = latency
    llm = ScriptedLLM(
        lambda r: Behaviour.stream(echo_marker(r), delay_s=random.uniform(0, high - low)),
        latency_s=low, keep_requests=False,
    )  # fmt: skip
    telegram = CountingTelegram()
    telegram.keep_calls = False
    process = psutil.Process()
    latencies: list[float] = []
    rss_by_round: list[float] = []
    peak = [process.memory_info().rss]
    done = [0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], process.memory_info().rss)
            await asyncio.sleep(0.2)

    async def owner(uid: int) -> None:
        for n in range(per_user):
            started = time.monotonic()
            question = f"Q{uid}x{n} {QUESTIONS[(uid + n) % len(QUESTIONS)]}"
            telegram.push_message(uid, uid, question)
            final = await telegram.next_final(uid, n, timeout=answer_timeout_s)
            latencies.append(final.at - started)
            done[0] += 1
            if done[0] % users == 0:
                rss_by_round.append(process.memory_info().rss / 2**20)

    llm.start()
    telegram.start()
    try:
        # Telegram's global flood limit (30 messages/s) would cap this run at ~10 answers/s
        # (placeholder + typing + final edit); it is lifted so the bot itself is measured.
        settings = bot_settings(data_dir, telegram, llm.base_url, llm_timeout_s=30.0)
        limiter = RetryingRateLimiter(overall_max_rate=0, max_retries=3)
        async with BotRun(settings, kb, rate_limiter=limiter) as run:
            sampler = asyncio.create_task(sample())
            started = time.monotonic()
            await asyncio.gather(*(owner(1000 + uid) for uid in range(users)))
            seconds = time.monotonic() - started
            await asyncio.sleep(1.0)  # a late duplicate would land now
            sampler.cancel()
            errors = len(run.errors)
        per_marker: Counter[str] = Counter()
        for final in telegram.finals:
            marker = marker_in(final.text)
            if marker:
                per_marker[marker] += 1
        return LoadResult(
            users=users, per_user=per_user, seconds=seconds, latencies=latencies,
            rss_mb_by_round=rss_by_round, peak_rss_mb=peak[0] / 2**20,
            answers_per_marker=per_marker, errors=errors, llm_requests=llm.count,
        )  # fmt: skip
    finally:
        telegram.stop()
        llm.stop()
