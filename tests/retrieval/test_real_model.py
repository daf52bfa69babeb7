"""The real packaged model: dense search in French, the numpy query runtime, the shipped eval."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval import KnowledgeBase, evaluate, load_embedder, open_knowledge_base
from retrieval.embedding import PACKAGED_MODEL_NAME, packaged_model_path

pytestmark = pytest.mark.slow

REPO_KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"
EVAL_SET = REPO_KNOWLEDGE / "eval" / "questions.jsonl"
FIXTURE_EVAL = Path(__file__).parent / "fixtures" / "knowledge" / "eval" / "questions.jsonl"


def test_packaged_model_gives_normalised_vectors(embedder: Any) -> None:
    assert embedder.model_name == PACKAGED_MODEL_NAME
    vectors = embedder.encode(["Une boulangerie reçoit des commandes.", "Facturation"])
    assert vectors.shape == (2, embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, embedder.dimension)


def test_query_embedder_matches_the_document_embedder(embedder: Any) -> None:
    fast = load_embedder(PACKAGED_MODEL_NAME, for_queries_only=True)
    assert type(fast).__name__ == "NumpyMiniLMEmbedder"
    assert fast.model_name == PACKAGED_MODEL_NAME
    texts = ["Comment répondre plus vite aux clients ?", "devis plomberie " * 200]
    assert np.allclose(fast.encode(texts), embedder.encode(texts), atol=1e-4)
    # A path to the packaged model records the same name.
    same = load_embedder(str(packaged_model_path()), for_queries_only=True)
    assert same.model_name == PACKAGED_MODEL_NAME


def test_dense_search_on_fixture_fiches(embedder: Any, tmp_path: Path, knowledge_dir: Path) -> None:
    kb = open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model=PACKAGED_MODEL_NAME,
        embedder=embedder,
    )
    report = kb.ingest([knowledge_dir], progress=False)
    assert report.added == 7
    result = evaluate(kb, FIXTURE_EVAL)
    assert result["questions"] == 7
    assert result["hybrid"]["recall@3"] >= 6 / 7
    # Reopened without an explicit embedder, queries go through the lazy numpy runtime.
    kb.close()
    reopened = open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model=PACKAGED_MODEL_NAME,
    )
    hits = reopened.search_dense("logo et affiches pour un client", k=1)
    assert hits[0].fiche_id == "tool-studio-images"


def test_shipped_eval_set_hybrid_beats_each_method(kb_index: KnowledgeBase) -> None:
    if not EVAL_SET.is_file():
        pytest.skip("knowledge/eval/questions.jsonl is not written yet")
    result = evaluate(kb_index, EVAL_SET)
    hybrid = result["hybrid"]["recall@5"]
    assert hybrid >= 0.9, result
    assert hybrid >= result["dense"]["recall@5"], result
    assert hybrid >= result["bm25"]["recall@5"], result


def test_shipped_knowledge_ingests_without_errors(kb_index: KnowledgeBase) -> None:
    assert not kb_index.is_empty()
    tools = kb_index.fiches("tool")
    assert tools and all("price_eur_month" in t.meta for t in tools)
