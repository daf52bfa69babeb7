"""The admin page's figures: pure functions of the answer log and the feedback.

Days are calendar days in the time zone given (the page uses Europe/Paris), so a bar is what
a French deployer calls "Tuesday", not a UTC day.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from bot.storage import AnswerRecord, Feedback

MODES = ("llm", "offline", "degraded")  # the order of the legend and of the stacked bar
NO_PROVIDER = ""  # cost spent without a provider name (should not happen, but is counted)


@dataclass(frozen=True)
class DayValue:
    """One bar of a per-day chart."""

    day: date
    value: float


@dataclass(frozen=True)
class ModeShare:
    """How many answers one mode wrote, and its share of all answers (0..1)."""

    mode: str
    count: int
    share: float


@dataclass(frozen=True)
class ProviderCost:
    """LLM spending of one provider over the period."""

    provider: str
    answers: int
    cost_eur: float


@dataclass(frozen=True)
class Latency:
    """Answer-time percentiles in seconds (None without any answer)."""

    count: int
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class FeedbackSummary:
    """Votes over the period and the reasons given after a 👎."""

    up: int
    down: int
    reasons: tuple[tuple[str, int], ...]  # most frequent first; "" = no reason given

    @property
    def votes(self) -> int:
        """Number of votes."""
        return self.up + self.down

    @property
    def up_share(self) -> float | None:
        """Share of 👍 among votes (None without any vote)."""
        return self.up / self.votes if self.votes else None


@dataclass(frozen=True)
class DownVote:
    """One 👎 as the page lists it, with the question when the answer is still stored."""

    answer_id: int
    at: float
    question: str | None
    mode: str | None
    reason: str | None
    comment: str | None


@dataclass(frozen=True)
class FicheInfo:
    """What the page shows of a knowledge-base fiche."""

    id: str
    title: str
    type: str


@dataclass(frozen=True)
class FicheCount:
    """A fiche and how many answers cited it."""

    fiche: FicheInfo
    count: int


def local_day(at: float, tz: tzinfo) -> date:
    """The calendar day of a unix time in `tz`."""
    return datetime.fromtimestamp(at, tz).date()


def first_day(today: date, days: int) -> date:
    """The first of the `days` days ending `today`."""
    return today - timedelta(days=days - 1)


def window_start(today: date, days: int, tz: tzinfo) -> float:
    """Unix time of midnight, in `tz`, on the first of the `days` days ending `today`."""
    first = first_day(today, days)
    return datetime(first.year, first.month, first.day, tzinfo=tz).timestamp()


def _per_day(
    pairs: Iterable[tuple[float, float]], today: date, days: int, tz: tzinfo
) -> list[DayValue]:
    totals: defaultdict[date, float] = defaultdict(float)
    for at, value in pairs:
        totals[local_day(at, tz)] += value
    first = first_day(today, days)
    return [
        DayValue(day, totals.get(day, 0.0))
        for day in (first + timedelta(days=n) for n in range(days))
    ]


def answers_per_day(
    records: Iterable[AnswerRecord], *, today: date, days: int, tz: tzinfo
) -> list[DayValue]:
    """Answers sent on each of the `days` days ending `today` (zero days included)."""
    return _per_day(((r.at, 1.0) for r in records), today, days, tz)


def cost_per_day(
    records: Iterable[AnswerRecord], *, today: date, days: int, tz: tzinfo
) -> list[DayValue]:
    """Euros spent on each of the `days` days ending `today`."""
    return _per_day(((r.at, r.cost_eur) for r in records), today, days, tz)


def mode_shares(records: Sequence[AnswerRecord]) -> list[ModeShare]:
    """Answers per mode (llm, offline, degraded, then any other), with their share."""
    counts = Counter(r.mode for r in records)
    modes = [*MODES, *sorted(set(counts) - set(MODES))]
    total = len(records)
    return [ModeShare(m, counts[m], counts[m] / total if total else 0.0) for m in modes]


def cost_per_provider(records: Iterable[AnswerRecord]) -> list[ProviderCost]:
    """Spending per provider, largest first; answers that cost nothing are not counted."""
    answers: Counter[str] = Counter()
    cost: defaultdict[str, float] = defaultdict(float)
    for record in records:
        if record.cost_eur > 0:
            name = record.provider or NO_PROVIDER
            answers[name] += 1
            cost[name] += record.cost_eur
    rows = [ProviderCost(name, answers[name], cost[name]) for name in answers]
    return sorted(rows, key=lambda row: (-row.cost_eur, row.provider))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency(records: Sequence[AnswerRecord]) -> Latency:
    """p50 and p95 of the answer times."""
    times = [r.latency_s for r in records]
    if not times:
        return Latency(0, None, None)
    return Latency(len(times), percentile(times, 50), percentile(times, 95))


def latency_by_mode(records: Sequence[AnswerRecord]) -> dict[str, Latency]:
    """Latency per mode that answered at least once (an LLM answer is much slower)."""
    groups: defaultdict[str, list[AnswerRecord]] = defaultdict(list)
    for record in records:
        groups[record.mode].append(record)
    order = [*MODES, *sorted(set(groups) - set(MODES))]
    return {mode: latency(groups[mode]) for mode in order if mode in groups}


def feedback_summary(feedback: Iterable[Feedback]) -> FeedbackSummary:
    """👍 and 👎 counts, and the 👎 reasons by frequency."""
    votes = list(feedback)
    reasons = Counter(f.reason or "" for f in votes if f.vote < 0)
    ranked = tuple(sorted(reasons.items(), key=lambda item: (-item[1], item[0])))
    up = sum(1 for f in votes if f.vote > 0)
    return FeedbackSummary(up=up, down=len(votes) - up, reasons=ranked)


def latest_down_votes(
    feedback: Iterable[Feedback], answers: Mapping[int, AnswerRecord], limit: int
) -> list[DownVote]:
    """The `limit` most recent 👎, newest first, with their question when it is known."""
    downs = sorted((f for f in feedback if f.vote < 0), key=lambda f: (f.at, f.answer_id))
    rows = []
    for vote in reversed(downs[-limit:] if limit > 0 else []):
        record = answers.get(vote.answer_id)
        rows.append(
            DownVote(
                answer_id=vote.answer_id,
                at=vote.at,
                question=record.question if record else None,
                mode=record.mode if record else None,
                reason=vote.reason,
                comment=vote.comment,
            )
        )
    return rows


def _info(fiche_id: str, fiches: Mapping[str, FicheInfo]) -> FicheInfo:
    return fiches.get(fiche_id) or FicheInfo(fiche_id, fiche_id, "")


def most_cited(
    records: Iterable[AnswerRecord], fiches: Sequence[FicheInfo], limit: int
) -> list[FicheCount]:
    """The fiches cited by the most answers (one count per answer), most cited first."""
    counts = Counter(fiche for r in records for fiche in set(r.cited))
    known = {f.id: f for f in fiches}
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [FicheCount(_info(fiche_id, known), n) for fiche_id, n in ranked]


def never_cited(records: Iterable[AnswerRecord], fiches: Sequence[FicheInfo]) -> list[FicheInfo]:
    """Fiches of the knowledge base that no answer cited, by type then id."""
    cited = {fiche for r in records for fiche in r.cited}
    return sorted((f for f in fiches if f.id not in cited), key=lambda f: (f.type, f.id))


def distinct_owners(records: Iterable[AnswerRecord]) -> int:
    """How many different users got an answer."""
    return len({r.user_id for r in records})
