"""Server time of the admin dashboard over 10,000 stored answers.

Seeds a temporary store with a month of answers (a fifth of them badly served, every
question worded differently), builds the app as `pilote-ia admin` does (real knowledge base
and embedder), serves it with uvicorn on 127.0.0.1 and times GET / from a logged-in client:
the first load computes the gap topics, the next ones reuse them (cached for a minute).
Last, the topics are computed twice with one memo of vectors, as a refresh does.

    PYTHONPATH=. .venv/bin/python benchmarks/admin_page.py [ANSWERS] [LOADS]
"""

from __future__ import annotations

import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx

from bot.admin.topics import WAIT_S, EmbeddingMemo
from bot.cli.admin import build_server, listen
from bot.config import Settings, load_settings
from bot.gaps import gap_questions, gap_topics
from bot.storage import DAY_S, SQLiteStore
from bot.wiring import build_admin_app, open_knowledge
from tests.admin.seed import DEMO_GAPS, DEMO_QUESTIONS, answer

TOKEN = "jeton-du-banc-d-essai"
SECTORS = (
    "boulangerie",
    "garage",
    "cabinet d'avocats",
    "salon de coiffure",
    "plomberie",
    "agence immobilière",
    "restaurant",
    "pharmacie",
    "fleuriste",
    "menuiserie",
)
PLACES = (
    "à Lyon",
    "à Brest",
    "à Lille",
    "à Nantes",
    "à Pau",
    "en Alsace",
    "en Corrèze",
    "à Paris",
    "à Rouen",
    "à Dijon",
    "à Metz",
    "à Nice",
)


def seed(path: Path, now: float, n: int) -> None:
    """`n` answers over 30 days; a fifth are gaps; a quarter get a vote."""
    rng = random.Random(7)
    store = SQLiteStore(path, clock=lambda: now)
    try:
        for i in range(n):
            where = f"pour notre {rng.choice(SECTORS)} {rng.choice(PLACES)} (n° {i})"
            at = now - rng.uniform(0, 29.5 * DAY_S)
            if rng.random() < 0.2:
                record = answer(
                    question=f"{rng.choice(DEMO_GAPS)} {where}",
                    mode="offline",
                    provider=None,
                    cost_eur=0.0,
                    cited=(),
                    top_score=0.2,
                )
            else:
                text, cited = rng.choice(DEMO_QUESTIONS)
                record = answer(
                    question=f"{text} {where}",
                    cited=cited,
                    retrieved=cited,
                    cost_eur=rng.uniform(0.001, 0.02),
                )
            record = replace(
                record, at=at, user_id=rng.randint(1, 400), latency_s=rng.uniform(0.3, 9)
            )
            answer_id = store.record_answer(record)
            if rng.random() < 0.25:
                store.set_vote(answer_id, record.user_id, rng.choice((1, 1, -1)))
    finally:
        store.close()


def get(client: httpx.Client) -> tuple[float, str]:
    start = time.perf_counter()
    response = client.get("/")
    assert response.status_code == 200, response.status_code
    return time.perf_counter() - start, response.text


def served(settings: Settings, loads: int) -> dict[str, object]:
    """Page loads through uvicorn: the first, those while the topics are computed, then
    `loads` with the topics cached."""
    app = build_admin_app(settings, TOKEN)
    sock = listen("127.0.0.1", 0)
    server = build_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        with httpx.Client(base_url=url, timeout=600) as client:
            assert client.post("/connexion", data={"jeton": TOKEN}).status_code == 303
            began = time.perf_counter()
            first, page = get(client)
            during = []
            while "en cours" in page:
                time.sleep(1)
                took, page = get(client)
                during.append(took)
            ready = time.perf_counter() - began
            cached = [get(client)[0] for _ in range(loads)]
    finally:
        server.should_exit = True
        thread.join()
    return {"first": first, "during": during, "ready": ready, "cached": cached}


def refresh(settings: Settings) -> tuple[float, float]:
    """The topics computed twice with one memo: all questions embedded, then none."""
    store = SQLiteStore(settings.db_path)
    kb = open_knowledge(settings, build_if_empty=False, progress=False)
    memo = EmbeddingMemo(kb.query_embedder().encode)
    since = time.time() - 30 * DAY_S
    times = []
    try:
        for _ in range(2):
            start = time.perf_counter()
            found = gap_questions(store, since, weak_score=settings.gap_weak_score)
            gap_topics(found, memo)
            times.append(time.perf_counter() - start)
    finally:
        kb.close()
        store.close()
    return times[0], times[1]


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    loads = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    data = Path(tempfile.mkdtemp())
    settings = load_settings({"PILOTE_IA_DATA_DIR": str(data), "ADMIN_TOKEN": TOKEN})
    start = time.perf_counter()
    seed(settings.db_path, time.time(), n)
    print(f"seeded {n} answers in {time.perf_counter() - start:.1f} s")
    run = served(settings, loads)
    during: list[float] = run["during"]  # type: ignore[assignment]
    print(f"first load (starts the gap topics, waits {WAIT_S:g} s at most): {run['first']:.2f} s")
    if during:
        print(f"{len(during)} loads while the topics were computed: {ms(during)}")
    print(f"topics on the page {run['ready']:.1f} s after the first load")
    print(f"{loads} loads with the topics cached: {ms(run['cached'])}")  # type: ignore[arg-type]
    cold, warm = refresh(settings)
    print(f"gap topics computed: {cold:.1f} s the first time, {warm:.1f} s on a refresh")


if __name__ == "__main__":
    main()
