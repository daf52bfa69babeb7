"""Hybrid search, filters and bad input, on embedded Chroma with the fake embedder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from retrieval import KnowledgeBase, SearchFilters
from retrieval.errors import IndexNotReadyError, InvalidQueryError
from retrieval.knowledge_base import BM25_WEIGHT, DENSE_WEIGHT, PLAIN_FUSION, Fusion, _fuse
from retrieval.lexical import StoredChunk


@pytest.fixture
def kb(fake_kb: KnowledgeBase, knowledge_dir: Path) -> KnowledgeBase:
    fake_kb.ingest([knowledge_dir], progress=False)
    return fake_kb


def test_search_before_ingest_says_the_index_is_not_ready(fake_kb: KnowledgeBase) -> None:
    assert fake_kb.is_empty()
    with pytest.raises(IndexNotReadyError):
        fake_kb.search("factures")


def test_hybrid_search_finds_the_right_fiche_with_full_hits(kb: KnowledgeBase) -> None:
    hits = kb.search("saisie des factures fournisseurs", k=3)
    assert hits[0].fiche_id == "tool-factures-express"
    top = hits[0]
    assert top.chunk_id.startswith("tool-factures-express#")
    assert top.title == "Factures Express"
    assert top.type == "tool"
    assert top.heading in ("À quoi ça sert", "Prix")
    assert "factures" in top.text
    assert top.score > 0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def _chunks(*ids: str) -> list[tuple[StoredChunk, float]]:
    """A hand-made ranking: chunk ids best first ("fiche#n"), with dummy one-way scores."""
    return [(StoredChunk(id=i, text=i, metadata={}), 1.0 / rank) for rank, i in enumerate(ids, 1)]


def _order(ranked: list[tuple[StoredChunk, float]]) -> list[str]:
    return [chunk.id for chunk, _ in ranked]


def test_fusion_ranks_agreement_above_a_single_list() -> None:
    dense = _chunks("a#1", "b#1", "c#1", "d#1")
    lexical = _chunks("a#1", "c#1", "e#1", "b#1")
    fused = _fuse([(1.0, dense), (1.0, lexical)], PLAIN_FUSION)
    order = _order(fused)
    assert order[0] == "a#1"  # first in both lists
    assert set(order[1:3]) == {"b#1", "c#1"}  # found by both, at ranks 2 to 4
    assert set(order[3:]) == {"d#1", "e#1"}  # found by one list only, at ranks 3 and 4
    assert order.index("c#1") < order.index("e#1")  # both at ranks 2-3 beats one at rank 3
    scores = [score for _, score in fused]
    assert scores == sorted(scores, reverse=True)


def test_fusion_weights_favour_the_heavier_list() -> None:
    dense, lexical = _chunks("x#1"), _chunks("y#1")
    heavier_bm25 = Fusion(dense_weight=DENSE_WEIGHT, bm25_weight=BM25_WEIGHT)
    assert _order(_fuse([(DENSE_WEIGHT, dense), (BM25_WEIGHT, lexical)], heavier_bm25)) == [
        "y#1",
        "x#1",
    ]
    assert _order(_fuse([(2.0, dense), (1.0, lexical)], PLAIN_FUSION)) == ["x#1", "y#1"]


def test_fusion_by_fiche_keeps_a_fiche_s_chunks_together() -> None:
    dense = _chunks("f1#1", "f2#1")
    lexical = _chunks("f1#2", "f2#1")  # fiche f1 first in both lists, through two chunks
    by_chunk = _order(_fuse([(1.0, dense), (1.0, lexical)], PLAIN_FUSION))
    by_fiche = _order(_fuse([(1.0, dense), (1.0, lexical)], Fusion(by_fiche=True)))
    assert by_chunk[0] == "f2#1"  # the only chunk both lists found
    assert by_fiche == ["f1#1", "f1#2", "f2#1"]


def test_hybrid_search_scores_decrease_and_put_the_right_fiche_first(kb: KnowledgeBase) -> None:
    hits = kb.search("commandes WhatsApp boulangerie", k=4, max_per_fiche=1)
    assert len({h.fiche_id for h in hits}) == len(hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].fiche_id == "tool-chat-boutique"


def test_at_most_max_per_fiche_chunks_per_fiche(kb: KnowledgeBase) -> None:
    for cap in (1, 2):
        hits = kb.search("prix euros par mois", k=10, max_per_fiche=cap)
        counts = {h.fiche_id: sum(1 for x in hits if x.fiche_id == h.fiche_id) for h in hits}
        assert max(counts.values()) <= cap
    assert len(kb.search("prix euros par mois", k=10, max_per_fiche=1)) <= 7


def test_type_filter(kb: KnowledgeBase) -> None:
    hits = kb.search("clients", k=10, filters=SearchFilters(types=("guide", "case")))
    assert hits and {h.type for h in hits} <= {"guide", "case"}


def test_sector_filter_keeps_sector_and_everyone_fiches(kb: KnowledgeBase) -> None:
    hits = kb.search("outil pour mon activité", k=10, filters=SearchFilters(sector="restauration"))
    sectors = {h.fiche_id: str(h.metadata["sectors"]) for h in hits}
    assert "tool-chat-boutique" in sectors
    assert all("|restauration|" in s or "|tous|" in s for s in sectors.values())
    assert "tool-studio-images" not in sectors
    everyone = kb.search("outil", k=20, filters=SearchFilters(sector="tous"))
    assert "tool-studio-images" in {h.fiche_id for h in everyone}


def test_max_cost_applies_to_tools_only(kb: KnowledgeBase) -> None:
    hits = kb.search(
        "images logo affiches prix", k=20, filters=SearchFilters(max_monthly_cost_eur=20)
    )
    ids = {h.fiche_id for h in hits}
    assert "tool-studio-images" not in ids  # 60 €/month minimum
    assert "tool-factures-express" in ids or "tool-chat-boutique" in ids
    assert any(h.type != "tool" for h in hits)  # guides and cases have no price
    for h in hits:
        if h.type == "tool":
            assert float(h.metadata["price_min_eur"]) <= 20


def test_filters_apply_to_both_methods(kb: KnowledgeBase) -> None:
    only_tools = SearchFilters(types=("tool",))
    assert {h.type for h in kb.search_dense("devis", k=10, filters=only_tools)} == {"tool"}
    assert {h.type for h in kb.search_bm25("euros", k=10, filters=only_tools)} == {"tool"}


@pytest.mark.parametrize("query", ["", "   ", "\n\t", "?!… --"])
def test_empty_or_wordless_query_is_refused(kb: KnowledgeBase, query: str) -> None:
    with pytest.raises(InvalidQueryError):
        kb.search(query)


def test_stop_word_query_still_gets_dense_results(kb: KnowledgeBase) -> None:
    assert kb.search_bm25("le la les", k=5) == []
    assert kb.search("le la les", k=5)


def test_huge_query_is_truncated_not_a_crash(kb: KnowledgeBase) -> None:
    query = ("factures fournisseurs " * 1000)[:20_000]
    assert len(query) == 20_000
    hits = kb.search(query, k=3)
    assert hits[0].fiche_id == "tool-factures-express"


@pytest.mark.parametrize(
    ("filters", "named"),
    [
        (SearchFilters(types=("robot",)), "robot"),
        (SearchFilters(types=("tool", "tools")), "tools"),
        (SearchFilters(sector="boulangerie"), "boulangerie"),
        (SearchFilters(max_monthly_cost_eur=-5), "-5"),
    ],
)
def test_unknown_filter_values_are_named(
    kb: KnowledgeBase, filters: SearchFilters, named: str
) -> None:
    with pytest.raises(InvalidQueryError, match=named):
        kb.search("factures", filters=filters)


def test_bad_k_and_cap(kb: KnowledgeBase) -> None:
    with pytest.raises(InvalidQueryError):
        kb.search("factures", k=0)
    with pytest.raises(InvalidQueryError):
        kb.search("factures", max_per_fiche=0)


def test_fiche_lookup_and_listing(kb: KnowledgeBase) -> None:
    tool = kb.fiche("tool-chat-boutique")
    assert tool is not None and tool.meta["price_eur_month"]["max"] == 25
    assert kb.fiche("tool-inconnu") is None
    assert [f.id for f in kb.fiches("guide")] == ["guide-pilote-devis", "guide-rgpd"]
    assert len(kb.fiches()) == 7


def test_opening_and_bm25_search_do_not_import_torch(tmp_path: Path, kb: KnowledgeBase) -> None:
    """A fresh process opens the saved index and runs BM25 without the heavy libraries."""
    import subprocess

    index_dir = kb._index_dir  # the fixture's index on disk
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from retrieval import open_knowledge_base\n"
        f"kb = open_knowledge_base(index_dir=Path({str(index_dir)!r}),\n"
        f"    knowledge_dir=Path({str(kb._knowledge_dir)!r}), embedding_model='fake-hash-64')\n"
        "hits = kb.search_bm25('factures fournisseurs', k=1)\n"
        "assert hits[0].fiche_id == 'tool-factures-express', hits\n"
        "heavy = ('torch', 'sentence_transformers', 'transformers')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
