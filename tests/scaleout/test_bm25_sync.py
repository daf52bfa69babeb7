"""A worker's BM25 copy comes from the Chroma server alone (no disk shared with the ingest).

Another process ingests knowledge/ into a `chroma run` server (hash embedder) and prints its
own BM25 results; a worker with an empty index directory, pointed at the same server, builds
its copy from the server's records and must rank every query the same, then rebuild it when
the other process ingests again (fingerprint changed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from retrieval import KnowledgeBase, open_knowledge_base
from retrieval.ingest import bm25_dir
from retrieval.lexical import LexicalIndex
from tests.fakes import processes
from tests.fakes.embedder import HashEmbedder

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
KNOWLEDGE = REPO / "knowledge"
QUERIES = [
    "je croule sous les commandes WhatsApp de ma boulangerie",
    "répondre plus vite aux demandes de devis",
    "traduire mon site en anglais",
    "saisie des factures fournisseurs",
    "RGPD et données des clients",
    "prix d'un abonnement ChatGPT",
]
NEW_DOCUMENT = (
    "# Note zygomatique\n\n## Contexte\n\nLe zygomatique du fleuriste sourit aux devis.\n"
)

# Run by the "ingesting machine": ingest the paths into the server, print its BM25 hits.
_INGEST = """
import json, sys
from pathlib import Path
from retrieval import open_knowledge_base
from tests.fakes.embedder import HashEmbedder

index_dir, port, queries, *paths = sys.argv[1:]
kb = open_knowledge_base(
    index_dir=Path(index_dir), knowledge_dir=Path(paths[0]), embedding_model="fake-hash-64",
    chroma_host="127.0.0.1", chroma_port=int(port), embedder=HashEmbedder(),
)
report = kb.ingest([Path(p) for p in paths], progress=False)
hits = {q: [[h.chunk_id, h.score] for h in kb.search_bm25(q, k=10)] for q in json.loads(queries)}
print(json.dumps({"chunks": report.chunks, "hits": hits}))
kb.close()
"""


@pytest.fixture
def chroma_port(tmp_path: Path) -> Iterator[int]:
    """A `chroma run` server on a free loopback port."""
    with processes.chroma_server(tmp_path) as port:
        yield port


def _ingest_elsewhere(index_dir: Path, port: int, *paths: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _INGEST, str(index_dir), str(port), json.dumps(QUERIES)]
        + [str(p) for p in paths],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _worker(index_dir: Path, port: int) -> KnowledgeBase:
    return open_knowledge_base(
        index_dir=index_dir,
        knowledge_dir=KNOWLEDGE,
        embedding_model="fake-hash-64",
        chroma_host="127.0.0.1",
        chroma_port=port,
        embedder=HashEmbedder(),
    )


def _hits(kb: KnowledgeBase, query: str) -> list[list[Any]]:
    return [[h.chunk_id, h.score] for h in kb.search_bm25(query, k=10)]


def test_worker_builds_its_bm25_copy_from_the_server(tmp_path: Path, chroma_port: int) -> None:
    ingested = _ingest_elsewhere(tmp_path / "ingest-machine", chroma_port, KNOWLEDGE)
    assert ingested["chunks"] > 100
    index_dir = tmp_path / "worker-machine" / "index"
    assert not bm25_dir(index_dir).exists()

    kb = _worker(index_dir, chroma_port)
    try:
        for query in QUERIES:
            assert _hits(kb, query) == ingested["hits"][query], query
    finally:
        kb.close()
    copy = LexicalIndex.load(bm25_dir(index_dir))
    original = LexicalIndex.load(bm25_dir(tmp_path / "ingest-machine"))
    assert copy is not None and original is not None
    assert copy.fingerprint == original.fingerprint
    assert len(copy.records) == ingested["chunks"]

    # warm: the copy on disk is current, a restarted worker ranks the same
    kb = _worker(index_dir, chroma_port)
    try:
        assert all(_hits(kb, q) == ingested["hits"][q] for q in QUERIES)
    finally:
        kb.close()


def test_worker_rebuilds_its_copy_when_the_server_changes(tmp_path: Path, chroma_port: int) -> None:
    ingest_dir = tmp_path / "ingest-machine"
    _ingest_elsewhere(ingest_dir, chroma_port, KNOWLEDGE)
    index_dir = tmp_path / "worker-machine" / "index"
    kb = _worker(index_dir, chroma_port)
    try:
        assert kb.search_bm25("zygomatique") == []
    finally:
        kb.close()
    first = LexicalIndex.load(bm25_dir(index_dir))
    assert first is not None

    note = tmp_path / "notes" / "zygomatique.md"
    note.parent.mkdir()
    note.write_text(NEW_DOCUMENT, encoding="utf-8")
    again = _ingest_elsewhere(ingest_dir, chroma_port, KNOWLEDGE, note)
    assert again["chunks"] == len(first.records) + 1

    kb = _worker(index_dir, chroma_port)
    try:
        hits = kb.search_bm25("zygomatique")
        assert [h.fiche_id for h in hits] == ["doc-zygomatique"]
        assert kb.fiche("doc-zygomatique") is not None  # known from the server's chunks
        assert all(_hits(kb, q) == again["hits"][q] for q in QUERIES)
    finally:
        kb.close()
    rebuilt = LexicalIndex.load(bm25_dir(index_dir))
    assert rebuilt is not None
    assert rebuilt.fingerprint != first.fingerprint
