"""Tool catalogue and pilot templates, built from the knowledge base's structured front matter.

Prices always come from here (the catalogue card), never from an LLM.
"""

from __future__ import annotations

import difflib
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.advice import CostRange, ToolPick
from retrieval.models import Fiche

log = logging.getLogger(__name__)

DEFAULT_PILOT_GUIDE = "guide-pilote-deux-semaines"
_EU_MARKERS = ("ue", "eu", "europe", "france", "allemagne")
_LOCAL_MARKERS = ("vos propres machines", "ou vous l installez", "sur vos serveurs")


class FicheSource(Protocol):
    """The part of the knowledge base the catalogue reads."""

    def fiches(self, type: str | None = None) -> list[Fiche]:
        """All fiches, or those of one type."""
        ...


def normalise(text: str) -> str:
    """Lowercase, accents stripped, punctuation turned into single spaces."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text).split())


def _as_date(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class CatalogueTool:
    """One catalogue card reduced to what the advisor needs."""

    id: str
    name: str
    category: str
    price_min: float
    price_max: float
    as_of: str | None = None
    use_cases: tuple[str, ...] = ()
    sectors: tuple[str, ...] = ("tous",)
    data_hosting: str = ""
    vendor: str = ""
    free_tier: str = ""

    @property
    def eu_hosted(self) -> bool:
        """True when the card says data stays in the EU (or on your own machines).

        Only the first place named counts: "Hors UE", "UE possible selon l'offre" or
        "Infrastructure Meta (hors UE possible)" do not promise EU hosting.
        """
        text = normalise(self.data_hosting)
        if any(marker in text for marker in _LOCAL_MARKERS):
            return True
        return bool(text) and text.split()[0] in _EU_MARKERS

    @property
    def aliases(self) -> frozenset[str]:
        """Normalised names the tool may be called by."""
        bare_title = re.sub(r"\(.*?\)", " ", self.name)
        names = {self.name, bare_title, self.id.removeprefix("tool-").replace("-", " ")}
        return frozenset(filter(None, (normalise(name) for name in names)))

    def fits(self, *, budget: float | None = None, sector: str | None = None) -> bool:
        """True when the cheapest offer fits the monthly budget and the sector matches."""
        if budget is not None and self.price_min > budget:
            return False
        return not sector or "tous" in self.sectors or sector in self.sectors

    def to_pick(self, why: str) -> ToolPick:
        """The Advice entry for this tool, with the card's price and date."""
        return ToolPick(
            name=self.name,
            category=self.category,
            monthly_cost_eur=CostRange(min=self.price_min, max=self.price_max),
            why=why,
            source=self.id,
            as_of=self.as_of,
        )

    @classmethod
    def from_fiche(cls, fiche: Fiche) -> CatalogueTool:
        """Build from a `tool` fiche; raises ValueError when the price block is unusable."""
        meta = fiche.meta
        price = meta.get("price_eur_month") or {}
        low, high = float(price["min"]), float(price["max"])
        return cls(
            id=fiche.id,
            name=str(meta.get("title") or fiche.title),
            category=str(meta.get("category") or "assistant"),
            price_min=low,
            price_max=max(low, high),
            as_of=_as_date(meta.get("as_of")),
            use_cases=tuple(meta.get("use_cases") or ()),
            sectors=tuple(meta.get("sectors") or ("tous",)),
            data_hosting=str(meta.get("data_hosting") or ""),
            vendor=str(meta.get("vendor") or ""),
            free_tier=str(meta.get("free_tier") or ""),
        )


class Catalogue:
    """Every tool card, looked up by id or by (fuzzy) name."""

    def __init__(self, tools: Iterable[CatalogueTool]) -> None:
        self._by_id = {tool.id: tool for tool in tools}
        self._by_alias: dict[str, CatalogueTool] = {}
        for tool in self._by_id.values():
            for alias in tool.aliases:
                self._by_alias.setdefault(alias, tool)

    @classmethod
    def from_fiches(cls, fiches: Iterable[Fiche]) -> Catalogue:
        """Catalogue of the `tool` fiches; cards without a usable price are skipped."""
        tools = []
        for fiche in fiches:
            if fiche.type != "tool":
                continue
            try:
                tools.append(CatalogueTool.from_fiche(fiche))
            except (KeyError, TypeError, ValueError):
                log.warning("tool card %s has no usable price_eur_month; skipped", fiche.id)
        return cls(tools)

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
        key = normalise(name)
        if not key:
            return None
        if key in self._by_alias:
            return self._by_alias[key]
        if f"tool {key}".replace(" ", "-") in self._by_id:
            return self._by_id[f"tool {key}".replace(" ", "-")]
        starts = [a for a in self._by_alias if key.startswith(a + " ") or a.startswith(key + " ")]
        if starts:
            return self._by_alias[max(starts, key=len)]
        close = difflib.get_close_matches(key, list(self._by_alias), n=1, cutoff=0.85)
        return self._by_alias[close[0]] if close else None

    def for_use_case(self, use_case: str) -> list[CatalogueTool]:
        """Tools whose card lists this use-case family."""
        return [tool for tool in self if use_case in tool.use_cases]

    def search(self, need: str) -> list[CatalogueTool]:
        """Tools whose name, category or use cases share a word with `need`."""
        words = {w for w in normalise(need).split() if len(w) > 2}
        found = []
        for tool in self:
            haystack = normalise(" ".join((tool.name, tool.category, *tool.use_cases)))
            if any(word in haystack for word in words):
                found.append(tool)
        return found


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
    """Pilot templates by use-case family, with the generic two-week guide as fallback."""

    def __init__(self, templates: Sequence[PilotTemplate]) -> None:
        self._by_use_case = {t.use_case: t for t in templates if t.use_case}
        self._by_guide = {t.guide_id: t for t in templates}

    @classmethod
    def from_fiches(cls, fiches: Iterable[Fiche]) -> PilotTemplates:
        """Templates of every guide that has one."""
        templates = []
        for fiche in fiches:
            if fiche.type != "guide":
                continue
            try:
                template = PilotTemplate.from_fiche(fiche)
            except (TypeError, ValueError):
                log.warning("pilot_template of %s is unusable; skipped", fiche.id)
                continue
            if template is not None:
                templates.append(template)
        return cls(templates)

    @classmethod
    def from_kb(cls, kb: FicheSource) -> PilotTemplates:
        """Templates of a knowledge base."""
        return cls.from_fiches(kb.fiches("guide"))

    def for_use_case(self, use_case: str | None) -> PilotTemplate | None:
        """The template for this family, else the generic two-week guide's."""
        if use_case and use_case in self._by_use_case:
            return self._by_use_case[use_case]
        return self._by_guide.get(DEFAULT_PILOT_GUIDE)
