"""The knowledge base: hybrid search (dense + French BM25) over the indexed fiches and documents.

Writing the index is `retrieval.ingest`; this module reads it.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray

from retrieval import filters as filtering
from retrieval.embedding import (
    DEFAULT_ONNX_CACHE,
    SENTENCE_TRANSFORMERS,
    Embedder,
    check_ingest_embedder,
    load_embedder,
    resolve_model,
)
from retrieval.errors import IndexNotReadyError, InvalidQueryError, KnowledgeBaseError
from retrieval.ingest import Indexer, IngestReport, bm25_dir, build_lexical
from retrieval.lexical import LexicalIndex, StoredChunk
from retrieval.loader import load_document, load_fiches
from retrieval.manifest import Manifest
from retrieval.models import Fiche, Hit, SearchFilters
from retrieval.store import ChromaStore
from retrieval.text import has_words
from retrieval.vocabulary import VOCABULARY_FILE, load_domain_vocabulary

logger = logging.getLogger(__name__)

RRF_K = 60
CANDIDATES = 20
# MiniLM is an English model; French BM25 (stemmed) is the stronger signal on our eval set.
DENSE_WEIGHT = 1.0
BM25_WEIGHT = 1.5
MAX_QUERY_CHARS = 2000
# The advisor searches the same question two or three times (general, tools, sector);
# embedding it is most of a search's cost, so recent query vectors, BM25 scores (one float
# per chunk each) and filter masks are kept.
_QUERY_CACHE = 256
_SCORES_CACHE = 32
_MASK_CACHE = 32
MANIFEST_FILE = "manifest.json"  # written by retrieval.ingest in the index directory

Ranking = list[tuple[StoredChunk, float]]


class OneWayOptions(TypedDict, total=False):
    """Options of `search_dense` and `search_bm25`: k=5, no filters, no cap per fiche."""

    k: int
    filters: SearchFilters | None
    max_per_fiche: int | None


@dataclass(frozen=True)
class Fusion:
    """How hybrid search merges the dense and BM25 rankings (reciprocal-rank fusion).

    Each list gives an item weight / (k + rank); with `by_fiche`, the items are fiches
    (ranked by their first chunk in each list) and chunks follow their fiche's order.
    """

    k: int = RRF_K
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    by_fiche: bool = False


PLAIN_FUSION = Fusion()  # textbook RRF over chunks: the untuned baseline of the evaluation
TUNED_FUSION = Fusion(dense_weight=DENSE_WEIGHT, bm25_weight=BM25_WEIGHT, by_fiche=True)


class KnowledgeBase:
    """Hybrid (dense + BM25) search over fiches and user documents kept in Chroma."""

    def __init__(
        self,
        *,
        store: ChromaStore,
        index_dir: Path,
        knowledge_dir: Path,
        model_name: str,
        model_location: str,
        embedder: Embedder | None = None,
        ingest_embedder: str = SENTENCE_TRANSFORMERS,
        onnx_cache_dir: Path = DEFAULT_ONNX_CACHE,
    ) -> None:
        self._store = store
        self._ingest_embedder = check_ingest_embedder(ingest_embedder)
        self._onnx_cache_dir = onnx_cache_dir
        self._index_dir = index_dir
        self._knowledge_dir = knowledge_dir
        self.model_name = model_name
        self._model_location = model_location
        self._given_embedder = embedder
        self._query_embedder: Embedder | None = None
        self._document_embedder: Embedder | None = None
        self._indexer = Indexer(
            store=store,
            index_dir=index_dir,
            knowledge_dir=knowledge_dir,
            model_name=model_name,
            embedder=self._checked_document_embedder,
            ingest_embedder=ingest_embedder,
        )
        self._lexical: LexicalIndex | None = None
        self._fiches: dict[str, Fiche] | None = None
        # keyed by value (text, filters) and by the BM25 index they were computed on
        self._query_vector = lru_cache(maxsize=_QUERY_CACHE)(self._embed_query)
        self._bm25_scores = lru_cache(maxsize=_SCORES_CACHE)(self._score_all)
        self._filter_mask = lru_cache(maxsize=_MASK_CACHE)(self._mask)

    @property
    def knowledge_dir(self) -> Path:
        """The directory of the knowledge fiches (and of knowledge/vocabulary.yaml)."""
        return self._knowledge_dir

    @cached_property
    def sectors(self) -> tuple[str, ...]:
        """The sectors a search may filter on: those of the base's vocabulary, and "tous"."""
        try:
            return load_domain_vocabulary(self._knowledge_dir).sector_codes
        except ValueError as exc:
            raise KnowledgeBaseError(str(self._knowledge_dir / VOCABULARY_FILE), str(exc)) from exc

    # -- embedders ---------------------------------------------------------------------

    def query_embedder(self) -> Embedder:
        """The embedder for queries, loaded on first use (numpy runtime when possible)."""
        if self._given_embedder is not None:
            return self._checked(self._given_embedder)
        if self._query_embedder is None:
            if self._document_embedder is not None:
                self._query_embedder = self._document_embedder
            else:
                loaded = load_embedder(self._model_location, for_queries_only=True)
                self._query_embedder = self._checked(loaded)
        return self._query_embedder

    def _checked_document_embedder(self) -> Embedder:
        """The embedder for documents (the full runtime), checked against the collection."""
        if self._given_embedder is not None:
            return self._checked(self._given_embedder)
        if self._document_embedder is None:
            self._document_embedder = load_embedder(
                self._model_location,
                runtime=self._ingest_embedder,
                onnx_cache_dir=self._onnx_cache_dir,
            )
        return self._checked(self._document_embedder)

    def _checked(self, embedder: Embedder) -> Embedder:
        self._store.check_dimension(self.model_name, embedder.dimension, given=embedder.model_name)
        return embedder

    def check_model(self) -> None:
        """Raise ModelMismatchError when the stored collection used another model."""
        self._store.check_model(self.model_name)

    # -- reading -----------------------------------------------------------------------

    def _lexical_index(self) -> LexicalIndex:
        if self._lexical is None:
            expected = self._store.fingerprint()
            loaded = LexicalIndex.load(bm25_dir(self._index_dir))
            if loaded is not None and loaded.fingerprint == expected:
                self._lexical = loaded
            else:
                self._lexical = build_lexical(self._store, self._index_dir, expected)
        return self._lexical

    def is_empty(self) -> bool:
        """True when nothing has been ingested yet."""
        return not self._lexical_index().records

    def fiche(self, fiche_id: str) -> Fiche | None:
        """A knowledge fiche or ingested user document by id."""
        return self._all_fiches().get(fiche_id)

    def fiches(self, type: str | None = None) -> list[Fiche]:
        """Every known fiche (optionally of one type), sorted by id."""
        found = self._all_fiches().values()
        return sorted((f for f in found if type is None or f.type == type), key=lambda f: f.id)

    def _all_fiches(self) -> dict[str, Fiche]:
        if self._fiches is None:
            fiches, errors = load_fiches(self._knowledge_dir)
            for error in errors:
                logger.warning("fiche skipped: %s", error)
            known = {f.id: f for f in fiches}
            self._load_documents(known)
            self._fiches = known
        return self._fiches

    def _load_documents(self, known: dict[str, Fiche]) -> None:
        """Add the indexed user documents readable here to `known`; one warning for the
        others (a worker on another machine may have none of them)."""
        unreadable: list[KnowledgeBaseError] = []
        for fiche_id, path in self._indexed_documents().items():
            if fiche_id in known:
                continue
            try:
                known[fiche_id] = load_document(Path(path))
            except KnowledgeBaseError as exc:
                unreadable.append(exc)
        if unreadable:
            logger.warning(
                "%d indexed documents are no longer readable here, e.g. %s",
                len(unreadable),
                unreadable[0],
            )

    def _indexed_documents(self) -> dict[str, str]:
        """Path of every indexed document by id: from this directory's manifest when it
        matches the store, else from the chunks the BM25 index holds (a worker that did not
        ingest has no manifest; reading every chunk from the server again would cost as much
        as building BM25)."""
        manifest = Manifest.load(self._index_dir / MANIFEST_FILE)
        if manifest.fingerprint and manifest.fingerprint == self._store.fingerprint():
            return {fiche_id: entry.path for fiche_id, entry in manifest.entries.items()}
        return {r.fiche_id: str(r.metadata.get("path", "")) for r in self._lexical_index().records}

    # -- search ------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        filters: SearchFilters | None = None,
        max_per_fiche: int = 2,
        fusion: Fusion = TUNED_FUSION,
    ) -> list[Hit]:
        """Hybrid search: reciprocal-rank fusion of the dense and BM25 candidate lists.

        By default fusion works on fiches: each list is ranked by fiche (first chunk wins),
        the fiche gets sum(weight / (60 + rank)), and its best chunks follow in that order.
        Every hit then carries its fiche's fused score.
        """
        text, checked = self._prepare(query, k, filters, max_per_fiche)
        n = max(CANDIDATES, 2 * k)
        rankings = (
            (fusion.dense_weight, self._dense(text, n, checked)),
            (fusion.bm25_weight, self._bm25(text, n, checked)),
        )
        return _cap(_fuse(rankings, fusion), k, max_per_fiche)

    def search_dense(self, query: str, **options: Unpack[OneWayOptions]) -> list[Hit]:
        """Nearest chunks by embedding (cosine similarity as score)."""
        return self._search_one(self._dense, query, **options)

    def search_bm25(self, query: str, **options: Unpack[OneWayOptions]) -> list[Hit]:
        """Best chunks by French BM25 (BM25 score as score)."""
        return self._search_one(self._bm25, query, **options)

    def _search_one(
        self,
        method: Callable[[str, int, SearchFilters | None], Ranking],
        query: str,
        *,
        k: int = 5,
        filters: SearchFilters | None = None,
        max_per_fiche: int | None = None,
    ) -> list[Hit]:
        text, checked = self._prepare(query, k, filters, max_per_fiche)
        n = max(k, CANDIDATES) if max_per_fiche else k
        return _cap(method(text, n, checked), k, max_per_fiche)

    def _prepare(
        self, query: str, k: int, filters: SearchFilters | None, max_per_fiche: int | None
    ) -> tuple[str, SearchFilters | None]:
        if not isinstance(query, str) or not query.strip():
            raise InvalidQueryError("the query is empty")
        text = " ".join(query[: MAX_QUERY_CHARS * 2].split())[:MAX_QUERY_CHARS]
        if not has_words(text):
            raise InvalidQueryError("the query holds no word")
        if k < 1:
            raise InvalidQueryError(f"k must be at least 1, got {k}")
        if max_per_fiche is not None and max_per_fiche < 1:
            raise InvalidQueryError(f"max_per_fiche must be at least 1, got {max_per_fiche}")
        checked = filtering.validate(filters, self.sectors)
        self.check_model()
        if self.is_empty():
            raise IndexNotReadyError("the knowledge base is empty: run `pilote-ia ingest`")
        return text, checked

    def _dense(self, text: str, n: int, filters: SearchFilters | None) -> Ranking:
        vector = self._query_vector(text)
        n = min(n, len(self._lexical_index().records))
        return self._store.query(vector, n, filtering.to_where(filters))

    def _bm25(self, text: str, n: int, filters: SearchFilters | None) -> Ranking:
        index = self._lexical_index()
        scores = self._bm25_scores(index, text)
        if filters is not None:
            scores = np.where(self._filter_mask(index, filters), scores, np.float32(0.0))
        if n < len(scores):
            # top n without sorting every record; ties keep record order, as a stable sort
            top = np.argpartition(-scores, n - 1)[:n]
            cut = scores[top].min()
            top = np.flatnonzero(scores >= cut) if cut > 0 else top[scores[top] > 0]
            order = top[np.lexsort((top, -scores[top]))][:n]
        else:
            order = np.argsort(-scores, kind="stable")
        return [(index.records[i], float(scores[i])) for i in order if scores[i] > 0]

    # -- what the caches compute (see __init__) ----------------------------------------

    def _embed_query(self, text: str) -> NDArray[np.float32]:
        vector: NDArray[np.float32] = self.query_embedder().encode([text])[0]
        return vector

    @staticmethod
    def _score_all(index: LexicalIndex, text: str) -> NDArray[np.float32]:
        """BM25 scores of every chunk (a read-only array: it is shared by the cache)."""
        scores = index.scores(text)
        scores.flags.writeable = False
        return scores

    @staticmethod
    def _mask(index: LexicalIndex, filters: SearchFilters) -> NDArray[np.bool_]:
        """Which chunks pass the filters."""
        accept = filtering.to_predicate(filters)
        records = index.records
        return np.fromiter((accept(r.metadata) for r in records), dtype=bool, count=len(records))

    def _forget_index(self) -> None:
        """Drop everything read from the index: the one place the caches are cleared."""
        self._lexical = None
        self._fiches = None
        self._query_vector.cache_clear()
        self._bm25_scores.cache_clear()
        self._filter_mask.cache_clear()

    # -- writing -----------------------------------------------------------------------

    def ingest(
        self, paths: Sequence[Path], *, rebuild: bool = False, progress: bool = True
    ) -> IngestReport:
        """Index documents and directories; unchanged skipped, changed replaced, gone removed."""
        if not rebuild:
            self.check_model()
        try:
            report, lexical = self._indexer.ingest(paths, rebuild=rebuild, progress=progress)
        finally:
            self._forget_index()
        self._lexical = lexical
        return report

    def close(self) -> None:
        """Release the store client and the loaded models."""
        self._query_embedder = None
        self._document_embedder = None
        self._forget_index()
        self._store.close()


