"""Content-addressed embedding caches: never embed the same text twice with the same model.

A vector is keyed by the model name and a hash of the exact embedded text, so a changed
passage (or another model) is simply a miss. Two layers:

- `VectorCache`: a SQLite file in the index directory, float32, filled by every ingest;
  `ingest --rebuild` and re-ingests of unchanged text read it instead of running the model.
- `PackagedVectors`: a read-only float16 file shipped beside the packaged `knowledge/`
  (`embeddings-<model>.npz`), so a fresh clone indexes the knowledge base without loading
  the model at all. Regenerate it with `python -m retrieval.embed_cache [KNOWLEDGE_DIR]`.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from retrieval.embedding import PACKAGED_MODEL_NAME

logger = logging.getLogger(__name__)

_DIGEST_BYTES = 16
_PACKAGED_FORMAT = 1


def text_key(text: str) -> bytes:
    """16-byte digest of the exact embedded text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=_DIGEST_BYTES).digest()


def packaged_path(knowledge_dir: Path, model_name: str) -> Path:
    """Where the shipped vectors of `model_name` live inside a knowledge directory."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", model_name).strip("_") or "model"
    return knowledge_dir / f"embeddings-{safe}.npz"


def _normalised(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    out = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.where(norms > 0, norms, 1.0)).astype(np.float32, copy=False)


class VectorCache:
    """float32 vectors keyed by (model, text digest) in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        # a rowid table: WITHOUT ROWID spills 1.5 KB rows to overflow pages (3x the size)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, key BLOB NOT NULL, "
            "vector BLOB NOT NULL, PRIMARY KEY (model, key))"
        )

    def get_many(self, model: str, keys: Sequence[bytes]) -> dict[bytes, NDArray[np.float32]]:
        """The cached vectors among `keys` (missing keys are absent from the result)."""
        found: dict[bytes, NDArray[np.float32]] = {}
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT key, vector FROM vectors WHERE model = ? AND key IN ({marks})",
                [model, *part],
            )
            for key, blob in rows:
                found[bytes(key)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, model: str, keys: Sequence[bytes], vectors: NDArray[np.float32]) -> None:
        """Store vectors (one per key) for `model`, replacing older values."""
        data = np.asarray(vectors, dtype=np.float32)
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO vectors (model, key, vector) VALUES (?, ?, ?)",
                [(model, k, data[i].tobytes()) for i, k in enumerate(keys)],
            )

    def close(self) -> None:
        """Close the database file."""
        self._db.close()


class PackagedVectors:
    """Read-only float16 vectors shipped with a knowledge directory."""

    def __init__(self, model: str, keys: NDArray[np.void], vectors: NDArray[np.float16]) -> None:
        self.model = model
        self._rows = {bytes(k): i for i, k in enumerate(keys)}
        self._vectors = vectors

    def __len__(self) -> int:
        return len(self._rows)

    @classmethod
    def load(cls, path: Path, model: str) -> PackagedVectors | None:
        """The shipped vectors for `model`, or None when absent, unreadable or for another model."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format"]) != _PACKAGED_FORMAT or str(data["model"]) != model:
                    return None
                keys = data["keys"]
                vectors = data["vectors"]
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("shipped embeddings %s are unreadable, ignored: %s", path, exc)
            return None
        if len(keys) != len(vectors):
            return None
        return cls(model, keys, vectors)

    def get_many(self, keys: Sequence[bytes]) -> dict[bytes, NDArray[np.float32]]:
        """The shipped vectors among `keys`, as renormalised float32."""
        hits = [(k, self._rows[k]) for k in dict.fromkeys(keys) if k in self._rows]
        if not hits:
            return {}
        rows = _normalised(self._vectors[[i for _, i in hits]])
        return {k: rows[n] for n, (k, _) in enumerate(hits)}

    @staticmethod
    def write(path: Path, model: str, texts: Sequence[str], vectors: NDArray[np.float32]) -> None:
        """Write the vectors of `texts` (deduplicated, sorted by key) as float16."""
        by_key = {text_key(t): vectors[i] for i, t in enumerate(texts)}
        keys = sorted(by_key)
        np.savez_compressed(
            path,
            format=np.int64(_PACKAGED_FORMAT),
            model=np.str_(model),
            keys=np.array(keys, dtype=f"V{_DIGEST_BYTES}"),
            vectors=np.stack([by_key[k] for k in keys]).astype(np.float16),
        )


def build_packaged(knowledge_dir: Path, model: str) -> tuple[Path, int]:
    """Embed every chunk and curated question of the fiches in `knowledge_dir` and write the
    shipped vectors."""
    from retrieval.chunker import chunk_fiche
    from retrieval.embedding import SENTENCE_TRANSFORMERS, load_embedder
    from retrieval.faq_section import parse_entries
    from retrieval.lexical import StoredChunk
    from retrieval.loader import load_fiches

    fiches, errors = load_fiches(knowledge_dir)
    if errors:
        raise SystemExit(f"{len(errors)} unreadable fiche(s), first: {errors[0]}")
    chunks = {
        StoredChunk(c.id, c.text, dict(c.metadata)).indexed_text()
        for fiche in fiches
        for c in chunk_fiche(fiche)
    }
    # the fiches' curated questions too: the advisor matches them from its first question
    wordings = {q for f in fiches for e in parse_entries(f.id, f.body)[0] for q in e.questions}
    texts = sorted(chunks | wordings)
    embedder = load_embedder(model, runtime=SENTENCE_TRANSFORMERS)  # the reference vectors
    vectors = embedder.encode(texts)
    path = packaged_path(knowledge_dir, embedder.model_name)
    PackagedVectors.write(path, embedder.model_name, texts, vectors)
    return path, len(texts)


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the shipped vectors of a knowledge directory."""
    parser = argparse.ArgumentParser(description="Regenerate the shipped embedding cache.")
    parser.add_argument(
        "knowledge_dir",
        nargs="?",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "knowledge",
    )
    parser.add_argument("--model", default=PACKAGED_MODEL_NAME)
    args = parser.parse_args(argv)
    path, count = build_packaged(args.knowledge_dir, args.model)
    print(f"{count} vectors written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
