"""Tool catalogue and pilot templates, built from the knowledge base's structured front matter.

Prices always come from here (the catalogue card), never from an LLM. A card whose vendor
publishes no price has `price = None` and says why ("sur devis", "non publié").
"""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from bot.advice import CostRange, ToolPick
from bot.keywords import fold_words
from retrieval.models import Fiche

log = logging.getLogger(__name__)
T = TypeVar("T")

# hosting regions (docs/data-formats.md §1) that keep data out of non-EU hands
_EU_REGIONS = frozenset({"eu", "self-hostable"})
PRICE_UNKNOWN = "prix non publié, à demander à l'éditeur"
PRICE_UNKNOWN_SHORT = "prix non publié"
MAX_REASON_CHARS = 30
FREE_THEN_UNKNOWN = "gratuit pour commencer, offres payantes au prix non publié"
SMALL_AMOUNT = 0.1  # below this, a third decimal keeps a paid price from reading as free


class FicheSource(Protocol):
    """The part of the knowledge base the catalogue reads."""

    def fiches(self, type: str | None = None) -> list[Fiche]:
        """All fiches, or those of one type."""
        ...


def format_eur(value: float) -> str:
    """An amount in French notation: 0,7 · 15 · 1 234,5 · 0,003 (a small price is not 0)."""
    decimals = 3 if 0 < abs(value) < SMALL_AMOUNT else 2
    text = f"{value:,.{decimals}f}".rstrip("0").rstrip(".")
    return text.replace(",", "\u202f").replace(".", ",")


def format_date(iso: str) -> str:
    """2026-11-23 -> 23/11/2026 (left as is when it is not an ISO date)."""
    match = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", iso.strip())
    return f"{match.group(3)}/{match.group(2)}/{match.group(1)}" if match else iso


def format_monthly(low: float, high: float) -> str:
    """A monthly price: "gratuit", "15 €/mois" or "0 à 15 €/mois" (never "15 à 15")."""
    if high == 0:
        return "gratuit"
    if format_eur(low) == format_eur(high):  # 15 and 15.001 print alike: one price
        return f"{format_eur(high)} €/mois"
    return f"{format_eur(low)} à {format_eur(high)} €/mois"


@dataclass(frozen=True)
class ModelPrice:
    """Token prices of one model, in euros per million tokens."""

    model: str
    input_eur: float
    output_eur: float
    note: str = ""


