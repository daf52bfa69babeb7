"""Ingest: load documents, chunk and embed what changed, write Chroma, BM25 and the manifest."""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from retrieval.chunker import chunk_fiche
from retrieval.embed_cache import PackagedVectors, VectorCache, packaged_path, text_key
from retrieval.embedding import (
    SENTENCE_TRANSFORMERS,
    Embedder,
    cache_name,
    vectors_kind,
)
from retrieval.errors import KnowledgeBaseError, ModelMismatchError
from retrieval.lexical import LexicalIndex, StoredChunk
from retrieval.loader import load_document, load_fiches, supported_files
from retrieval.manifest import Manifest, ManifestEntry
from retrieval.models import Fiche
from retrieval.store import FINGERPRINT_KEY, ChromaStore

EMBEDDER_KEY = "ingest_embedder"  # collection metadata: which embedder built the vectors

logger = logging.getLogger(__name__)

# Chunks embedded and written together: enough for the embedder to batch texts by length,
# few enough that memory stays flat whatever the number of chunks ingested.
_WRITE_GROUP = 512
_VECTOR_CACHE_FILE = "embeddings.sqlite3"


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
    """The documents read from the paths given, and what could not be read."""

    docs: list[tuple[Fiche, str | None]] = field(default_factory=list)  # (document, root)
    errors: list[KnowledgeBaseError] = field(default_factory=list)
    roots: set[str] = field(default_factory=set)
    failed_paths: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Changes:
    """What an ingest writes: new or changed documents, ids to delete, their chunks."""

    changed: list[tuple[Fiche, str | None]]
    updated_ids: list[str]
    removed_ids: list[str]
    records: list[StoredChunk]


def bm25_dir(index_dir: Path) -> Path:
    """Where the BM25 index of `index_dir` is saved."""
    return index_dir / "bm25"


def build_lexical(store: ChromaStore, index_dir: Path, fingerprint: str) -> LexicalIndex:
    """The BM25 index of every stored chunk, saved beside the vectors (best effort)."""
    index = LexicalIndex.build(store.all_chunks(), fingerprint)
    try:
        index.save(bm25_dir(index_dir))
    except OSError as exc:
        logger.warning("cannot save the BM25 index in %s: %s", bm25_dir(index_dir), exc)
    return index


def _manifest_path(index_dir: Path) -> Path:
    return index_dir / "manifest.json"


def read_manifest(store: ChromaStore, index_dir: Path) -> Manifest:
    """The manifest, rebuilt from the stored chunks when it does not match the store."""
    path = _manifest_path(index_dir)
    manifest = Manifest.load(path)
    expected = store.fingerprint()
    if manifest.fingerprint == expected:
        return manifest
    rebuilt = Manifest(path, fingerprint=expected)
    counts: Counter[str] = Counter()
    for chunk in store.all_chunks():
        meta = chunk.metadata
        counts[chunk.fiche_id] += 1
        root = meta.get("root")
        rebuilt.entries[chunk.fiche_id] = ManifestEntry(
            str(meta.get("doc_hash", "")),
            str(meta.get("path", "")),
            str(root) if root else None,
            counts[chunk.fiche_id],
        )
    return rebuilt


class EmbedderMismatchError(ModelMismatchError):
    """The index holds vectors of an embedder whose vectors differ from the configured one's."""

    def __init__(self, stored: str, configured: str) -> None:
        super().__init__(
            f"the index was built with the {stored!r} embedder but {configured!r} is configured "
            "(INGEST_EMBEDDER); run `pilote-ia ingest --rebuild` or set it back"
        )
        self.stored = stored
        self.configured = configured


def recorded_embedder(store: ChromaStore, manifest: Manifest) -> str:
    """Which embedder built the index; indexes from before this was recorded used ST."""
    recorded = store.metadata().get(EMBEDDER_KEY) or manifest.embedder
    return str(recorded) if recorded else SENTENCE_TRANSFORMERS


