"""BM25 index over the stored chunks, persisted beside the vectors."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
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
    def build(cls, records: Iterable[StoredChunk], fingerprint: str) -> LexicalIndex:
        """Index the records (none gives an index that matches nothing)."""
        kept: list[StoredChunk] = []
        tokens = _TokenIds()
        for record in records:
            kept.append(record)
            tokens.add(record.indexed_text())
        return cls(kept, fingerprint, tokens.retriever())

    @staticmethod
    def write(records: Iterable[StoredChunk], fingerprint: str, directory: Path) -> int:
        """Index records read once from an iterator and save the index to `directory`
        atomically; how many records there were.

        A record is written out as soon as it is read: only its token ids stay in memory
        until bm25s scores them, so memory does not grow with the texts. Load the index with
        `load`.
        """
        tokens = _TokenIds()
        with _staging(directory) as staging:
            _write_records(staging, fingerprint, _tokenised(records, tokens))
            retriever = tokens.retriever()
            if retriever is not None:
                retriever.save(str(staging), show_progress=False)
        return tokens.count

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
        with _staging(directory) as staging:
            if self._retriever is not None:
                self._retriever.save(str(staging), show_progress=False)
            _write_records(staging, self.fingerprint, self.records)

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


class _TokenIds:
    """Analysed texts as arrays of vocabulary ids: what bm25s needs, without the texts."""

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self.docs: list[array[int]] = []

    @property
    def count(self) -> int:
        return len(self.docs)

    def add(self, text: str) -> None:
        vocab = self.vocab
        self.docs.append(array("i", [vocab.setdefault(t, len(vocab)) for t in analyze(text)]))

    def retriever(self) -> Any | None:
        """The bm25s index of the texts added; None when there were none."""
        if not self.docs:
            return None
        retriever = _import_bm25s().BM25()
        retriever.index((self.docs, self.vocab), show_progress=False)
        return retriever


def _tokenised(records: Iterable[StoredChunk], tokens: _TokenIds) -> Iterator[StoredChunk]:
    for record in records:
        tokens.add(record.indexed_text())
        yield record


def _write_records(directory: Path, fingerprint: str, records: Iterable[StoredChunk]) -> None:
    """The records file, written record by record (the same JSON as one `json.dumps`)."""
    header = json.dumps({"format": _FORMAT, "fingerprint": fingerprint})[:-1]
    with (directory / _RECORDS_FILE).open("w", encoding="utf-8") as out:
        out.write(header + ', "records": [')
        for n, r in enumerate(records):
            item = {"id": r.id, "text": r.text, "metadata": r.metadata}
            out.write((", " if n else "") + json.dumps(item, ensure_ascii=False))
        out.write("]}")


@contextmanager
def _staging(directory: Path) -> Iterator[Path]:
    """A temporary sibling of `directory` that replaces it when the block succeeds."""
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bm25-", dir=directory.parent))
    try:
        yield staging
        old = directory.with_name(directory.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if directory.exists():
            os.replace(directory, old)
        os.replace(staging, directory)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
