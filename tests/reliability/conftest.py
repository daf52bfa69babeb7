"""Fixtures of the reliability tests: the real knowledge base (fast embedder) and the fakes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import KnowledgeBase
from tests.fakes.embedder import hash_indexed_kb
from tests.reliability.support import BOT_TOKEN, CountingTelegram

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


@pytest.fixture(scope="session")
def real_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    """The shipped knowledge/ folder indexed once, with the hashing embedder.

    The real MiniLM model costs ~130 ms per search on this shared 2-core machine; the
    hashing embedder keeps the same chunks, BM25 and Chroma path at ~11 ms, which is what
    lets 1,500 questions run in a minute. Retrieval quality is not what these tests measure.
    """
    kb = hash_indexed_kb(tmp_path_factory.mktemp("reliability-index"), KNOWLEDGE)
    yield kb
    kb.close()


@pytest.fixture
def telegram() -> Iterator[CountingTelegram]:
    """The fake Bot API with a token shaped like a real one."""
    fake = CountingTelegram(token=BOT_TOKEN)
    fake.start()
    yield fake
    fake.stop()
