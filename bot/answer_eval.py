"""Answer-level evaluation: the advisor's answers scored against the eval set's expectations.

Scoring is pure: (EvalQuestion, Advice) -> AnswerScore. `answer_all` drives a real advisor
over the questions one after the other; `summarise`, `llm_summary` and `format_report` turn
the results into figures and a French table. Expectations are described in
docs/data-formats.md §4.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.advice import Advice, AdvisorLike, Profile, Turn
from bot.errors import BotError
from bot.messages import user_message_for
from retrieval.errors import RetrievalError
from retrieval.evaluation import DECLINE_INTENTS, EvalQuestion
from retrieval.text import fold

INTENT_ORDER = ("need", "information", "mixed", "follow_up", "out_of_scope", "subversion")
TARGET_GOOD_RATE = 0.9  # issue 11: at least 90 % good answers on the test split
_EXCERPT = 300
_SPACES = re.compile(r"\s+")

# French wording of the report (user-facing).
REPORT_HEADER = "Réponses du conseiller ({mode}) · partie {split} · {n} questions · {seconds} s"
MODE_NAMES = {"offline": "hors ligne", "llm": "avec LLM"}
SPLIT_NAMES = {"all": "toutes", "dev": "dev", "test": "test"}
TABLE_COLUMNS = ("intention", "questions", "bonnes", "intention ok", "faits")
TOTAL_ROW = "total"
TOOLS_LINE = (
    "Premier outil adapté : {first_tool} · outils hors besoin : {off_need} des réponses · "
    "termes à éviter : {must_not} · refus corrects : {declined}/{declines} · "
    "refus à tort : {false_declines}"
)
ERRORS_LINE = "Questions en erreur : {n}"
LATENCY_LINE = "Latence : p50 {p50} s · p95 {p95} s"
TARGET_LINE = "Objectif (≥ 90 % de bonnes réponses sur la partie test) : {verdict}"
TARGET_MET = "atteint"
TARGET_MISSED = "non atteint"
LLM_LINE = (
    "LLM : structure valide {valid} · réparations {repairs} · repli hors ligne {fallbacks}"
    "{reasons} · affirmations retirées : {claims}"
)
COST_LINE = "Par réponse : {prompt} + {completion} jetons · {eur} €"
WORST_TITLE = "Pires réponses ({n}) :"
NO_WORST = "Aucune réponse en défaut."
FAIL_INTENT = "intention {got} au lieu de {expected}"
FAIL_MISSING = "faits absents : {items}"
FAIL_OFF_NEED = "outils hors besoin : {items}"
FAIL_FORBIDDEN = "à éviter présent : {items}"
FAIL_NO_DECLINE = "refus attendu (sans outil ni pilote)"
FAIL_FALSE_DECLINE = "refus à tort"
FAIL_ERROR = "erreur : {reason}"


# -- scoring (pure) ----------------------------------------------------------------------


def fold_text(text: str) -> str:
    """Text as compared with expectations: lowercase, no accents, plain single spaces."""
    return _SPACES.sub(" ", fold(text.replace("\u2019", "'"))).strip()


def visible_text(advice: Advice) -> str:
    """What the owner reads besides prices: the answer, then each tool's name and reason."""
    return "\n".join([advice.answer, *(f"{tool.name} : {tool.why}" for tool in advice.tools)])


def missing_facts(question: EvalQuestion, folded: str) -> tuple[str, ...]:
    """The must-have entries of which no alternative (`a|b`) appears in the folded text."""
    return tuple(
        fact
        for fact in question.must_have
        if not any(fold_text(option) in folded for option in fact.split("|"))
    )


def forbidden_hits(question: EvalQuestion, folded: str) -> tuple[str, ...]:
    """The must-not strings found in the folded text."""
    return tuple(term for term in question.must_not if fold_text(term) in folded)


def off_need_tools(question: EvalQuestion, advice: Advice) -> tuple[str, ...]:
    """Proposed tools whose category is not among the expected ones, as "name (category)"."""
    fitting = set(question.tool_categories)
    return tuple(f"{t.name} ({t.category})" for t in advice.tools if t.category not in fitting)


