"""Time limits and context per provider kind, and `doctor` probing with a realistic answer."""

from __future__ import annotations

import httpx
import pytest

from bot.cli.advise import _check_llm
from bot.config import load_settings
from bot.errors import ConfigError
from bot.llm import LLMClient
from tests.fakes.llm_server import Behaviour, FakeLLMServer

LOCAL = ("local", 120, 300, 4096)
HOSTED = ("hosted", 20, 60, 8192)
URL = {"LLM_BASE_URL": "http://127.0.0.1:8080/v1", "LLM_MODEL": "m"}
KEY = {"LLM_API_KEY": "k"}


@pytest.mark.parametrize(
    ("env", "kind", "first", "total", "context"),
    [
        ({"LLM_PROVIDER": "llamacpp"}, *LOCAL),
        ({"LLM_PROVIDER": "ollama", "LLM_BASE_URL": "http://gpu:11434/v1"}, *LOCAL),
        ({"LLM_PROVIDER": "custom", **URL}, *LOCAL),
        ({"LLM_PROVIDER": "deepseek", **KEY}, *HOSTED),
        # the first-token limit never exceeds the total
        (
            {
                "LLM_PROVIDER": "mistral",
                **KEY,
                "LLM_TIMEOUT_S": "10",
                "LLM_CONTEXT_TOKENS": "32000",
            },
            "hosted",
            10,
            10,
            32000,
        ),
    ],
)
def test_limits_follow_the_provider_kind(
    env: dict[str, str], kind: str, first: float, total: float, context: int
) -> None:
    settings = load_settings(env)
    assert settings.llm_kind == kind
    assert settings.llm_timeouts == (first, total) and settings.llm_context == context
    client = LLMClient.from_settings(settings, http=httpx.AsyncClient())
    assert client is not None
    assert (client.first_token_timeout_s, client.timeout_s, client.context_tokens) == (
        first,
        total,
        context,
    )


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"LLM_TIMEOUT_S": "soixante"}, "LLM_TIMEOUT_S"),
        ({"LLM_FIRST_TOKEN_TIMEOUT_S": "0"}, "LLM_FIRST_TOKEN_TIMEOUT_S"),
        ({"LLM_CONTEXT_TOKENS": "512"}, "LLM_CONTEXT_TOKENS"),
        (
            {"LLM_PROVIDER": "llamacpp", "LLM_FIRST_TOKEN_TIMEOUT_S": "90", "LLM_TIMEOUT_S": "30"},
            "LLM_FIRST_TOKEN_TIMEOUT_S",
        ),
    ],
)
def test_a_wrong_value_names_its_setting_in_french(env: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert set(info.value.problems) == {name}
    assert "Value error" not in str(info.value)
    assert any(word in info.value.problems[name] for word in ("secondes", "jetons", "dépasser"))


def test_llamacpp_needs_no_key() -> None:
    assert load_settings({"LLM_PROVIDER": "llamacpp"}).llm_api_key is None


def doctor_settings(server: FakeLLMServer, **extra: str) -> object:
    env = {"LLM_PROVIDER": "custom", "LLM_BASE_URL": server.base_url, "LLM_MODEL": "m", **extra}
    return load_settings(env)


async def test_doctor_sends_a_realistic_question_in_the_answer_json_mode() -> None:
    answer = Behaviour.conform("Centralisez les commandes dans une messagerie [1].")
    with FakeLLMServer(default=answer) as server:
        (line,) = await _check_llm(doctor_settings(server))  # type: ignore[arg-type]
        body = server.requests[0].body
    assert line.startswith("✅") and "réponse complète en" in line and "schéma JSON" in line
    assert body["max_tokens"] >= 500 and body["response_format"]["type"] == "json_schema"
    user = body["messages"][-1]["content"]
    assert "<sources>" in user and "[3]" in user and "WhatsApp" in user


async def test_doctor_reports_time_to_first_token_and_speed() -> None:
    usage = {"prompt_tokens": 900, "completion_tokens": 24}
    text = '{"answer": "' + " ".join(f"mot{n}" for n in range(12)) + '"}'
    slow = Behaviour.stream(text, chunk_chars=2, delay_s=0.4, chunk_delay_s=0.01, usage=usage)
    with FakeLLMServer(default=slow) as server:
        (line,) = await _check_llm(doctor_settings(server))  # type: ignore[arg-type]
    assert "premier jeton 0,4 s" in line or "premier jeton 0,5 s" in line
    assert "jetons/s" in line and "? jetons/s" not in line


async def test_doctor_says_an_answer_does_not_fit_the_time_limit() -> None:
    words = " ".join(f"mot{n}" for n in range(40))
    crawl = Behaviour.stream('{"answer": "' + words + '"}', chunk_chars=2, chunk_delay_s=0.05)
    with FakeLLMServer(default=crawl) as server:
        settings = doctor_settings(server, LLM_TIMEOUT_S="1.5", LLM_FIRST_TOKEN_TIMEOUT_S="1")
        (line,) = await _check_llm(settings)  # type: ignore[arg-type]
    assert line.startswith("❌") and "pas de réponse complète en 1,5 s" in line
    assert "LLM_TIMEOUT_S" in line


async def test_doctor_says_the_prompt_is_not_read_in_time() -> None:
    with FakeLLMServer(default=Behaviour.stream("{}", delay_s=3)) as server:
        settings = doctor_settings(server, LLM_TIMEOUT_S="5", LLM_FIRST_TOKEN_TIMEOUT_S="1")
        (line,) = await _check_llm(settings)  # type: ignore[arg-type]
    assert line.startswith("❌") and "aucun jeton en 1 s" in line
    assert "LLM_FIRST_TOKEN_TIMEOUT_S" in line
