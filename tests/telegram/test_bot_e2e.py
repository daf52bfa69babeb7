"""End to end: the real PTB Application polls the fake Bot API over real HTTP."""

from __future__ import annotations

from bot.telegram.streaming import send_html
from tests.fakes.telegram_server import FakeTelegram, SentMessage
from tests.telegram.conftest import BotHarness
from tests.telegram.support import UNAVAILABLE, FakeAdvisor

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
        "restauration",
        "2-9",
        50.0,
        "répondre aux clients",
    )
    commands = fake.calls_to("setMyCommands")
    assert commands and "oubli" in commands[0].params["commands"]
    assert fake.allowed_updates == ["message", "callback_query"]


def _answers(fake: FakeTelegram, chat: int) -> list[SentMessage]:
    return [m for m in fake.chat_messages(chat) if any(d == "a:ck" for _, d in m.buttons)]


async def _ask(fake: FakeTelegram, text: str, chat: int = CHAT, user: int = USER) -> SentMessage:
    count = len(_answers(fake, chat))
    fake.push_message(chat, user, text)
    found = await fake.until(lambda f: len(_answers(f, chat)) > count and _answers(f, chat))
    return found[-1]  # type: ignore[no-any-return]


async def test_question_answered_with_buttons_and_checklist(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    answer = await _ask(fake, "Je croule sous les commandes WhatsApp, que faire ?")
    plain = answer.plain
    assert "WhatsApp Business" in plain and "14,99 €/mois" in plain and "Sources" in plain
    assert "1. WhatsApp Business" in plain
    assert all(len(d.encode()) <= 64 for _, d in answer.buttons)
    assert fake.calls_to("sendChatAction")
    fake.push_callback(CHAT, USER, "a:ck", answer.message_id)
    checklist = await fake.until(lambda f: [m for m in f.chat_messages(CHAT) if "0/7" in m.plain])
    assert len([d for _, d in checklist[-1].buttons if d.startswith("c:t:")]) == 7
    fake.push_callback(CHAT, USER, "a:co", answer.message_id)
    await fake.until(lambda f: [m for m in f.chat_messages(CHAT) if "Détail des coûts" in m.plain])
    fake.push_callback(CHAT, USER, "c:ics", checklist[-1].message_id)
    ics = await fake.until(lambda f: [m for m in f.chat_messages(CHAT) if m.document])
    name, body = ics[-1].document
    assert name == "pilote.ics" and body.count(b"BEGIN:VEVENT") == 14


async def test_checklist_ticks_survive_a_restart(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    await _ask(fake, "Comment gagner du temps sur les devis ?")
    fake.push_message(CHAT, USER, "/pilote")
    board = (await fake.until(lambda f: [m for m in f.chat_messages(CHAT) if "0/7" in m.plain]))[-1]
    for idx, progress in ((0, "1/7"), (3, "2/7")):
        fake.push_callback(CHAT, USER, f"c:t:{idx}", board.message_id)
        await fake.until(lambda f, p=progress: p in board.plain)
    await harness.restart()
    fake.push_message(CHAT, USER, "/pilote")
    shown = await fake.until(
        lambda f: [m for m in f.chat_messages(CHAT) if "2/7" in m.plain and m is not board]
    )
    ticked = [t for t, d in shown[-1].buttons if d in ("c:t:0", "c:t:3")]
    assert all(t.startswith("✅") for t in ticked) and len(ticked) == 2
    assert sum(t.startswith("⬜") for t, _ in shown[-1].buttons) == 5


async def test_forget_erases_everything(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    await _ask(fake, "Quels outils pour ma compta ?")
    store = harness.store
    assert store is not None and store.history(CHAT, USER, 5)
    fake.push_message(CHAT, USER, "/oubli")
    confirm = (
        await fake.until(
            lambda f: [
                m for m in f.chat_messages(CHAT) if ("Oui, tout effacer", "f:yes") in m.buttons
            ]
        )
    )[-1]
    fake.push_callback(CHAT, USER, "f:yes", confirm.message_id)
    await fake.until(lambda f: "plus rien" in confirm.plain)
    assert store.history(CHAT, USER, 5) == [] and store.last_advice(CHAT, USER) is None
    assert store.checklist(USER) is None and store.questions_since(USER, 0) == 0


async def test_group_answers_only_when_mentioned_or_replied(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    advisor = FakeAdvisor()
    await harness.start(advisor)
    group = -100200
    fake.push_message(group, USER, "bonjour à tous", chat_type="supergroup")
    answer = await _ask(fake, "@pilote_ia_bot quels outils pour un salon de coiffure ?", group)
    assert advisor.calls[0][0] == "quels outils pour un salon de coiffure ?"
    assert len(advisor.calls) == 1
    fake.push_message(
        group,
        USER,
        "et moins cher ?",
        chat_type="supergroup",
        reply_to_message_id=answer.message_id,
    )
    await fake.until(lambda f: len(_answers(f, group)) == 2)
    assert [c[0] for c in advisor.calls] == [
        "quels outils pour un salon de coiffure ?",
        "et moins cher ?",
    ]
    assert advisor.calls[1][2][0].question == "quels outils pour un salon de coiffure ?"
    assert harness.store is not None and harness.store.history(CHAT, USER, 5) == []


async def test_voice_gets_a_polite_reply(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    fake.push_voice(CHAT, USER)
    reply = await fake.until(lambda f: f.chat_messages(CHAT))
    assert "Je ne lis que les messages écrits" in reply[0].plain


async def test_429_on_send_message_is_delivered_once(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    fake.push_message(CHAT, USER, "/aide")
    await fake.until(lambda f: f.chat_messages(CHAT))
    fake.fail_next("sendMessage", 2, status=429, retry_after=1)
    fake.push_message(CHAT, USER, "/aide")
    await fake.until(lambda f: len(f.chat_messages(CHAT)) == 2)
    failed = [c for c in fake.calls if c.method == "sendMessage" and c.status == 429]
    assert len(failed) == 2
    assert len(fake.chat_messages(CHAT)) == 2  # delivered exactly once


async def test_long_answer_is_split_and_valid(harness: BotHarness, fake: FakeTelegram) -> None:
    long_text = "\n\n".join(f"Paragraphe {i} : " + "des conseils utiles " * 40 for i in range(12))
    await harness.start(FakeAdvisor(answer=long_text))
    last = await _ask(fake, "Donne-moi tout le détail")
    messages = fake.chat_messages(CHAT)
    assert len(messages) >= 3 and messages[-1] is last
    assert "Sources" in last.plain and "Paragraphe 0" in messages[0].plain


async def test_html_injection_is_shown_escaped(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start(FakeAdvisor(answer="Vous avez écrit <b>gras</b> & <script>x</script>"))
    answer = await _ask(fake, "<i>test</i>")
    assert "<b>gras</b> & <script>x</script>" in answer.plain


async def test_llm_failure_is_worded_in_french(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start(FakeAdvisor(fail=UNAVAILABLE))
    fake.push_message(CHAT, USER, "question")
    shown = await fake.until(lambda f: [m for m in f.chat_messages(CHAT) if "DeepSeek" in m.plain])
    assert "ne répond pas" in shown[0].plain


async def test_streaming_edits_then_busy_then_final(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    advisor = FakeAdvisor(delay=3.2, chunks=8, answer="Voici une réponse progressive. " * 8)
    await harness.start(advisor)
    fake.push_message(CHAT, USER, "Première question")
    await fake.until(lambda f: f.chat_messages(CHAT))
    fake.push_message(CHAT, USER, "Deuxième question")
    await fake.until(lambda f: [m for m in f.chat_messages(CHAT) if "encore" in m.plain])
    final = await fake.until(lambda f: _answers(f, CHAT), timeout=15)
    assert final[0].edits >= 2  # at least one streamed preview, then the answer
    assert len(advisor.calls) == 1


async def test_quota_and_budget(harness: BotHarness, fake: FakeTelegram) -> None:
    harness.offline_advisor = FakeAdvisor(answer="Réponse hors ligne.", cost=0)
    await harness.start(FakeAdvisor(cost=0.5), daily_budget_eur=0.1, questions_per_hour=2)
    await _ask(fake, "q1")
    second = await _ask(fake, "q2")
    assert "Budget IA du jour atteint" in second.plain and "Réponse hors ligne." in second.plain
    fake.push_message(CHAT, USER, "q3")
    await fake.until(lambda f: [m for m in f.chat_messages(CHAT) if "beaucoup" in m.plain])


async def test_already_processed_update_is_ignored(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    assert harness.store is not None
    harness.store.mark_update(1)  # as if a previous run had handled it
    fake.push_message(CHAT, USER, "/aide")
    fake.push_message(CHAT, USER, "/reset")
    await fake.until(lambda f: f.chat_messages(CHAT))
    shown = [m.plain for m in fake.chat_messages(CHAT)]
    assert shown == ["Conversation oubliée. Votre profil est conservé."]


async def test_parse_error_falls_back_to_plain_text(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    app = await harness.start()
    sent = await send_html(app.bot, CHAT, "<b>non fermé & <oups>")
    assert sent.text == "non fermé & <oups>"
    refused = [c for c in fake.calls if c.status == 400]
    assert len(refused) == 1
