"""LLM client against the fake provider: retries, two time limits, streaming, JSON modes,
fallback; a request the client gives up on is closed, so the server stops generating."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from bot.config import load_settings
from bot.errors import LLMAuthError, LLMResponseError, LLMUnavailableError
from bot.llm import Endpoint, LLMClient, cost_eur, endpoints_from_settings
from bot.llm.client import LLMTimeoutError
from tests.advisor.conftest import TEST_KEY
from tests.fakes.llm_server import Behaviour, FakeLLMServer

MESSAGES = [{"role": "system", "content": "Tu es un test."}, {"role": "user", "content": "Bonjour"}]


def make_client(
    server: FakeLLMServer, http: httpx.AsyncClient, *, provider: str = "deepseek", **kw: float
) -> LLMClient:
    endpoint = Endpoint(provider, server.base_url, "deepseek-chat", api_key=TEST_KEY)
    options = {"timeout_s": 5.0, "max_retries": 2, "backoff_s": 0.05, **kw}
    return LLMClient([endpoint], http=http, **options)  # type: ignore[arg-type]


async def test_reply_text_usage_and_auth_header(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    llm_server.enqueue(
        Behaviour.reply("Salut", usage={"prompt_tokens": 1000, "completion_tokens": 500})
    )
    result = await make_client(llm_server, http).complete(MESSAGES, json_mode=True)
    assert result.text == "Salut"
    assert (result.prompt_tokens, result.completion_tokens) == (1000, 500)
    assert not result.usage_estimated and result.finish_reason == "stop"
    assert result.cost_eur == pytest.approx(cost_eur("deepseek", "deepseek-chat", 1000, 500))
    assert result.cost_eur > 0
    request = llm_server.requests[0]
    assert request.headers["authorization"] == f"Bearer {TEST_KEY}"
    assert request.body["response_format"] == {"type": "json_object"}
    # always streamed: the first token is timed and a hang-up stops the generation
    assert request.body["model"] == "deepseek-chat" and request.body["stream"] is True


async def test_stream_calls_on_delta_and_reads_usage(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    text = "Une réponse assez longue pour plusieurs morceaux."
    llm_server.enqueue(Behaviour.stream(text, usage={"prompt_tokens": 10, "completion_tokens": 7}))
    deltas: list[str] = []

    async def on_delta(delta: str) -> None:
        deltas.append(delta)

    result = await make_client(llm_server, http).complete(MESSAGES, on_delta=on_delta)
    assert result.text == text and "".join(deltas) == text and len(deltas) > 2
    assert (result.prompt_tokens, result.completion_tokens) == (10, 7)
    assert llm_server.requests[0].body["stream_options"] == {"include_usage": True}


async def test_stream_without_usage_is_estimated(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    llm_server.enqueue(Behaviour.stream("x" * 400, omit_usage=True))

    async def on_delta(delta: str) -> None:
        return None

    result = await make_client(llm_server, http).complete(MESSAGES, on_delta=on_delta)
    assert result.usage_estimated and result.completion_tokens == round(400 / 3.5)


async def test_cut_stream_is_unavailable(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    llm_server.enqueue(Behaviour.cut("abcdefghij" * 10, after_chars=30))
    seen: list[str] = []

    async def on_delta(delta: str) -> None:
        seen.append(delta)

    with pytest.raises(LLMUnavailableError):
        await make_client(llm_server, http).complete(MESSAGES, on_delta=on_delta)
    assert seen, "part of the text arrived before the cut"
    assert len(llm_server.requests) == 1  # no retry once text reached the caller


async def test_429_honours_retry_after(llm_server: FakeLLMServer, http: httpx.AsyncClient) -> None:
    llm_server.enqueue(Behaviour.status(429, retry_after=0.6), Behaviour.reply("ok"))
    started = time.monotonic()
    result = await make_client(llm_server, http).complete(MESSAGES)
    elapsed = time.monotonic() - started
    assert result.text == "ok"
    assert len(llm_server.requests) == 2
    gap = llm_server.requests[1].received_at - llm_server.requests[0].received_at
    assert 0.55 <= gap < 2.0 and elapsed < 3.0


async def test_retry_after_is_capped(llm_server: FakeLLMServer, http: httpx.AsyncClient) -> None:
    llm_server.enqueue(Behaviour.status(429, retry_after=3600), Behaviour.reply("ok"))
    started = time.monotonic()
    client = make_client(llm_server, http, max_retry_after_s=0.2)
    assert (await client.complete(MESSAGES)).text == "ok"
    assert time.monotonic() - started < 2.0


def _status_with_retry_date(code: int, seconds_ahead: float) -> Behaviour:
    """A `code` reply whose Retry-After is an HTTP date `seconds_ahead` from now."""
    when = datetime.now(UTC) + timedelta(seconds=seconds_ahead)
    header = ("Retry-After", format_datetime(when, usegmt=True))
    return dataclasses.replace(Behaviour.status(code), headers=(header,))


async def test_429_honours_retry_after_as_an_http_date(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    llm_server.enqueue(_status_with_retry_date(429, 3), Behaviour.reply("ok"))
    result = await make_client(llm_server, http).complete(MESSAGES)
    assert result.text == "ok" and len(llm_server.requests) == 2
    gap = llm_server.requests[1].received_at - llm_server.requests[0].received_at
    assert 1.5 <= gap < 3.5  # the date has whole seconds: 2 to 3 s from the first reply


async def test_retry_after_as_an_http_date_is_capped(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    llm_server.enqueue(_status_with_retry_date(503, 3600), Behaviour.reply("ok"))
    started = time.monotonic()
    client = make_client(llm_server, http, max_retry_after_s=0.2)
    assert (await client.complete(MESSAGES)).text == "ok"
    assert time.monotonic() - started < 2.0


async def test_500_then_success(llm_server: FakeLLMServer, http: httpx.AsyncClient) -> None:
    llm_server.enqueue(Behaviour.status(500), Behaviour.reply("ok"))
    assert (await make_client(llm_server, http).complete(MESSAGES)).text == "ok"
    assert len(llm_server.requests) == 2


async def test_500_forever_stops_after_max_retries(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    llm_server.default = Behaviour.status(503)
    with pytest.raises(LLMUnavailableError):
        await make_client(llm_server, http, max_retries=2).complete(MESSAGES)
    assert len(llm_server.requests) == 3


async def test_stall_hits_the_overall_deadline(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    llm_server.default = Behaviour.stall(10)
    started = time.monotonic()
    with pytest.raises(LLMUnavailableError):
        await make_client(llm_server, http, timeout_s=0.8).complete(MESSAGES)
    assert time.monotonic() - started < 1.5


async def test_no_first_token_in_time_gives_up_and_hangs_up(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    """A server still reading the prompt: the first-token limit ends the wait, not the total."""
    llm_server.enqueue(Behaviour.stream("trop tard", delay_s=5))
    client = make_client(llm_server, http, timeout_s=10, first_token_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        await client.complete(MESSAGES)
    gave_up = time.monotonic()
    assert info.value.stage == "first_token" and "first token" in str(info.value)
    assert 0.45 < gave_up - started < 1.0
    await _until(lambda: llm_server.disconnects, seconds=2)
    assert llm_server.disconnects[0] - gave_up < 0.5
    assert llm_server.chunks_sent == 0  # nothing was generated for nobody


async def test_slow_answer_is_cut_at_the_total_and_the_server_stops_generating(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    """100 chunks at 0.05 s each (5 s) against a 1 s budget: the client closes the stream,
    the server notices at its next write and generates nothing more."""
    llm_server.enqueue(Behaviour.stream("x" * 100, chunk_chars=1, chunk_delay_s=0.05))
    seen: list[str] = []

    async def on_delta(delta: str) -> None:
        seen.append(delta)

    client = make_client(llm_server, http, timeout_s=1.0, first_token_timeout_s=0.5)
    with pytest.raises(LLMTimeoutError) as info:
        await client.complete(MESSAGES, on_delta=on_delta)
    assert info.value.stage == "total" and seen
    await _until(lambda: llm_server.disconnects, seconds=2)
    at_disconnect = llm_server.chunks_sent
    await asyncio.sleep(0.3)
    assert llm_server.chunks_sent == at_disconnect < 40


async def test_first_token_time_and_speed_are_measured(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    usage = {"prompt_tokens": 50, "completion_tokens": 21}
    llm_server.enqueue(
        Behaviour.stream("y" * 20, chunk_chars=1, delay_s=0.3, chunk_delay_s=0.01, usage=usage)
    )
    result = await make_client(llm_server, http, first_token_timeout_s=1).complete(MESSAGES)
    assert result.first_token_s is not None and 0.25 < result.first_token_s < 0.8
    assert result.elapsed_s > result.first_token_s
    assert result.tokens_per_s is not None and 10 < result.tokens_per_s < 200


@pytest.mark.parametrize("streamed", [True, False])
async def test_reply_cut_at_the_token_limit_is_flagged(
    llm_server: FakeLLMServer, http: httpx.AsyncClient, streamed: bool
) -> None:
    text = '{"answer": "une réponse qui ne tient pas'
    make = Behaviour.stream if streamed else Behaviour.reply
    llm_server.enqueue(make(text, finish_reason="length"))
    result = await make_client(llm_server, http).complete(MESSAGES, json_mode=True)
    assert result.truncated and result.text == text


async def test_json_schema_is_asked_then_json_mode_where_refused_and_remembered(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    llm_server.default = Behaviour.refuse_schema('{"answer": "ok"}')
    client = make_client(llm_server, http)
    first = await client.complete(MESSAGES, schema=schema)
    second = await client.complete(MESSAGES, schema=schema)
    formats = [r.body.get("response_format") for r in llm_server.requests]
    assert formats == [
        {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
        {"type": "json_object"},
        {"type": "json_object"},  # the refusal is remembered: no second 400
    ]
    assert (first.response_format, second.response_format) == ("json_object", "json_object")
    assert first.text == '{"answer": "ok"}'


async def test_schema_mode_constrains_the_reply(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    schema = {
        "type": "object",
        "properties": {
            "answer": {"type": "string", "maxLength": 5},
            "tools": {"type": "array", "items": {"type": "string", "enum": ["tool-a"]}},
        },
    }
    llm_server.enqueue(Behaviour.conform("Bonjour à vous"))
    result = await make_client(llm_server, http).complete(MESSAGES, schema=schema)
    assert json.loads(result.text) == {"answer": "Bonjo", "tools": ["tool-a"]}
    assert result.response_format == "json_schema"


def test_endpoint_kind_local_or_hosted() -> None:
    assert Endpoint("ollama", "http://gpu-box:11434/v1", "m").kind == "local"
    assert Endpoint("llamacpp", "http://127.0.0.1:8080/v1", "m").kind == "local"
    assert Endpoint("custom", "http://localhost:8080/v1", "m").kind == "local"
    assert Endpoint("custom", "http://127.0.0.2:1/v1", "m").kind == "local"
    assert Endpoint("custom", "https://llm.example.org/v1", "m").kind == "hosted"
    assert Endpoint("deepseek", "https://api.deepseek.com/v1", "m").kind == "hosted"
    # a local proxy in front of a paid API is still billed like the API
    assert Endpoint("deepseek", "http://127.0.0.1:4000/v1", "m").kind == "hosted"


async def test_a_local_model_costs_nothing_whatever_its_name(
    llm_server: FakeLLMServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = Endpoint("custom", llm_server.base_url, "my-own-gguf")  # on 127.0.0.1
    result = await LLMClient([endpoint], http=http).complete(MESSAGES)
    assert result.local and result.prompt_tokens > 0 and result.cost_eur == 0.0
    assert "no price known" not in caplog.text


async def _until(condition: Callable[[], object], *, seconds: float) -> None:
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        await asyncio.sleep(0.02)


async def test_401_no_retry_and_no_key_in_message_or_logs(
    llm_server: FakeLLMServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {TEST_KEY}"}})
    llm_server.enqueue(Behaviour.status(401, body=body))
    with pytest.raises(LLMAuthError) as info:
        await make_client(llm_server, http).complete(MESSAGES)
    assert info.value.provider == "deepseek"
    assert len(llm_server.requests) == 1
    assert TEST_KEY not in str(info.value)
    assert TEST_KEY not in caplog.text


async def test_400_error_body_is_scrubbed(
    llm_server: FakeLLMServer, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    llm_server.enqueue(Behaviour.status(400, body=f"bad request for key {TEST_KEY}"))
    with pytest.raises(LLMResponseError) as info:
        await make_client(llm_server, http).complete(MESSAGES)
    assert TEST_KEY not in str(info.value) and "***" in str(info.value)
    assert TEST_KEY not in caplog.text


async def test_json_mode_unsupported_retries_without_it(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    body = json.dumps({"error": {"message": "response_format is not supported by this model"}})
    llm_server.enqueue(Behaviour.status(400, body=body), Behaviour.reply("{}"))
    assert (await make_client(llm_server, http).complete(MESSAGES, json_mode=True)).text == "{}"
    first, second = llm_server.requests
    assert "response_format" in first.body and "response_format" not in second.body


async def test_malformed_body_is_a_response_error(
    llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    llm_server.enqueue(Behaviour.malformed())
    with pytest.raises(LLMResponseError):
        await make_client(llm_server, http).complete(MESSAGES)


async def test_fallback_chain_used_when_primary_unavailable(
    http: httpx.AsyncClient,
) -> None:
    with FakeLLMServer(default=Behaviour.status(500)) as bad, FakeLLMServer() as good:
        good.enqueue(Behaviour.reply("secours"))
        client = LLMClient(
            [
                Endpoint("deepseek", bad.base_url, "deepseek-chat", api_key="k1"),
                Endpoint("mistral", good.base_url, "mistral-small-latest", api_key="k2"),
            ],
            http=http,
            max_retries=1,
            backoff_s=0.01,
        )
        result = await client.complete(MESSAGES)
    assert (result.text, result.provider, result.model) == (
        "secours",
        "mistral",
        "mistral-small-latest",
    )
    assert len(bad.requests) == 2
    assert good.requests[0].headers["authorization"] == "Bearer k2"


async def test_no_retry_on_network_refused_beyond_limit(http: httpx.AsyncClient) -> None:
    client = LLMClient(
        [Endpoint("ollama", "http://127.0.0.1:9/v1", "qwen3:8b")],
        http=http,
        max_retries=1,
        backoff_s=0.01,
    )
    with pytest.raises(LLMUnavailableError):
        await client.complete(MESSAGES)


def test_endpoints_from_settings_presets_and_override() -> None:
    settings = load_settings(
        {
            "LLM_PROVIDER": "deepseek",
            "LLM_API_KEY": "k",
            "LLM_FALLBACK": "mistral,ollama:llama3.2",
            "MISTRAL_API_KEY": "m",
        }
    )
    primary, mistral, ollama = endpoints_from_settings(settings)
    assert (primary.base_url, primary.model) == ("https://api.deepseek.com/v1", "deepseek-chat")
    assert (mistral.model, mistral.api_key) == ("mistral-small-latest", "m")
    assert (ollama.base_url, ollama.model, ollama.api_key) == (
        "http://localhost:11434/v1",
        "llama3.2",
        None,
    )
    custom = load_settings(
        {
            "LLM_PROVIDER": "glm",
            "LLM_API_KEY": "k",
            "LLM_BASE_URL": "https://open.bigmodel.cn/api/paas/v4",
        }
    )
    (endpoint,) = endpoints_from_settings(custom)
    assert (
        endpoint.base_url == "https://open.bigmodel.cn/api/paas/v4"
        and endpoint.model == "glm-4.5-air"
    )
    assert "k" not in repr(endpoint)
    assert endpoints_from_settings(load_settings({})) == []
