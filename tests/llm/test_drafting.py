"""The draft loop against the fake provider: schema, retry with room, json-repair, repair."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from bot.drafting import DraftFailure, request_draft
from bot.llm import Endpoint, LLMClient
from bot.prompt import PromptRequest, PromptSource
from tests.fakes.llm_server import Behaviour, FakeLLMServer

QUESTION = "Ma question très personnelle sur la boulangerie de Mme Dupont"
SOURCES = [
    PromptSource(n, f"fiche-{n}", f"Titre {n}", "guide", f"Passage {n}. " + "mot " * 150)
    for n in range(1, 7)
]
TOOLS = (("tool-a", "Outil A (0 à 15 €/mois)"), ("tool-b", "Outil B (9 €/mois)"))
PILOT = {"goal": "g", "kpis": [], "steps": [], "budget_eur": 0}
TOOL = {"id": "tool-a", "why": "simple"}
ANSWER = "Mesurez le temps passé [1]."
GOOD = json.dumps({"answer": ANSWER, "citations": [1], "tools": [TOOL], "pilot": PILOT})


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def llm(server: FakeLLMServer) -> AsyncIterator[LLMClient]:
    async with httpx.AsyncClient() as http:
        endpoint = Endpoint("custom", server.base_url, "m", api_key="sk-test-000000000000")
        yield LLMClient([endpoint], http=http, timeout_s=5, max_retries=0, max_tokens=1000)


def need(**overrides: object) -> PromptRequest:
    values: dict[str, object] = {
        "question": QUESTION,
        "intent": "need",
        "sources": SOURCES,
        "allowed_tools": TOOLS,
        "context_tokens": 4096,
    }
    values.update(overrides)
    return PromptRequest(**values)  # type: ignore[arg-type]


async def test_schema_limits_tools_to_those_offered(llm: LLMClient, server: FakeLLMServer) -> None:
    server.enqueue(Behaviour.conform("Commencez par mesurer le temps passé [1]."))
    outcome = await request_draft(llm, need())
    body = server.requests[0].body
    tool = body["response_format"]["json_schema"]["schema"]["properties"]["tools"]["items"]
    assert tool["properties"]["id"]["enum"] == ["tool-a", "tool-b"]
    assert body["max_tokens"] == 1000 and body["stream"] is True
    assert outcome.draft.answer == "Commencez par mesurer le temps passé [1]."
    assert outcome.trace.structure_valid and outcome.completions[0].response_format == "json_schema"


async def test_information_asks_for_less(llm: LLMClient, server: FakeLLMServer) -> None:
    server.enqueue(Behaviour.conform("Le fait demandé, avec sa source [1]."))
    outcome = await request_draft(llm, need(intent="information"))
    body = server.requests[0].body
    assert list(body["response_format"]["json_schema"]["schema"]["properties"]) == [
        "answer",
        "citations",
    ]
    assert body["max_tokens"] == 500 and "outils_autorises" not in body["messages"][-1]["content"]
    assert outcome.prompt.tools == ()


async def test_a_reply_cut_at_the_limit_is_asked_again_with_room_not_repaired(
    llm: LLMClient, server: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cut = Behaviour.stream('{"answer": "Mesurez', finish_reason="length")
    server.enqueue(cut, Behaviour.stream(GOOD))
    outcome = await request_draft(llm, need())
    first, second = (r.body for r in server.requests)
    assert second["max_tokens"] == 1500 > first["max_tokens"]
    sources_sent = [body["messages"][-1]["content"].count("(guide, id") for body in (first, second)]
    assert sources_sent[1] < sources_sent[0]
    assert len(second["messages"]) == len(first["messages"])  # no repair turn
    assert outcome.trace.length_retries == 1 and outcome.trace.repairs == 0
    assert not outcome.trace.structure_valid and len(outcome.completions) == 2
    assert "cut short" in caplog.text and QUESTION not in caplog.text


async def test_json_repair_saves_a_call(llm: LLMClient, server: FakeLLMServer) -> None:
    server.enqueue(Behaviour.stream('{"answer": "Mesurez le temps passé.", "citations": [1,],}'))
    outcome = await request_draft(llm, need())
    assert len(server.requests) == 1
    assert outcome.trace.local_json_fix and not outcome.trace.structure_valid


async def test_an_unusable_reply_is_repaired_once_with_its_reason(
    llm: LLMClient, server: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server.enqueue(Behaviour.stream('{"tools": []}'), Behaviour.stream(GOOD))
    outcome = await request_draft(llm, need())
    repair = server.requests[1].body["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"tools": []}'}
    assert "answer" in repair[-1]["content"] and "JSON" in repair[-1]["content"]
    assert outcome.trace.repairs == 1 and len(outcome.completions) == 2
    assert "asking for a repair" in caplog.text and "answer" in caplog.text


async def test_a_failed_repair_carries_the_completions_spent(
    llm: LLMClient, server: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.default = Behaviour.stream("pas du JSON")
    with pytest.raises(DraftFailure) as info:
        await request_draft(llm, need())
    assert info.value.reason == "invalid_json" and len(info.value.completions) == 2
    assert "LLM draft rejected (invalid_json)" in caplog.text
    assert QUESTION not in caplog.text and "sk-test" not in caplog.text


async def test_a_call_cut_after_text_counts_an_estimate(
    llm: LLMClient, server: FakeLLMServer
) -> None:
    server.enqueue(Behaviour.cut(GOOD, after_chars=30))
    with pytest.raises(DraftFailure) as info:
        await request_draft(llm, need())
    assert info.value.reason == "unavailable"
    (spent,) = info.value.completions
    assert spent.usage_estimated and spent.prompt_tokens > 100 and spent.completion_tokens > 0


async def test_nothing_written_nothing_counted(llm: LLMClient, server: FakeLLMServer) -> None:
    server.enqueue(Behaviour.status(401))
    with pytest.raises(DraftFailure) as info:
        await request_draft(llm, need())
    assert info.value.reason == "auth" and info.value.completions == ()


async def test_an_echo_of_the_question_is_not_an_answer(
    llm: LLMClient, server: FakeLLMServer
) -> None:
    echo = json.dumps({"answer": QUESTION, "citations": [1]}, ensure_ascii=False)
    server.default = Behaviour.stream(echo)
    with pytest.raises(DraftFailure) as info:
        await request_draft(llm, need(intent="information"))
    assert info.value.reason == "invalid_json" and "recopie" in str(info.value)
    assert len(server.requests) == 2  # one repair was asked for
