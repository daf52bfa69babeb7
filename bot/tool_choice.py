"""Choosing catalogue tools for a request: a pure function of the request, the retrieved
fiches and the catalogue, testable without any text.

A tool qualifies when it serves the need (its card lists the need and its category is one
of the need's first categories), or when the search found its card for this very message.
Qualified tools are ranked by fit: named by the owner, found by the search, the need's
preferred category, the owner's sector, a free way in, data kept in the EU, then price.
No filler: two well-chosen tools beat three where one is off-topic.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.catalogue import Catalogue, CatalogueTool
from bot.understanding import Request
from retrieval.vocabulary import DomainVocabulary

MAX_TOOLS = 3
MIN_TOOLS = 2
CHEAPER_TOOLS = 2
CORE_CATEGORIES = 2  # the need's first categories qualify a tool without the search


def choose_tools(
    request: Request,
    *,
    retrieved: Sequence[str],
    catalogue: Catalogue,
    vocabulary: DomainVocabulary,
) -> list[CatalogueTool]:
    """The tools to recommend for this request, best first (empty when none fits)."""
    if request.declines:
        return []
    if request.intent == "information":
        about_tools = "tool-price" in request.topics or request.asks_tools
        return _named(request, catalogue) if about_tools else []
    if request.need is None or request.need not in vocabulary.needs:
        return _named(request, catalogue)
    pool = _qualified(request, retrieved, catalogue, vocabulary)
    if request.follow_up == "another":
        pool = [t for t in pool if t.id not in request.previous_tools]
    # a tool with no published price may be shown (said so), never counted as fitting a budget
    pool = [t for t in pool if t.price is None or t.fits(budget=request.budget)]
    ranked = sorted(pool, key=lambda t: _fit(t, request, retrieved, vocabulary))
    if request.follow_up == "cheaper":
        ranked.sort(key=lambda t: (t.price[1] if t.price else float("inf"), t.price_min or 0))
        return _one_per_category(ranked)[:CHEAPER_TOOLS]
    chosen = _one_per_category(ranked)
    if len(chosen) < MIN_TOOLS:  # one tool left alone: add the best of the need's other kinds
        chosen = _one_per_category([*chosen, *_second_kind(request, catalogue, vocabulary)])
    return chosen[:MAX_TOOLS]


def _second_kind(
    request: Request, catalogue: Catalogue, vocabulary: DomainVocabulary
) -> list[CatalogueTool]:
    """Everyday tools that serve the need in its other categories, best kind first."""
    need = vocabulary.needs[request.need or ""]
    extra = [t for t in catalogue if request.need in t.use_cases and t.category in need.categories
             and not _technical(t, vocabulary) and t.fits(budget=request.budget)]  # fmt: skip
    return sorted(extra, key=lambda t: (need.categories.index(t.category), not t.free_start,
                                        not t.eu_hosted, t.price_min or 0))  # fmt: skip


def _technical(tool: CatalogueTool, vocabulary: DomainVocabulary) -> bool:
    category = vocabulary.categories.get(tool.category)
    return category is not None and category.technical


def _named(request: Request, catalogue: Catalogue) -> list[CatalogueTool]:
    found = (catalogue.get(tool_id) for tool_id in request.tools_named)
    return [tool for tool in found if tool is not None][:MAX_TOOLS]


def _qualified(
    request: Request,
    retrieved: Sequence[str],
    catalogue: Catalogue,
    vocabulary: DomainVocabulary,
) -> list[CatalogueTool]:
    need = vocabulary.needs[request.need or ""]
    core = set(need.categories[:CORE_CATEGORIES])
    allowed = set(need.categories)
    pool: list[CatalogueTool] = []
    for tool in catalogue:
        serves = request.need in tool.use_cases and tool.category in allowed
        technical = _technical(tool, vocabulary)
        found = tool.id in retrieved or tool.id in request.tools_named
        if technical and tool.category not in core and tool.id not in request.tools_named:
            continue  # developer tools only where the need calls for them, or when named
        if (serves and (tool.category in core or found)) or (found and tool.category in allowed):
            pool.append(tool)
    return pool


def _fit(
    tool: CatalogueTool,
    request: Request,
    retrieved: Sequence[str],
    vocabulary: DomainVocabulary,
) -> tuple[float, ...]:
    categories = vocabulary.needs[request.need or ""].categories
    search_rank = retrieved.index(tool.id) if tool.id in retrieved else len(retrieved) + 1
    sector_match = request.sector is not None and request.sector in tool.sectors
    return (
        0 if tool.id in request.tools_named else 1,
        categories.index(tool.category) if tool.category in categories else len(categories),
        0 if tool.price is not None else 1,
        0 if sector_match else 1,
        search_rank,
        0 if tool.free_start else 1,
        0 if tool.eu_hosted else 1,
        tool.price_min if tool.price_min is not None else float("inf"),
    )


def _one_per_category(ranked: Sequence[CatalogueTool]) -> list[CatalogueTool]:
    """The best tool of each category that works with those before it, in ranking order."""
    chosen: list[CatalogueTool] = []
    for tool in ranked:
        fits_in = all(tool.category != o.category and tool.works_with(o) for o in chosen)
        if fits_in:
            chosen.append(tool)
    return chosen
