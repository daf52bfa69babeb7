"""Load run: N simulated owners each ask M questions in a row through the fake Bot API.

Each owner waits for the answer before asking the next question; owners run concurrently.
The bot is the real Application (real advisors, store, LLM client over HTTP) and the fake
LLM takes `latency` seconds (uniform in a range) per answer. `run_load` keeps the bot, the
fakes and the owners in one process (`test_load.py`); `run_load_process` starts the bot in
its own process (`load_bot.py`) so that its CPU time and memory are measured alone
(`load_report.py`).
"""

from __future__ import annotations

import asyncio
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from pydantic import SecretStr

from bot.config import Settings
from bot.telegram.retry import RetryingRateLimiter
from retrieval import KnowledgeBase
from tests.fakes.llm_server import Behaviour
from tests.reliability.support import (
    API_KEY,
    BOT_TOKEN,
    BotRun,
    CountingTelegram,
    ScriptedLLM,
    echo_marker,
    marker_in,
)

ROOT = Path(__file__).resolve().parents[2]
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
    cpu_s: float = 0.0  # CPU time (user + system) of the bot's process during the run
    telegram_calls: Counter[str] = field(default_factory=Counter)  # Bot API requests per method
    bot_process: str = "in-process"

    @property
    def answered(self) -> int:
        """Final answers counted."""
        return sum(self.answers_per_marker.values())

    @property
    def throughput(self) -> float:
        """Answers per second over the whole run."""
        return self.answered / self.seconds

    @property
    def cpu_ms_per_answer(self) -> float:
        """CPU milliseconds of the bot's process per answer."""
        return 1000 * self.cpu_s / max(1, self.answered)

    def _calls_per_answer(self) -> str:
        answered = max(1, self.answered)
        total = sum(n for m, n in self.telegram_calls.items() if m != "getUpdates")
        each = ", ".join(f"{m} {n / answered:.2f}" for m, n in self.telegram_calls.most_common())
        return f"{total / answered:.2f} ({each})"

    def percentile(self, q: float) -> float:
        """Answer time percentile (0-100), in seconds."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]

    def summary(self) -> str:
        """One line per figure, for humans."""
        duplicates = sum(1 for n in self.answers_per_marker.values() if n > 1)
        return "\n".join(
            [
                f"users x messages      : {self.users} x {self.per_user}",
                f"answered              : {self.answered} (duplicates: "
                f"{duplicates}, errors: {self.errors})",
                f"total time            : {self.seconds:.1f} s",
                f"throughput            : {self.throughput:.1f} answers/s",
                f"answer time p50/p95/max: {self.percentile(50):.2f} / {self.percentile(95):.2f} / "
                f"{max(self.latencies):.2f} s (mean {statistics.fmean(self.latencies):.2f} s)",
                f"bot                   : {self.bot_process}",
                f"CPU time of its process: {self.cpu_s:.1f} s ({self.cpu_ms_per_answer:.1f} ms per "
                f"answer, {self.cpu_s / self.seconds:.0%} of one core)",
                f"RSS after each round  : {', '.join(f'{r:.0f}' for r in self.rss_mb_by_round)} MB",
                f"peak RSS              : {self.peak_rss_mb:.0f} MB",
                f"LLM requests          : {self.llm_requests}",
                f"Bot API calls per answer: {self._calls_per_answer()}",
            ]
        )


def load_settings(data_dir: Path, telegram_url: str, llm_url: str) -> Settings:
    """Settings of the bot under load, as `bot_settings` (LLM timeout long enough for a
    crowded fake)."""
    return Settings(
        pilote_ia_data_dir=data_dir,
        telegram_bot_token=SecretStr(BOT_TOKEN),
        telegram_api_base_url=telegram_url,
        llm_provider="custom",
        llm_base_url=llm_url,
        llm_model="fake-model",
        llm_api_key=SecretStr(API_KEY),
        llm_timeout_s=30.0,
        llm_max_retries=2,
    )


def load_limiter() -> RetryingRateLimiter:
    """Telegram's global flood limit (30 messages/s) would cap a run at ~10 answers/s
    (placeholder + typing + final edit); it is lifted so that the bot itself is measured."""
    return RetryingRateLimiter(overall_max_rate=0, max_retries=3)


def start_fakes(latency: tuple[float, float]) -> tuple[ScriptedLLM, CountingTelegram]:
    """The fake LLM (uniform latency in `latency`, answers echo the marker) and Bot API."""
    low, high = latency
    llm = ScriptedLLM(
        lambda r: Behaviour.stream(echo_marker(r), delay_s=random.uniform(0, high - low)),
        latency_s=low,
        keep_requests=False,
    )
    telegram = CountingTelegram(token=BOT_TOKEN)
    llm.start()
    telegram.start()
    return llm, telegram


@dataclass
class _Drive:
    seconds: float
    latencies: list[float]
    rss_by_round: list[float]
    peak_rss: float
    cpu_s: float


async def _drive(
    telegram: CountingTelegram,
    bot: psutil.Process,
    users: int,
    per_user: int,
    answer_timeout_s: float,
) -> _Drive:
    """The owners ask in turn; RSS and CPU time are read from the bot's process."""
    latencies: list[float] = []
    rss_by_round: list[float] = []
    peak = [bot.memory_info().rss]
    done = [0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], bot.memory_info().rss)
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
                rss_by_round.append(bot.memory_info().rss / 2**20)

    telegram.keep_calls = False
    telegram.method_counts.clear()
    sampler = asyncio.create_task(sample())
    cpu = bot.cpu_times()
    started = time.monotonic()
    try:
        await asyncio.gather(*(owner(1000 + uid) for uid in range(users)))
    finally:
        seconds = time.monotonic() - started
        after = bot.cpu_times()
        sampler.cancel()
    cpu_s = (after.user - cpu.user) + (after.system - cpu.system)
    return _Drive(seconds, latencies, rss_by_round, peak[0] / 2**20, cpu_s)


