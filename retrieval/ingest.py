"""Ingest: load documents, chunk and embed what changed, write Chroma, BM25 and the manifest."""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

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
from retrieval.loader import iter_fiches, load_document, supported_files
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
class _Scan:
    """What reading the paths found; the chunks of changed documents wait in a spool."""

    changed: dict[str, ManifestEntry] = field(default_factory=dict)  # id -> its new entry
    updated_ids: list[str] = field(default_factory=list)  # changed ids already indexed
    loaded_ids: set[str] = field(default_factory=set)
    skipped: int = 0
    errors: list[KnowledgeBaseError] = field(default_factory=list)
    roots: set[str] = field(default_factory=set)
    failed_paths: set[str] = field(default_factory=set)

    def removed_ids(self, manifest: Manifest) -> list[str]:
        """Indexed documents of a directory read again that are gone (not merely unreadable)."""
        return [
            fiche_id
            for fiche_id, entry in manifest.entries.items()
            if entry.root in self.roots
            and fiche_id not in self.loaded_ids
            and entry.path not in self.failed_paths
        ]


class _Spool:
    """Chunk records waiting to be embedded, in a temporary file (JSON lines) beside the
    index: documents are read once, and only one group of texts is in memory at a time."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.count = 0

    def add(self, records: Iterable[StoredChunk]) -> int:
        """Append records; how many."""
        added = 0
        for r in records:
            item = {"id": r.id, "text": r.text, "metadata": r.metadata}
            self._file.write(json.dumps(item, ensure_ascii=False) + "\n")
            added += 1
        self.count += added
        return added

    def groups(self, size: int) -> Iterator[list[StoredChunk]]:
        """The records in the order added, `size` at a time."""
        self._file.seek(0)
        group: list[StoredChunk] = []
        for line in self._file:
            item = json.loads(line)
            group.append(StoredChunk(item["id"], item["text"], item["metadata"]))
            if len(group) == size:
                yield group
                group = []
        if group:
            yield group


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


def write_lexical(
    store: ChromaStore, index_dir: Path, fingerprint: str
) -> tuple[int, LexicalIndex | None]:
    """Build and save the BM25 index from the stored chunks read a page at a time: how many
    chunks it holds, and no index (readers load the saved one when they need it) unless it
    could not be saved, then the one built in memory."""
    try:
        return LexicalIndex.write(store.iter_chunks(), fingerprint, bm25_dir(index_dir)), None
    except OSError as exc:
        logger.warning("cannot save the BM25 index in %s: %s", bm25_dir(index_dir), exc)
    index = LexicalIndex.build(store.iter_chunks(), fingerprint)
    return len(index.records), index


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
    for chunk in store.iter_chunks():
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
    ) -> tuple[IngestReport, LexicalIndex | None]:
        """Index paths (unchanged skipped, changed replaced, gone removed).

        Documents are read one at a time and their chunks spooled to disk, then embedded and
        written group by group, and BM25 is rebuilt from the store page by page: memory does
        not grow with the number of chunks. Returns no BM25 index when it was saved (readers
        load it on first use), else the one built in memory.
        """
        started = time.perf_counter()
        if rebuild:
            self.store.drop()
            Manifest(_manifest_path(self.index_dir)).save()
        manifest = read_manifest(self.store, self.index_dir)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile("w+", encoding="utf-8", dir=self.index_dir) as file:
            spool = _Spool(file)
            scan = self._scan(paths, manifest, spool)
            removed_ids = scan.removed_ids(manifest)
            self._check_embedder(manifest, writes=bool(spool.count))
            self.store.delete_fiches(scan.updated_ids + removed_ids)
            cached = self._write(spool, progress) if spool.count else 0
        manifest.entries.update(scan.changed)
        for fiche_id in removed_ids:
            manifest.entries.pop(fiche_id, None)
        chunks, lexical = self._commit(manifest, wrote=bool(spool.count))

        report = IngestReport(
            documents=len(manifest.entries),
            chunks=chunks,
            added=len(scan.changed) - len(scan.updated_ids),
            updated=len(scan.updated_ids),
            removed=len(removed_ids),
            skipped=scan.skipped,
            seconds=round(time.perf_counter() - started, 3),
            errors=[str(e) for e in scan.errors],
            embedded_chunks=spool.count,
            cached_chunks=cached,
        )
        return report, lexical

    def _scan(self, paths: Sequence[Path], manifest: Manifest, spool: _Spool) -> _Scan:
        """Read every document once: unchanged ones are counted, changed ones spooled."""
        scan = _Scan()
        for doc, root in _documents(paths, self.knowledge_dir.resolve(), scan):
            scan.loaded_ids.add(doc.id)
            entry = manifest.entries.get(doc.id)
            if entry and (entry.content_hash, entry.path) == (doc.content_hash, doc.path):
                scan.skipped += 1
                continue
            count = spool.add(_records(doc, root))
            scan.changed[doc.id] = ManifestEntry(doc.content_hash, doc.path, root, count)
            if entry is not None:
                scan.updated_ids.append(doc.id)
        return scan

    def _check_embedder(self, manifest: Manifest, *, writes: bool) -> None:
        """Refuse to mix int8 vectors with exact ones in one index (before writing anything)."""
        if not writes or self.store.collection() is None or not manifest.entries:
            return
        stored = recorded_embedder(self.store, manifest)
        if stored != vectors_kind(self.ingest_embedder):
            raise EmbedderMismatchError(stored, self.ingest_embedder)

    def _commit(self, manifest: Manifest, *, wrote: bool) -> tuple[int, LexicalIndex | None]:
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
        return write_lexical(self.store, self.index_dir, manifest.fingerprint)

    # -- embedding ---------------------------------------------------------------------

    def _write(self, spool: _Spool, progress: bool) -> int:
        """Embed and store the spooled records group by group; how many vectors came from a
        cache. A group's texts are dropped once written."""
        from tqdm import tqdm

        cache = VectorCache(self.index_dir / _VECTOR_CACHE_FILE)
        bar = tqdm(
            total=spool.count,
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
                for group in spool.groups(_WRITE_GROUP):
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


def _missing(keys: Sequence[bytes], found: dict[bytes, NDArray[np.float32]]) -> list[bytes]:
    return [k for k in dict.fromkeys(keys) if k not in found]


def _documents(
    paths: Sequence[Path], knowledge_dir: Path, scan: _Scan
) -> Iterator[tuple[Fiche, str | None]]:
    """The documents of `paths` read one at a time with their root directory; what cannot
    be read, and a second document taking an id, are errors of the scan."""
    seen: dict[str, str] = {}  # id -> path of the document that took it
    for doc, root in _read_paths(paths, knowledge_dir, scan):
        if doc.id in seen:
            if seen[doc.id] != doc.path:
                scan.failed_paths.add(doc.path)
                problem = f"identifiant « {doc.id} » déjà utilisé par {seen[doc.id]}"
                scan.errors.append(KnowledgeBaseError(doc.path, problem))
            continue  # the same file named twice is read once
        seen[doc.id] = doc.path
        yield doc, root


def _read_paths(
    paths: Sequence[Path], knowledge_dir: Path, scan: _Scan
) -> Iterator[tuple[Fiche, str | None]]:
    for raw in paths:
        path = Path(raw).expanduser().resolve()
        if path == knowledge_dir and path.is_dir():
            scan.roots.add(str(path))
            for item in iter_fiches(path):
                if isinstance(item, KnowledgeBaseError):
                    scan.errors.append(item)
                    scan.failed_paths.add(item.path)
                else:
                    yield item, str(path)
        elif path.is_dir():
            scan.roots.add(str(path))
            yield from _read_files(supported_files(path), str(path), scan)
        elif path.is_file():
            yield from _read_files([path], None, scan)
        else:
            scan.errors.append(KnowledgeBaseError(str(raw), "fichier ou dossier introuvable"))


def _read_files(
    files: Sequence[Path], root: str | None, scan: _Scan
) -> Iterator[tuple[Fiche, str | None]]:
    """User documents one at a time; an unreadable one is an error, the others go on."""
    for file in files:
        try:
            doc = load_document(file)
        except KnowledgeBaseError as exc:
            scan.errors.append(exc)
            scan.failed_paths.add(str(file))
            continue
        yield doc, root


def _records(doc: Fiche, root: str | None) -> Iterator[StoredChunk]:
    """The chunks of a document as stored, with the directory it was ingested from."""
    extra = {"root": root} if root else {}
    for chunk in chunk_fiche(doc):
        yield StoredChunk(chunk.id, chunk.text, {**chunk.metadata, **extra})
