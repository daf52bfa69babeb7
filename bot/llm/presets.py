"""Provider presets: where each OpenAI-compatible endpoint lives, which model to use, and
the time and context a provider of its kind (local or hosted) needs for one answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

ProviderKind = Literal["local", "hosted"]
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "0.0.0.0"})


@dataclass(frozen=True)
class Preset:
    """Defaults for one provider; `base_url` and `model` may be empty for `custom`."""

    name: str
    base_url: str
    default_model: str
    needs_key: bool = True


@dataclass(frozen=True)
class KindDefaults:
    """Time limits and context window assumed for a kind of provider."""

    first_token_timeout_s: float  # request sent -> first token streamed (prompt reading)
    timeout_s: float  # the whole answer, length retry and repair included
    context_tokens: int  # prompt + answer must fit in this window


# A CPU model reads a 1,500-token prompt in tens of seconds and writes a few tokens per
# second; many local servers open a 2,048-4,096-token window. Hosted APIs answer in seconds.
KIND_DEFAULTS: dict[ProviderKind, KindDefaults] = {
    "local": KindDefaults(first_token_timeout_s=120.0, timeout_s=300.0, context_tokens=4096),
    "hosted": KindDefaults(first_token_timeout_s=20.0, timeout_s=60.0, context_tokens=8192),
}
LOCAL_PROVIDERS = frozenset({"ollama", "llamacpp"})

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
        # llama.cpp's llama-server serves the one model it was started with, whatever the name
        Preset("llamacpp", "http://127.0.0.1:8080/v1", "local", needs_key=False),
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


def provider_kind(provider: str, base_url: str | None = None) -> ProviderKind:
    """Local for Ollama and llama.cpp (wherever they run) and a custom endpoint on this
    machine; a named hosted provider stays hosted behind a local URL (a proxy to the API)."""
    if provider in LOCAL_PROVIDERS:
        return "local"
    host = (urlsplit(base_url or "").hostname or "").lower()
    on_this_machine = host in LOCAL_HOSTS or host.startswith("127.")
    return "local" if provider == "custom" and on_this_machine else "hosted"