@dataclass(frozen=True)
class CatalogueTool:
    """One catalogue card reduced to what the advisor needs."""

    id: str
    name: str
    category: str
    price: tuple[float, float] | None  # euros per month (min, max); None = not published
    price_unknown: str = ""
    price_tax: str = ""  # HT, TTC or "sans objet"
    as_of: str | None = None
    use_cases: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ("tous",)
    hosting_region: str = ""
    hosting_note: str = ""  # "États-Unis", "Éditeur français ; hébergement à confirmer"
    gdpr: str = ""  # what the card says to check before personal data goes in
    vendor: str = ""
    country: str = ""  # the vendor's country, as the card says it ("France", "États-Unis")
    model_prices: tuple[ModelPrice, ...] = ()
    free_tier: str = ""
    extra_aliases: tuple[str, ...] = ()  # other names owners use ("copilot")
    not_with: tuple[str, ...] = ()  # categories it cannot work with (the free WhatsApp app)
    for_developers: bool = False  # an API to build on (fal), not a tool an owner opens

    @property
    def eu_hosted(self) -> bool:
        """True when data stays in the EU or on the owner's own machines."""
        return self.hosting_region in _EU_REGIONS

    @property
    def price_min(self) -> float | None:
        """The cheapest monthly bill, None when the price is not published."""
        return self.price[0] if self.price else None

    @property
    def european(self) -> bool:
        """A European vendor whose tool keeps data in the EU ("pas les américains")."""
        return self.eu_hosted and self.country in EU_COUNTRIES

    @property
    def free_start(self) -> bool:
        """True when the tool can be tried for free (a published price from 0, or a free tier
        whose paid offers are unpublished)."""
        if self.price is None:
            said = self.free_tier.lower()
            # "aucune relevée (gratuit pour le client qui réserve)" is no free tier
            return "gratuit" in said and not said.startswith(("aucun", "non "))
        return self.price[0] == 0

    @property
    def short_name(self) -> str:
        """The name without its parenthesis: "Canva" for "Canva (Magic Studio)"."""
        return re.sub(r"\s*\(.*?\)", "", self.name).strip() or self.name

    @property
    def aliases(self) -> frozenset[str]:
        """Folded names the tool may be called by."""
        names = {
            self.name,
            self.short_name,
            self.id.removeprefix("tool-").replace("-", " "),
            *self.extra_aliases,
        }
        return frozenset(filter(None, (fold_words(name) for name in names)))

    def price_text(self) -> str:
        """The monthly price in French, or that it is not published (and why, when short)."""
        if self.price is None:
            if self.free_start:  # "Traducteur gratuit avec limites", not "aucune relevée…"
                return FREE_THEN_UNKNOWN
            reason = self.price_unknown.strip()
            short = reason and len(reason) <= MAX_REASON_CHARS and "publi" not in reason
            return f"{PRICE_UNKNOWN_SHORT} : {reason}" if short else PRICE_UNKNOWN
        return format_monthly(*self.price)

    def works_with(self, other: CatalogueTool) -> bool:
        """False when one of the two cannot be combined with the other's kind of tool."""
        return other.category not in self.not_with and self.category not in other.not_with

    def fits(self, *, budget: float | None = None, sector: str | None = None) -> bool:
        """True when the cheapest offer fits the budget (an unknown price never does) and the
        sector matches."""
        if budget is not None and (self.price is None or self.price[0] > budget):
            return False
        return not sector or "tous" in self.sectors or sector in self.sectors

    def to_pick(self, why: str) -> ToolPick:
        """The Advice entry for this tool, with the card's price and date."""
        cost = CostRange(min=self.price[0], max=self.price[1]) if self.price else None
        return ToolPick(
            name=self.name,
            category=self.category,
            monthly_cost_eur=cost,
            why=why,
            source=self.id,
            as_of=self.as_of,
        )

    @classmethod
    def from_fiche(cls, fiche: Fiche) -> CatalogueTool:
        """Build from a `tool` fiche; raises ValueError when the price block is unusable."""
        meta = fiche.meta
        hosting = meta.get("hosting")
        region = hosting.get("region") if isinstance(hosting, dict) else None
        note = hosting.get("note") if isinstance(hosting, dict) else None
        return cls(
            id=fiche.id,
            name=str(meta.get("title") or fiche.title),
            category=str(meta.get("category") or "assistant"),
            price=_price(meta),
            price_unknown=str(meta.get("price_unknown") or ""),
            price_tax=str(meta.get("price_tax") or ""),
            as_of=_as_date(meta.get("price_read_on") or meta.get("as_of")),
            use_cases=tuple(meta.get("use_cases") or ()),
            sectors=tuple(meta.get("sectors") or ("tous",)),
            hosting_region=str(region or ""),
            hosting_note=str(note or ""),
            gdpr=str(meta.get("gdpr") or ""),
            vendor=str(meta.get("vendor") or ""),
            country=str(meta.get("country") or ""),
            model_prices=_model_prices(meta),
            free_tier=str(meta.get("free_tier") or ""),
            extra_aliases=tuple(str(a) for a in meta.get("aliases") or ()),
            not_with=tuple(str(c) for c in meta.get("not_with") or ()),
            for_developers=meta.get("for_developers") is True,
        )


