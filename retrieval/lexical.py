"""BM25 index over the stored chunks, persisted beside the vectors."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrieval.chunker import Metadata, embedded_text
from retrieval.text import analyze

logger = logging.getLogger(__name__)

_RECORDS_FILE = "chunks.json"


def _import_bm25s() -> Any:
    import bm25s

    # bm25s pins its logger at DEBUG on import; let the application's logging decide.
    logging.getLogger("bm25s").setLevel(logging.NOTSET)
    return bm25s


_FORMAT = 1


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as kept in the store: its id, raw text and scalar metadata."""

    id: str
    text: str
    metadata: Metadata

    @property
    def fiche_id(self) -> str:
        """Id of the fiche the chunk belongs to."""
        return str(self.metadata.get("fiche_id", self.id.partition("#")[0]))

    def indexed_text(self) -> str:
        """Text given to the embedder and BM25 (title and heading prefixed)."""
        return embedded_text(
            str(self.metadata.get("title", "")), str(self.metadata.get("heading", "")), self.text
        )


class LexicalIndex:
    """BM25 (bm25s) over French-analysed chunk texts, with the chunk records kept alongside."""

    def __init__(self, records: Sequence[StoredChunk], fingerprint: str, retriever: Any) -> None:
        self.records = list(records)
        self.fingerprint = fingerprint
        self._retriever = retriever

    @classmethod
    def build(cls, records: Sequence[StoredChunk], fingerprint: str) -> LexicalIndex:
        """Index the records (an empty list gives an index that matches nothing)."""
        retriever = None
        if records:
            retriever = _import_bm25s().BM25()
            corpus = [analyze(r.indexed_text()) for r in records]
            retriever.index(corpus, show_progress=False)
        return cls(records, fingerprint, retriever)

    def scores(self, query: str) -> NDArray[np.float32]:
        """BM25 score of every record for the query (zeros when no term is known)."""
        result = np.zeros(len(self.records), dtype=np.float32)
        if self._retriever is None:
            return result
        vocab = self._retriever.vocab_dict
        terms = [t for t in analyze(query) if t in vocab and t != ""]
        if not terms:
            return result
        return np.asarray(self._retriever.get_scores(terms), dtype=np.float32)

    def save(self, directory: Path) -> None:
        """Write the index to `directory` atomically (a temporary sibling, then a rename)."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".bm25-", dir=directory.parent))
        try:
            if self._retriever is not None:
                self._retriever.save(str(staging), show_progress=False)
            payload = {
                "format": _FORMAT,
                "fingerprint": self.fingerprint,
                "records": [
                    {"id": r.id, "text": r.text, "metadata": r.metadata} for r in self.records
                ],
            }
            (staging / _RECORDS_FILE).write_text(
                json.dumps(payload, ensure_ascii=False), encoding="utf-8"
            )
            old = directory.with_name(directory.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if directory.exists():
                os.replace(directory, old)
            os.replace(staging, directory)
            shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex | None:
        """The saved index, or None when it is missing or unreadable (it is then rebuilt)."""
        records_file = directory / _RECORDS_FILE
        if not records_file.is_file():
            return None
        try:
            payload = json.loads(records_file.read_text(encoding="utf-8"))
            if payload.get("format") != _FORMAT:
                return None
            records = [
                StoredChunk(str(r["id"]), str(r["text"]), dict(r["metadata"]))
                for r in payload["records"]
            ]
            retriever = None
            if records:
                retriever = _import_bm25s().BM25.load(str(directory), show_progress=False)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("BM25 index in %s is unreadable, it will be rebuilt: %s", directory, exc)
            return None
        return cls(records, str(payload["fingerprint"]), retriever)
