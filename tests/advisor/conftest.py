"""Fixtures of the advisor tests: a fake LLM server reached through a real httpx client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.fakes.llm_server import FakeLLMServer

TEST_KEY = "sk-test-SECRET-0123456789"


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
