"""End to end, issue 13 section 5: `/profil` shows the saved profile, `/mesdonnees` sends a
copy of everything stored, `/oubli` leaves nothing (answer log and votes included)."""

from __future__ import annotations

import json
from typing import Any

from bot import messages as msg
from bot.advice import Profile
from bot.storage import SQLiteStore
from tests.fakes.telegram_server import FakeTelegram, SentMessage
from tests.telegram.conftest import BotHarness

USER, CHAT = 801, 801
GROUP = -100801
QUESTION = "Je croule sous les commandes WhatsApp de ma boulangerie, que faire ?"


def _store(harness: BotHarness) -> SQLiteStore:
    assert harness.store is not None
    return harness.store


async def _reply_to(fake: FakeTelegram, text: str, needle: str, chat: int = CHAT) -> SentMessage:
    """Send `text` and wait for a new bot message containing `needle`."""
    before = {m.message_id for m in fake.chat_messages(chat)}
    fake.push_message(chat, USER, text, chat_type="private" if chat > 0 else "supergroup")
    found = await fake.until(
        lambda f: [
            m for m in f.chat_messages(chat) if m.message_id not in before and needle in m.plain
        ]
    )
    return found[-1]  # type: ignore[no-any-return]


async def _tap(fake: FakeTelegram, message: SentMessage, data: str, needle: str) -> None:
    """Tap a button of `message` and wait until the message shows `needle`."""
    fake.push_callback(CHAT, USER, data, message.message_id)
    await fake.until(lambda f: needle in message.plain)


async def _four_taps(fake: FakeTelegram, step: SentMessage) -> None:
    for data, prompt in (
        ("p:s:commerce", "2/4"),
        ("p:z:seul", "3/4"),
        ("p:b:200", "4/4"),
        ("p:p:marketing", "C'est noté"),
    ):
        await _tap(fake, step, data, prompt)


async def _my_data(fake: FakeTelegram) -> dict[str, Any]:
    """Send /mesdonnees and read the JSON document the bot sends back."""
    before = len(fake.calls_to("sendDocument"))
    fake.push_message(CHAT, USER, "/mesdonnees")
    calls = await fake.until(
        lambda f: len(f.calls_to("sendDocument")) > before and f.calls_to("sendDocument")
    )
    call = calls[-1]
    name, body = call.files["document"]
    assert name == msg.MY_DATA_FILE and call.params["caption"] == msg.MY_DATA_CAPTION
    data = json.loads(body.decode())
    assert isinstance(data, dict)
    return data


async def test_profile_is_shown_after_the_four_taps_and_edited_from_there(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    step = await _reply_to(fake, "/profil", "1/4")  # no profile yet: the questionnaire
    await _four_taps(fake, step)

    card = await _reply_to(fake, "/profil", "Votre profil")
    assert card.plain.splitlines() == [
        "Votre profil",
        "Secteur : Commerce",
        "Taille : Seul(e)",
        "Budget : 50 à 200 € par mois",
        "Priorité : Marketing",
    ]
    assert card.buttons == [("✏️ Modifier", "p:edit")]

    await _tap(fake, card, "p:edit", "1/4")  # « Modifier » starts the questionnaire again
    assert ("Artisanat / BTP", "p:s:artisanat-btp") in card.buttons
    for data, prompt in (
        ("p:s:artisanat-btp", "2/4"),
        ("p:z:2-9", "3/4"),
        ("p:b:0", "4/4"),
        ("p:p:devis", "C'est noté"),
    ):
        await _tap(fake, card, data, prompt)
    shown = await _reply_to(fake, "/profil", "Votre profil")
    assert "Secteur : Artisanat / BTP" in shown.plain and "Budget : 0 € par mois" in shown.plain
    assert "Priorité : Devis / administratif" in shown.plain


async def test_my_data_holds_profile_question_and_feedback_and_forget_erases_it(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    store = _store(harness)
    step = await _reply_to(fake, "/profil", "1/4")
    await _four_taps(fake, step)
    answer = await _reply_to(fake, QUESTION, "WhatsApp Business")
    [vote_down] = [d for _, d in answer.buttons if d.startswith("v:-:")]
    answer_id = int(vote_down.rsplit(":", 1)[1])
    fake.push_callback(CHAT, USER, vote_down, answer.message_id)
    reasons = await fake.until(
        lambda f: [m for m in f.chat_messages(CHAT) if m.plain == msg.VOTE_REASON_ASK]
    )
    await _tap(fake, reasons[0], f"v:r:e:{answer_id}", "Trop cher")

    data = await _my_data(fake)
    assert data["user_id"] == USER
    assert data["profile"] == {
        "sector": "commerce",
        "size": "seul",
        "monthly_budget_eur": 200.0,
        "priority": "marketing",
    }
    assert [h["question"] for h in data["history"]] == [QUESTION]
    assert data["history"][0]["answer"].startswith("Centralisez les commandes WhatsApp")
    tools = data["last_answers"][0]["advice"]["tools"]
    assert [t["name"] for t in tools] == ["WhatsApp Business", "Le Chat Pro"]
    [logged] = data["answers"]
    assert logged["answer_id"] == answer_id and logged["question"] == QUESTION
    assert logged["mode"] == "llm" and logged["cited"] == [
        "tool-whatsapp-business",
        "guide-pilote-messages",
    ]
    [feedback] = data["feedback"]
    assert (feedback["answer_id"], feedback["vote"], feedback["reason"]) == (
        answer_id,
        -1,
        "too_expensive",
    )
    assert data["usage"][0]["cost_eur"] > 0 and len(data["questions_asked_at"]) == 1

    confirm = await _reply_to(fake, "/oubli", "avis")
    await _tap(fake, confirm, "f:yes", "plus rien")
    assert store.answer(answer_id) is None and store.feedback_since(0) == []
    empty = await _my_data(fake)
    assert empty["profile"] is None and empty["checklist"] is None
    for key in ("history", "last_answers", "answers", "feedback", "usage", "reminders"):
        assert empty[key] == [], key
    assert empty["questions_asked_at"] == [] and empty["questions_in_flight"] == []
    # the buttons of the erased answer no longer store anything
    fake.push_callback(CHAT, USER, f"v:+:{answer_id}", answer.message_id)
    await fake.until(
        lambda f: (
            msg.VOTE_UNKNOWN in [c.params.get("text") for c in f.calls_to("answerCallbackQuery")]
        )
    )
    assert store.feedback_since(0) == []


async def test_my_data_is_only_sent_in_a_private_chat(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    _store(harness).save_profile(USER, Profile(sector="sante", size="2-9"))
    refused = await _reply_to(fake, "/mesdonnees", "message privé", chat=GROUP)
    assert refused.plain == msg.MY_DATA_PRIVATE_ONLY
    assert fake.calls_to("sendDocument") == []


async def test_my_data_command_is_listed(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    help_text = await _reply_to(fake, "/aide", "/pilote")
    assert "/mesdonnees" in help_text.plain
    [call] = fake.calls_to("setMyCommands")
    names = [c["command"] for c in json.loads(call.params["commands"])]
    assert "mesdonnees" in names and "oubli" in names
