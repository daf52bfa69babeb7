"""Choosing catalogue tools for a request: a pure function of the request, the retrieved
fiches and the catalogue, testable without any text.

The kinds of tool come first: those the owner names ("une appli vidéo") when they serve
the need, else the need's first two categories (knowledge/vocabulary.yaml). Within a kind,
tools that serve the need are ranked by fit: named by the owner, found by the search for
this message, the owner's sector, a free way in, data kept in the EU, then price. A second
need stated in the message adds its best tool. No filler: two well-chosen tools beat three
where one is off-topic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.catalogue import Catalogue, CatalogueTool
from bot.keywords import fold_words
from bot.request import Request
from retrieval.vocabulary import DomainVocabulary

MAX_TOOLS = 3
COMPARED_TOOLS = 2
CHEAPER_TOOLS = 2
CORE_CATEGORIES = 2  # kinds of tool proposed when the owner names some (their own first)
SAME_KIND_WHEN_NAMED = 2  # "un outil d'image" gets two image tools to compare
TECHNICAL_SECTORS = frozenset({"logiciel-tech"})  # owners who build software
AUTOMATION = "automatisation"  # the category a bot's tool must work with
NARROW_TRADES = 2  # a tool whose card lists at most this many trades is made for them
ONE_OTHER_TRADE = 3  # _sector_fit of a tool made for one trade, the owner's being unknown
# countries the EU has no adequacy decision for: sending clients' data there takes contract
# clauses and a transfer assessment a small business cannot do (guide-rgpd-cnil)
NO_ADEQUACY_COUNTRIES = ("chine",)


CHANNEL_WORD_LETTERS = 5
_CHANNEL_NICKNAMES = {
    "insta": "instagram",
    "fb": "facebook",
    "whatsap": "whatsapp",
    "wa": "whatsapp",
}
_PLATFORMS = frozenset({"google"})  # a platform in a tool's name beside the chat channels
_OTHERWISE = re.compile(r"\b(sinon|a part|autre chose que|plutot que|a la place)\b")
# "le moins cher des deux ?", "lequel est le moins cher ?": one of the tools just proposed
_AMONG_THEM = re.compile(r"\b(?:des|entre les|parmi les|de ces) (?:2|deux|3|trois)\b|\blequel\b")
_GENERIC_NAME_WORDS = frozenset(
    {
        "application",
        "appli",
        "messagerie",
        "business",
        "assistant",
        "fiche",
        "etablissement",
        "prise",
        "rendez",
        "vous",
        "transcription",
        "notes",
        "reunion",
        "courriels",
        "clients",
        "lecture",
        "factures",
        "auto",
        "heberge",
        "google",
    }
)


def choose_tools(
    request: Request,
    *,
    retrieved: Sequence[str],
    catalogue: Catalogue,
    vocabulary: DomainVocabulary,
) -> list[CatalogueTool]:
    """The tools to recommend for this request, best first (empty when none fits)."""
    if request.declines or request.follow_up == "sources":
        return []
    previous = _resolve(request.previous_tools, catalogue)
    if request.follow_up == "start" and previous:  # "je commence comment ?": with those
        return previous
    if request.follow_up == "simpler" and previous:  # one tool, ready to use
        return _simplest(previous, request, vocabulary)[:1]
    if request.follow_up == "cost":  # "et le prix ?" after "c'est quoi Claude ?": Claude's
        return _resolve(request.previous_tools or request.previous_subject, catalogue)
    if request.asks_fact and request.intent != "mixed":
        if "price-comparison" in request.topics:
            return []  # the answer is the table of token prices
        if request.other_products and not request.tools_named:
            return _same_kind(request, catalogue, vocabulary)  # "Qonto a de l'IA ?"
        # "Make ou Zapier ?" asks about them (the answer compares), not for them
        about_tools = "tool-price" in request.topics or request.asks_tools
        return _resolve(request.tools_named, catalogue) if about_tools else []
    if request.need not in vocabulary.needs:
        return _resolve(request.tools_named, catalogue)
    chosen = _for_need(request, request.need or "", retrieved, catalogue, vocabulary)
    if request.follow_up == "simpler":
        return _simplest(chosen, request, vocabulary)[:1]
    if request.follow_up == "cheaper":
        # never a "cheaper" set that costs more than as many tools proposed before for this
        # need ("et pour les visuels, pas cher ?" asks about another need: nothing to compare)
        previous = [t for t in previous if request.need in t.use_cases]
        priced = all(t.price is not None for t in previous)  # an unpublished price fits no budget
        if (
            previous
            and priced
            and request.budget is not None
            and _ceiling(previous) <= request.budget
        ):
            return previous  # "et si j'ai que 20 € ?": the proposal already fits
        cheapest = _cheaper_key(_technical(request, vocabulary))
        if previous and _AMONG_THEM.search(request.folded):  # "le moins cher des deux ?"
            return sorted(previous, key=cheapest)[:1]  # (a free way in first, as below)
        # a tool of the proposal already free stays ("et si c'est gratuit ?" after Shopify Magic)
        kept = [
            t
            for t in previous
            if (t.price is not None and t.price[1] == 0) or (request.budget == 0 and t.free_start)
        ]
        rest = [t for t in sorted(chosen, key=cheapest) if t not in kept]
        cheaper = [*kept, *rest][: len(previous) or CHEAPER_TOOLS]
        return previous if previous and _ceiling(cheaper) > _ceiling(previous) else cheaper
    others = [n for n in request.strong_needs if n != request.need] if chosen else []
    for other in others[:1]:  # (no tool for the main task: its answer says so, nothing else)
        extra = _for_need(request, other, retrieved, catalogue, vocabulary)
        # its best tool of a kind not proposed yet (an assistant already serves both)
        chosen += [t for t in extra if _new_kind_that_fits(t, chosen)][:1]
    return _within_budget(chosen[:MAX_TOOLS], request.budget)


def _simplest(
    tools: Sequence[CatalogueTool], request: Request, vocabulary: DomainVocabulary
) -> list[CatalogueTool]:
    """The tools ready to use first: nothing to install, code or connect to another tool."""
    technical = _technical(request, vocabulary)

    def effort(tool: CatalogueTool) -> int:
        return int(_needs_a_developer(tool) and not technical) + int(tool.category == AUTOMATION)

    return sorted(tools, key=effort)


def _within_budget(tools: list[CatalogueTool], budget: float | None) -> list[CatalogueTool]:
    """Each tool fits the budget; together too ("j'ai que 30 €": not 0 to 45 € in all), the
    options after the first dropped until they do."""
    # (a budget of 0 asks for free ways in, which each tool kept already offers); a tool that
    # adds nothing to the most it costs (no published price) is not what overruns it
    while budget and _ceiling(tools) > budget:
        adding = [t for t in tools[1:] if t.price is not None and t.price[1] > 0]
        if not adding:
            break
        tools = [t for t in tools if t is not adding[-1]]
    return tools


def _same_kind(
    request: Request, catalogue: Catalogue, vocabulary: DomainVocabulary
) -> list[CatalogueTool]:
    """Catalogue tools of the kind of the product the owner names that has no card: what we
    can tell them about instead ("Doctolib ?": the booking tools we know)."""
    kinds = [vocabulary.other_products[name] for name in request.other_products[:1]]
    pool = [t for t in catalogue if t.category in kinds and t.fits(budget=request.budget)]
    pool = [t for t in pool if not _other_trade(t, request.sector)]
    ranked = sorted(pool, key=lambda t: _fit(t, request, kinds, (), set()))
    return _broad_when_trade_unknown(ranked, request)[:COMPARED_TOOLS]


def _for_need(
    request: Request,
    need_id: str,
    retrieved: Sequence[str],
    catalogue: Catalogue,
    vocabulary: DomainVocabulary,
    *,
    limit: int = MAX_TOOLS,
) -> list[CatalogueTool]:
    """The best tools of the need's chosen kinds, one per kind (two to compare when the only
    kind is the one the owner names)."""
    technical = _technical(request, vocabulary)
    kinds = _kinds(request, need_id, vocabulary, technical)
    channels = frozenset(vocabulary.channels)
    pool = [t for t in catalogue if _serves(t, need_id, kinds, request, technical, channels)]
    named_tools = [t for t in pool if t.id in request.tools_named]
    # "ChatGPT ou Claude ?": both named tools of one kind, to compare
    compared = len(named_tools) >= COMPARED_TOOLS and len({t.category for t in named_tools}) == 1
    per_kind = SAME_KIND_WHEN_NAMED if len(kinds) == 1 or compared else 1
    if request.follow_up == "another":
        pool = [t for t in pool if t.id not in request.previous_tools]
    asked_about = {t.id for t in catalogue.named_in(fold_words(request.fact_text))}
    wanted = set(request.tools_named) - asked_about  # "un chatbot WhatsApp", not "DeepSeek ?"
    if asked_about and _OTHERWISE.search(request.folded):  # "Claude en Europe ? sinon quoi"
        pool = [t for t in pool if t.id not in asked_about]
    ranked = sorted(
        pool, key=lambda t: _fit(t, request, kinds, retrieved, wanted, technical, channels)
    )
    if request.follow_up == "cheaper":
        ranked.sort(key=_cheaper_key(technical))
    elif request.wants_cheap:  # "le moins cher pour mes visuels ?": the cheapest of each kind
        ranked.sort(key=lambda t: _cheap_fit(t, request, kinds, technical, channels))
    return _by_kind(_broad_when_trade_unknown(ranked, request), per_kind)[:limit]


def _broad_when_trade_unknown(
    ranked: Sequence[CatalogueTool], request: Request
) -> list[CatalogueTool]:
    """Tools made for one trade are left out for an owner whose trade is unknown, when a
    broader tool of the same kind serves (Calendly, not also the restaurants' Zenchef)."""
    narrow = {t.id for t in ranked if _sector_fit(t, request.sector) == ONE_OTHER_TRADE}
    broad_kinds = {t.category for t in ranked if t.id not in narrow}
    return [
        t
        for t in ranked
        if t.id not in narrow or t.category not in broad_kinds or t.id in request.tools_named
    ]


def _kinds(
    request: Request, need_id: str, vocabulary: DomainVocabulary, technical: bool
) -> list[str]:
    """The kinds of tool to propose: those the owner names first, then the need's own first
    kind; with none named, the need's first kinds an owner can use without a developer (an
    API or an agent framework only for a technical owner)."""
    need = vocabulary.needs[need_id]
    # in the message's order; a kind named by another need's words is that need's
    named = [
        c for c in request.categories if c in need.categories and request.kind_serves(c, need_id)
    ]
    if named and request.asks_tools:  # "quel assistant prendre ?": that kind, two to compare
        return named[:CORE_CATEGORIES]
    if named:
        return list(dict.fromkeys([*named, need.categories[0]]))[:CORE_CATEGORIES]
    usable = [c for c in need.categories if technical or not _is_technical(c, vocabulary)]
    return (usable or list(need.categories))[: need.default_kinds]


def _technical(request: Request, vocabulary: DomainVocabulary) -> bool:
    """The owner builds software or names a developer's kind of tool ("par API")."""
    named = any(_is_technical(c, vocabulary) for c in request.categories)
    return named or request.sector in TECHNICAL_SECTORS


def _is_technical(category: str, vocabulary: DomainVocabulary) -> bool:
    words = vocabulary.categories.get(category)
    return words is not None and words.technical


def _serves(
    tool: CatalogueTool,
    need_id: str,
    kinds: Sequence[str],
    request: Request,
    technical: bool,
    channels: frozenset[str],
) -> bool:
    """A tool of one of the kinds that serves the need (or that the owner named), within
    budget; a tool with no published price may be shown, never counted as fitting."""
    if request.eu_only and not tool.european:
        return False  # "pas les américains": a European vendor, data in the EU
    if request.data_home and not tool.eu_hosted:
        return False  # patients' or clients' secrets: data in the EU or on their machines
    compared = len(request.tools_named) >= COMPARED_TOOLS  # "Kling ou Midjourney ?": both
    if tool.id in request.tools_named and (compared or tool.category in kinds):
        return tool.price is None or tool.fits(budget=request.budget)
    if tool.category not in kinds:
        return False  # "mes commandes Shopify" names where the task is, not the tool asked
    if tool.for_developers and not technical:
        return False  # an image API is no answer for a florist's visuals
    if need_id not in tool.use_cases:
        return False
    if _other_trade(tool, request.sector) and not _channel_named(tool, request.folded, channels):
        return False  # a restaurant's booking tool for a physiotherapist (WhatsApp is for all)
    return tool.price is None or tool.fits(budget=request.budget)


def _other_trade(tool: CatalogueTool, sector: str | None) -> bool:
    """A tool made for one or two other trades (a restaurant's booking tool for a
    physiotherapist); one that lists many trades serves the others too, ranked after."""
    narrow = "tous" not in tool.sectors and len(tool.sectors) <= NARROW_TRADES
    return sector is not None and narrow and sector not in tool.sectors


def _channel_named(tool: CatalogueTool, folded: str, channels: frozenset[str]) -> bool:
    """The message names the platform in the tool's name: WhatsApp, Instagram, Google (not
    a product: "Mistral ou DeepSeek ?" ranks by fit, not by the name typed)."""
    said = {_CHANNEL_NICKNAMES.get(w, w) for w in folded.split()}  # "insta" is Instagram
    return bool(_name_words(tool) & said & (channels | _PLATFORMS))


def _name_words(tool: CatalogueTool) -> set[str]:
    """The distinctive words of a tool's name ("whatsapp", "instagram", "brevo")."""
    words = set(fold_words(tool.short_name).split()) - _GENERIC_NAME_WORDS
    return {w for w in words if len(w) >= CHANNEL_WORD_LETTERS}


def _sector_fit(tool: CatalogueTool, sector: str | None) -> int:
    """0: made for the owner's trade alone (a salon's Planity), 1: for it and one other,
    2: for many trades or every one (a tool listing four trades is no more a florist's than
    Canva is), 3: made for one trade when the owner's is unknown (a restaurant's booking
    tool for someone who did not say)."""
    one_trade = len(tool.sectors) == 1 and "tous" not in tool.sectors
    if sector is not None and sector in tool.sectors:
        return 0 if one_trade else 1 if len(tool.sectors) <= NARROW_TRADES else 2
    return ONE_OTHER_TRADE if sector is None and one_trade else 2


def _fit(
    tool: CatalogueTool,
    request: Request,
    kinds: Sequence[str],
    retrieved: Sequence[str],
    wanted: set[str],
    technical: bool = False,
    channels: frozenset[str] = frozenset(),
) -> tuple[float, ...]:
    """The sort key of a tool: the one the owner asks for, then kind, trade, price, search."""
    search_rank = retrieved.index(tool.id) if tool.id in retrieved else len(retrieved) + 1
    named_first = tool.id in wanted and (request.intent != "mixed" or bool(request.fact_text))
    return (
        0 if named_first else 1,
        0 if _channel_named(tool, request.folded, channels) else 1,  # "mon chatbot WhatsApp"
        # a bot needs a tool automation can drive: the WhatsApp Platform, not the free app
        1 if request.asks_bot and AUTOMATION in tool.not_with else 0,
        _kind_rank(tool, kinds),
        # a physiotherapist's notes hold health data: tools that keep them in the EU first
        1 if request.sensitive_trade and not tool.eu_hosted else 0,
        1 if _data_without_adequacy(tool) else 0,  # a free Chinese app after the others
        _sector_fit(tool, request.sector),  # a salon's booking tool before a generic one
        # a tool made for one channel (Messenger) guesses one the owner did not name
        1 if _name_words(tool) & channels else 0,
        # a server to install and run, or an API to build on, is for those who have
        # someone to run it
        1 if _needs_a_developer(tool) and not technical else 0,
        0 if tool.price is not None or tool.free_start else 1,  # "Gratuit" is a price to test
        search_rank,
        0 if tool.free_start else 1,
        0 if tool.eu_hosted else 1,
        tool.price_min if tool.price_min is not None else float("inf"),
    )


def _cheap_fit(
    tool: CatalogueTool,
    request: Request,
    kinds: Sequence[str],
    technical: bool,
    channels: frozenset[str],
) -> tuple[float, ...]:
    """The sort key for an owner who wants it cheap: what they asked for (the channel they
    named, their trade, nothing to install) still comes first, then the entry price."""
    return (
        0 if _channel_named(tool, request.folded, channels) else 1,
        _kind_rank(tool, kinds),
        _sector_fit(tool, request.sector),
        1 if _needs_a_developer(tool) and not technical else 0,
        1 if _data_without_adequacy(tool) else 0,
        *_entry_price(tool),
    )


def _data_without_adequacy(tool: CatalogueTool) -> bool:
    """The tool keeps data in a country without an EU adequacy decision (its open model run
    at home or in the EU is another card)."""
    country = fold_words(tool.country)
    return not tool.eu_hosted and any(c in country for c in NO_ADEQUACY_COUNTRIES)


def _needs_a_developer(tool: CatalogueTool) -> bool:
    return tool.hosting_region == "self-hostable" or tool.for_developers


def _by_kind(ranked: Sequence[CatalogueTool], per_kind: int) -> list[CatalogueTool]:
    """The best tools of each kind that work with those before them, in ranking order."""
    chosen: list[CatalogueTool] = []
    for tool in ranked:
        same_kind = sum(1 for other in chosen if other.category == tool.category)
        if same_kind < per_kind and all(tool.works_with(other) for other in chosen):
            chosen.append(tool)
    return chosen


def _new_kind_that_fits(tool: CatalogueTool, chosen: Sequence[CatalogueTool]) -> bool:
    return all(tool.category != other.category and tool.works_with(other) for other in chosen)


def _kind_rank(tool: CatalogueTool, kinds: Sequence[str]) -> int:
    return kinds.index(tool.category) if tool.category in kinds else len(kinds)


def _entry_price(tool: CatalogueTool) -> tuple[float, bool, float]:
    """What it costs to start, data kept in the EU, then what it costs at most (an
    unpublished price last)."""
    low, high = tool.price if tool.price else (float("inf"), float("inf"))
    return low, not tool.eu_hosted, high


def _cheapest_first(technical: bool) -> Callable[[CatalogueTool], tuple[float, ...]]:
    """Cheapest first: the lower price ceiling, then a free way in; for an owner who does not
    code, a tool to install or call from code comes after those ready to use."""

    def key(tool: CatalogueTool) -> tuple[float, ...]:
        prices = (tool.price[1], tool.price[0]) if tool.price else (float("inf"), float("inf"))
        return (1 if _needs_a_developer(tool) and not technical else 0, *prices)

    return key


def _cheaper_key(technical: bool) -> Callable[[CatalogueTool], tuple[float, ...]]:
    """The order of a cheaper proposal ("et moins cher ?", "et gratuit ?"): a tool with a
    free way in first, one that sends data where no adequacy decision covers it (China)
    after the others, then the cheapest."""
    cheapest = _cheapest_first(technical)

    def key(tool: CatalogueTool) -> tuple[float, ...]:
        return (not tool.free_start, _data_without_adequacy(tool), *cheapest(tool))

    return key


def _ceiling(tools: Sequence[CatalogueTool]) -> float:
    """The most the tools cost together per month (those with a published price)."""
    return sum(t.price[1] for t in tools if t.price is not None)


def _resolve(ids: Sequence[str], catalogue: Catalogue) -> list[CatalogueTool]:
    found = (catalogue.get(tool_id) for tool_id in ids)
    return [tool for tool in found if tool is not None][:MAX_TOOLS]