def is_decline(advice: Advice) -> bool:
    """A polite refusal: declining intent, no tool and no pilot."""
    return advice.intent in DECLINE_INTENTS and not advice.tools and advice.pilot is None


def decline_correct(question: EvalQuestion, advice: Advice) -> bool:
    """A refusal when one is expected; otherwise no refusing intent."""
    if question.decline:
        return is_decline(advice)
    return advice.intent not in DECLINE_INTENTS


@dataclass(frozen=True)
class AnswerScore:
    """What one answer got right and wrong; `error` is set when no answer came back."""

    question_id: str
    expected_intent: str
    intent: str | None
    missing: tuple[str, ...]
    off_need: tuple[str, ...]
    forbidden: tuple[str, ...]
    decline_ok: bool
    error: str | None = None
    first_tool_ok: bool | None = None  # None: no tool proposed, or none expected

    @property
    def intent_ok(self) -> bool:
        """The advisor answered the kind of message expected."""
        return self.intent == self.expected_intent

    @property
    def good(self) -> bool:
        """All must-haves, no off-need tool, nothing to avoid, and the right decline."""
        return (
            self.error is None
            and not self.missing
            and not self.off_need
            and not self.forbidden
            and self.decline_ok
        )

    @property
    def faults(self) -> int:
        """How many things went wrong (each missing fact, off-need tool... counts once)."""
        if self.error is not None:
            return 1 + len(self.missing)
        return (
            len(self.missing)
            + len(self.off_need)
            + len(self.forbidden)
            + (not self.decline_ok)
            + (not self.intent_ok)
        )

    def failures(self) -> list[str]:
        """French description of each fault, worst first."""
        if self.error is not None:
            return [FAIL_ERROR.format(reason=self.error)]
        found = []
        if not self.decline_ok:
            found.append(
                FAIL_NO_DECLINE if self.expected_intent in DECLINE_INTENTS else FAIL_FALSE_DECLINE
            )
        for template, items in (
            (FAIL_MISSING, self.missing),
            (FAIL_OFF_NEED, self.off_need),
            (FAIL_FORBIDDEN, self.forbidden),
        ):
            if items:
                found.append(template.format(items=", ".join(items)))
        if not self.intent_ok:
            found.append(FAIL_INTENT.format(got=self.intent, expected=self.expected_intent))
        return found


def score_answer(question: EvalQuestion, advice: Advice) -> AnswerScore:
    """Score one answer against its question's expectations."""
    folded = fold_text(visible_text(advice))
    return AnswerScore(
        question_id=question.id,
        expected_intent=question.intent,
        intent=advice.intent,
        missing=missing_facts(question, folded),
        off_need=off_need_tools(question, advice),
        forbidden=forbidden_hits(question, folded),
        decline_ok=decline_correct(question, advice),
        first_tool_ok=first_tool_fits(question, advice),
    )


def first_tool_fits(question: EvalQuestion, advice: Advice) -> bool | None:
    """Whether the first recommended tool is of a fitting category (None: nothing to judge)."""
    if not advice.tools or not question.tool_categories:
        return None
    return advice.tools[0].category in question.tool_categories


def failed_answer(question: EvalQuestion, reason: str) -> AnswerScore:
    """The score of a question the advisor could not answer: every check failed."""
    return AnswerScore(
        question.id,
        question.intent,
        None,
        question.must_have,
        (),
        (),
        decline_ok=False,
        error=reason,
    )


# -- running the advisor -----------------------------------------------------------------


@dataclass(frozen=True)
class AnswerResult:
    """One question, the advisor's answer (None on error), its score and how long it took."""

    question: EvalQuestion
    advice: Advice | None
    score: AnswerScore
    seconds: float


def as_profile(question: EvalQuestion) -> Profile | None:
    """The question's profile as the advisor takes it."""
    return Profile.model_validate(question.profile.model_dump()) if question.profile else None


async def answer_one(
    advisor: AdvisorLike, question: EvalQuestion, clock: Callable[[], float] = time.perf_counter
) -> AnswerResult:
    """Ask one question (with its profile and history) and score the answer."""
    history = [Turn(question=t.question, answer=t.answer) for t in question.history]
    started = clock()
    try:
        advice = await advisor.advise(
            question.question, profile=as_profile(question), history=history
        )
    except (RetrievalError, BotError) as exc:
        reason = user_message_for(exc)
        return AnswerResult(question, None, failed_answer(question, reason), clock() - started)
    return AnswerResult(question, advice, score_answer(question, advice), clock() - started)


