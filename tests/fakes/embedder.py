"""A deterministic bag-of-words embedder: fast stand-in for the real model in unit tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from retrieval import KnowledgeBase, open_knowledge_base
from retrieval.text import analyze


class HashEmbedder:
    """Each French term (as BM25 sees it) adds 1 to a hashed dimension; rows are L2-normalised."""

    def __init__(self, dimension: int = 64, model_name: str = "fake-hash-64") -> None:
        self.dimension = dimension
        self.model_name = model_name
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts into a float32 (n, dimension) array, L2-normalised."""
        self.calls += 1
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in analyze(text) or ["<vide>"]:
                digest = hashlib.blake2b(term.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
            out[row] /= np.linalg.norm(out[row])
        return out


def hash_indexed_kb(index_dir: Path, knowledge_dir: Path, *, dimension: int = 64) -> KnowledgeBase:
    """A real KnowledgeBase (embedded Chroma, BM25) over `knowledge_dir`, hash-embedded."""
    embedder = HashEmbedder(dimension=dimension, model_name=f"fake-hash-{dimension}")
    kb = open_knowledge_base(
        index_dir=index_dir,
        knowledge_dir=knowledge_dir,
        embedding_model=embedder.model_name,
        embedder=embedder,
    )
    kb.ingest([knowledge_dir], progress=False)
    return kb
