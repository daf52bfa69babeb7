"""One end-to-end run with the real offline advisor behind the real PTB Application."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.advisor import Advisor
from bot.messages import DECLINE_OFF_TOPIC, NO_ADVICE_YET
from retrieval import KnowledgeBase
from tests.fakes.embedder import hash_indexed_kb
from tests.fakes.telegram_server import FakeTelegram
from tests.telegram.conftest import BotHarness

FIXTURE_KNOWLEDGE = Path(__file__).parents[1] / "advisor" / "fixtures" / "knowledge"


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    base = hash_indexed_kb(tmp_path / "index", FIXTURE_KNOWLEDGE)
    yield base
    base.close()


async def test_offline_advisor_answers_through_telegram(
    harness: BotHarness, fake: FakeTelegram, kb: KnowledgeBase
) -> None:
    advisor = Advisor(kb, None)
    harness.overrides.update(llm_provider=None, llm_api_key=None)
    await harness.start(advisor)
    fake.push_message(77, 77, "Je tiens une boulangerie et je croule sous les commandes WhatsApp")
    answers = await fake.until(
        lambda f: [m for m in f.chat_messages(77) if ("📋 Checklist", "a:ck") in m.buttons],
        timeout=30,
    )
    plain = answers[-1].plain
    assert "€" in plain and "Sources" in plain and "Pilote de deux semaines" in plain
    fake.push_callback(77, 77, "a:ck", answers[-1].message_id)
    board = await fake.until(
        lambda f: [
            m
            for m in f.chat_messages(77)
            if "/" in m.plain and any(d.startswith("c:t:") for _, d in m.buttons)
        ]
    )
    assert board[-1].plain.startswith("Pilote de deux semaines · 0/")
    await advisor.aclose()


async def test_off_topic_is_declined_with_only_the_vote_buttons(
    harness: BotHarness, fake: FakeTelegram, kb: KnowledgeBase
) -> None:
    advisor = Advisor(kb, None)
    harness.overrides.update(llm_provider=None, llm_api_key=None)
    await harness.start(advisor)
    fake.push_message(78, 78, "Tu as une recette de la tarte tatin ?")
    shown = await fake.until(
        lambda f: [m for m in f.chat_messages(78) if "ne peux pas vous aider" in m.plain],
        timeout=30,
    )
    assert shown[-1].plain == DECLINE_OFF_TOPIC
    assert [data[:4] for _, data in shown[-1].buttons] == ["v:+:", "v:-:"]  # 👍 / 👎 only
    assert harness.store is not None and harness.store.last_advice(78, 78) is None
    fake.push_message(78, 78, "/pilote")
    await fake.until(lambda f: [m for m in f.chat_messages(78) if m.plain == NO_ADVICE_YET])
    await advisor.aclose()
