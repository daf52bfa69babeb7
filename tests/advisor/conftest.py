"""Fixtures of the advisor tests: a fake LLM server reached through a real httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.fakes.llm_server import FakeLLMServer

TEST_KEY = "sk-test-SECRET-0123456789"
# the keys of the `ask --json` object (README, "ask --json contract")
CONTRACT_KEYS = {
    "answer",
    "intent",
    "tools",
    "pilot",
    "sources",
    "mode",
    "fallback_reason",
    "usage",
}


@pytest.fixture
def llm_server() -> Iterator[FakeLLMServer]:
    """A fake OpenAI-compatible provider on 127.0.0.1."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A real httpx client, closed after the test."""
    async with httpx.AsyncClient() as client:
        yield client


# --- A real KnowledgeBase over small fixture fiches, with the fast hash embedder ----------

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bot.advisor import Advisor  # noqa: E402
from bot.llm import Endpoint, LLMClient  # noqa: E402
from retrieval import KnowledgeBase  # noqa: E402
from tests.fakes.embedder import hash_indexed_kb  # noqa: E402

FIXTURE_KNOWLEDGE = Path(__file__).parent / "fixtures" / "knowledge"


@pytest.fixture(scope="session")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    """The fixture fiches indexed once per session (hash embedder, embedded Chroma)."""
    kb = hash_indexed_kb(tmp_path_factory.mktemp("advisor-kb"), FIXTURE_KNOWLEDGE)
    yield kb
    kb.close()


AdvisorFactory = Callable[..., Advisor]


@pytest.fixture
def make_advisor(
    small_kb: KnowledgeBase, llm_server: FakeLLMServer, http: httpx.AsyncClient
) -> AdvisorFactory:
    """Build an Advisor on the small KB talking to the fake provider (or offline)."""

    def build(*, offline: bool = False, **client_options: Any) -> Advisor:
        if offline:
            return Advisor(small_kb, None)
        endpoint = Endpoint("deepseek", llm_server.base_url, "deepseek-chat", api_key=TEST_KEY)
        options: dict[str, Any] = {"timeout_s": 5.0, "max_retries": 2, "backoff_s": 0.05}
        options.update(client_options)
        return Advisor(small_kb, LLMClient([endpoint], http=http, **options))

    return build
