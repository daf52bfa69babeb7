"""Retrieval over the knowledge base: loading, chunking, embedding, Chroma, BM25, fusion."""

from retrieval import errors
from retrieval.embedding import Embedder, load_embedder
from retrieval.evaluation import evaluate
from retrieval.ingest import IngestReport
from retrieval.knowledge_base import KnowledgeBase, open_knowledge_base
from retrieval.loader import load_document, load_fiches
from retrieval.models import Chunk, Fiche, Hit, SearchFilters

__all__ = [
    "Chunk",
    "Embedder",
    "Fiche",
    "Hit",
    "IngestReport",
    "KnowledgeBase",
    "SearchFilters",
    "errors",
    "evaluate",
    "load_document",
    "load_embedder",
    "load_fiches",
    "open_knowledge_base",
]
