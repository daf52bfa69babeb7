"""Chunking along headings, within the embedding model's window."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from retrieval.chunker import MAX_WORDS, chunk_fiche, embedded_text
from retrieval.loader import load_document, load_fiches
from retrieval.models import Fiche

REPO_KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge"


def _fiche(body: str, title: str = "Fiche de test") -> Fiche:
    meta = {
        "id": "guide-test",
        "title": title,
        "type": "guide",
        "sectors": ["commerce"],
        "category": "pilote",
        "as_of": "2026-10-01",
    }
    return Fiche(
        id="guide-test",
        title=title,
        type="guide",
        body=body,
        path="x.md",
        content_hash="h",
        meta=meta,
    )


def _size(chunk_title: str, heading: str, text: str) -> int:
    return len(embedded_text(chunk_title, heading, text).split())


def test_splits_on_level_two_headings_and_drops_sources() -> None:
    body = (
        "# Titre\n\nIntroduction brève.\n\n## Premier point\n\nTexte un.\n\n"
        "### Détail\n\nSous-partie.\n\n## Second point\n\nTexte deux.\n\n"
        "## Sources\n\n- https://example.org\n"
    )
    chunks = chunk_fiche(_fiche(body))
    assert [c.heading for c in chunks] == ["", "Premier point", "Second point"]
    assert chunks[1].text == "Texte un.\n\n### Détail\n\nSous-partie."
    assert all("example.org" not in c.text for c in chunks)
    assert [c.id for c in chunks] == ["guide-test#0", "guide-test#1", "guide-test#2"]


def test_long_section_is_split_under_the_limit_by_paragraph_then_sentence() -> None:
    sentence = "Le boulanger répond aux commandes du matin avant sept heures. "
    paragraph = sentence * 12  # ~108 words
    body = f"## Long\n\n{paragraph}\n\n{paragraph}\n\n{sentence * 40}"
    chunks = chunk_fiche(_fiche(body))
    assert len(chunks) >= 5
    assert all(_size(c.title, c.heading, c.text) <= MAX_WORDS for c in chunks)
    joined = " ".join(" ".join(c.text.split()) for c in chunks)
    assert joined.count("sept heures") == 12 * 2 + 40  # nothing lost


def test_a_single_endless_sentence_is_cut_into_windows() -> None:
    chunks = chunk_fiche(_fiche("## Mur\n\n" + "mot " * 500))
    assert all(_size(c.title, c.heading, c.text) <= MAX_WORDS for c in chunks)
    assert sum(len(c.text.split()) for c in chunks) == 500


def test_ids_stay_stable_for_unchanged_text_and_metadata_travels() -> None:
    body = "## A\n\nUn.\n\n## B\n\nDeux."
    first = chunk_fiche(_fiche(body))
    again = chunk_fiche(_fiche(body))
    assert [(c.id, c.text) for c in first] == [(c.id, c.text) for c in again]
    meta = first[0].metadata
    assert meta["fiche_id"] == "guide-test"
    assert meta["type"] == "guide"
    assert meta["sectors"] == "|commerce|"
    assert meta["sector_commerce"] is True
    assert "sector_tous" not in meta
    assert meta["as_of"] == "2026-10-01"
    assert all(isinstance(v, str | int | float | bool) for v in meta.values())


def test_tool_chunks_carry_prices(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures" / "knowledge"
    tool = load_document(fixtures / "tools" / "tool-factures-express.md")
    meta = chunk_fiche(tool)[0].metadata
    assert meta["price_min_eur"] == 15.0
    assert meta["price_max_eur"] == 40.0
    assert meta["category"] == "comptabilite"


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="abcdé .\n#", min_size=0, max_size=400), max_size=6))
def test_no_chunk_exceeds_the_limit_whatever_the_body(parts: list[str]) -> None:
    body = "\n\n## Section\n\n".join(parts)
    for chunk in chunk_fiche(_fiche(body)):
        assert _size(chunk.title, chunk.heading, chunk.text) <= MAX_WORDS
        assert chunk.text.strip()


def test_shipped_knowledge_chunks_fit_the_model() -> None:
    fiches, _ = load_fiches(REPO_KNOWLEDGE)
    for fiche in fiches:
        for chunk in chunk_fiche(fiche):
            assert _size(chunk.title, chunk.heading, chunk.text) <= MAX_WORDS, chunk.id