async def answer_all(
    advisor: AdvisorLike,
    questions: Sequence[EvalQuestion],
    clock: Callable[[], float] = time.perf_counter,
) -> list[AnswerResult]:
    """Answer the questions one after the other (latency is measured per answer)."""
    return [await answer_one(advisor, question, clock) for question in questions]


# -- figures -----------------------------------------------------------------------------


def _rate(flags: Iterable[bool]) -> float | None:
    values = list(flags)
    return round(sum(values) / len(values), 4) if values else None


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * share)) - 1]


def _group_scores(results: Sequence[AnswerResult]) -> dict[str, Any]:
    scores = [r.score for r in results]
    return {
        "answers": len(scores),
        "good_answer_rate": _rate(s.good for s in scores),
        "intent_accuracy": _rate(s.intent_ok for s in scores),
        "must_have_rate": _rate(not r.score.missing for r in results if r.question.must_have),
    }


def summarise(results: Sequence[AnswerResult]) -> dict[str, Any]:
    """Aggregate scores, per intent too (rates in 0..1, None when nothing to measure)."""
    declines = [r.score for r in results if r.question.decline]
    others = [r.score for r in results if not r.question.decline]
    seconds = [r.seconds for r in results] or [0.0]
    per_intent = {
        intent: _group_scores(group)
        for intent in INTENT_ORDER
        if (group := [r for r in results if r.question.intent == intent])
    }
    return {
        **_group_scores(results),
        "off_need_rate": _rate(bool(r.score.off_need) for r in results),
        "first_tool_rate": _rate(
            r.score.first_tool_ok for r in results if r.score.first_tool_ok is not None
        ),
        "must_not_rate": _rate(bool(r.score.forbidden) for r in results),
        "declines_expected": len(declines),
        "declines_correct": sum(s.decline_ok for s in declines),
        "false_declines": sum(not s.decline_ok and s.error is None for s in others),
        "errors": sum(r.score.error is not None for r in results),
        "latency_p50_s": round(percentile(seconds, 0.5), 3),
        "latency_p95_s": round(percentile(seconds, 0.95), 3),
        "per_intent": per_intent,
    }


def llm_summary(results: Sequence[AnswerResult]) -> dict[str, Any] | None:
    """Figures of the answers the LLM was asked for; None when no answer involved it."""
    tried = [r.advice for r in results if r.advice is not None and r.advice.mode != "offline"]
    if not tried:
        return None
    usages = [a.usage for a in tried if a.usage is not None]
    reasons = Counter(a.fallback_reason or "?" for a in tried if a.mode == "degraded")
    return {
        "llm_answers": len(tried),
        "valid_structure_rate": _rate(a.trace.structure_valid for a in tried),
        "repair_rate": _rate(a.trace.repairs > 0 for a in tried),
        "fallback_rate": _rate(a.mode == "degraded" for a in tried),
        "fallback_reasons": dict(reasons.most_common()),
        "claims_removed": sum(a.trace.claims_removed for a in tried),
        "prompt_tokens_per_answer": round(sum(u.prompt_tokens for u in usages) / len(tried), 1),
        "completion_tokens_per_answer": round(
            sum(u.completion_tokens for u in usages) / len(tried), 1
        ),
        "eur_per_answer": round(sum(u.cost_eur for u in usages) / len(tried), 6),
    }


def worst(results: Sequence[AnswerResult], n: int) -> list[AnswerResult]:
    """Up to n answers with faults, most faults first (bad answers before intent-only slips)."""
    faulty = [r for r in results if r.score.faults]
    faulty.sort(key=lambda r: (r.score.good, -r.score.faults, r.question.id))
    return faulty[:n]


def report(
    results: Sequence[AnswerResult], *, split: str, mode: str, seconds: float
) -> dict[str, Any]:
    """The whole evaluation as one JSON-ready object, with each answer's faults."""
    return {
        "split": split,
        "mode": mode,
        "seconds": round(seconds, 2),
        **summarise(results),
        "llm": llm_summary(results),
        "results": [
            {
                "id": r.question.id,
                "intent": r.question.intent,
                "answered_intent": r.score.intent,
                "good": r.score.good,
                "failures": r.score.failures(),
                "mode": r.advice.mode if r.advice else None,
                "seconds": round(r.seconds, 3),
            }
            for r in results
        ],
    }


