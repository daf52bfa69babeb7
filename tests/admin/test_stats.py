"""The admin page's figures, computed from hand-made answer logs."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.admin import stats
from bot.storage import Feedback
from tests.admin.seed import answer

PARIS = ZoneInfo("Europe/Paris")
TODAY = date(2026, 5, 12)


def at(day: int, hour: int, minute: int = 0) -> float:
    """Unix time of May `day` 2026, hh:mm in Paris."""
    return datetime(2026, 5, day, hour, minute, tzinfo=PARIS).timestamp()


def vote(answer_id: int, value: int, when: float, reason: str | None = None) -> Feedback:
    return Feedback(answer_id, 1, value, reason, None, when)


def test_days_are_paris_days_and_empty_days_are_zero() -> None:
    records = [
        answer(at=at(12, 0, 30), cost_eur=0.5),  # 22:30 UTC the day before
        answer(at=at(11, 23, 59), cost_eur=0.25),
        answer(at=at(8, 9), cost_eur=0.0),
    ]
    days = stats.answers_per_day(records, today=TODAY, days=5, tz=PARIS)
    assert [(d.day.day, d.value) for d in days] == [(8, 1), (9, 0), (10, 0), (11, 1), (12, 1)]
    cost = stats.cost_per_day(records, today=TODAY, days=5, tz=PARIS)
    assert [d.value for d in cost] == [0.0, 0.0, 0.0, 0.25, 0.5]


def test_window_starts_at_paris_midnight() -> None:
    start = stats.window_start(TODAY, 30, PARIS)
    assert start == at(13, 0) - 30 * 86_400  # 13 April 00:00 (both in summer time)
    assert stats.first_day(TODAY, 30) == date(2026, 4, 13)


def test_mode_shares_keep_the_three_modes_in_order() -> None:
    records = [answer(mode="offline"), answer(mode="llm"), answer(mode="offline")]
    shares = stats.mode_shares(records)
    assert [(s.mode, s.count) for s in shares] == [("llm", 1), ("offline", 2), ("degraded", 0)]
    assert shares[1].share == pytest.approx(2 / 3)
    assert [s.share for s in stats.mode_shares([])] == [0.0, 0.0, 0.0]


def test_cost_per_provider_counts_only_paid_answers_largest_first() -> None:
    records = [
        answer(provider="deepseek", cost_eur=0.002),
        answer(provider="deepseek", cost_eur=0.004),
        answer(provider="mistral", cost_eur=0.01),
        answer(provider="mistral", cost_eur=0.0),  # cached or free: not a paid answer
        answer(provider=None, mode="offline", cost_eur=0.0),
    ]
    rows = stats.cost_per_provider(records)
    assert [(r.provider, r.answers) for r in rows] == [("mistral", 1), ("deepseek", 2)]
    assert rows[1].cost_eur == pytest.approx(0.006)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [0.4, 0.5, 0.6, 2, 3, 4, 5, 30]
    assert stats.percentile(values, 50) == pytest.approx(2.5)
    assert stats.percentile(values, 95) == pytest.approx(21.25)
    assert stats.percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        stats.percentile([], 50)


def test_latency_overall_and_per_mode() -> None:
    records = [
        answer(latency_s=4.0),
        answer(latency_s=6.0),
        answer(mode="offline", latency_s=0.5),
    ]
    overall = stats.latency(records)
    assert (overall.count, overall.p50) == (3, 4.0)
    by_mode = stats.latency_by_mode(records)
    assert list(by_mode) == ["llm", "offline"]
    assert by_mode["llm"].p50 == pytest.approx(5.0)
    assert stats.latency([]) == stats.Latency(0, None, None)


def test_feedback_summary_ranks_reasons() -> None:
    votes = [
        vote(1, 1, 1.0),
        vote(2, -1, 2.0, "unclear"),
        vote(3, -1, 3.0, "unclear"),
        vote(4, -1, 4.0),
        vote(5, -1, 5.0, "wrong_fact"),
    ]
    summary = stats.feedback_summary(votes)
    assert (summary.up, summary.down, summary.votes) == (1, 4, 5)
    assert summary.up_share == pytest.approx(0.2)
    assert summary.reasons == (("unclear", 2), ("", 1), ("wrong_fact", 1))
    assert stats.feedback_summary([]).up_share is None


def test_latest_down_votes_newest_first_with_their_question() -> None:
    records = {7: answer(answer_id=7, question="Q7", mode="offline")}
    votes = [vote(7, -1, 10.0, "unclear"), vote(8, -1, 30.0), vote(9, 1, 40.0), vote(6, -1, 5.0)]
    rows = stats.latest_down_votes(votes, records, limit=2)
    assert [(r.answer_id, r.question, r.mode) for r in rows] == [
        (8, None, None),
        (7, "Q7", "offline"),
    ]
    assert stats.latest_down_votes(votes, records, limit=0) == []


def test_citations_count_each_answer_once_and_list_the_unused_fiches() -> None:
    fiches = [
        stats.FicheInfo("tool-a", "Outil A", "tool"),
        stats.FicheInfo("guide-b", "Guide B", "guide"),
        stats.FicheInfo("case-c", "Cas C", "case"),
        stats.FicheInfo("tool-d", "Outil D", "tool"),
    ]
    records = [
        answer(cited=("tool-a", "tool-a")),
        answer(cited=("tool-a", "guide-b")),
        answer(cited=("user-doc",)),  # an ingested document since removed: still counted
    ]
    top = stats.most_cited(records, fiches, limit=2)
    assert [(c.fiche.title, c.count) for c in top] == [("Outil A", 2), ("Guide B", 1)]
    assert stats.most_cited(records, fiches, limit=5)[2].fiche.title == "user-doc"
    unused = stats.never_cited(records, fiches)
    assert [f.id for f in unused] == ["case-c", "tool-d"]


def test_distinct_owners() -> None:
    records = [answer(user_id=1), replace(answer(), user_id=2), answer(user_id=1)]
    assert stats.distinct_owners(records) == 2