@dataclass
class Indexer:
    """Writes documents into one index; the model is loaded only for texts no cache knows."""

    store: ChromaStore
    index_dir: Path
    knowledge_dir: Path  # its fiches ship precomputed vectors
    model_name: str
    embedder: Callable[[], Embedder]  # the document embedder, loaded and checked when called
    # what `embedder` runs (retrieval.embedding.INGEST_EMBEDDERS), for caches and the record
    ingest_embedder: str = SENTENCE_TRANSFORMERS
    _packaged: PackagedVectors | None = field(default=None, init=False)

    def ingest(
        self, paths: Sequence[Path], *, rebuild: bool, progress: bool
    ) -> tuple[IngestReport, LexicalIndex]:
        """Index paths (unchanged skipped, changed replaced, gone removed); the new BM25 index.

        Chunks are embedded and written in groups, so memory does not grow with vectors.
        """
        started = time.perf_counter()
        if rebuild:
            self.store.drop()
            Manifest(_manifest_path(self.index_dir)).save()
        manifest = read_manifest(self.store, self.index_dir)
        plan = self._load(paths)
        changes = _changes(manifest, plan)
        records = changes.records
        self._check_embedder(manifest, writes=bool(records))

        self.store.delete_fiches(changes.updated_ids + changes.removed_ids)
        cached = self._write(records, progress) if records else 0

        counts = Counter(r.fiche_id for r in records)
        for doc, root in changes.changed:
            entry = ManifestEntry(doc.content_hash, doc.path, root, counts[doc.id])
            manifest.entries[doc.id] = entry
        for fiche_id in changes.removed_ids:
            manifest.entries.pop(fiche_id, None)
        lexical = self._commit(manifest, wrote=bool(records))

        report = IngestReport(
            documents=len(manifest.entries),
            chunks=len(lexical.records),
            added=len(changes.changed) - len(changes.updated_ids),
            updated=len(changes.updated_ids),
            removed=len(changes.removed_ids),
            skipped=len(plan.docs) - len(changes.changed),
            seconds=round(time.perf_counter() - started, 3),
            errors=[str(e) for e in plan.errors],
            embedded_chunks=len(records),
            cached_chunks=cached,
        )
        return report, lexical

    def _check_embedder(self, manifest: Manifest, *, writes: bool) -> None:
        """Refuse to mix int8 vectors with exact ones in one index (before writing anything)."""
        if not writes or self.store.collection() is None or not manifest.entries:
            return
        stored = recorded_embedder(self.store, manifest)
        if stored != vectors_kind(self.ingest_embedder):
            raise EmbedderMismatchError(stored, self.ingest_embedder)

    def _commit(self, manifest: Manifest, *, wrote: bool) -> LexicalIndex:
        manifest.fingerprint = manifest.compute_fingerprint()
        if wrote:
            manifest.embedder = vectors_kind(self.ingest_embedder)
        elif self.store.collection() is not None:
            manifest.embedder = recorded_embedder(self.store, manifest)
        values = {FINGERPRINT_KEY: manifest.fingerprint}
        if manifest.embedder:
            values[EMBEDDER_KEY] = manifest.embedder
        self.store.set_metadata(values)
        manifest.save()
        return build_lexical(self.store, self.index_dir, manifest.fingerprint)

    # -- embedding ---------------------------------------------------------------------

    def _write(self, records: Sequence[StoredChunk], progress: bool) -> int:
        """Embed and store the records group by group; how many vectors came from a cache."""
        from tqdm import tqdm

        cache = VectorCache(self.index_dir / _VECTOR_CACHE_FILE)
        bar = tqdm(
            total=len(records),
            desc="Indexation",
            unit=" passages",
            disable=not progress,
            file=sys.stderr,
            leave=False,
            smoothing=0.1,
        )
        cached = 0
        try:
            with bar:
                for start in range(0, len(records), _WRITE_GROUP):
                    group = records[start : start + _WRITE_GROUP]
                    vectors, from_cache = self._embed(group, cache)
                    if self.store.collection() is None:
                        self.store.create(self.model_name, int(vectors.shape[1]))
                    self.store.add(group, vectors)
                    cached += from_cache
                    bar.update(len(group))
        finally:
            cache.close()
        return cached

    def _embed(
        self, records: Sequence[StoredChunk], cache: VectorCache
    ) -> tuple[NDArray[np.float32], int]:
        """Vectors of the records and how many came from a cache; the model runs on misses only.

        Exact vectors (cache, shipped file) are used whatever the embedder: int8 ones only
        approximate them. Vectors computed by the int8 graph are cached under their own name.
        """
        texts = [r.indexed_text() for r in records]
        keys = [text_key(t) for t in texts]
        own_name = cache_name(self.model_name, self.ingest_embedder)
        found = cache.get_many(self.model_name, keys)
        found.update(self._packaged_vectors().get_many(_missing(keys, found)))
        if own_name != self.model_name:
            found.update(cache.get_many(own_name, _missing(keys, found)))
        todo = {k: t for k, t in zip(keys, texts, strict=True) if k not in found}
        if todo:
            computed = self._compute(list(todo.values()))
            cache.put_many(own_name, list(todo), computed)
            found.update(zip(todo, computed, strict=True))
        vectors = np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
        self.store.check_dimension(self.model_name, int(vectors.shape[1]))
        return vectors, sum(1 for k in keys if k not in todo)

    def _packaged_vectors(self) -> PackagedVectors:
        if self._packaged is None:
            path = packaged_path(self.knowledge_dir, self.model_name)
            loaded = PackagedVectors.load(path, self.model_name)
            self._packaged = loaded or PackagedVectors(
                self.model_name, np.zeros(0, dtype="V16"), np.zeros((0, 1), dtype=np.float16)
            )
        return self._packaged

    def _compute(self, texts: Sequence[str]) -> NDArray[np.float32]:
        return self.embedder().encode(texts).astype(np.float32, copy=False)

    # -- loading -----------------------------------------------------------------------

    def _load(self, paths: Sequence[Path]) -> _Plan:
        plan = _Plan()
        seen: dict[str, str] = {}  # id -> path of the document that took it

        def accept(doc: Fiche, root: str | None) -> None:
            if doc.id in seen and seen[doc.id] != doc.path:
                plan.failed_paths.add(doc.path)
                problem = f"identifiant « {doc.id} » déjà utilisé par {seen[doc.id]}"
                plan.errors.append(KnowledgeBaseError(doc.path, problem))
                return
            seen[doc.id] = doc.path
            plan.docs.append((doc, root))

        knowledge_dir = self.knowledge_dir.resolve()
        for raw in paths:
            path = Path(raw).expanduser().resolve()
            if path == knowledge_dir and path.is_dir():
                plan.roots.add(str(path))
                fiches, errors = load_fiches(path)
                plan.errors += errors
                plan.failed_paths.update(e.path for e in errors)
                for fiche in fiches:
                    accept(fiche, str(path))
            elif path.is_dir():
                plan.roots.add(str(path))
                _load_files(supported_files(path), str(path), accept, plan)
            elif path.is_file():
                _load_files([path], None, accept, plan)
            else:
                plan.errors.append(KnowledgeBaseError(str(raw), "fichier ou dossier introuvable"))
        return plan


