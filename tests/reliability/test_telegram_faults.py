"""Telegram send faults (429 with retry_after, 5xx, dropped connections): delivered once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from retrieval import KnowledgeBase
from tests.fakes.llm_server import Behaviour
from tests.reliability.support import BotRun, CountingTelegram, ScriptedLLM, bot_settings
from tests.reliability.support import echo_marker as _echo

SCENARIOS = {
    "placeholder-429": ("sendMessage", {"status": 429, "retry_after": 1}),
    "final-edit-429": ("editMessageText", {"status": 429, "retry_after": 1}),
    "placeholder-500": ("sendMessage", {"status": 500}),
    "final-edit-502": ("editMessageText", {"status": 502}),
    "placeholder-dropped": ("sendMessage", {"drop": True}),
    "final-edit-dropped": ("editMessageText", {"drop": True}),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_answer_delivered_exactly_once(
    scenario: str, telegram: CountingTelegram, real_kb: KnowledgeBase, tmp_path: Path
) -> None:
    method, failure = SCENARIOS[scenario]
    with ScriptedLLM(lambda r: Behaviour.stream(_echo(r))) as llm:
        settings = bot_settings(tmp_path / "data", telegram, llm.base_url)
        async with BotRun(settings, real_kb) as run:
            telegram.fail_next(method, 1, **failure)  # type: ignore[arg-type]
            started = time.monotonic()
            telegram.push_message(601, 601, "Q601x1 comment gagner du temps sur les devis ?")
            final = await telegram.next_final(601, 0, timeout=20)
            # give a late duplicate every chance to show up
            telegram.push_message(601, 601, "Q601x2 et pour les factures ?")
            await telegram.next_final(601, 1, timeout=20)
            assert run.errors == []
    print(f"\n[telegram] {scenario}: delivered after {final.at - started:.2f} s")
    finals = telegram.finals_of(601)
    assert [("Q601x1" in f.text, "Q601x2" in f.text) for f in finals] == [
        (True, False),
        (False, True),
    ]
    texts = [m.plain for m in telegram.chat_messages(601)]
    assert sum("Q601x1" in t for t in texts) == 1, texts
    assert not any("Désolé" in t for t in texts), texts
