"""Throughput with 1, 2 and 4 webhook workers under the 300 owners x 5 questions load (issue 14).

    .venv/bin/python benchmarks/workers.py            # 300 owners x 5 questions
    .venv/bin/python benchmarks/workers.py --quick    # 60 owners, a fast check

Every worker is a real `pilote-ia run --webhook` process with its own data directory; the
workers share one PostgreSQL database (DATABASE_URL, a server started from the system's
binaries as in the tests) and one `chroma run` server holding knowledge/ (ingested once by
`pilote-ia ingest`, whose packaged vectors spare the model). This process holds the fake Bot
API, the fake LLM (a fixed latency per answer), the simulated owners (each asks its next
question when the previous one is answered) and a round-robin "proxy" that POSTs each update
to the next worker's webhook, at most 40 at a time as Telegram does.

Rows, all in one run: today's single-process figure (the existing load harness,
tests/reliability/load.py: bot in its own process, polling, SQLite, knowledge/ hashed, flood
limit lifted), `pilote-ia run` polling alone with the workers' configuration, then 1, 2 and
4 webhook workers. CPU is user + system time of the bot processes only, read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.fakes.postgres import PostgresServer, start_postgres  # noqa: E402
from tests.fakes.processes import (  # noqa: E402
    BIN,
    env_with,
    free_port,
    start_chroma,
    stop,
    wait_http,
)
from tests.fakes.telegram_server import text_update  # noqa: E402
from tests.reliability.load import QUESTIONS, run_load_process, start_fakes  # noqa: E402
from tests.reliability.support import (  # noqa: E402
    API_KEY,
    BOT_TOKEN,
    CountingTelegram,
    marker_in,
)

SECRET = "workers-bench-secret_7"
PUBLIC_URL = "https://bot.example.org/telegram/hook"
LLM_LATENCY_S = 1.5
IN_FLIGHT = 40  # Telegram's default max_connections to a webhook
ANSWER_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 300.0

Send = Callable[[int, int, str], Awaitable[None]]


def log(message: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    """One configuration's figures."""

    name: str
    processes: int
    answered: int
    duplicates: int
    seconds: float
    answers_per_s: float
    cpu_ms_per_answer: float
    p50_s: float
    p95_s: float
    peak_rss_mb: float
    unanswered: int = 0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0-100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# -- shared servers --------------------------------------------------------------------


