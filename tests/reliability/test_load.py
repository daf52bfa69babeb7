"""300 owners x 5 questions through the real bot: every question answered once, concurrently."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrieval import KnowledgeBase
from tests.reliability.load import run_load

USERS, PER_USER = 300, 5


@pytest.mark.slow
# 1,500 exchanges over hundreds of short-lived loopback connections: a socket the fake
# servers or the client pools drop late is sometimes collected during the run, which
# Python reports as an unraisable ResourceWarning (seen once in seven CI rehearsals). What
# this test checks is below: every question answered once, nothing lost or doubled.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_load_answers_every_message_once_concurrently(
    real_kb: KnowledgeBase, tmp_path: Path
) -> None:
    result = await run_load(real_kb, tmp_path / "data", users=USERS, per_user=PER_USER)
    print("\n" + result.summary())
    expected = {f"Q{1000 + u}x{n}" for u in range(USERS) for n in range(PER_USER)}
    assert set(result.answers_per_marker) == expected
    assert set(result.answers_per_marker.values()) == {1}  # exactly once
    assert result.errors == 0
    assert result.llm_requests == USERS * PER_USER
    # Concurrent: one owner's 5 answers take ~7.5 s of LLM time; serving the 300 owners one
    # after the other would take ~2,250 s. On this shared 2-core machine the single bot
    # process (plus both fakes, in the same process) is CPU-bound, so the run takes a few
    # minutes at most (figures in docs/benchmarks.md): what is asserted is that owners are
    # served side by side, not a speed.
    serial = USERS * PER_USER * 1.5
    assert result.seconds < serial / 4, result.seconds
    # memory flat: no growth from the second round to the last
    rounds = result.rss_mb_by_round
    assert len(rounds) == PER_USER
    assert rounds[-1] - rounds[1] < 40, rounds
