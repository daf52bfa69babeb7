"""The knowledge base: ingest documents, then search them by meaning and by words."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from retrieval import filters as filtering
from retrieval.chunker import chunk_fiche
from retrieval.embed_cache import PackagedVectors, VectorCache, packaged_path, text_key
from retrieval.embedding import Embedder, load_embedder, resolve_model
from retrieval.errors import (
    IndexNotReadyError,
    InvalidQueryError,
    KnowledgeBaseError,
    ModelMismatchError,
)
from retrieval.lexical import LexicalIndex, StoredChunk
from retrieval.loader import load_document, load_fiches, supported_files
from retrieval.manifest import Manifest, ManifestEntry
from retrieval.models import Fiche, Hit, SearchFilters
from retrieval.store import DIMENSION_KEY, MODEL_KEY, ChromaStore
from retrieval.text import has_words

logger = logging.getLogger(__name__)

RRF_K = 60
CANDIDATES = 20
# MiniLM is an English model; French BM25 (stemmed) is the stronger signal on our eval set.
DENSE_WEIGHT = 1.0
BM25_WEIGHT = 1.5
MAX_QUERY_CHARS = 2000
_EMBED_BATCH = 64
_FINGERPRINT_KEY = "kb_fingerprint"
_VECTOR_CACHE_FILE = "embeddings.sqlite3"
# The advisor searches the same question two or three times (general, tools, sector);
# embedding it is most of a search's cost, so recent query vectors, BM25 scores and masks
# are kept.
_QUERY_CACHE = 256
_MASK_CACHE = 32
_SCORES_CACHE = 32  # BM25 scores of recent query texts (one float per chunk each)


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


@dataclass(frozen=True)
class IngestReport:
    """What an ingest did; documents and chunks count what the index holds afterwards."""

    documents: int
    chunks: int
    added: int
    updated: int
    removed: int
    skipped: int
    seconds: float
    errors: list[str] = field(default_factory=list)
    embedded_chunks: int = 0  # chunks (re)written to the index
    cached_chunks: int = 0  # of those, vectors read from a cache instead of the model


@dataclass
class _Plan:
    docs: list[tuple[Fiche, str | None]] = field(default_factory=list)
    errors: list[KnowledgeBaseError] = field(default_factory=list)
    roots: set[str] = field(default_factory=set)
    failed_paths: set[str] = field(default_factory=set)


def mismatch_message(stored: str, configured: str) -> str:
    """Developer message of a ModelMismatchError (the CLI shows its own French text)."""
    return (
        f"the index was built with embedding model {stored!r} but {configured!r} is configured; "
        "run `pilote-ia ingest --rebuild` to rebuild it"
    )


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
    ) -> None:
        self._store = store
        self._index_dir = index_dir
        self._knowledge_dir = knowledge_dir
        self.model_name = model_name
        self._model_location = model_location
        self._given_embedder = embedder
        self._query_embedder: Embedder | None = None
        self._document_embedder: Embedder | None = None
        self._lexical: LexicalIndex | None = None
        self._fiches: dict[str, Fiche] | None = None
        self._packaged: PackagedVectors | None = None
        self._query_vectors: OrderedDict[str, NDArray[np.float32]] = OrderedDict()
        self._masks: OrderedDict[tuple[str, SearchFilters], NDArray[np.bool_]] = OrderedDict()
        self._scores: OrderedDict[tuple[str, str], NDArray[np.float32]] = OrderedDict()
        self._cache_lock = threading.Lock()  # the advisor searches from worker threads

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

    def _embedder_for_documents(self) -> Embedder:
        if self._given_embedder is not None:
            return self._given_embedder
        if self._document_embedder is None:
            self._document_embedder = load_embedder(self._model_location)
        return self._document_embedder

    def _checked(self, embedder: Embedder) -> Embedder:
        stored = self._store.metadata().get(DIMENSION_KEY)
        if stored is not None and int(stored) != embedder.dimension:
            raise ModelMismatchError(
                mismatch_message(f"{self.model_name} ({stored} dimensions)",
                                 f"{embedder.model_name} ({embedder.dimension} dimensions)")
            )
        return embedder

    def check_model(self) -> None:
        """Raise ModelMismatchError when the stored collection used another model."""
        stored = self._store.metadata().get(MODEL_KEY)
        if stored is not None and stored != self.model_name:
            raise ModelMismatchError(mismatch_message(str(stored), self.model_name))

    # -- lexical index -----------------------------------------------------------------

    def _lexical_index(self) -> LexicalIndex:
        if self._lexical is None:
            expected = str(self._store.metadata().get(_FINGERPRINT_KEY, ""))
            loaded = LexicalIndex.load(self._bm25_dir)
            if loaded is not None and loaded.fingerprint == expected:
                self._lexical = loaded
            else:
                self._lexical = self._rebuild_lexical(expected)
        return self._lexical

    def _rebuild_lexical(self, fingerprint: str) -> LexicalIndex:
        index = LexicalIndex.build(self._store.all_chunks(), fingerprint)
        try:
            index.save(self._bm25_dir)
        except OSError as exc:
            logger.warning("cannot save the BM25 index in %s: %s", self._bm25_dir, exc)
        return index

    @property
    def _bm25_dir(self) -> Path:
        return self._index_dir / "bm25"

    # -- reading -----------------------------------------------------------------------

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
            for fiche_id, entry in self._manifest().entries.items():
                if fiche_id in known:
                    continue
                try:
                    known[fiche_id] = load_document(Path(entry.path))
                except KnowledgeBaseError as exc:
                    logger.warning("indexed document no longer readable: %s", exc)
            self._fiches = known
        return self._fiches

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

    def search_dense(
        self,
        query: str,
        *,
        k: int = 5,
        filters: SearchFilters | None = None,
        max_per_fiche: int | None = None,
    ) -> list[Hit]:
        """Nearest chunks by embedding (cosine similarity as score)."""
        return self._search_one(self._dense, query, k, filters, max_per_fiche)

    def search_bm25(
        self,
        query: str,
        *,
        k: int = 5,
        filters: SearchFilters | None = None,
        max_per_fiche: int | None = None,
    ) -> list[Hit]:
        """Best chunks by French BM25 (BM25 score as score)."""
        return self._search_one(self._bm25, query, k, filters, max_per_fiche)

    def _search_one(
        self,
        method: Callable[[str, int, SearchFilters | None], list[tuple[StoredChunk, float]]],
        query: str,
        k: int,
        filters: SearchFilters | None,
        max_per_fiche: int | None,
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
        checked = filtering.validate(filters)
        self.check_model()
        if self.is_empty():
            raise IndexNotReadyError("the knowledge base is empty: run `pilote-ia ingest`")
        return text, checked

    def _dense(
        self, text: str, n: int, filters: SearchFilters | None
    ) -> list[tuple[StoredChunk, float]]:
        vector = self._query_vector(text)
        n = min(n, len(self._lexical_index().records))
        return self._store.query(vector, n, filtering.to_where(filters))

    def _query_vector(self, text: str) -> NDArray[np.float32]:
        with self._cache_lock:
            vector = self._query_vectors.get(text)
            if vector is not None:
                self._query_vectors.move_to_end(text)
                return vector
        fresh: NDArray[np.float32] = self.query_embedder().encode([text])[0]
        with self._cache_lock:
            self._query_vectors[text] = fresh
            if len(self._query_vectors) > _QUERY_CACHE:
                self._query_vectors.popitem(last=False)
        return fresh

    def _filter_mask(self, index: LexicalIndex, filters: SearchFilters) -> NDArray[np.bool_]:
        key = (index.fingerprint, filters)
        with self._cache_lock:
            mask = self._masks.get(key)
        if mask is None:
            accept = filtering.to_predicate(filters)
            mask = np.fromiter((accept(r.metadata) for r in index.records), dtype=bool,
                               count=len(index.records))
            with self._cache_lock:
                self._masks[key] = mask
                if len(self._masks) > _MASK_CACHE:
                    self._masks.popitem(last=False)
        return mask

    def _bm25_scores(self, index: LexicalIndex, text: str) -> NDArray[np.float32]:
        """BM25 scores of every chunk, kept for recent texts (read-only arrays)."""
        key = (index.fingerprint, text)
        with self._cache_lock:
            cached = self._scores.get(key)
            if cached is not None:
                self._scores.move_to_end(key)
                return cached
        scores = index.scores(text)
        scores.flags.writeable = False
        with self._cache_lock:
            self._scores[key] = scores
            if len(self._scores) > _SCORES_CACHE:
                self._scores.popitem(last=False)
        return scores

    def _bm25(
        self, text: str, n: int, filters: SearchFilters | None
    ) -> list[tuple[StoredChunk, float]]:
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

    # -- ingest ------------------------------------------------------------------------

    def ingest(
        self, paths: Sequence[Path], *, rebuild: bool = False, progress: bool = True
    ) -> IngestReport:
        """Index documents and directories; unchanged skipped, changed replaced, gone removed."""
        started = time.perf_counter()
        if rebuild:
            self._store.drop()
            Manifest(self._manifest_path).save()
            self._lexical = None
        else:
            self.check_model()
        manifest = self._manifest()
        plan = self._load(paths)

        loaded_ids = {doc.id for doc, _ in plan.docs}
        changed = [(d, r) for d, r in plan.docs
                   if (e := manifest.entries.get(d.id)) is None or e.content_hash != d.content_hash
                   or e.path != d.path]
        updated_ids = [d.id for d, _ in changed if d.id in manifest.entries]
        removed_ids = [
            fiche_id for fiche_id, entry in manifest.entries.items()
            if entry.root in plan.roots and fiche_id not in loaded_ids
            and entry.path not in plan.failed_paths
        ]
        records = [
            StoredChunk(c.id, c.text, {**c.metadata, **({"root": root} if root else {})})
            for doc, root in changed for c in chunk_fiche(doc)
        ]
        vectors, cached = self._embed(records, progress) if records else (None, 0)

        if vectors is not None and self._store.collection() is None:
            self._store.create(self.model_name, int(vectors.shape[1]))
        self._store.delete_fiches(updated_ids + removed_ids)
        if vectors is not None:
            self._store.add(records, vectors)

        counts = Counter(r.fiche_id for r in records)
        for doc, root in changed:
            manifest.entries[doc.id] = ManifestEntry(doc.content_hash, doc.path, root,
                                                     counts[doc.id])
        for fiche_id in removed_ids:
            manifest.entries.pop(fiche_id, None)
        self._commit(manifest)

        return IngestReport(
            documents=len(manifest.entries),
            chunks=len(self._lexical_index().records),
            added=len(changed) - len(updated_ids),
            updated=len(updated_ids),
            removed=len(removed_ids),
            skipped=len(plan.docs) - len(changed),
            seconds=round(time.perf_counter() - started, 3),
            errors=[str(e) for e in plan.errors],
            embedded_chunks=len(records),
            cached_chunks=cached,
        )

    def _commit(self, manifest: Manifest) -> None:
        manifest.fingerprint = manifest.compute_fingerprint()
        self._store.set_metadata({_FINGERPRINT_KEY: manifest.fingerprint})
        manifest.save()
        self._lexical = self._rebuild_lexical(manifest.fingerprint)
        self._fiches = None

    def _embed(
        self, records: Sequence[StoredChunk], progress: bool
    ) -> tuple[NDArray[np.float32], int]:
        """Vectors of the records and how many came from a cache; the model runs on misses only."""
        texts = [r.indexed_text() for r in records]
        keys = [text_key(t) for t in texts]
        cache = VectorCache(self._index_dir / _VECTOR_CACHE_FILE)
        try:
            found = cache.get_many(self.model_name, keys)
            missing = [k for k in dict.fromkeys(keys) if k not in found]
            if missing:
                found.update(self._packaged_vectors().get_many(missing))
            todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
            if todo:
                computed = self._compute(list(todo.values()), progress)
                cache.put_many(self.model_name, list(todo), computed)
                found.update(zip(todo, computed, strict=True))
        finally:
            cache.close()
        vectors = np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
        stored = self._store.metadata().get(DIMENSION_KEY)
        if stored is not None and int(stored) != vectors.shape[1]:
            raise ModelMismatchError(mismatch_message(
                f"{self.model_name} ({stored} dimensions)",
                f"{self.model_name} ({vectors.shape[1]} dimensions)"))
        return vectors, sum(1 for k in keys if k not in todo)

    def _packaged_vectors(self) -> PackagedVectors:
        if self._packaged is None:
            path = packaged_path(self._knowledge_dir, self.model_name)
            loaded = PackagedVectors.load(path, self.model_name)
            self._packaged = loaded or PackagedVectors(
                self.model_name, np.zeros(0, dtype="V16"), np.zeros((0, 1), dtype=np.float16))
        return self._packaged

    def _compute(self, texts: Sequence[str], progress: bool) -> NDArray[np.float32]:
        from tqdm import tqdm

        embedder = self._embedder_for_documents()
        if self._store.collection() is not None:
            self._checked(embedder)
        parts = []
        with tqdm(total=len(texts), desc="Indexation", unit="passage", disable=not progress,
                  file=sys.stderr, leave=False) as bar:
            for start in range(0, len(texts), _EMBED_BATCH):
                batch = texts[start : start + _EMBED_BATCH]
                parts.append(embedder.encode(batch))
                bar.update(len(batch))
        return np.concatenate(parts).astype(np.float32, copy=False)

    def _load(self, paths: Sequence[Path]) -> _Plan:
        plan = _Plan()
        seen: dict[str, str] = {}

        def accept(doc: Fiche, root: str | None) -> None:
            if doc.id in seen and seen[doc.id] != doc.path:
                plan.failed_paths.add(doc.path)
                plan.errors.append(KnowledgeBaseError(
                    doc.path, f"identifiant « {doc.id} » déjà utilisé par {seen[doc.id]}"))
                return
            seen[doc.id] = doc.path
            plan.docs.append((doc, root))

        knowledge_dir = self._knowledge_dir.resolve()
        for raw in paths:
            path = Path(raw).expanduser().resolve()
            if path.is_dir():
                plan.roots.add(str(path))
                if path == knowledge_dir:
                    fiches, errors = load_fiches(path)
                    plan.errors += errors
                    plan.failed_paths.update(e.path for e in errors)
                    for fiche in fiches:
                        accept(fiche, str(path))
                    continue
                files = supported_files(path)
            elif path.is_file():
                files = [path]
            else:
                plan.errors.append(KnowledgeBaseError(str(raw), "fichier ou dossier introuvable"))
                continue
            root = str(path) if path.is_dir() else None
            for file in files:
                try:
                    accept(load_document(file), root)
                except KnowledgeBaseError as exc:
                    plan.errors.append(exc)
                    plan.failed_paths.add(str(file))
        return plan

    # -- manifest ----------------------------------------------------------------------

    @property
    def _manifest_path(self) -> Path:
        return self._index_dir / "manifest.json"

    def _manifest(self) -> Manifest:
        """The manifest, rebuilt from the stored chunks when it does not match the store."""
        manifest = Manifest.load(self._manifest_path)
        expected = str(self._store.metadata().get(_FINGERPRINT_KEY, ""))
        if manifest.fingerprint == expected:
            return manifest
        rebuilt = Manifest(self._manifest_path)
        counts: Counter[str] = Counter()
        for chunk in self._store.all_chunks():
            meta = chunk.metadata
            counts[chunk.fiche_id] += 1
            root = meta.get("root")
            rebuilt.entries[chunk.fiche_id] = ManifestEntry(
                str(meta.get("doc_hash", "")), str(meta.get("path", "")),
                str(root) if root else None, counts[chunk.fiche_id],
            )
        rebuilt.fingerprint = expected
        return rebuilt

    def close(self) -> None:
        """Release the store client and the loaded models."""
        self._query_embedder = None
        self._document_embedder = None
        self._lexical = None
        self._query_vectors.clear()
        self._masks.clear()
        self._scores.clear()
        self._store.close()


def _fuse(
    rankings: Sequence[tuple[float, list[tuple[StoredChunk, float]]]], fusion: Fusion
) -> list[tuple[StoredChunk, float]]:
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


def _cap(
    ranked: Sequence[tuple[StoredChunk, float]], k: int, max_per_fiche: int | None
) -> list[Hit]:
    """The first k results with at most `max_per_fiche` chunks of the same fiche."""
    per_fiche: Counter[str] = Counter()
    hits: list[Hit] = []
    for chunk, score in ranked:
        if max_per_fiche is not None and per_fiche[chunk.fiche_id] >= max_per_fiche:
            continue
        per_fiche[chunk.fiche_id] += 1
        meta = chunk.metadata
        hits.append(Hit(
            fiche_id=chunk.fiche_id,
            chunk_id=chunk.id,
            title=str(meta.get("title", "")),
            type=str(meta.get("type", "")),
            heading=str(meta.get("heading", "")),
            text=chunk.text,
            score=float(score),
            metadata=dict(meta),
        ))
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
) -> KnowledgeBase:
    """Open (without loading any model) the knowledge base stored in `index_dir` or a server.

    With `check_model`, a collection built with another embedding model is refused
    (ModelMismatchError); pass False only to rebuild it.
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
    )
    opened.append(kb)
    if check_model:
        try:
            kb.check_model()
        except BaseException:
            kb.close()
            raise
    return kb
