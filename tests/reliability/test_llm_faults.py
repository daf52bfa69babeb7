"""LLM faults: the owner still gets an answer (offline, flagged) within the timeout plus 1 s."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import httpx
import pytest

from bot.advisor import Advisor
from bot.errors import LLMUnavailableError
from bot.llm.client import Endpoint, LLMClient
from bot.messages import LLM_UNAVAILABLE, provider_name
from retrieval import KnowledgeBase
from tests.fakes.llm_server import Behaviour, FakeLLMServer
from tests.reliability.support import (
    BotRun,
    CountingTelegram,
    ScriptedLLM,
    bot_settings,
    draft,
    echo_marker,
)

TIMEOUT_S = 2.0
GOOD = draft("Commencez par un pilote sur les devis [1].")


def closed_port_url() -> str:
    """A local URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


FAULTS: dict[str, Behaviour] = {
    "stall": Behaviour.stall(30),
    "http-500": Behaviour.status(500),
    "http-503-retry-after": Behaviour.status(503, retry_after=1),
    "429-storm": Behaviour.status(429, retry_after=1),
    "429-retry-after-60": Behaviour.status(429, retry_after=60),
    "malformed-body": Behaviour.malformed(),
    "stream-cut": Behaviour.cut(GOOD, after_chars=25),
    "not-json-twice": Behaviour.stream("Je ne réponds pas en JSON aujourd'hui."),
    "stall-then-close": Behaviour.stall(TIMEOUT_S * 0.8),
}


@pytest.mark.parametrize("fault", ["down", *FAULTS])
async def test_llm_fault_gives_flagged_offline_answer_in_time(
    fault: str, telegram: CountingTelegram, real_kb: KnowledgeBase, tmp_path: Path
) -> None:
    llm = ScriptedLLM(lambda _r: FAULTS[fault]) if fault != "down" else None
    url = llm.start().base_url if llm is not None else closed_port_url()
    settings = bot_settings(tmp_path / "data", telegram, url, llm_timeout_s=TIMEOUT_S)
    try:
        async with BotRun(settings, real_kb) as run:
            started = time.monotonic()
            telegram.push_message(501, 501, "Comment réduire le temps passé sur mes devis ?")
            final = await telegram.next_final(501, 0, timeout=TIMEOUT_S + 10)
            elapsed = final.at - started
            assert run.errors == []
    finally:
        if llm is not None:
            llm.stop()
    print(f"\n[fault] {fault}: offline answer after {elapsed:.2f} s")
    assert elapsed <= TIMEOUT_S + 1.0, f"{fault}: {elapsed:.2f} s"
    plain = telegram.messages[(501, final.message_id)].plain
    assert "base de connaissances" in plain and ("dégradée" in plain or "seule" in plain)
    assert "Pilote de deux semaines" in plain


async def test_fallback_chain_shares_one_deadline() -> None:
    """Two stalling providers: the chain gives up after one timeout, not one per provider."""
    with (
        FakeLLMServer(default=Behaviour.stall(30)) as first,
        FakeLLMServer(default=Behaviour.stall(30)) as second,
    ):
        endpoints = [
            Endpoint("custom", first.base_url, "m", "sk-a-0000000000000000"),
            Endpoint("custom", second.base_url, "m", "sk-b-0000000000000000"),
        ]
        async with httpx.AsyncClient() as http:
            client = LLMClient(endpoints, http=http, timeout_s=1.5, max_retries=2)
            started = time.monotonic()
            with pytest.raises(LLMUnavailableError):
                await client.complete([{"role": "user", "content": "bonjour"}])
            elapsed = time.monotonic() - started
        assert len(first.requests) == 1
    assert elapsed < 1.5 + 0.3, elapsed


async def test_fallback_gets_the_time_left_and_answers() -> None:
    """A failing primary then a working fallback: answered within the single budget."""
    with (
        FakeLLMServer(default=Behaviour.status(500)) as first,
        FakeLLMServer(default=Behaviour.reply(GOOD)) as second,
    ):
        endpoints = [
            Endpoint("custom", first.base_url, "m"),
            Endpoint("custom", second.base_url, "m"),
        ]
        async with httpx.AsyncClient() as http:
            client = LLMClient(endpoints, http=http, timeout_s=3.0, max_retries=1, backoff_s=0.1)
            completion = await client.complete([{"role": "user", "content": "bonjour"}])
    assert completion.text == GOOD and len(second.requests) == 1


