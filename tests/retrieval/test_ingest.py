"""Incremental ingest, rebuild, user documents and the model check, on embedded Chroma."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from retrieval import KnowledgeBase, open_knowledge_base
from retrieval.errors import ModelMismatchError
from tests.fakes.embedder import HashEmbedder
from tests.retrieval.conftest import FIXTURES


def _reopen(tmp_path: Path, knowledge_dir: Path, embedder: HashEmbedder) -> KnowledgeBase:
    return open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model=embedder.model_name,
        embedder=embedder,
    )


def test_first_ingest_then_nothing_to_do(
    fake_kb: KnowledgeBase, knowledge_dir: Path, tmp_path: Path
) -> None:
    first = fake_kb.ingest([knowledge_dir], progress=False)
    assert (first.documents, first.added, first.updated, first.removed, first.skipped) == (
        7,
        7,
        0,
        0,
        0,
    )
    assert first.chunks == first.embedded_chunks > 7
    assert first.errors == []
    again = fake_kb.ingest([knowledge_dir], progress=False)
    assert (again.added, again.updated, again.removed, again.skipped) == (0, 0, 0, 7)
    assert again.embedded_chunks == 0
    assert again.chunks == first.chunks
    manifest = json.loads((tmp_path / "index" / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["documents"]) == {f.stem for f in knowledge_dir.rglob("*-*.md")}


def test_edit_one_delete_one(fake_kb: KnowledgeBase, knowledge_dir: Path) -> None:
    fake_kb.ingest([knowledge_dir], progress=False)
    tool = knowledge_dir / "tools" / "tool-factures-express.md"
    tool.write_text(
        tool.read_text(encoding="utf-8").replace(
            "Le comptable valide d'un clic.", "Le rapprochement bancaire est automatique."
        ),
        encoding="utf-8",
    )
    (knowledge_dir / "facts" / "fact-tokens.md").unlink()

    report = fake_kb.ingest([knowledge_dir], progress=False)
    assert (report.added, report.updated, report.removed, report.skipped) == (0, 1, 1, 5)
    assert report.documents == 6
    assert fake_kb.fiche("fact-tokens") is None
    assert "fact-tokens" not in {h.fiche_id for h in fake_kb.search("million de tokens", k=10)}
    hits = fake_kb.search_bm25("rapprochement bancaire", k=1)
    assert hits[0].fiche_id == "tool-factures-express"
    old = fake_kb.search_bm25("comptable valide clic", k=10)
    assert all("valide d'un clic" not in h.text for h in old)


def test_rebuild_starts_over(fake_kb: KnowledgeBase, knowledge_dir: Path) -> None:
    fake_kb.ingest([knowledge_dir], progress=False)
    report = fake_kb.ingest([knowledge_dir], rebuild=True, progress=False)
    assert (report.added, report.skipped, report.documents) == (7, 0, 7)
    assert report.chunks == report.embedded_chunks


def test_broken_fiche_is_reported_and_the_rest_ingested(
    fake_kb: KnowledgeBase, knowledge_dir: Path
) -> None:
    shutil.copy(FIXTURES / "broken" / "tool-casse.md", knowledge_dir / "tools")
    report = fake_kb.ingest([knowledge_dir], progress=False)
    assert report.documents == 7
    assert len(report.errors) == 1
    assert "tool-casse.md" in report.errors[0] and "YAML" in report.errors[0]


def test_a_fiche_broken_later_keeps_its_previous_version(
    fake_kb: KnowledgeBase, knowledge_dir: Path
) -> None:
    fake_kb.ingest([knowledge_dir], progress=False)
    (knowledge_dir / "guides" / "guide-rgpd.md").write_text("---\nid: [\n---\n", encoding="utf-8")
    report = fake_kb.ingest([knowledge_dir], progress=False)
    assert report.removed == 0 and len(report.errors) == 1
    assert fake_kb.search_bm25("registre des traitements", k=1)[0].fiche_id == "guide-rgpd"


def test_user_documents_directory_and_single_file(
    fake_kb: KnowledgeBase, knowledge_dir: Path, tmp_path: Path
) -> None:
    fake_kb.ingest([knowledge_dir], progress=False)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "procedure-devis.txt").write_text(
        "Procédure interne : chaque devis de rénovation est relu par le chef de chantier.",
        encoding="utf-8",
    )
    (docs / "offre.html").write_text(
        "<title>Offre maintenance</title><p>Contrat de maintenance des chaudières.</p>",
        encoding="utf-8",
    )
    (docs / "image.png").write_bytes(b"\x89PNG")
    single = tmp_path / "memo.md"
    single.write_text("# Mémo\n\nLes congés d'été sont posés avant mars.\n", encoding="utf-8")

    report = fake_kb.ingest([docs, single], progress=False)
    assert (report.added, report.skipped, report.documents) == (3, 0, 10)
    hit = fake_kb.search("relu par le chef de chantier", k=1)[0]
    assert hit.fiche_id == "doc-procedure-devis" and hit.type == "doc"
    doc = fake_kb.fiche("doc-offre")
    assert doc is not None and doc.title == "Offre maintenance"

    # Re-ingesting the directory after a deletion removes that document only.
    (docs / "offre.html").unlink()
    report = fake_kb.ingest([docs], progress=False)
    assert (report.removed, report.skipped, report.documents) == (1, 1, 9)
    assert fake_kb.fiche("doc-memo") is not None
    assert fake_kb.fiche("tool-chat-boutique") is not None


def test_missing_path_is_an_error_not_a_crash(fake_kb: KnowledgeBase, tmp_path: Path) -> None:
    report = fake_kb.ingest([tmp_path / "absent"], progress=False)
    assert report.documents == 0
    assert report.errors and "introuvable" in report.errors[0]


def test_reopen_with_another_model_is_refused(
    fake_kb: KnowledgeBase, knowledge_dir: Path, tmp_path: Path
) -> None:
    fake_kb.ingest([knowledge_dir], progress=False)
    fake_kb.close()
    other = HashEmbedder(dimension=32, model_name="fake-hash-32")
    with pytest.raises(ModelMismatchError, match="ingest --rebuild"):
        _reopen(tmp_path, knowledge_dir, other)
    # Rebuilding with the new model is the way out.
    kb = open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model=other.model_name,
        embedder=other,
        check_model=False,
    )
    report = kb.ingest([knowledge_dir], rebuild=True, progress=False)
    assert report.added == 7
    assert _reopen(tmp_path, knowledge_dir, other).search("factures", k=1)
    with pytest.raises(ModelMismatchError):
        _reopen(tmp_path, knowledge_dir, HashEmbedder())


def test_same_name_other_dimension_is_refused_at_first_embedding(
    fake_kb: KnowledgeBase, knowledge_dir: Path, tmp_path: Path
) -> None:
    fake_kb.ingest([knowledge_dir], progress=False)
    impostor = HashEmbedder(dimension=32, model_name="fake-hash-64")
    kb = _reopen(tmp_path, knowledge_dir, impostor)
    assert kb.search_bm25("factures", k=1)  # no embedding needed
    with pytest.raises(ModelMismatchError):
        kb.search("factures")


def test_missing_bm25_index_and_manifest_are_rebuilt_from_the_store(
    fake_kb: KnowledgeBase, knowledge_dir: Path, tmp_path: Path, hash_embedder: HashEmbedder
) -> None:
    fake_kb.ingest([knowledge_dir], progress=False)
    fake_kb.close()
    shutil.rmtree(tmp_path / "index" / "bm25")
    (tmp_path / "index" / "manifest.json").unlink()
    kb = _reopen(tmp_path, knowledge_dir, hash_embedder)
    assert kb.search_bm25("factures fournisseurs", k=1)[0].fiche_id == "tool-factures-express"
    assert (tmp_path / "index" / "bm25").is_dir()
    report = kb.ingest([knowledge_dir], progress=False)
    assert (report.added, report.updated, report.skipped) == (0, 0, 7)


def test_progress_bar_goes_to_stderr(
    fake_kb: KnowledgeBase, knowledge_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_kb.ingest([knowledge_dir], progress=True)
    captured = capsys.readouterr()
    assert "Indexation" in captured.err
    assert captured.out == ""
