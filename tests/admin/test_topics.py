"""The page's gap topics: computed in a thread at most once a minute, vectors remembered."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from bot.admin.topics import BackgroundTopics, EmbeddingMemo
from bot.errors import StorageError
from bot.gaps import GapTopic


def topic(label: str) -> GapTopic:
    return GapTopic(
        label=label,
        owners=1,
        questions=1,
        examples=(label,),
        fiches=(),
        suggested_kind="guide",
        reasons={"weak_retrieval": 1},
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Computations:
    """Counts the computations; each may be held until released."""

    def __init__(self, *, hold: bool = False) -> None:
        self.calls: list[float] = []
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, since: float) -> Sequence[GapTopic]:
        self.calls.append(since)
        self.release.wait(30)
        return [topic(f"depuis {since:g}")]


def test_topics_are_computed_once_per_minute_and_per_period() -> None:
    clock, computations = Clock(), Computations()
    topics = BackgroundTopics(computations, ttl_s=60, wait_s=30, clock=clock)
    first = topics(0.0)
    assert first.topics == [topic("depuis 0")] and first.computed_at == clock.now
    clock.now += 59
    assert topics(0.0) == first
    assert computations.calls == [0.0]
    clock.now += 2
    topics(0.0)
    topics(86_400.0)  # the next day's period
    assert computations.calls == [0.0, 0.0, 86_400.0]


def test_a_slow_computation_does_not_hold_the_page() -> None:
    clock, computations = Clock(), Computations(hold=True)
    topics = BackgroundTopics(computations, ttl_s=60, wait_s=0, clock=clock)
    state = topics(0.0)
    assert (state.topics, state.running) == (None, True)
    assert topics(0.0).running and computations.calls == [0.0]  # not started twice
    computations.release.set()
    topics.close()
    state = topics(0.0)
    assert state.topics == [topic("depuis 0")] and not state.running
    clock.now += 61
    computations.release.clear()
    refreshing = topics(0.0)
    assert refreshing.running and refreshing.topics == [topic("depuis 0")]  # the last ones
    computations.release.set()
    topics.close()


def test_only_the_load_that_started_a_computation_waits_for_it() -> None:
    computations = Computations(hold=True)
    topics = BackgroundTopics(computations, wait_s=60)
    starter = threading.Thread(target=topics, args=(0.0,))
    starter.start()
    for _ in range(3000):
        if computations.calls:
            break
        time.sleep(0.01)
    watchdog = threading.Timer(20, computations.release.set)  # would end a wrong wait
    watchdog.start()
    state = topics(0.0)
    assert not computations.release.is_set()  # it returned while the computation was held
    assert state.running and state.topics is None
    computations.release.set()
    watchdog.cancel()
    starter.join()
    assert topics(0.0).topics == [topic("depuis 0")]


def test_a_failed_computation_is_reported_not_raised() -> None:
    def broken(since: float) -> Sequence[GapTopic]:
        raise StorageError("database is locked")

    state = BackgroundTopics(broken, wait_s=30)(0.0)
    assert (state.topics, state.failed, state.running) == (None, True, False)


def test_the_memo_embeds_only_new_texts_and_keeps_the_order() -> None:
    sent: list[list[str]] = []

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        sent.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)

    memo = EmbeddingMemo(embed, limit=3)
    assert memo(["a", "bbb"]).tolist() == [[1, 1], [3, 1]]
    assert memo(["bbb", "cc", "cc", "a"]).tolist() == [[3, 1], [2, 1], [2, 1], [1, 1]]
    assert sent == [["a", "bbb"], ["cc"]]
    memo(["dddd"])  # over the limit: the least recently used text ("bbb") is forgotten
    memo(["bbb"])
    assert sent[-1] == ["bbb"] and memo.embedded == 5
    assert memo([]).shape[0] == 0


def test_the_memo_gives_the_model_s_vectors() -> None:
    from tests.fakes.embedder import HashEmbedder

    texts = ["planning des équipes", "factures fournisseurs", "planning des équipes"]
    memo = EmbeddingMemo(HashEmbedder().encode)
    memo(texts[:1])
    assert memo(texts) == pytest.approx(HashEmbedder().encode(texts))