async def test_repair_call_stays_inside_the_answer_budget(real_kb: KnowledgeBase) -> None:
    """An unusable first draft after most of the budget, then a stalling repair call."""
    slow_bad = Behaviour.stream("pas du JSON", delay_s=1.2)
    with ScriptedLLM(echo_marker) as llm:
        llm.enqueue(slow_bad, Behaviour.stall(30))
        async with httpx.AsyncClient() as http:
            client = LLMClient([Endpoint("custom", llm.base_url, "m")], http=http, timeout_s=2.0)
            advisor = Advisor(real_kb, client)
            started = time.monotonic()
            shown: list[str] = []

            async def on_text(text: str) -> None:
                shown.append(text)

            advice = await advisor.advise("Je veux automatiser mes devis", on_text=on_text)
            elapsed = time.monotonic() - started
    assert advice.degraded and advice.mode == "degraded"
    assert advice.fallback_reason == "timeout"
    assert elapsed < 2.0 + 0.5, elapsed
    # what the user sees: the offline answer under the "LLM unavailable" notice, and nothing
    # of the unusable draft, neither streamed nor in the answer
    offline = await Advisor(real_kb, None).advise("Je veux automatiser mes devis")
    assert advice.notice == LLM_UNAVAILABLE.format(provider=provider_name("custom"))
    assert advice.answer == offline.answer and advice.pilot == offline.pilot
    assert shown == [] and "pas du JSON" not in advice.answer
    await asyncio.sleep(0)


QUESTION = "Comment réduire le temps passé sur mes devis ?"
CUT = Behaviour.stream('{"answer": "Commencez par', finish_reason="length")
REASONS: dict[str, tuple[Behaviour, str]] = {
    "stall": (Behaviour.stall(30), "timeout"),
    "http-500": (Behaviour.status(500), "unavailable"),
    "429-storm": (Behaviour.status(429, retry_after=0.1), "rate_limited"),
    "401": (Behaviour.status(401), "auth"),
    "malformed-body": (Behaviour.malformed(), "unavailable"),
    "stream-cut": (Behaviour.cut(GOOD, after_chars=25), "unavailable"),
    "not-json-twice": (Behaviour.stream("Pas de JSON aujourd'hui."), "invalid_json"),
    "cut-at-token-limit-twice": (CUT, "truncated"),
    "invented-figures": (
        Behaviour.stream(draft("Vous gagnerez 73 % de temps. Le logiciel coûte 412 €.")),
        "unsupported_claims",
    ),
}


@pytest.mark.parametrize("fault", REASONS)
async def test_fallback_says_why_and_counts_the_tokens_spent(
    fault: str, real_kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    """`ask --json` tells "LLM down" from "no LLM": mode degraded, a reason, the usage."""
    behaviour, reason = REASONS[fault]
    with FakeLLMServer(default=behaviour) as llm:
        async with httpx.AsyncClient() as http:
            endpoint = Endpoint("custom", llm.base_url, "m", "sk-test-0000000000000000")
            options = {"timeout_s": TIMEOUT_S, "max_retries": 1, "backoff_s": 0.05}
            client = LLMClient([endpoint], http=http, **options)
            advice = await Advisor(real_kb, client).advise(QUESTION)
        answered = [r for r in llm.requests if r.body]
    contract = advice.to_contract()
    assert (contract["mode"], contract["fallback_reason"]) == ("degraded", reason)
    assert advice.notice and advice.pilot is not None and advice.answer
    # tokens are spent once the model has written something, even a cut stream
    spent = fault in (
        "stream-cut",
        "not-json-twice",
        "cut-at-token-limit-twice",
        "invented-figures",
    )
    assert (contract["usage"] is not None) == spent, contract["usage"]
    assert f"LLM answer unusable ({reason})" in caplog.text
    if reason == "truncated":  # retried once with more room, never "repaired"
        first, second = (r.body for r in answered)
        assert second["max_tokens"] > first["max_tokens"]
        assert "utilisable" not in second["messages"][-1]["content"]
