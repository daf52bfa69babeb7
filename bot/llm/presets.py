"""Provider presets: where each OpenAI-compatible endpoint lives and which model to use."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    """Defaults for one provider; `base_url` and `model` may be empty for `custom`."""

    name: str
    base_url: str
    default_model: str
    needs_key: bool = True


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("deepseek", "https://api.deepseek.com/v1", "deepseek-chat"),
        Preset("qwen", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "qwen-plus"),
        Preset("glm", "https://api.z.ai/api/paas/v4", "glm-4.5-air"),
        Preset("mistral", "https://api.mistral.ai/v1", "mistral-small-latest"),
        # OpenRouter routes to many vendors; a cheap default that speaks French well.
        Preset("openrouter", "https://openrouter.ai/api/v1", "deepseek/deepseek-chat"),
        Preset("ollama", "http://localhost:11434/v1", "qwen3:8b", needs_key=False),
        Preset("openai", "https://api.openai.com/v1", "gpt-4o-mini"),
        Preset("custom", "", "", needs_key=False),
    )
}


def preset_for(provider: str) -> Preset:
    """The preset of `provider`; KeyError names the unknown provider."""
    try:
        return PRESETS[provider]
    except KeyError:
        raise KeyError(f"unknown LLM provider {provider!r}") from None
