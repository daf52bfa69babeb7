"""The same ingest and search through a real Chroma server (`chroma run`) and HttpClient."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import KnowledgeBase, open_knowledge_base
from retrieval.errors import ModelMismatchError, StoreUnavailableError
from tests.fakes import processes
from tests.fakes.embedder import HashEmbedder

pytestmark = pytest.mark.slow


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    """A `chroma run` server on a free loopback port, stopped at teardown."""
    with processes.chroma_server(tmp_path) as port:
        yield port


def test_ingest_and_search_through_the_server(
    chroma_server: int, tmp_path: Path, knowledge_dir: Path
) -> None:
    embedder = HashEmbedder()

    def open_client(index: str) -> KnowledgeBase:
        return open_knowledge_base(
            index_dir=tmp_path / index,
            knowledge_dir=knowledge_dir,
            embedding_model=embedder.model_name,
            chroma_host="127.0.0.1",
            chroma_port=chroma_server,
            embedder=embedder,
        )

    writer = open_client("writer")
    report = writer.ingest([knowledge_dir], progress=False)
    assert report.added == 7 and report.errors == []
    top = writer.search("saisie des factures fournisseurs", k=1)[0]
    assert top.fiche_id == "tool-factures-express"

    # A second client with no local files rebuilds its BM25 index from the collection.
    reader = open_client("reader")
    hits = reader.search_bm25("factures fournisseurs", k=1)
    assert hits[0].fiche_id == "tool-factures-express"
    hybrid = reader.search("commandes WhatsApp boulangerie", k=2)
    assert hybrid[0].fiche_id == "tool-chat-boutique"
    assert reader.ingest([knowledge_dir], progress=False).skipped == 7
    reader.close()
    writer.close()

    with pytest.raises(ModelMismatchError, match="rebuild"):
        open_knowledge_base(
            index_dir=tmp_path / "other",
            knowledge_dir=knowledge_dir,
            embedding_model="fake-hash-32",
            chroma_host="127.0.0.1",
            chroma_port=chroma_server,
            embedder=HashEmbedder(dimension=32, model_name="fake-hash-32"),
        )


def test_unreachable_server_raises_store_unavailable(tmp_path: Path, knowledge_dir: Path) -> None:
    with pytest.raises(StoreUnavailableError, match="127.0.0.1"):
        open_knowledge_base(
            index_dir=tmp_path / "index",
            knowledge_dir=knowledge_dir,
            embedding_model="fake-hash-64",
            chroma_host="127.0.0.1",
            chroma_port=processes.free_port(),
            embedder=HashEmbedder(),
        )
