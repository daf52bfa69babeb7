"""The gap topics of the admin page, computed off the request path and kept for a minute.

Embedding every badly served question takes the knowledge base's model about 25 ms a
question on two cores: a month with thousands of them would hold a page load for a minute.
So a page load starts a computation in a thread when the last one is older than TTL_S,
waits for it a moment (enough for a small deployment), and otherwise shows the previous
topics or says they are being computed. Vectors are remembered per question text, so a
refresh only embeds the questions asked since the last one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from bot.errors import BotError
from retrieval.errors import RetrievalError

if TYPE_CHECKING:
    from bot.gaps import GapTopic
    from bot.storage import Store
    from retrieval.embedding import Embedder

logger = logging.getLogger(__name__)

TTL_S = 60.0
WAIT_S = 2.0  # how long a page load waits for a computation it started
MEMO_TEXTS = 20_000  # ~30 MB of MiniLM vectors

Compute = Callable[[float], Sequence["GapTopic"]]
Embed = Callable[[Sequence[str]], NDArray[np.float32]]


@dataclass(frozen=True)
class TopicsState:
    """What the page can show: the last topics computed (None before the first), and when."""

    topics: Sequence[GapTopic] | None
    computed_at: float | None  # unix time
    running: bool
    failed: bool


class BackgroundTopics:
    """Gap topics recomputed at most once per `ttl_s`, in a thread, for a period start."""

    def __init__(
        self,
        compute: Compute,
        *,
        ttl_s: float = TTL_S,
        wait_s: float = WAIT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._compute = compute
        self._ttl_s = ttl_s
        self._wait_s = wait_s
        self._clock = clock
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._since: float | None = None
        self._started_at = 0.0
        self._state = TopicsState(None, None, running=False, failed=False)

    def __call__(self, since: float) -> TopicsState:
        """The topics of the questions since `since`, refreshed in the background when stale."""
        started = None
        with self._lock:
            stale = self._since != since or self._clock() - self._started_at >= self._ttl_s
            if stale and self._thread is None:
                started = self._start(since)
        if started is not None:  # only the load that started it waits, and briefly
            started.join(self._wait_s)
        with self._lock:
            return self._state

    def close(self, timeout_s: float = 10.0) -> None:
        """Wait (a bounded time) for a computation in progress, before its store closes."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)

    def _start(self, since: float) -> threading.Thread:
        """Under the lock: start computing the topics since `since`."""
        self._since, self._started_at = since, self._clock()
        self._state = TopicsState(self._state.topics, self._state.computed_at, True, False)
        thread = threading.Thread(target=self._run, args=(since,), name="gap-topics", daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def _run(self, since: float) -> None:
        try:
            topics: Sequence[GapTopic] | None = self._compute(since)
            failed = False
        except (BotError, RetrievalError) as exc:
            logger.warning("gap topics unavailable: %s", type(exc).__name__)
            topics, failed = None, True
        with self._lock:
            if failed:
                self._state = TopicsState(self._state.topics, self._state.computed_at, False, True)
            else:
                self._state = TopicsState(topics, self._clock(), running=False, failed=False)
            self._thread = None


class EmbeddingMemo:
    """An embedder that remembers the vectors of the last `limit` texts it embedded."""

    def __init__(self, embed: Embed, *, limit: int = MEMO_TEXTS) -> None:
        self._embed = embed
        self._limit = limit
        self._vectors: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()
        self.embedded = 0  # texts sent to the model (the rest came from memory)

    def __call__(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Vectors of `texts`, in order; only texts never seen go to the model."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        fresh = self._embed(missing) if missing else None
        with self._lock:
            if fresh is not None:
                self.embedded += len(missing)
                for text, vector in zip(missing, fresh, strict=True):
                    self._vectors[text] = vector
            for text in texts:
                self._vectors.move_to_end(text)
            rows = [self._vectors[t] for t in texts]
            while len(self._vectors) > self._limit:
                self._vectors.popitem(last=False)
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack(rows).astype(np.float32, copy=False)


def page_topics(
    store: Store, embedder: Callable[[], Embedder], *, weak_score: float
) -> BackgroundTopics:
    """The page's topics: the gap report's questions and topics, vectors remembered.

    `embedder` gives the knowledge base's query embedder, loaded on the first computation.
    """
    from bot.gaps import gap_questions, gap_topics

    memo = EmbeddingMemo(lambda texts: embedder().encode(texts))

    def compute(since: float) -> Sequence[GapTopic]:
        found = gap_questions(store, since, weak_score=weak_score)
        return gap_topics(found, memo) if found else []

    return BackgroundTopics(compute)