def _as_date(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _price(meta: dict[str, Any]) -> tuple[float, float] | None:
    price = meta.get("price_eur_month")
    if price is None and meta.get("price_unknown"):
        return None
    if not isinstance(price, dict):
        raise ValueError("price_eur_month must be {min, max} or null with price_unknown")
    low, high = float(price["min"]), float(price["max"])
    return low, max(low, high)


def _model_prices(meta: dict[str, Any]) -> tuple[ModelPrice, ...]:
    rate_block = meta.get("usd_eur_rate")
    usd_rate = float(rate_block["rate"]) if isinstance(rate_block, dict) else None
    prices = []
    for entry in meta.get("model_prices") or ():
        currency = str(entry.get("currency", "USD")).upper()
        rate = {"EUR": 1.0, "USD": usd_rate}.get(currency)
        if rate is None:  # a dollar price with no conversion rate cannot be shown in euros
            continue
        prices.append(
            ModelPrice(
                model=str(entry["model"]),
                input_eur=float(entry["input"]) * rate,
                output_eur=float(entry["output"]) * rate,
                note=str(entry.get("note") or ""),
            )
        )
    return tuple(prices)


class Catalogue:
    """Every tool card, looked up by id or by (fuzzy) name."""

    def __init__(self, tools: Iterable[CatalogueTool]) -> None:
        self._by_id = {tool.id: tool for tool in tools}
        self._by_alias: dict[str, CatalogueTool] = {}
        for tool in self._by_id.values():
            for alias in tool.aliases:
                self._by_alias.setdefault(alias, tool)
        self._alias_pattern = _alias_pattern(self._by_alias)

    @classmethod
    def from_fiches(cls, fiches: Iterable[Fiche]) -> Catalogue:
        """Catalogue of the `tool` fiches; cards without a usable price block are skipped."""
        return cls(_parse_each(fiches, "tool", CatalogueTool.from_fiche, "price block"))

    @classmethod
    def from_kb(cls, kb: FicheSource) -> Catalogue:
        """Catalogue of a knowledge base."""
        return cls.from_fiches(kb.fiches("tool"))

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[CatalogueTool]:
        return iter(self._by_id.values())

    def get(self, tool_id: str) -> CatalogueTool | None:
        """The tool with exactly this id."""
        return self._by_id.get(tool_id)

    def find(self, name: str) -> CatalogueTool | None:
        """The tool called `name`: id, then exact alias, then leading words, then close spelling."""
        if name in self._by_id:
            return self._by_id[name]
        key = fold_words(name)
        if not key:
            return None
        if key in self._by_alias:
            return self._by_alias[key]
        starts = [a for a in self._by_alias if key.startswith(a + " ") or a.startswith(key + " ")]
        if starts:
            return self._by_alias[max(starts, key=len)]
        close = difflib.get_close_matches(key, list(self._by_alias), n=1, cutoff=0.85)
        return self._by_alias[close[0]] if close else None

    def named_in(self, folded: str) -> list[CatalogueTool]:
        """Tools whose name appears in a folded text, in order of appearance, each once."""
        if self._alias_pattern is None:
            return []
        found = (self._by_alias[m.group(1)] for m in self._alias_pattern.finditer(folded))
        return list(dict.fromkeys(found))

    def for_use_case(self, use_case: str) -> list[CatalogueTool]:
        """Tools whose card lists this use-case family."""
        return [tool for tool in self if use_case in tool.use_cases]


def _alias_pattern(aliases: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted(aliases, key=len, reverse=True)
    if not ordered:
        return None
    # a version glued to the name still names it ("qwen3", "gpt4o")
    return re.compile(r"(?<![a-z0-9])(" + "|".join(map(re.escape, ordered)) + r")(?![a-z])")


EU_COUNTRIES = frozenset(
    {"France", "Allemagne", "République tchèque", "Belgique", "Pays-Bas", "Italie", "Espagne"}
)


@dataclass(frozen=True)
class PilotTemplate:
    """The structured two-week plan of a pilot guide."""

    guide_id: str
    use_case: str
    goal: str
    kpis: tuple[str, ...]
    budget_eur: float | None
    steps: tuple[tuple[int, str], ...] = field(default=())

    @classmethod
    def from_fiche(cls, fiche: Fiche) -> PilotTemplate | None:
        """The template of a pilot guide, or None when the fiche has none."""
        raw = fiche.meta.get("pilot_template")
        if not isinstance(raw, dict):
            return None
        steps = []
        for step in raw.get("steps") or ():
            if isinstance(step, dict) and "day" in step and step.get("task"):
                steps.append((int(step["day"]), str(step["task"])))
        budget = raw.get("budget_eur")
        return cls(
            guide_id=fiche.id,
            use_case=str(raw.get("use_case") or ""),
            goal=str(raw.get("goal") or ""),
            kpis=tuple(str(kpi) for kpi in raw.get("kpis") or ()),
            budget_eur=float(budget) if isinstance(budget, int | float) else None,
            steps=tuple(steps),
        )


class PilotTemplates:
    """Pilot templates by use-case family."""

    def __init__(self, templates: Sequence[PilotTemplate]) -> None:
        self._by_use_case = {t.use_case: t for t in templates if t.use_case}

    @classmethod
    def from_fiches(cls, fiches: Iterable[Fiche]) -> PilotTemplates:
        """Templates of every guide that has one."""
        found = _parse_each(fiches, "guide", PilotTemplate.from_fiche, "pilot_template")
        return cls([template for template in found if template is not None])

    @classmethod
    def from_kb(cls, kb: FicheSource) -> PilotTemplates:
        """Templates of a knowledge base."""
        return cls.from_fiches(kb.fiches("guide"))

    def for_use_case(self, use_case: str | None) -> PilotTemplate | None:
        """The template for this family, None when no pilot guide covers it."""
        return self._by_use_case.get(use_case or "")


def _parse_each(
    fiches: Iterable[Fiche], kind: str, parse: Callable[[Fiche], T], what: str
) -> list[T]:
    """`parse` applied to each fiche of one type; an unusable one is logged and skipped."""
    parsed = []
    for fiche in fiches:
        if fiche.type != kind:
            continue
        try:
            parsed.append(parse(fiche))
        except (KeyError, TypeError, ValueError):
            log.warning("%s of %s is unusable; skipped", what, fiche.id)
    return parsed