@contextmanager
def chroma_with_knowledge(workdir: Path) -> Iterator[int]:
    """A `chroma run` server with knowledge/ ingested by `pilote-ia ingest`; yields its port."""
    port = free_port()
    proc = start_chroma(workdir / "chroma-server", port, workdir / "chroma.log")
    try:
        env = base_env(workdir / "ingest-data", port)
        done = subprocess.run(
            [str(BIN / "pilote-ia"), "ingest"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pilote-ia ingest failed:\n{done.stderr[-3000:]}")
        yield port
    finally:
        stop(proc, timeout=60)


def base_env(data: Path, chroma_port: int, **extra: str) -> dict[str, str]:
    """This process's environment without any setting, plus the data dir and Chroma server."""
    return env_with(
        PILOTE_IA_DATA_DIR=str(data),
        CHROMA_HOST="127.0.0.1",
        CHROMA_PORT=str(chroma_port),
        PTB_TIMEDELTA="1",
        **extra,
    )


def worker_env(
    data: Path, chroma_port: int, database_url: str, telegram: str, llm: str
) -> dict[str, str]:
    """A worker's settings: shared PostgreSQL and Chroma, the fakes, the custom LLM."""
    return base_env(
        data,
        chroma_port,
        DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN=BOT_TOKEN,
        TELEGRAM_API_BASE_URL=telegram,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        LLM_PROVIDER="custom",
        LLM_BASE_URL=llm,
        LLM_MODEL="fake-model",
        LLM_API_KEY=API_KEY,
        LLM_TIMEOUT_S="30",
        LLM_MAX_RETRIES="2",
    )


# -- the workers -----------------------------------------------------------------------


@dataclass
class Worker:
    """One `pilote-ia run` process; `port` is its webhook port (0 when polling)."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def hook(self) -> str:
        """Where the proxy POSTs updates."""
        return f"http://127.0.0.1:{self.port}/telegram/hook"


def start_workers(
    count: int, workdir: Path, env_of: Callable[[Path], dict[str, str]], *, webhook: bool
) -> list[Worker]:
    """Start `count` workers (each its own data directory) and wait until each listens."""
    workers = []
    for n in range(count):
        data = workdir / f"worker-{n}"
        data.mkdir(parents=True)
        env = env_of(data)
        port = free_port() if webhook else 0
        argv = [str(BIN / "pilote-ia"), "run"]
        if webhook:
            env["WEBHOOK_PORT"] = str(port)
            argv += ["--webhook", PUBLIC_URL]
        log_path = workdir / f"worker-{n}.log"
        with log_path.open("wb") as out:
            proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        workers.append(Worker(proc, port, log_path))
    for worker in workers:
        if webhook:
            wait_http(worker.hook, worker.proc, worker.log, READY_TIMEOUT_S)
    return workers


def stop_workers(workers: list[Worker]) -> None:
    """SIGTERM every worker; fail on a traceback in a log."""
    for worker in workers:
        stop(worker.proc, timeout=60)
    for worker in workers:
        text = worker.log.read_text(errors="replace")
        if "Traceback" in text:
            raise RuntimeError(f"{worker.log} holds a traceback:\n{text[-3000:]}")


class Proxy:
    """Round-robin POSTs of updates to the workers' webhooks, `IN_FLIGHT` at most."""

    def __init__(self, workers: list[Worker]) -> None:
        self._hooks = [w.hook for w in workers]
        self._next = 0
        self._update_id = 0
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
        self.client = httpx.AsyncClient(limits=limits, timeout=60)
        self.refused = 0

    async def send(self, chat: int, _n: int, text: str) -> None:
        """POST one update to the next worker."""
        self._update_id += 1
        body = text_update(self._update_id, chat, text)  # before waiting: others move the counter
        hook = self._hooks[self._next % len(self._hooks)]
        self._next += 1
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with self._slots:
            response = await self.client.post(hook, json=body, headers=headers)
        if response.status_code != 200:
            self.refused += 1


# -- the load --------------------------------------------------------------------------


@dataclass
class Drive:
    """What the owners measured."""

    seconds: float
    latencies: list[float]
    cpu_s: float
    peak_rss_mb: float
    unanswered: int = 0  # questions still unanswered after ANSWER_TIMEOUT_S


def _cpu_s(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        times = process.cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
    return total


async def drive(
    telegram: CountingTelegram,
    send: Send,
    bots: list[psutil.Process],
    owners: list[int],
    per_user: int,
) -> Drive:
    """Every owner asks `per_user` questions in a row; CPU and RSS read from the bots."""
    latencies: list[float] = []
    peak = [0.0]
    unanswered = [0]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], sum(b.memory_info().rss for b in bots) / 2**20)
            await asyncio.sleep(0.2)

    async def owner(uid: int) -> None:
        for n in range(per_user):
            started = time.monotonic()
            await send(uid, n, f"Q{uid}x{n} {QUESTIONS[(uid + n) % len(QUESTIONS)]}")
            try:
                final = await telegram.next_final(uid, n, timeout=ANSWER_TIMEOUT_S)
            except TimeoutError:
                unanswered[0] += 1  # this owner gives up: the row reports it
                return
            latencies.append(final.at - started)

    telegram.keep_calls = False
    sampler = asyncio.create_task(sample())
    cpu = _cpu_s(bots)
    started = time.monotonic()
    try:
        await asyncio.gather(*(owner(uid) for uid in owners))
    finally:
        seconds = time.monotonic() - started
        cpu_s = _cpu_s(bots) - cpu
        sampler.cancel()
    return Drive(seconds, latencies, cpu_s, peak[0], unanswered[0])


def row(name: str, processes: int, result: Drive, telegram: CountingTelegram) -> Row:
    """The figures of one configuration (answers counted by their markers)."""
    markers = Counter(m for f in telegram.finals if (m := marker_in(f.text)))
    answered = sum(markers.values())
    return Row(
        name=name,
        processes=processes,
        answered=answered,
        duplicates=sum(1 for n in markers.values() if n > 1),
        seconds=round(result.seconds, 1),
        answers_per_s=round(answered / result.seconds, 1),
        cpu_ms_per_answer=round(1000 * result.cpu_s / max(1, answered), 1),
        p50_s=round(statistics.median(result.latencies), 2),
        p95_s=round(percentile(result.latencies, 95), 2),
        peak_rss_mb=round(result.peak_rss_mb),
        unanswered=result.unanswered,
    )


async def _warm_up(telegram: CountingTelegram, send: Send, count: int) -> None:
    """One question per worker first (loads the query embedder): not measured."""
    chats = [900 + n for n in range(count)]
    for chat in chats:
        await send(chat, 0, f"Q{chat}x0 {QUESTIONS[0]}")
    for chat in chats:
        await telegram.next_final(chat, 0, timeout=ANSWER_TIMEOUT_S)
    telegram.finals.clear()


async def measure_workers(
    count: int,
    *,
    webhook: bool,
    workdir: Path,
    chroma_port: int,
    postgres: PostgresServer,
    users: int,
    per_user: int,
) -> Row:
    """Start fresh fakes, a fresh database and `count` workers; drive the load through them."""
    llm, telegram = start_fakes((LLM_LATENCY_S, LLM_LATENCY_S))
    database = postgres.create_database("bench")
    workers: list[Worker] = []
    proxy: Proxy | None = None
    try:
        workers = start_workers(
            count,
            workdir,
            lambda data: worker_env(data, chroma_port, database, telegram.base_url, llm.base_url),
            webhook=webhook,
        )

        async def push(chat: int, _n: int, text: str) -> None:
            telegram.push_message(chat, chat, text)

        send: Send = push
        if webhook:
            proxy = Proxy(workers)
            send = proxy.send
        await _warm_up(telegram, send, count)
        bots = [psutil.Process(w.proc.pid) for w in workers]
        owners = [1000 + u for u in range(users)]
        result = await drive(telegram, send, bots, owners, per_user)
        await asyncio.sleep(1.0)  # a late duplicate would land now
        name = f"webhook x {count}" if webhook else "`pilote-ia run` polling"
        measured = row(name, count, result, telegram)
        if proxy is not None and proxy.refused:
            raise RuntimeError(f"{proxy.refused} updates refused by the workers")
        return measured
    finally:
        if proxy is not None:
            await proxy.client.aclose()
        stop_workers(workers)
        telegram.stop()
        llm.stop()
        postgres.drop_database(database)


async def measure_today(workdir: Path, users: int, per_user: int) -> Row:
    """The existing single-process harness (tests/reliability/load.py) at the same latency."""
    result = await run_load_process(
        workdir / "data",
        users=users,
        per_user=per_user,
        latency=(LLM_LATENCY_S, LLM_LATENCY_S),
        answer_timeout_s=ANSWER_TIMEOUT_S,
    )
    return Row(
        name="today: load harness (polling, SQLite, no flood limit)",
        processes=1,
        answered=result.answered,
        duplicates=sum(1 for n in result.answers_per_marker.values() if n > 1),
        seconds=round(result.seconds, 1),
        answers_per_s=round(result.throughput, 1),
        cpu_ms_per_answer=round(result.cpu_ms_per_answer, 1),
        p50_s=round(result.percentile(50), 2),
        p95_s=round(result.percentile(95), 2),
        peak_rss_mb=round(result.peak_rss_mb),
    )


async def run(
    users: int, per_user: int, counts: list[int], *, today: bool, keep: Path | None
) -> list[Row]:
    """Every row in one run (`keep`: a directory where the workers' logs stay)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="pilote-workers-") as tmp:
        root = keep or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        if today:
            log(f"today's harness: {users} owners x {per_user} questions")
            rows.append(await measure_today(root / "today", users, per_user))
            log(rows[-1].name + f": {rows[-1].answers_per_s} answers/s")
        postgres = start_postgres()
        try:
            with chroma_with_knowledge(root) as chroma_port:
                configs = [(1, False)] + [(n, True) for n in counts]
                for count, webhook in configs:
                    log(f"{count} worker(s), webhook={webhook}")
                    rows.append(
                        await measure_workers(
                            count,
                            webhook=webhook,
                            workdir=root / f"{'webhook' if webhook else 'polling'}-{count}",
                            chroma_port=chroma_port,
                            postgres=postgres,
                            users=users,
                            per_user=per_user,
                        )
                    )
                    log(rows[-1].name + f": {rows[-1].answers_per_s} answers/s")
        finally:
            postgres.stop()
    return rows


def table(rows: list[Row], users: int, per_user: int) -> str:
    """A Markdown table of the rows."""
    lines = [
        f"{users} owners x {per_user} questions, fake LLM {LLM_LATENCY_S} s per answer, "
        f"load average {os.getloadavg()[0]:.1f} at the end",
        "",
        "| | processes | answers/s | CPU per answer | p50 / p95 answer time | peak RSS (all) "
        "| answered (duplicates, unanswered) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {r.processes} | {r.answers_per_s} | {r.cpu_ms_per_answer} ms "
            f"| {r.p50_s:.2f} / {r.p95_s:.2f} s | {r.peak_rss_mb:.0f} MB "
            f"| {r.answered} ({r.duplicates}, {r.unanswered}) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse options, run every row, print the table (or JSON)."""
    parser = argparse.ArgumentParser(prog="workers")
    parser.add_argument("--quick", action="store_true", help="60 owners instead of 300")
    parser.add_argument("--users", type=int, help="owners (default 300, 60 with --quick)")
    parser.add_argument("--per-user", type=int, default=5)
    parser.add_argument("--workers", default="1,2,4", help="webhook worker counts")
    parser.add_argument("--no-today", action="store_true", help="skip the harness row")
    parser.add_argument("--keep", type=Path, help="keep the workers' data and logs here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    users = args.users or (60 if args.quick else 300)
    counts = [int(n) for n in args.workers.split(",")]
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    started = time.monotonic()
    rows = asyncio.run(run(users, args.per_user, counts, today=not args.no_today, keep=args.keep))
    if args.json:
        print(json.dumps([asdict(r) for r in rows]))
    else:
        print(table(rows, users, args.per_user))
        print(f"\nwhole run {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
