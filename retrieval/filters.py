"""Search filters as a Chroma `where` clause and as a predicate on stored metadata."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from retrieval.chunker import Metadata
from retrieval.errors import InvalidQueryError
from retrieval.models import SearchFilters
from retrieval.vocabulary import ALL_SECTORS, ALL_TYPES


def validate(filters: SearchFilters | None, sectors: Collection[str]) -> SearchFilters | None:
    """Return the filters, or raise InvalidQueryError naming the unknown value.

    `sectors` are those the knowledge base's vocabulary declares.
    """
    if filters is None:
        return None
    if filters.types is not None:
        if isinstance(filters.types, str) or not filters.types:
            raise InvalidQueryError("types must be a non-empty tuple of fiche types")
        unknown = [t for t in filters.types if t not in ALL_TYPES]
        if unknown:
            raise InvalidQueryError(
                f"unknown fiche type: {', '.join(map(str, unknown))} "
                f"(known: {', '.join(ALL_TYPES)})"
            )
    if filters.sector is not None and filters.sector not in sectors:
        raise InvalidQueryError(f"unknown sector: {filters.sector} (known: {', '.join(sectors)})")
    cost = filters.max_monthly_cost_eur
    if cost is not None and (isinstance(cost, bool) or not cost >= 0):
        raise InvalidQueryError(f"max monthly cost must be a positive number, got {cost!r}")
    return filters


def to_where(filters: SearchFilters | None) -> dict[str, Any] | None:
    """The Chroma `where` clause for validated filters (None when nothing restricts)."""
    if filters is None:
        return None
    clauses: list[dict[str, Any]] = []
    if filters.types is not None:
        clauses.append({"type": {"$in": list(filters.types)}})
    if filters.sector is not None and filters.sector != ALL_SECTORS:
        clauses.append(
            {"$or": [{f"sector_{filters.sector}": True}, {f"sector_{ALL_SECTORS}": True}]}
        )
    if filters.max_monthly_cost_eur is not None:
        # The cost limit applies to tools; other fiches always pass.
        clauses.append(
            {
                "$or": [
                    {"type": {"$ne": "tool"}},
                    {"price_min_eur": {"$lte": float(filters.max_monthly_cost_eur)}},
                ]
            }
        )
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def to_predicate(filters: SearchFilters | None) -> Callable[[Metadata], bool]:
    """The same restrictions as `to_where`, evaluated in Python on chunk metadata."""

    def accept(meta: Metadata) -> bool:
        if filters is None:
            return True
        if filters.types is not None and meta.get("type") not in filters.types:
            return False
        sector = filters.sector
        if (
            sector is not None
            and sector != ALL_SECTORS
            and not (meta.get(f"sector_{sector}") or meta.get(f"sector_{ALL_SECTORS}"))
        ):
            return False
        cost = filters.max_monthly_cost_eur
        if cost is not None and meta.get("type") == "tool":
            price = meta.get("price_min_eur")
            return isinstance(price, int | float) and float(price) <= cost
        return True

    return accept
