"""Model prices (USD per million tokens, checked on `as_of`) and cost in euros.

Prices come from research/domain-facts.md (collected 2026-11-23). Provider prices change
often: keep `as_of` honest when editing. DeepSeek prices are the cache-miss input rate.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Constant conversion rate, not a live quote: 1 USD = 0.92 EUR (late-2026 order of magnitude).
# Token costs of a few cents per day do not justify fetching exchange rates at run time.
USD_TO_EUR = 0.92


@dataclass(frozen=True)
class ModelPrice:
    """Input and output price of one model, USD per million tokens."""

    input_usd_per_mtok: float
    output_usd_per_mtok: float
    as_of: str
    note: str = ""


PRICES: dict[str, ModelPrice] = {
    "deepseek-chat": ModelPrice(0.28, 0.42, "2026-11-23", "V3.2, cache-miss input"),
    "deepseek-reasoner": ModelPrice(0.28, 0.42, "2026-11-23", "V3.2, cache-miss input"),
    "mistral-small": ModelPrice(0.10, 0.30, "2026-11-23", "Mistral Small 3.2"),
    "mistral-medium": ModelPrice(0.40, 2.00, "2026-11-23", "Mistral Medium 3"),
    "gpt-4o-mini": ModelPrice(0.15, 0.60, "2026-11-23"),
    "gpt-4o": ModelPrice(2.50, 10.00, "2026-11-23"),
    "qwen-plus": ModelPrice(0.40, 1.20, "2026-11-23", "international list price, unverified"),
    "glm-4.5": ModelPrice(0.60, 2.20, "2026-11-23"),
    "glm-4.5-air": ModelPrice(0.20, 1.10, "2026-11-23", "upper bound, sources disagree"),
    "glm-4.5-flash": ModelPrice(0.0, 0.0, "2026-11-23", "free tier model"),
    "claude-3-5-haiku": ModelPrice(0.80, 4.00, "2026-11-23"),
    "claude-haiku-4-5": ModelPrice(1.00, 5.00, "2026-11-23"),
}

FREE_PROVIDERS = frozenset({"ollama"})
_warned: set[str] = set()


def _normalise(model: str) -> str:
    name = model.strip().lower().rsplit("/", 1)[-1]  # "deepseek/deepseek-chat" on OpenRouter
    for suffix in ("-latest", ":free"):
        name = name.removesuffix(suffix)
    return name


def price_for(model: str) -> ModelPrice | None:
    """The price of `model`, matching exact names first, then the longest known prefix."""
    name = _normalise(model)
    if name in PRICES:
        return PRICES[name]
    prefixes = [known for known in PRICES if name.startswith(known)]
    return PRICES[max(prefixes, key=len)] if prefixes else None


def cost_eur(provider: str, model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """Cost in euros of one exchange; 0 for local models and (with a warning) unknown ones."""
    if provider in FREE_PROVIDERS:
        return 0.0
    price = price_for(model)
    if price is None:
        if model not in _warned:
            _warned.add(model)
            log.warning("no price known for model %r: its cost is counted as 0", model)
        return 0.0
    usd = (
        prompt_tokens * price.input_usd_per_mtok + completion_tokens * price.output_usd_per_mtok
    ) / 1_000_000
    return usd * USD_TO_EUR
