"""LLM token prices, read from the llm-api tool fiches, and the cost of an exchange in euros.

The fiches' `model_prices` (docs/data-formats.md §1) are the one source of truth: each entry
is converted to euros with its fiche's `usd_eur_rate`. Only front matter is read, once, so
cost accounting never loads the embedding stack.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from retrieval.errors import KnowledgeBaseError
from retrieval.fiche_schema import ModelPriceEntry, UsdEurRate, fiche_files, read_front_matter

log = logging.getLogger(__name__)

FREE_PROVIDERS = frozenset({"ollama"})
LLM_API_CATEGORY = "llm-api"
# Deprecated and unused: the rate now comes from each fiche's usd_eur_rate. Kept only while
# bot/llm/__init__.py re-exports it; remove both together.
USD_TO_EUR = 0.92
_NAME_SEPARATORS = "-.:_@"


@dataclass(frozen=True)
class ModelPrice:
    """Input and output price of one model in euros per million tokens, and its provenance."""

    model: str
    input_eur_per_mtok: float
    output_eur_per_mtok: float
    as_of: str  # the day the fiche's price page was read
    fiche_id: str
    note: str = ""


def normalise(model: str) -> str:
    """Compare model names without vendor prefix or alias suffix ("deepseek/x-latest" -> "x")."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    for suffix in ("-latest", ":free"):
        name = name.removesuffix(suffix)
    return name


@dataclass
class PriceBook:
    """Model prices by normalised name; several fiches may price the same model."""

    prices: Mapping[str, tuple[ModelPrice, ...]]
    _warned: set[str] = field(default_factory=set, repr=False)

    def price_for(self, model: str, provider: str | None = None) -> ModelPrice | None:
        """The price of `model`: exact name first, then the longest known prefix.

        When several fiches price it, the provider's own fiche (tool-<provider>-api or
        tool-<provider>) wins, then an official source, then the first fiche id.
        """
        name = normalise(model)
        key = name if name in self.prices else _longest_prefix(name, self.prices)
        if key is None:
            return None
        candidates = self.prices[key]
        if provider:
            own = (f"tool-{provider}-api", f"tool-{provider}")
            for price in candidates:
                if price.fiche_id in own:
                    return price
        return candidates[0]

    def cost_eur(
        self, provider: str, model: str, prompt_tokens: int, completion_tokens: int
    ) -> float:
        """Cost in euros of one exchange; 0 for local models and (with a warning) unknown ones."""
        if provider in FREE_PROVIDERS:
            return 0.0
        price = self.price_for(model, provider)
        if price is None:
            if model not in self._warned:
                self._warned.add(model)
                log.warning("no price known for model %r: its cost is counted as 0", model)
            return 0.0
        return (
            prompt_tokens * price.input_eur_per_mtok + completion_tokens * price.output_eur_per_mtok
        ) / 1_000_000


def _longest_prefix(name: str, known: Iterable[str]) -> str | None:
    """The longest known name that `name` extends at a separator ("gpt-4o-mini-2024" -> ...)."""
    matches = [
        k for k in known if name.startswith(k) and name[len(k) : len(k) + 1] in _NAME_SEPARATORS
    ]
    return max(matches, key=len) if matches else None


def load_price_book(knowledge_dir: Path) -> PriceBook:
    """Read `model_prices` from every llm-api tool fiche under `knowledge_dir`."""
    found: list[tuple[bool, ModelPrice]] = []
    for path in fiche_files(knowledge_dir):
        try:
            if "model_prices" not in path.read_text(encoding="utf-8-sig"):
                continue
            meta = read_front_matter(path)
        except (OSError, UnicodeDecodeError, KnowledgeBaseError):
            log.warning("cannot read prices from %s", path.name)
            continue
        if meta.get("category") == LLM_API_CATEGORY:
            official = meta.get("price_source_kind") == "official"
            found += [(official, price) for price in _fiche_prices(path, meta)]
    # Official sources first, then by fiche id, so the default choice is stable.
    found.sort(key=lambda item: (not item[0], item[1].fiche_id))
    prices: dict[str, tuple[ModelPrice, ...]] = {}
    for _, price in found:
        key = normalise(price.model)
        prices[key] = (*prices.get(key, ()), price)
    return PriceBook(prices)


def _fiche_prices(path: Path, meta: dict[str, Any]) -> list[ModelPrice]:
    """The fiche's model prices in euros; malformed entries are skipped (kb check names them)."""
    fiche_id = str(meta.get("id") or path.stem)
    read_on = str(meta.get("price_read_on") or meta.get("as_of") or "")
    rate: float | None = None
    try:
        if meta.get("usd_eur_rate") is not None:
            rate = UsdEurRate.model_validate(meta["usd_eur_rate"]).rate
    except ValidationError:
        log.warning("%s: usd_eur_rate is malformed, its dollar prices are ignored", fiche_id)
    raw_entries = meta.get("model_prices")
    prices = []
    for raw in raw_entries if isinstance(raw_entries, list) else []:
        try:
            entry = ModelPriceEntry.model_validate(raw)
        except ValidationError:
            log.warning("%s: a model_prices entry is malformed and ignored", fiche_id)
            continue
        to_eur = 1.0 if entry.currency == "EUR" else rate
        if to_eur is None:
            log.warning("%s: %s is priced in USD without usd_eur_rate", fiche_id, entry.model)
            continue
        prices.append(
            ModelPrice(
                model=entry.model,
                input_eur_per_mtok=entry.input * to_eur,
                output_eur_per_mtok=entry.output * to_eur,
                as_of=read_on,
                fiche_id=fiche_id,
                note=entry.note or "",
            )
        )
    return prices


@cache
def shipped_price_book() -> PriceBook:
    """The prices of the knowledge base shipped with the package, loaded on first use."""
    from bot.config import packaged_knowledge_dir  # lazy: bot.config imports bot.llm

    return load_price_book(packaged_knowledge_dir())


def price_for(model: str) -> ModelPrice | None:
    """The shipped price of `model`, or None when no llm-api fiche prices it."""
    return shipped_price_book().price_for(model)


def cost_eur(provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost in euros of one exchange at the shipped prices (0 for local or unknown models)."""
    return shipped_price_book().cost_eur(provider, model, prompt_tokens, completion_tokens)
