"""The offline composer keeps the answer contract on every eval question: declines carry
nothing, information answers no pilot, plans span days 1-14, prices are never degenerate."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.advice import Advice, Turn
from bot.advisor import Advisor
from retrieval import KnowledgeBase
from tests.fakes.embedder import hash_indexed_kb

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
EVAL_SET = KNOWLEDGE / "eval" / "questions.jsonl"


@pytest.fixture(scope="module")
def repo_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    """The shipped knowledge base, indexed with the fast hash embedder."""
    kb = hash_indexed_kb(tmp_path_factory.mktemp("repo-kb"), KNOWLEDGE, dimension=256)
    yield kb
    kb.close()


def eval_questions() -> list[dict[str, object]]:
    if not EVAL_SET.is_file():
        return []
    lines = EVAL_SET.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


_DEGENERATE = re.compile(r"\b(\d+(?:,\d+)?) à \1 €")


def _contract_faults(advice: Advice, catalogue_ids: set[str]) -> list[str]:
    """What breaks the answer contract whatever the question: the shape, not the content."""
    faults = []
    if not 0 < len(advice.answer) < 900:
        faults.append("answer length")
    if _DEGENERATE.search(advice.answer):
        faults.append("degenerate price range")
    if any(tool.source not in catalogue_ids for tool in advice.tools) or len(advice.tools) > 4:
        faults.append("tools")
    if advice.intent in ("out_of_scope", "subversion"):
        if advice.tools or advice.pilot is not None or advice.sources:
            faults.append("a decline carries tools, a pilot or sources")
    elif advice.pilot is not None:
        days = [step.day for step in advice.pilot.steps]
        if days[0] != 1 or days[-1] != 14 or not advice.pilot.kpis:
            faults.append(f"pilot days {days}")
    if advice.intent == "information" and advice.pilot is not None:
        faults.append("an information answer carries a pilot")
    return faults


@pytest.mark.skipif(not eval_questions(), reason="knowledge/eval/questions.jsonl is absent")
async def test_offline_answers_keep_the_contract_on_every_eval_question(
    repo_kb: KnowledgeBase,
) -> None:
    advisor = Advisor(repo_kb, None)
    catalogue_ids = {tool.id for tool in advisor.catalogue}
    failures = []
    for item in eval_questions():
        history = [Turn.model_validate(t) for t in item.get("history") or []]  # type: ignore[attr-defined]
        advice = await advisor.advise(str(item["question"]), history=history)
        faults = _contract_faults(advice, catalogue_ids)
        if faults:
            failures.append((item["id"], faults, advice.answer[:80]))
    assert not failures, failures
