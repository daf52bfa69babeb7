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
from retrieval.embedding import Embedder
from retrieval.errors import KnowledgeBaseError
from retrieval.lexical import LexicalIndex, StoredChunk
from retrieval.loader import load_document, load_fiches, supported_files
from retrieval.manifest import Manifest, ManifestEntry
from retrieval.models import Fiche
from retrieval.store import FINGERPRINT_KEY, ChromaStore

logger = logging.getLogger(__name__)

_EMBED_BATCH = 64
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


@dataclass
class Indexer:
    """Writes documents into one index; the model is loaded only for texts no cache knows."""

    store: ChromaStore
    index_dir: Path
    knowledge_dir: Path  # its fiches ship precomputed vectors
    model_name: str
    embedder: Callable[[], Embedder]  # the document embedder, loaded and checked when called
    _packaged: PackagedVectors | None = field(default=None, init=False)

    def ingest(
        self, paths: Sequence[Path], *, rebuild: bool, progress: bool
    ) -> tuple[IngestReport, LexicalIndex]:
        """Index paths (unchanged skipped, changed replaced, gone removed); the new BM25 index."""
        started = time.perf_counter()
        if rebuild:
            self.store.drop()
            Manifest(_manifest_path(self.index_dir)).save()
        manifest = read_manifest(self.store, self.index_dir)
        plan = self._load(paths)
        changes = _changes(manifest, plan)
        records = changes.records
        vectors, cached = self._embed(records, progress) if records else (None, 0)

        if vectors is not None and self.store.collection() is None:
            self.store.create(self.model_name, int(vectors.shape[1]))
        self.store.delete_fiches(changes.updated_ids + changes.removed_ids)
        if vectors is not None:
            self.store.add(records, vectors)

        counts = Counter(r.fiche_id for r in records)
        for doc, root in changes.changed:
            entry = ManifestEntry(doc.content_hash, doc.path, root, counts[doc.id])
            manifest.entries[doc.id] = entry
        for fiche_id in changes.removed_ids:
            manifest.entries.pop(fiche_id, None)
        lexical = self._commit(manifest)

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

    def _commit(self, manifest: Manifest) -> LexicalIndex:
        manifest.fingerprint = manifest.compute_fingerprint()
        self.store.set_metadata({FINGERPRINT_KEY: manifest.fingerprint})
        manifest.save()
        return build_lexical(self.store, self.index_dir, manifest.fingerprint)

    # -- embedding ---------------------------------------------------------------------

    def _embed(
        self, records: Sequence[StoredChunk], progress: bool
    ) -> tuple[NDArray[np.float32], int]:
        """Vectors of the records and how many came from a cache; the model runs on misses only."""
        texts = [r.indexed_text() for r in records]
        keys = [text_key(t) for t in texts]
        cache = VectorCache(self.index_dir / _VECTOR_CACHE_FILE)
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

    def _compute(self, texts: Sequence[str], progress: bool) -> NDArray[np.float32]:
        from tqdm import tqdm

        embedder = self.embedder()
        parts = []
        bar = tqdm(
            total=len(texts),
            desc="Indexation",
            unit="passage",
            disable=not progress,
            file=sys.stderr,
            leave=False,
        )
        with bar:
            for start in range(0, len(texts), _EMBED_BATCH):
                batch = texts[start : start + _EMBED_BATCH]
                parts.append(embedder.encode(batch))
                bar.update(len(batch))
        return np.concatenate(parts).astype(np.float32, copy=False)

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