# -- French report -----------------------------------------------------------------------


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{round(rate * 100)} %"


def _num(value: float, digits: int) -> str:
    return f"{value:.{digits}f}".replace(".", ",")


def format_report(summary: dict[str, Any], results: Sequence[AnswerResult], worst_n: int) -> str:
    """The `report` as a compact French table, then the worst answers when asked."""
    lines = [
        REPORT_HEADER.format(
            mode=MODE_NAMES.get(summary["mode"], summary["mode"]),
            split=SPLIT_NAMES.get(summary["split"], summary["split"]),
            n=summary["answers"],
            seconds=_num(summary["seconds"], 1),
        ),
        "",
    ]
    lines += _intent_table(summary)
    lines += ["", *_detail_lines(summary)]
    if summary["llm"] is not None:
        lines += _llm_lines(summary["llm"])
    if worst_n > 0:
        lines += ["", *_worst_lines(worst(results, worst_n))]
    return "\n".join(lines)


def _intent_table(summary: dict[str, Any]) -> list[str]:
    widths = (14, 10, 8, 14, 7)
    header = "".join(
        f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
        for i, (c, w) in enumerate(zip(TABLE_COLUMNS, widths, strict=True))
    )
    rows = [*summary["per_intent"].items(), (TOTAL_ROW, summary)]
    lines = [header]
    for name, group in rows:
        cells = (
            name,
            str(group["answers"]),
            _pct(group["good_answer_rate"]),
            _pct(group["intent_accuracy"]),
            _pct(group["must_have_rate"]),
        )
        lines.append(
            "".join(
                f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
        )
    return lines


def _detail_lines(summary: dict[str, Any]) -> list[str]:
    lines = [
        TOOLS_LINE.format(
            first_tool=_pct(summary["first_tool_rate"]),
            off_need=_pct(summary["off_need_rate"]),
            must_not=_pct(summary["must_not_rate"]),
            declined=summary["declines_correct"],
            declines=summary["declines_expected"],
            false_declines=summary["false_declines"],
        )
    ]
    if summary["errors"]:
        lines.append(ERRORS_LINE.format(n=summary["errors"]))
    lines.append(
        LATENCY_LINE.format(
            p50=_num(summary["latency_p50_s"], 2), p95=_num(summary["latency_p95_s"], 2)
        )
    )
    if summary["split"] == "test" and summary["good_answer_rate"] is not None:
        met = summary["good_answer_rate"] >= TARGET_GOOD_RATE
        lines.append(TARGET_LINE.format(verdict=TARGET_MET if met else TARGET_MISSED))
    return lines


def _llm_lines(llm: dict[str, Any]) -> list[str]:
    reasons = ", ".join(f"{reason} ×{n}" for reason, n in llm["fallback_reasons"].items())
    return [
        LLM_LINE.format(
            valid=_pct(llm["valid_structure_rate"]),
            repairs=_pct(llm["repair_rate"]),
            fallbacks=_pct(llm["fallback_rate"]),
            reasons=f" ({reasons})" if reasons else "",
            claims=llm["claims_removed"],
        ),
        COST_LINE.format(
            prompt=round(llm["prompt_tokens_per_answer"]),
            completion=round(llm["completion_tokens_per_answer"]),
            eur=_num(llm["eur_per_answer"], 5),
        ),
    ]


def _worst_lines(chosen: Sequence[AnswerResult]) -> list[str]:
    if not chosen:
        return [NO_WORST]
    lines = [WORST_TITLE.format(n=len(chosen))]
    for result in chosen:
        question = result.question
        lines.append(f"{question.id} ({question.intent}) « {question.question} »")
        lines.append(f"  {' ; '.join(result.score.failures())}")
        if result.advice is not None:
            text = " ".join(result.advice.answer.split())
            lines.append(f"  → {text[:_EXCERPT]}{'…' if len(text) > _EXCERPT else ''}")
    return lines