def _fuse(rankings: Sequence[tuple[float, Ranking]], fusion: Fusion) -> Ranking:
    """Chunks ordered by their fused score (or their fiche's, with `fusion.by_fiche`)."""
    fiche_score: dict[str, float] = defaultdict(float)
    chunk_score: dict[str, float] = defaultdict(float)
    chunks: dict[str, StoredChunk] = {}
    for weight, ranking in rankings:
        fiche_rank: dict[str, int] = {}
        for rank, (chunk, _) in enumerate(ranking, start=1):
            chunks[chunk.id] = chunk
            chunk_score[chunk.id] += weight / (fusion.k + rank)
            if chunk.fiche_id not in fiche_rank:
                fiche_rank[chunk.fiche_id] = len(fiche_rank) + 1
                fiche_score[chunk.fiche_id] += weight / (fusion.k + fiche_rank[chunk.fiche_id])
    if not fusion.by_fiche:
        ordered = sorted(chunks.values(), key=lambda c: (-chunk_score[c.id], c.id))
        return [(c, chunk_score[c.id]) for c in ordered]
    ordered = sorted(
        chunks.values(),
        key=lambda c: (-fiche_score[c.fiche_id], c.fiche_id, -chunk_score[c.id], c.id),
    )
    return [(c, fiche_score[c.fiche_id]) for c in ordered]


