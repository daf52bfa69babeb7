"""Search speed-ups keep results unchanged: query-vector cache, filter masks, partial top-n."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from retrieval import KnowledgeBase, SearchFilters, open_knowledge_base
from tests.fakes.embedder import HashEmbedder


class QueryLog(HashEmbedder):
    """HashEmbedder that records the query texts it embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.seen += list(texts)
        return super().encode(texts)


def _kb(tmp_path: Path, knowledge_dir: Path, embedder: HashEmbedder) -> KnowledgeBase:
    kb = open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model=embedder.model_name,
        embedder=embedder,
    )
    kb.ingest([knowledge_dir], progress=False)
    return kb


def test_one_question_searched_three_ways_is_embedded_once(
    tmp_path: Path, knowledge_dir: Path
) -> None:
    embedder = QueryLog()
    kb = _kb(tmp_path, knowledge_dir, embedder)
    try:
        embedder.seen.clear()
        question = "saisie des factures fournisseurs"
        first = kb.search(question, k=3)
        kb.search(question, k=5, filters=SearchFilters(types=("tool",)))
        again = kb.search(question, k=3)
        assert embedder.seen == [question]
        assert [h.chunk_id for h in again] == [h.chunk_id for h in first]
        kb.search("relances des impayés", k=3)
        assert embedder.seen == [question, "relances des impayés"]
    finally:
        kb.close()


def test_filtered_searches_match_a_fresh_index(tmp_path: Path, knowledge_dir: Path) -> None:
    queries = ["factures", "devis artisan", "images produits", "rgpd données clients"]
    filters = [
        SearchFilters(types=("tool",)),
        SearchFilters(sector="restauration"),
        SearchFilters(max_monthly_cost_eur=20),
        None,
    ]
    kb = _kb(tmp_path, knowledge_dir, HashEmbedder())
    try:
        warm = [
            [h.chunk_id for h in kb.search_bm25(q, k=4, filters=f)]
            for _ in range(2)
            for q in queries
            for f in filters
        ]
    finally:
        kb.close()
    fresh = open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model="fake-hash-64",
        embedder=HashEmbedder(),
    )
    try:
        cold = [
            [h.chunk_id for h in fresh.search_bm25(q, k=4, filters=f)]
            for q in queries
            for f in filters
        ]
    finally:
        fresh.close()
    assert warm == cold + cold


def test_partial_top_n_equals_a_full_stable_sort(tmp_path: Path, knowledge_dir: Path) -> None:
    kb = _kb(tmp_path, knowledge_dir, HashEmbedder())
    try:
        for query in ("factures fournisseurs", "pilote deux semaines", "prix par mois"):
            everything = kb.search_bm25(query, k=1000)
            for k in (1, 2, 3, 5, 8):
                assert [h.chunk_id for h in kb.search_bm25(query, k=k)] == [
                    h.chunk_id for h in everything[:k]
                ]
    finally:
        kb.close()
