"""Value objects shared by the retrieval package and its callers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fiche:
    """One source document: a knowledge fiche or an ingested user document.

    `meta` is the YAML front matter as parsed (for user documents: a minimal
    header derived from the file). `content_hash` identifies the exact text.
    """

    id: str
    title: str
    type: str  # case | tool | guide | fact | doc (user documents)
    body: str
    path: str
    content_hash: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def sectors(self) -> tuple[str, ...]:
        """Sectors the fiche applies to ("tous" when it applies everywhere)."""
        return tuple(self.meta.get("sectors") or ())


@dataclass(frozen=True)
class Chunk:
    """A piece of a fiche small enough for the embedding model."""

    id: str  # "<fiche id>#<n>", stable across runs for the same text
    fiche_id: str
    title: str
    heading: str
    text: str
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchFilters:
    """Optional restrictions on a search; None means no restriction."""

    types: tuple[str, ...] | None = None
    sector: str | None = None
    max_monthly_cost_eur: float | None = None


@dataclass(frozen=True)
class Hit:
    """One search result: a chunk of a fiche with its fused score."""

    fiche_id: str
    chunk_id: str
    title: str
    type: str
    heading: str
    text: str
    score: float
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)
