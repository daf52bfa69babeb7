"""The eval-set loader, the retrieval metrics and the fusion variants they compare."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrieval import KnowledgeBase
from retrieval.errors import KnowledgeBaseError
from retrieval.evaluation import (
    evaluate,
    hybrid_losses,
    load_questions,
    method_scores,
    search_text,
    select_split,
)
from retrieval.knowledge_base import CANDIDATES, PLAIN_FUSION, TUNED_FUSION
from tests.fakes.embedder import hash_indexed_kb
from tests.retrieval.conftest import FIXTURES

FIXTURE_EVAL = FIXTURES / "knowledge" / "eval" / "questions.jsonl"
GOOD: dict[str, Any] = {
    "id": "q042",
    "split": "dev",
    "question": "deepseek v3.1 cb de parametres ?",
    "relevant": ["fact-deepseek"],
    "intent": "information",
    "needs": [],
    "must_have": ["671", "37|trente-sept"],
    "tool_categories": [],
    "must_not": ["Le Chat"],
    "decline": False,
}


def _write(tmp_path: Path, *items: dict[str, Any] | str) -> Path:
    path = tmp_path / "questions.jsonl"
    lines = [item if isinstance(item, str) else json.dumps(item) for item in items]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _problem(path: Path) -> str:
    with pytest.raises(KnowledgeBaseError) as caught:
        load_questions(path)
    return caught.value.problem


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    """The retrieval fixture fiches, hash-embedded."""
    built = hash_indexed_kb(tmp_path_factory.mktemp("eval-kb"), FIXTURES / "knowledge")
    yield built
    built.close()


# -- loader --------------------------------------------------------------------------------


def test_loader_reads_every_field(tmp_path: Path) -> None:
    follow_up = {
        **GOOD,
        "id": "q043",
        "split": "test",
        "intent": "follow_up",
        "question": "et moins cher ?",
        "profile": {"sector": "commerce", "monthly_budget_eur": 50},
        "history": [{"question": "un outil pour mes devis ?", "answer": "Essayez X."}],
    }
    decline = {
        **GOOD,
        "id": "q044",
        "intent": "out_of_scope",
        "question": "recette de crêpes",
        "relevant": [],
        "must_have": [],
        "decline": True,
    }
    first, second, third = load_questions(_write(tmp_path, GOOD, "", follow_up, decline))
    assert (first.id, first.split, first.intent) == ("q042", "dev", "information")
    assert first.must_have == ("671", "37|trente-sept") and first.profile is None
    assert second.profile is not None and second.profile.monthly_budget_eur == 50
    assert search_text(second) == "un outil pour mes devis ? et moins cher ?"
    assert search_text(first) == first.question
    assert third.decline and third.relevant == ()
    assert [q.id for q in select_split([first, second, third], "test")] == ["q043"]
    assert len(select_split([first, second, third], "all")) == 3


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"split": "train"}, "ligne 1, champ « split » : « train » n'est pas permis (dev, test)"),
        ({"intent": "besoin"}, "champ « intent » : « besoin » n'est pas permis (need, information"),
        ({"id": "42"}, "champ « id » : « 42 » au lieu de q + trois chiffres"),
        ({"question": "   "}, "champ « question » : texte vide"),
        ({"decline": "non"}, "champ « decline » : true ou false attendu"),
        ({"must_have": ["671|"]}, "champ « must_have » : élément ou alternative (a|b) vide"),
        ({"relevant": "fact-deepseek"}, "champ « relevant » : liste attendue"),
        ({"couleur": "bleu"}, "champ « couleur » : champ inconnu"),
        ({"profile": {"sector": "boulangerie"}}, "secteur « boulangerie » inconnu"),
        ({"profile": {"monthly_budget_eur": -5}}, "nombre positif attendu"),
        ({"decline": True}, "« decline » doit être true exactement pour les intentions"),
        ({"intent": "subversion"}, "« decline » doit être true exactement pour les intentions"),
        (
            {"intent": "out_of_scope", "decline": True, "tool_categories": ["assistant"]},
            "un refus n'attend aucun outil",
        ),
    ],
)
def test_loader_names_the_line_and_field_in_french(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    assert expected in _problem(_write(tmp_path, {**GOOD, **change}))


def test_loader_missing_field_old_format_duplicates_and_bad_json(tmp_path: Path) -> None:
    missing = {k: v for k, v in GOOD.items() if k != "must_not"}
    path = _write(
        tmp_path,
        GOOD,
        missing,
        {"question": "vieux", "relevant": ["x"]},
        {**GOOD, "question": "autre"},
        "{pas du json",
        "[1, 2]",
    )
    problem = _problem(path)
    assert problem.startswith("5 problème(s) (format : docs/data-formats.md §4)")
    assert "ligne 2, champ « must_not » : champ manquant" in problem
    assert "ligne 3 : ancien format {question, relevant}" in problem
    assert "ligne 4 : identifiant « q042 » déjà pris ligne 1" in problem
    assert "ligne 5 : JSON illisible" in problem and "ligne 6 : un objet JSON" in problem


def test_loader_caps_the_listed_problems(tmp_path: Path) -> None:
    old = [{"question": f"q{n}", "relevant": ["x"]} for n in range(30)]
    problem = _problem(_write(tmp_path, *old))
    assert problem.startswith("30 problème(s)") and problem.endswith("… et 10 autre(s)")


def test_loader_empty_and_unreadable_files(tmp_path: Path) -> None:
    assert _problem(_write(tmp_path, "")) == "aucune question"
    assert "lecture impossible" in _problem(tmp_path / "absent.jsonl")


# -- metrics -------------------------------------------------------------------------------


def test_method_scores_from_ranks() -> None:
    scores = method_scores([1, 3, None, 6])
    assert scores == {
        "recall@1": 0.25,
        "recall@3": 0.5,
        "recall@5": 0.5,
        "mrr": round((1 + 1 / 3 + 1 / 6) / 4, 4),
    }


def test_hybrid_losses_lists_only_questions_hybrid_ranks_later() -> None:
    ranks: dict[str, list[int | None]] = {
        "hybrid": [1, 2, None, 3, None],
        "dense": [2, 1, 4, 3, None],
        "bm25": [None, 5, None, None, None],
    }
    losses = hybrid_losses(["q1", "q2", "q3", "q4", "q5"], ranks)
    assert losses == [
        {"id": "q2", "hybrid": 2, "dense": 1, "bm25": 5},
        {"id": "q3", "hybrid": None, "dense": 4, "bm25": None},
    ]


# -- fusion --------------------------------------------------------------------------------


def test_default_search_is_the_tuned_fusion(kb: KnowledgeBase) -> None:
    query = "relancer les clients du garage"
    assert TUNED_FUSION.by_fiche and TUNED_FUSION.bm25_weight > TUNED_FUSION.dense_weight
    assert kb.search(query, k=6) == kb.search(query, k=6, fusion=TUNED_FUSION)


def test_plain_fusion_ranks_chunks_found_by_both_lists_first(kb: KnowledgeBase) -> None:
    """Untuned fusion: equal weights, chunk level; what both searches find comes first."""
    query = "saisie des factures et devis du plombier"
    assert (PLAIN_FUSION.dense_weight, PLAIN_FUSION.bm25_weight) == (1, 1)
    dense = [h.chunk_id for h in kb.search_dense(query, k=CANDIDATES)]
    bm25 = [h.chunk_id for h in kb.search_bm25(query, k=CANDIDATES)]
    hits = kb.search(query, k=8, max_per_fiche=99, fusion=PLAIN_FUSION)
    ids = [h.chunk_id for h in hits]
    if dense[0] == bm25[0]:
        assert ids[0] == dense[0]  # first in both lists: first of the fusion

    def rank(ranking: list[str], chunk: str) -> int:
        return ranking.index(chunk) if chunk in ranking else len(ranking)

    for better, worse in itertools.permutations(ids, 2):  # dominance: never ranked below
        if rank(dense, better) < rank(dense, worse) and rank(bm25, better) < rank(bm25, worse):
            assert ids.index(better) < ids.index(worse), (better, worse)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(c in dense or c in bm25 for c in ids)  # fusion invents nothing


# -- scoring a split -----------------------------------------------------------------------


def test_evaluate_scores_four_searches_and_skips_questions_without_fiches(
    kb: KnowledgeBase,
) -> None:
    result = evaluate(kb, FIXTURE_EVAL)
    assert (result["split"], result["questions"], result["skipped"]) == ("all", 7, 1)
    for method in ("dense", "bm25", "hybrid_untuned", "hybrid"):
        assert set(result[method]) == {"recall@1", "recall@3", "recall@5", "mrr"}
        assert result[method]["recall@1"] <= result[method]["recall@5"] <= 1
    assert result["bm25"]["recall@5"] == 1.0  # every fixture question shares words with its fiche
    test_only = evaluate(kb, FIXTURE_EVAL, split="test")
    assert (test_only["questions"], test_only["skipped"]) == (4, 1)


def test_a_split_without_relevant_fiches_is_a_clear_error(
    kb: KnowledgeBase, tmp_path: Path
) -> None:
    decline = {
        **GOOD,
        "id": "q043",
        "split": "test",
        "intent": "out_of_scope",
        "relevant": [],
        "decline": True,
    }
    path = _write(tmp_path, GOOD, decline)
    with pytest.raises(KnowledgeBaseError, match="partie « test »"):
        evaluate(kb, path, split="test")
