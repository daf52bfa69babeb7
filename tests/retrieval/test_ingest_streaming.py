"""Ingest streams: chunks are embedded and written group by group, with a rate and an ETA."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import retrieval.ingest as ingest_module
from retrieval import KnowledgeBase, open_knowledge_base
from retrieval.embedding import SENTENCE_TRANSFORMERS
from retrieval.ingest import EMBEDDER_KEY
from retrieval.lexical import LexicalIndex, StoredChunk
from retrieval.manifest import Manifest
from retrieval.models import Fiche
from tests.fakes.embedder import HashEmbedder


class BatchRecorder(HashEmbedder):
    """The hash embedder, remembering how many texts each call received."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.batches.append(len(texts))
        return super().encode(texts)


def _open(tmp_path: Path, knowledge_dir: Path, embedder: Any) -> KnowledgeBase:
    """A knowledge base indexed under tmp_path/index with the given embedder at the seam."""
    return open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model=embedder.model_name,
        embedder=embedder,
    )


def _documents(folder: Path, count: int) -> Path:
    folder.mkdir()
    for i in range(count):
        text = f"Document numéro {i} : procédure de caisse et de stock du magasin {i}."
        (folder / f"procedure-{i}.txt").write_text(text, encoding="utf-8")
    return folder


def test_chunks_are_embedded_and_written_in_groups(
    tmp_path: Path, knowledge_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "_WRITE_GROUP", 4)
    embedder = BatchRecorder()
    docs = _documents(tmp_path / "docs", 10)
    kb = _open(tmp_path, knowledge_dir, embedder)
    try:
        report = kb.ingest([docs], progress=False)
        assert report.embedded_chunks == 10 and report.chunks == 10
        assert embedder.batches == [4, 4, 2]
        # a rebuild reads every vector back from the cache, group by group too
        again = kb.ingest([docs], rebuild=True, progress=False)
        assert again.cached_chunks == 10 and embedder.batches == [4, 4, 2]
        hits = kb.search("procédure numéro 7 magasin 7", k=1)
        assert hits[0].fiche_id == "doc-procedure-7"
        assert kb._store.metadata()[EMBEDDER_KEY] == SENTENCE_TRANSFORMERS
    finally:
        kb.close()
    assert Manifest.load(tmp_path / "index" / "manifest.json").embedder == SENTENCE_TRANSFORMERS


def test_progress_bar_shows_rate_and_total(
    tmp_path: Path, knowledge_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    embedder = HashEmbedder()
    docs = _documents(tmp_path / "docs", 3)
    kb = _open(tmp_path, knowledge_dir, embedder)
    try:
        kb.ingest([docs], progress=True)
    finally:
        kb.close()
    err = capsys.readouterr().err
    assert "Indexation" in err and "/3 " in err and "passages/s" in err


def test_manifest_without_embedder_reads_as_sentence_transformers(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    Manifest(path, fingerprint="abc").save()
    loaded = Manifest.load(path)
    assert (loaded.fingerprint, loaded.embedder) == ("abc", "")
    Manifest(path, fingerprint="abc", embedder="onnx-int8").save()
    assert Manifest.load(path).embedder == "onnx-int8"


class LiveObjectCounter(HashEmbedder):
    """The hash embedder, counting at each call the chunk records and documents of one
    folder alive (other tests' objects may still be around)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = str(folder)
        self.batches: list[int] = []
        self.live_records: list[int] = []
        self.live_documents: list[int] = []

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        gc.collect()
        alive = gc.get_objects()  # type(), not isinstance(): some live objects warn on access
        self.batches.append(len(texts))
        self.live_records.append(
            sum(
                type(o) is StoredChunk and str(o.metadata["path"]).startswith(self.folder)
                for o in alive
            )
        )
        self.live_documents.append(
            sum(type(o) is Fiche and o.path.startswith(self.folder) for o in alive)
        )
        return super().encode(texts)


def test_only_one_group_of_chunks_is_in_memory_while_embedding(
    tmp_path: Path, knowledge_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest_module, "_WRITE_GROUP", 5)
    docs = _documents(tmp_path / "docs", 60)
    embedder = LiveObjectCounter(docs)
    kb = _open(tmp_path, knowledge_dir, embedder)
    try:
        report = kb.ingest([docs], progress=False)
        assert (report.added, report.chunks, report.errors) == (60, 60, [])
        assert embedder.batches == [5] * 12
        # the documents read are gone, and of their 60 chunks only the group being embedded
        assert max(embedder.live_documents) == 0
        assert max(embedder.live_records) <= 5
        assert kb.search("magasin 42 caisse", k=1)[0].fiche_id == "doc-procedure-42"
    finally:
        kb.close()


def test_bm25_written_from_an_iterator_equals_the_one_built_in_memory(tmp_path: Path) -> None:
    records = [
        StoredChunk(f"doc-{i}#0", f"Procédure {i} : relance des factures du client {i % 7}.", {})
        for i in range(50)
    ]
    consumed: list[str] = []

    def once() -> Iterator[StoredChunk]:
        for record in records:
            consumed.append(record.id)
            yield record

    count = LexicalIndex.write(once(), "abc", tmp_path / "bm25")
    assert count == 50 and consumed == [r.id for r in records]
    saved = LexicalIndex.load(tmp_path / "bm25")
    built = LexicalIndex.build(records, "abc")
    assert saved is not None and saved.records == records and saved.fingerprint == "abc"
    for query in ("relance factures client 3", "procédure 17", "inconnu"):
        assert saved.scores(query).tolist() == pytest.approx(built.scores(query).tolist())
    assert int(np.argmax(saved.scores("procédure 17"))) == 17


def test_a_file_named_twice_is_ingested_once(tmp_path: Path, knowledge_dir: Path) -> None:
    embedder = HashEmbedder()
    docs = _documents(tmp_path / "docs", 2)
    kb = _open(tmp_path, knowledge_dir, embedder)
    try:
        report = kb.ingest([docs, docs / "procedure-1.txt"], progress=False)
    finally:
        kb.close()
    assert (report.added, report.chunks, report.skipped, report.errors) == (2, 2, 0, [])
