"""Fixtures of the retrieval tests: small fixture fiches and a fast fake embedder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from retrieval import KnowledgeBase, open_knowledge_base
from tests.fakes.embedder import HashEmbedder

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def knowledge_dir(tmp_path: Path) -> Path:
    """A writable copy of the fixture knowledge base."""
    target = tmp_path / "knowledge"
    shutil.copytree(FIXTURES / "knowledge", target)
    return target


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    """The deterministic fake embedder."""
    return HashEmbedder()


@pytest.fixture
def fake_kb(
    tmp_path: Path, knowledge_dir: Path, hash_embedder: HashEmbedder
) -> Iterator[KnowledgeBase]:
    """An embedded-Chroma knowledge base over the fixture fiches, not yet ingested."""
    kb = open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=knowledge_dir,
        embedding_model=hash_embedder.model_name,
        embedder=hash_embedder,
    )
    yield kb
    kb.close()
