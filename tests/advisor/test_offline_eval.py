"""The offline composer answers every eval question with 2-4 tools and a two-week plan."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def eval_questions() -> list[str]:
    if not EVAL_SET.is_file():
        return []
    lines = EVAL_SET.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


@pytest.mark.skipif(not eval_questions(), reason="knowledge/eval/questions.jsonl is absent")
async def test_offline_answers_every_eval_question(repo_kb: KnowledgeBase) -> None:
    advisor = Advisor(repo_kb, None)
    catalogue_ids = {tool.id for tool in advisor.catalogue}
    failures = []
    for question in eval_questions():
        advice = await advisor.advise(question)
        days = [step.day for step in advice.pilot.steps]
        ok = (
            2 <= len(advice.tools) <= 4
            and all(tool.source in catalogue_ids for tool in advice.tools)
            and days[0] == 1
            and days[-1] == 14
            and advice.pilot.kpis
            and advice.sources
            and 0 < len(advice.answer) < 900
        )
        if not ok:
            failures.append((question, len(advice.tools), days, advice.answer[:80]))
    assert not failures, failures
