"""Chroma vector store: embedded (PersistentClient) or a server (HttpClient), one code path."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrieval.embedding import Embedder, load_embedder
from retrieval.errors import ModelMismatchError, RetrievalError, StoreUnavailableError
from retrieval.lexical import StoredChunk

logger = logging.getLogger(__name__)

COLLECTION_NAME = "pilote-ia-kb"
MODEL_KEY = "embedding_model"
DIMENSION_KEY = "embedding_dimension"
FINGERPRINT_KEY = "kb_fingerprint"  # digest of the manifest the stored chunks match
_PAGE = 1000
_ADD_BATCH = 500

Where = dict[str, Any]


def mismatch_message(stored: str, configured: str) -> str:
    """Developer message of a ModelMismatchError (the CLI shows its own French text)."""
    return (
        f"the index was built with embedding model {stored!r} but {configured!r} is configured; "
        "run `pilote-ia ingest --rebuild` to rebuild it"
    )


@cache
def _embedding_function_class() -> type[Any]:
    """Our Chroma embedding function, registered so a reopened collection finds it."""
    from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
    from chromadb.utils.embedding_functions import register_embedding_function

    @register_embedding_function
    class PiloteEmbeddingFunction(EmbeddingFunction[Documents]):
        """Wraps our Embedder; its config holds the model name only (no local paths)."""

        def __init__(self, model_name: str, embedder: Callable[[], Embedder] | None = None):
            self.model_name = model_name
            self._embedder = embedder or (lambda: load_embedder(model_name))

        def __call__(self, input: Documents) -> Embeddings:
            return list(self._embedder().encode(list(input)))

        @staticmethod
        def name() -> str:
            return "pilote-ia-embedder"

        def get_config(self) -> dict[str, Any]:
            return {"model_name": self.model_name}

        @staticmethod
        def build_from_config(config: dict[str, Any]) -> PiloteEmbeddingFunction:
            return PiloteEmbeddingFunction(str(config["model_name"]))

        def default_space(self) -> Any:
            return "cosine"

    return PiloteEmbeddingFunction


class ChromaStore:
    """One Chroma collection holding every chunk with its metadata and vector."""

    def __init__(self, client: Any, location: str, embedding_function: Any) -> None:
        self._client = client
        self.location = location
        self._ef = embedding_function
        self._collection: Any = None

    @classmethod
    def open(
        cls,
        *,
        index_dir: Path,
        host: str | None,
        port: int,
        model_name: str,
        embedder: Callable[[], Embedder],
    ) -> ChromaStore:
        """Connect to the server when `host` is set, else open the embedded database."""
        os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
        location = f"http://{host}:{port}" if host else str(index_dir / "chroma")
        ef = _embedding_function_class()(model_name, embedder)
        try:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            settings = ChromaSettings(anonymized_telemetry=False)
            if host:
                client = chromadb.HttpClient(host=host, port=port, settings=settings)
            else:
                (index_dir / "chroma").mkdir(parents=True, exist_ok=True)
                client = chromadb.PersistentClient(path=location, settings=settings)
        except Exception as exc:  # chromadb raises ValueError, OSError or its own errors
            raise StoreUnavailableError(
                f"cannot open the Chroma store at {location}: {exc}"
            ) from exc
        return cls(client, location, ef)

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except RetrievalError:
            raise
        except Exception as exc:  # network and storage failures surface as many types
            raise StoreUnavailableError(
                f"Chroma store at {self.location}: {action} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def collection(self) -> Any | None:
        """The existing collection, or None when nothing was ever ingested."""
        if self._collection is None:
            from chromadb.errors import NotFoundError

            with self._guard("opening the collection"):
                try:
                    self._collection = self._client.get_collection(
                        COLLECTION_NAME, embedding_function=self._ef
                    )
                except NotFoundError:
                    return None
        return self._collection

    def create(self, model_name: str, dimension: int) -> Any:
        """Create the collection (cosine space), recording the model and its dimension."""
        with self._guard("creating the collection"):
            self._collection = self._client.get_or_create_collection(
                COLLECTION_NAME,
                embedding_function=self._ef,
                metadata={MODEL_KEY: model_name, DIMENSION_KEY: dimension},
                configuration={"hnsw": {"space": "cosine", "ef_construction": 200}},
            )
        return self._collection

    def drop(self) -> None:
        """Delete the collection and everything in it."""
        if self.collection() is None:
            return
        with self._guard("deleting the collection"):
            self._client.delete_collection(COLLECTION_NAME)
        self._collection = None

    def metadata(self) -> dict[str, Any]:
        """Collection metadata (model, dimension, BM25 fingerprint)."""
        col = self.collection()
        return dict(col.metadata or {}) if col is not None else {}

    def fingerprint(self) -> str:
        """Fingerprint of the indexed documents ("" before the first ingest)."""
        return str(self.metadata().get(FINGERPRINT_KEY, ""))

    def check_model(self, model_name: str) -> None:
        """Raise ModelMismatchError when the collection was embedded with another model."""
        stored = self.metadata().get(MODEL_KEY)
        if stored is not None and stored != model_name:
            raise ModelMismatchError(mismatch_message(str(stored), model_name))

    def check_dimension(self, model_name: str, dimension: int, *, given: str = "") -> None:
        """Raise ModelMismatchError when the collection holds vectors of another dimension."""
        stored = self.metadata().get(DIMENSION_KEY)
        if stored is not None and int(stored) != dimension:
            raise ModelMismatchError(
                mismatch_message(
                    f"{model_name} ({stored} dimensions)",
                    f"{given or model_name} ({dimension} dimensions)",
                )
            )

    def set_metadata(self, values: dict[str, Any]) -> None:
        """Merge values into the collection metadata (Chroma replaces it as a whole)."""
        col = self.collection()
        if col is None:
            return
        merged = {**self.metadata(), **values}
        with self._guard("updating the collection metadata"):
            col.modify(metadata=merged)
        self._collection = None  # read the stored metadata back on next use

    def close(self) -> None:
        """Release the client (HTTP connections or the embedded database); idempotent."""
        self._collection = None
        _close_http_sessions(self._client)
        close = getattr(self._client, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:  # closing must never mask the caller's own error
                logger.debug("closing the Chroma client failed: %s", exc)

    def count(self) -> int:
        """Number of stored chunks."""
        col = self.collection()
        if col is None:
            return 0
        with self._guard("counting"):
            return int(col.count())

    def add(self, chunks: Sequence[StoredChunk], vectors: NDArray[np.float32]) -> None:
        """Store chunks with their precomputed vectors."""
        col = self.collection()
        assert col is not None, "create() the collection first"
        with self._guard("adding chunks"):
            for start in range(0, len(chunks), _ADD_BATCH):
                part = chunks[start : start + _ADD_BATCH]
                col.add(
                    ids=[c.id for c in part],
                    documents=[c.text for c in part],
                    metadatas=[dict(c.metadata) for c in part],
                    embeddings=vectors[start : start + _ADD_BATCH],
                )

    def delete_fiches(self, fiche_ids: Sequence[str]) -> None:
        """Delete every chunk of the given fiches."""
        col = self.collection()
        if col is None or not fiche_ids:
            return
        with self._guard("deleting chunks"):
            col.delete(where={"fiche_id": {"$in": list(fiche_ids)}})

    def all_chunks(self) -> list[StoredChunk]:
        """Every stored chunk (text and metadata), ordered by fiche id then chunk number."""
        return list(self.iter_chunks())

    def iter_chunks(self) -> Iterator[StoredChunk]:
        """Every stored chunk in the order of `all_chunks`, read a page at a time: only the ids
        and one page of texts are in memory (an ingest of 50,000 chunks stays small)."""
        col = self.collection()
        if col is None:
            return
        ids: list[str] = []
        with self._guard("reading chunk ids"):
            while page := col.get(include=[], limit=_PAGE, offset=len(ids))["ids"]:
                ids += page
                if len(page) < _PAGE:
                    break
        ids.sort(key=_chunk_sort_key)
        for start in range(0, len(ids), _PAGE):
            wanted = ids[start : start + _PAGE]
            with self._guard("reading chunks"):
                page = col.get(ids=wanted, include=["documents", "metadatas"])
            docs, metas = page["documents"] or [], page["metadatas"] or []
            found = {
                i: StoredChunk(i, d or "", dict(m or {}))
                for i, d, m in zip(page["ids"], docs, metas, strict=True)
            }
            yield from (found[i] for i in wanted if i in found)

    def query(
        self, vector: NDArray[np.float32], n: int, where: Where | None
    ) -> list[tuple[StoredChunk, float]]:
        """Nearest chunks to `vector` with their cosine similarity, best first."""
        col = self.collection()
        if col is None or n <= 0:
            return []
        with self._guard("searching"):
            result = col.query(
                query_embeddings=[vector],
                n_results=n,
                where=where or None,
                include=["documents", "metadatas", "distances"],
            )
        ids = result["ids"][0]
        docs = (result["documents"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0]
        dists = (result["distances"] or [[]])[0]
        return [
            (StoredChunk(i, d or "", dict(m or {})), 1.0 - float(dist))
            for i, d, m, dist in zip(ids, docs, metas, dists, strict=True)
        ]


def _chunk_sort_key(chunk_id: str) -> tuple[str, int]:
    """By fiche id, then chunk number ("guide-x#10" after "guide-x#9")."""
    fiche, _, n = chunk_id.rpartition("#")
    return (fiche, int(n)) if n.isdigit() else (chunk_id, 0)


def _close_http_sessions(client: Any) -> None:
    """Close the httpx pools of a chromadb HttpClient and its admin client.

    chromadb never closes them itself, which leaks one socket per client.
    """
    for owner in (client, getattr(client, "_admin_client", None)):
        session = getattr(getattr(owner, "_server", None), "_session", None)
        if session is not None:
            session.close()
