"""The admin app over a seeded store (fake embedder for gap topics), served on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.admin.app import create_app
from bot.admin.auth import Sessions
from bot.admin.dashboard import PAGE_TZ, Sources
from bot.admin.stats import FicheInfo
from bot.admin.topics import page_topics
from bot.cli.admin import build_server, listen
from bot.storage import SQLiteStore
from retrieval import load_fiches
from tests.fakes.embedder import HashEmbedder

REPO_KNOWLEDGE_DIR = Path(__file__).resolve().parents[2] / "knowledge"
WEAK_SCORE = 0.56
ADMIN_TOKEN = "jeton-de-test-assez-long"


def knowledge_fiches() -> list[FicheInfo]:
    """The shipped fiches as the page lists them."""
    fiches, errors = load_fiches(REPO_KNOWLEDGE_DIR)
    assert not errors
    return [FicheInfo(f.id, f.title, f.type) for f in fiches]


def admin_app(db_path: Path, now: float, token: str) -> Any:
    """The real app reading the store at `db_path`, its clock stopped at `now`."""
    store = SQLiteStore(db_path)
    topics = page_topics(store, HashEmbedder, weak_score=WEAK_SCORE)

    def close() -> None:
        topics.close()
        store.close()

    sources = Sources(
        store=store,
        fiches=knowledge_fiches(),
        topics=topics,
        tz=PAGE_TZ,
        clock=lambda: now,
    )
    return create_app(sources, Sessions(token), on_close=close)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields its base URL, stops after."""
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    server = build_server(app)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the admin server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def paris_noon(day: int = 12) -> float:
    """A fixed 'now' for the page: 2026-05-`day` 12:00 in Paris."""
    return datetime(2026, 5, day, 12, 0, tzinfo=PAGE_TZ).timestamp()
