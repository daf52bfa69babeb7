"""Retrieval quality on a question set: recall@1/3/5 and MRR per method, at fiche level."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from retrieval.errors import KnowledgeBaseError
from retrieval.knowledge_base import KnowledgeBase
from retrieval.models import Hit

CUTOFFS = (1, 3, 5)
_DEPTH = 10


def load_questions(path: Path) -> list[tuple[str, set[str]]]:
    """(question, relevant fiche ids) pairs from a JSONL file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise KnowledgeBaseError(str(path), f"lecture impossible ({exc.strerror})") from exc
    questions = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            question, relevant = str(item["question"]), item["relevant"]
            if not question.strip() or not isinstance(relevant, list) or not relevant:
                raise ValueError("empty question or relevant list")
        except (ValueError, KeyError, TypeError) as exc:
            raise KnowledgeBaseError(str(path), f"ligne {n} invalide (attendu : "
                                     '{"question": ..., "relevant": [...]})') from exc
        questions.append((question, {str(r) for r in relevant}))
    if not questions:
        raise KnowledgeBaseError(str(path), "aucune question")
    return questions


def evaluate(kb: KnowledgeBase, questions_path: Path) -> dict[str, Any]:
    """Recall@1/3/5 and MRR of dense, BM25 and hybrid search (one fiche counted once)."""
    questions = load_questions(questions_path)
    methods: dict[str, Callable[[str], list[Hit]]] = {
        "dense": lambda q: kb.search_dense(q, k=_DEPTH, max_per_fiche=1),
        "bm25": lambda q: kb.search_bm25(q, k=_DEPTH, max_per_fiche=1),
        "hybrid": lambda q: kb.search(q, k=_DEPTH, max_per_fiche=1),
    }
    result: dict[str, Any] = {"questions": len(questions)}
    for name, search in methods.items():
        ranks = [_first_relevant_rank(search(q), relevant) for q, relevant in questions]
        scores = {f"recall@{c}": _share(ranks, c) for c in CUTOFFS}
        scores["mrr"] = round(sum(1.0 / r for r in ranks if r) / len(ranks), 4)
        result[name] = scores
    return result


def _first_relevant_rank(hits: list[Hit], relevant: set[str]) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if hit.fiche_id in relevant:
            return rank
    return None


def _share(ranks: list[int | None], cutoff: int) -> float:
    return round(sum(1 for r in ranks if r is not None and r <= cutoff) / len(ranks), 4)
