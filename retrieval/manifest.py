"""The ingest manifest: which documents are indexed, from where, with which content hash,
and which embedder built their vectors (retrieval.embedding.vectors_kind)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

_FORMAT = 1


@dataclass(frozen=True)
class ManifestEntry:
    """One indexed document."""

    content_hash: str
    path: str
    root: str | None  # directory it was ingested from; None for a file named on its own
    chunks: int


class Manifest:
    """Maps fiche ids to entries; saved as JSON with an atomic rename."""

    def __init__(
        self,
        path: Path,
        entries: dict[str, ManifestEntry] | None = None,
        fingerprint: str = "",
        embedder: str = "",
    ) -> None:
        self.path = path
        self.entries: dict[str, ManifestEntry] = dict(entries or {})
        self.fingerprint = fingerprint
        self.embedder = embedder  # "" for an index written before embedders were recorded

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """Read the manifest; a missing or unreadable file gives an empty one."""
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("format") != _FORMAT:
                return cls(path)
            entries = {k: ManifestEntry(**v) for k, v in payload["documents"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return cls(path)
        fingerprint, embedder = payload.get("fingerprint", ""), payload.get("embedder", "")
        return cls(path, entries, str(fingerprint), str(embedder))

    def compute_fingerprint(self) -> str:
        """Digest of every (id, content hash, chunk count): equal digests mean equal indexes."""
        items = sorted((k, v.content_hash, v.chunks) for k, v in self.entries.items())
        return hashlib.sha256(json.dumps(items).encode("utf-8")).hexdigest()[:32]

    def save(self) -> None:
        """Write the manifest atomically (temporary file in the same directory, then rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": _FORMAT,
            "fingerprint": self.fingerprint,
            "embedder": self.embedder,
            "documents": {k: asdict(v) for k, v in sorted(self.entries.items())},
        }
        fd, tmp = tempfile.mkstemp(prefix=".manifest-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle, ensure_ascii=False, indent=1)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
