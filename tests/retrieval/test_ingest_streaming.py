"""Ingest streams: chunks are embedded and written group by group, with a rate and an ETA."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

import retrieval.ingest as ingest_module
from retrieval import open_knowledge_base
from retrieval.embedding import SENTENCE_TRANSFORMERS
from retrieval.ingest import EMBEDDER_KEY
from retrieval.manifest import Manifest
from tests.fakes.embedder import HashEmbedder


class BatchRecorder(HashEmbedder):
    """The hash embedder, remembering how many texts each call received."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.batches.append(len(texts))
        return super().encode(texts)


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
    kb = open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model=embedder.model_name,
        embedder=embedder,
    )
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
    kb = open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model=embedder.model_name,
        embedder=embedder,
    )
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
