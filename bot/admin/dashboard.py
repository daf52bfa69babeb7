"""Everything the dashboard shows, read from the store in one pass and shaped for the template."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from markupsafe import Markup

from bot import messages as msg
from bot.admin import charts, stats
from bot.admin.formatting import count, euros, short_day
from bot.admin.topics import TopicsState
from bot.anonymise import anonymise
from bot.storage import AnswerRecord, Feedback, Store

PAGE_TZ = ZoneInfo("Europe/Paris")  # days and times as the French deployer reads them
PERIOD_DAYS = 30
LATEST_DOWN_VOTES = 10
MOST_CITED = 10


@dataclass(frozen=True)
class Sources:
    """Where the page reads from: the store, the knowledge base's fiches, the gap topics."""

    store: Store
    fiches: Sequence[stats.FicheInfo]
    topics: Callable[[float], TopicsState]  # see bot.admin.topics.BackgroundTopics
    tz: tzinfo
    clock: Callable[[], float] = time.time


@dataclass(frozen=True)
class Dashboard:
    """The figures and charts of one page load."""

    first_day: date
    last_day: date
    generated_at: float
    answers: int
    owners: int
    cost_eur: float
    answers_chart: Markup
    modes: list[stats.ModeShare]
    modes_chart: Markup
    fallback_reasons: list[tuple[str, int]]
    cost_chart: Markup
    providers: list[stats.ProviderCost]
    latency: stats.Latency
    latency_by_mode: dict[str, stats.Latency]
    feedback: stats.FeedbackSummary
    down_votes: list[stats.DownVote]
    topics: TopicsState
    most_cited: list[stats.FicheCount]
    most_cited_chart: Markup
    never_cited: list[tuple[str, list[stats.FicheInfo]]]  # by fiche type
    never_cited_count: int
    fiches_total: int
    fiche_titles: dict[str, str]


def build_dashboard(sources: Sources) -> Dashboard:
    """Read the last PERIOD_DAYS days of answers and votes and compute every section."""
    now = sources.clock()
    today = stats.local_day(now, sources.tz)
    since = stats.window_start(today, PERIOD_DAYS, sources.tz)
    records = sources.store.answers_since(since)
    votes = sources.store.feedback_since(since)
    modes = stats.mode_shares(records)
    cited = stats.most_cited(records, sources.fiches, MOST_CITED)
    unused = stats.never_cited(records, sources.fiches)
    per_day = stats.answers_per_day(records, today=today, days=PERIOD_DAYS, tz=sources.tz)
    spent = stats.cost_per_day(records, today=today, days=PERIOD_DAYS, tz=sources.tz)
    return Dashboard(
        first_day=stats.first_day(today, PERIOD_DAYS),
        last_day=today,
        generated_at=now,
        answers=len(records),
        owners=stats.distinct_owners(records),
        cost_eur=sum(r.cost_eur for r in records),
        answers_chart=_answers_chart(per_day),
        modes=modes,
        modes_chart=_modes_chart(modes),
        fallback_reasons=_fallback_reasons(records),
        cost_chart=_cost_chart(spent),
        providers=stats.cost_per_provider(records),
        latency=stats.latency(records),
        latency_by_mode=stats.latency_by_mode(records),
        feedback=stats.feedback_summary(votes),
        down_votes=_down_votes(sources.store, records, votes),
        topics=sources.topics(since),
        most_cited=cited,
        most_cited_chart=_cited_chart(cited),
        never_cited=_by_type(unused),
        never_cited_count=len(unused),
        fiches_total=len(sources.fiches),
        fiche_titles={f.id: f.title for f in sources.fiches},
    )


def _answers_chart(days: Sequence[stats.DayValue]) -> Markup:
    bars = [
        charts.Bar(short_day(d.day), d.value, f"{short_day(d.day)} : {count(d.value)} réponse(s)")
        for d in days
    ]
    return charts.bar_chart(
        bars, title="Réponses par jour", css_class="bar-answers", axis_format=count, integer=True
    )


def _cost_chart(days: Sequence[stats.DayValue]) -> Markup:
    bars = [
        charts.Bar(short_day(d.day), d.value, f"{short_day(d.day)} : {euros(d.value)}")
        for d in days
    ]
    return charts.bar_chart(
        bars, title="Coût LLM par jour (€)", css_class="bar-cost", axis_format=euros
    )


def _modes_chart(modes: Sequence[stats.ModeShare]) -> Markup:
    segments = [
        charts.Segment(msg.ADMIN_MODES.get(m.mode, m.mode), m.count, mode_class(m.mode))
        for m in modes
    ]
    return charts.share_bar(segments, title="Part de chaque mode de réponse")


def mode_class(mode: str) -> str:
    """The CSS class colouring a mode (one colour for any mode the page does not know)."""
    return f"mode-{mode}" if mode in stats.MODES else "mode-other"


def _cited_chart(cited: Sequence[stats.FicheCount]) -> Markup:
    bars = [charts.Bar(c.fiche.title, c.count, f"{count(c.count)} réponse(s)") for c in cited]
    return charts.hbar_chart(bars, title="Fiches les plus citées", css_class="bar-cited")


def _fallback_reasons(records: Sequence[AnswerRecord]) -> list[tuple[str, int]]:
    reasons = Counter(r.fallback_reason or "?" for r in records if r.mode == "degraded")
    return sorted(reasons.items(), key=lambda item: (-item[1], item[0]))


def _down_votes(
    store: Store, records: Sequence[AnswerRecord], votes: Sequence[Feedback]
) -> list[stats.DownVote]:
    """The latest 👎 with their question and comment masked as in the gap report."""
    answers = {r.answer_id: r for r in records}
    rows = stats.latest_down_votes(votes, answers, LATEST_DOWN_VOTES)
    return [_masked(row if row.question is not None else _older(store, row)) for row in rows]


def _older(store: Store, row: stats.DownVote) -> stats.DownVote:
    """A 👎 given in the period on an answer sent before it: its question from the store."""
    record = store.answer(row.answer_id)
    if record is None:  # erased since (/oubli, retention)
        return row
    return replace(row, question=record.question, mode=record.mode)


def _masked(row: stats.DownVote) -> stats.DownVote:
    question = anonymise(row.question) if row.question else row.question
    comment = anonymise(row.comment) if row.comment else row.comment
    return replace(row, question=question, comment=comment)


def _by_type(fiches: Sequence[stats.FicheInfo]) -> list[tuple[str, list[stats.FicheInfo]]]:
    groups: dict[str, list[stats.FicheInfo]] = {}
    for fiche in fiches:
        groups.setdefault(fiche.type, []).append(fiche)
    return list(groups.items())


def generated_moment(dashboard: Dashboard, tz: tzinfo) -> str:
    """When the page was computed, as "12/05/2026 à 14:32"."""
    return datetime.fromtimestamp(dashboard.generated_at, tz).strftime("%d/%m/%Y à %H:%M")