def _result(
    drive: _Drive,
    telegram: CountingTelegram,
    llm: ScriptedLLM,
    users: int,
    per_user: int,
    errors: int,
    bot_process: str,
) -> LoadResult:
    per_marker: Counter[str] = Counter()
    for final in telegram.finals:
        marker = marker_in(final.text)
        if marker:
            per_marker[marker] += 1
    return LoadResult(
        users=users,
        per_user=per_user,
        seconds=drive.seconds,
        latencies=drive.latencies,
        rss_mb_by_round=drive.rss_by_round,
        peak_rss_mb=drive.peak_rss,
        answers_per_marker=per_marker,
        errors=errors,
        llm_requests=llm.count,
        cpu_s=drive.cpu_s,
        bot_process=bot_process,
        telegram_calls=Counter(telegram.method_counts),
    )


async def run_load(
    kb: KnowledgeBase,
    data_dir: Path,
    *,
    users: int = 300,
    per_user: int = 5,
    latency: tuple[float, float] = (1.0, 2.0),
    answer_timeout_s: float = 300.0,
) -> LoadResult:
    """Run the load with the bot and the fakes in this process (TimeoutError if an answer
    never comes); CPU time and RSS then include the fakes and the simulated owners."""
    llm, telegram = start_fakes(latency)
    try:
        settings = load_settings(data_dir, telegram.base_url, llm.base_url)
        async with BotRun(settings, kb, rate_limiter=load_limiter()) as run:
            drive = await _drive(telegram, psutil.Process(), users, per_user, answer_timeout_s)
            await asyncio.sleep(1.0)  # a late duplicate would land now
            errors = len(run.errors)
        return _result(drive, telegram, llm, users, per_user, errors, "in-process")
    finally:
        telegram.stop()
        llm.stop()


async def run_load_process(
    data_dir: Path,
    *,
    users: int = 300,
    per_user: int = 5,
    latency: tuple[float, float] = (1.0, 2.0),
    answer_timeout_s: float = 300.0,
    profile: Path | None = None,
    profile_rate: int = 100,
) -> LoadResult:
    """Run the load against a bot in its own process (`tests.reliability.load_bot`), so its
    CPU time and RSS are the bot's alone; `profile` records it with py-spy (raw stacks)."""
    llm, telegram = start_fakes(latency)
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "bot.log"
    argv = [
        sys.executable,
        "-m",
        "tests.reliability.load_bot",
        str(data_dir),
        telegram.base_url,
        llm.base_url,
    ]
    spy: subprocess.Popen[bytes] | None = None
    try:
        with log_path.open("ab") as log:
            child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            await telegram.until(lambda f: f.calls_to("setMyCommands"), timeout=120)
            if profile is not None:
                spy = _py_spy(child.pid, profile, profile_rate)
            drive = await _drive(
                telegram, psutil.Process(child.pid), users, per_user, answer_timeout_s
            )
            await asyncio.sleep(1.0)  # a late duplicate would land now
        finally:
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            child.terminate()
            child.wait(timeout=60)
        errors = _errors_in(log_path)
        return _result(drive, telegram, llm, users, per_user, errors, "separate process")
    finally:
        telegram.stop()
        llm.stop()


def _py_spy(pid: int, out: Path, rate: int) -> subprocess.Popen[bytes]:
    """py-spy sampling the bot (only threads holding the GIL: the CPU the bot spends)."""
    binary = Path(sys.executable).parent / "py-spy"
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is missing: `.venv/bin/pip install py-spy`")
    argv = [
        str(binary),
        "record",
        "--pid",
        str(pid),
        "--gil",
        "--nonblocking",
        "-r",
        str(rate),
        "-f",
        "raw",
        "-o",
        str(out),
    ]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached before the first question
    return spy


def _errors_in(log_path: Path) -> int:
    """Handler errors the bot process reported on its last line (`errors=N`)."""
    lines = log_path.read_text(errors="replace").splitlines()
    found = [line for line in lines if line.startswith("load_bot errors=")]
    if not found:
        raise RuntimeError(f"the bot process did not report:\n{chr(10).join(lines[-30:])}")
    return int(found[-1].split("=", 1)[1])