def _missing(keys: Sequence[bytes], found: dict[bytes, NDArray[np.float32]]) -> list[bytes]:
    return [k for k in dict.fromkeys(keys) if k not in found]


def _load_files(
    files: Sequence[Path],
    root: str | None,
    accept: Callable[[Fiche, str | None], None],
    plan: _Plan,
) -> None:
    """Read user documents; an unreadable one is an error of the plan, the others go on."""
    for file in files:
        try:
            accept(load_document(file), root)
        except KnowledgeBaseError as exc:
            plan.errors.append(exc)
            plan.failed_paths.add(str(file))


def _changes(manifest: Manifest, plan: _Plan) -> _Changes:
    """Compare the loaded documents with the manifest: what to add, replace and remove."""
    loaded_ids = {doc.id for doc, _ in plan.docs}
    changed = [
        (doc, root)
        for doc, root in plan.docs
        if (entry := manifest.entries.get(doc.id)) is None
        or entry.content_hash != doc.content_hash
        or entry.path != doc.path
    ]
    removed_ids = [
        fiche_id
        for fiche_id, entry in manifest.entries.items()
        if entry.root in plan.roots
        and fiche_id not in loaded_ids
        and entry.path not in plan.failed_paths
    ]
    records = [
        StoredChunk(c.id, c.text, {**c.metadata, **({"root": root} if root else {})})
        for doc, root in changed
        for c in chunk_fiche(doc)
    ]
    updated_ids = [doc.id for doc, _ in changed if doc.id in manifest.entries]
    return _Changes(changed, updated_ids, removed_ids, records)
