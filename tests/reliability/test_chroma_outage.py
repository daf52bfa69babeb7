"""Chroma server stopped while the bot runs: a clear French message; restarted: the bot
recovers without a restart of its own."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot import messages as msg
from retrieval import open_knowledge_base
from tests.fakes.embedder import HashEmbedder
from tests.fakes.llm_server import Behaviour
from tests.fakes.processes import free_port, start_chroma, stop
from tests.reliability.support import (
    BotRun,
    CountingTelegram,
    ScriptedLLM,
    bot_settings,
    echo_marker,
)

SMALL_KNOWLEDGE = Path(__file__).resolve().parents[1] / "advisor" / "fixtures" / "knowledge"


@pytest.mark.slow
async def test_chroma_outage_then_recovery(telegram: CountingTelegram, tmp_path: Path) -> None:
    port, path, log = free_port(), tmp_path / "chroma", tmp_path / "chroma.log"
    server = start_chroma(path, port, log)
    embedder = HashEmbedder()
    kb = open_knowledge_base(
        index_dir=tmp_path / "index",
        knowledge_dir=SMALL_KNOWLEDGE,
        embedding_model=embedder.model_name,
        embedder=embedder,
        chroma_host="127.0.0.1",
        chroma_port=port,
    )
    try:
        kb.ingest([SMALL_KNOWLEDGE], progress=False)
        with ScriptedLLM(lambda r: Behaviour.stream(echo_marker(r))) as llm:
            settings = bot_settings(tmp_path / "data", telegram, llm.base_url)
            async with BotRun(settings, kb) as run:
                telegram.push_message(1, 1, "Q1x0 commandes WhatsApp de ma boulangerie")
                first = await telegram.next_final(1, 0, timeout=20)
                assert "Q1x0" in first.text
                stop(server)
                started = time.monotonic()
                telegram.push_message(1, 1, "Q1x1 et pour les devis ?")
                down = await telegram.next_final(1, 1, timeout=30)
                down_s = time.monotonic() - started
                server = start_chroma(path, port, log)
                telegram.push_message(1, 1, "Q1x2 commandes WhatsApp de ma boulangerie")
                try:
                    back = await telegram.next_final(1, 2, timeout=30)
                except TimeoutError:
                    seen = [(m.plain[:60], m.edits) for m in telegram.chat_messages(1)]
                    message = f"no answer after the restart: {seen} {run.errors}"
                    raise AssertionError(message) from None
                assert run.errors == []
        shown = telegram.messages[(1, down.message_id)].plain
        print(f"\n[chroma] outage answered in {down_s:.2f} s: {shown[:80]!r}")
        assert shown == msg.STORE_UNAVAILABLE
        assert "Q1x2" in back.text
    finally:
        kb.close()
        stop(server)
