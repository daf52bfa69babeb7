"""OpenAI-compatible LLM access: presets, client and pricing."""

from bot.llm.client import Completion, Endpoint, LLMClient, endpoints_from_settings
from bot.llm.presets import PRESETS, Preset, preset_for
from bot.llm.pricing import USD_TO_EUR, ModelPrice, cost_eur, price_for

__all__ = [
    "PRESETS",
    "USD_TO_EUR",
    "Completion",
    "Endpoint",
    "LLMClient",
    "ModelPrice",
    "Preset",
    "cost_eur",
    "endpoints_from_settings",
    "preset_for",
    "price_for",
]
