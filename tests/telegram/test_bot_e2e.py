"""End to end: the real PTB Application polls the fake Bot API over real HTTP."""

from __future__ import annotations

from tests.fakes.telegram_server import FakeTelegram
from tests.telegram.conftest import BotHarness

USER, CHAT = 501, 501


async def test_start_and_onboarding_by_four_taps(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    fake.push_message(CHAT, USER, "/start")
    sector = await fake.until(lambda f: [m for m in f.chat_messages(CHAT) if m.buttons])
    welcome = fake.chat_messages(CHAT)[0].plain
    assert "IA" in welcome and "assistant" in welcome
    message = sector[-1]
    for data in ("p:s:restauration", "p:z:2-9", "p:b:50", "p:p:clients"):
        assert data in [d for _, d in message.buttons]
        before = message.edits
        fake.push_callback(CHAT, USER, data, message.message_id)
        await fake.until(lambda f, b=before: message.edits > b)
    assert "Posez-moi votre question" in message.plain and not message.buttons
    assert harness.store is not None
    profile = harness.store.get_profile(USER)
    assert profile is not None
    assert (profile.sector, profile.size, profile.monthly_budget_eur, profile.priority) == (
        "restauration", "2-9", 50.0, "répondre aux clients",
    )
    commands = fake.calls_to("setMyCommands")
    assert commands and "oubli" in commands[0].params["commands"]
    assert fake.allowed_updates == ["message", "callback_query"]