def _cap(ranked: Ranking, k: int, max_per_fiche: int | None) -> list[Hit]:
    """The first k results with at most `max_per_fiche` chunks of the same fiche."""
    per_fiche: Counter[str] = Counter()
    hits: list[Hit] = []
    for chunk, score in ranked:
        if max_per_fiche is not None and per_fiche[chunk.fiche_id] >= max_per_fiche:
            continue
        per_fiche[chunk.fiche_id] += 1
        meta = chunk.metadata
        hits.append(
            Hit(
                fiche_id=chunk.fiche_id,
                chunk_id=chunk.id,
                title=str(meta.get("title", "")),
                type=str(meta.get("type", "")),
                heading=str(meta.get("heading", "")),
                text=chunk.text,
                score=float(score),
                metadata=dict(meta),
            )
        )
        if len(hits) == k:
            break
    return hits


def open_knowledge_base(
    *,
    index_dir: Path,
    knowledge_dir: Path,
    embedding_model: str,
    chroma_host: str | None = None,
    chroma_port: int = 8000,
    embedder: Embedder | None = None,
    check_model: bool = True,
    ingest_embedder: str = SENTENCE_TRANSFORMERS,
    onnx_cache_dir: Path = DEFAULT_ONNX_CACHE,
) -> KnowledgeBase:
    """Open (without loading any model) the knowledge base stored in `index_dir` or a server.

    With `check_model`, a collection built with another embedding model is refused
    (ModelMismatchError); pass False only to rebuild it. `ingest_embedder` (one of
    retrieval.embedding.INGEST_EMBEDDERS) computes document vectors, ONNX graphs cached in
    `onnx_cache_dir`.
    """
    if embedder is not None:
        name, location = embedder.model_name, embedder.model_name
    else:
        name, location = resolve_model(embedding_model)
    opened: list[KnowledgeBase] = []
    store = ChromaStore.open(
        index_dir=index_dir,
        host=chroma_host,
        port=chroma_port,
        model_name=name,
        # Chroma only calls this if given texts instead of vectors; we always pass vectors.
        embedder=lambda: opened[0].query_embedder(),
    )
    kb = KnowledgeBase(
        store=store,
        index_dir=index_dir,
        knowledge_dir=knowledge_dir,
        model_name=name,
        model_location=location,
        embedder=embedder,
        ingest_embedder=ingest_embedder,
        onnx_cache_dir=onnx_cache_dir,
    )
    opened.append(kb)
    if check_model:
        try:
            kb.check_model()
        except BaseException:
            kb.close()
            raise
    return kb
