"""Exceptions raised by the retrieval package.

RetrievalError
 ├── KnowledgeBaseError      a fiche or user document cannot be read or parsed
 ├── IndexNotReadyError      no index yet: run `pilote-ia ingest`
 ├── ModelMismatchError      the index was built with another embedding model
 ├── EmbeddingError          the embedding model cannot be loaded or run
 ├── StoreUnavailableError   the Chroma server cannot be reached
 └── InvalidQueryError       empty query, unknown filter value...
"""

from __future__ import annotations


class RetrievalError(Exception):
    """Base class of every retrieval failure."""


class KnowledgeBaseError(RetrievalError):
    """A document cannot be loaded; the message names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class IndexNotReadyError(RetrievalError):
    """The index does not exist yet."""


class ModelMismatchError(RetrievalError):
    """The stored collection was embedded with a different model."""


class EmbeddingError(RetrievalError):
    """The embedding model cannot be loaded or used."""


class StoreUnavailableError(RetrievalError):
    """The vector store (usually a Chroma server) cannot be reached."""


class InvalidQueryError(RetrievalError):
    """The query or its filters are not acceptable."""
