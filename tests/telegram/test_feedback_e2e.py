"""End to end, issue 13 section 1: 👍 / 👎 under every answer, the reason and comment of a
👎, one changeable vote per answer, refused votes, and the answer log they refer to."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import messages as msg
from bot.advisor import Advisor
from bot.storage import SQLiteStore
from retrieval import KnowledgeBase
from tests.fakes.embedder import hash_indexed_kb
from tests.fakes.telegram_server import FakeTelegram, SentMessage
from tests.telegram.conftest import BotHarness
from tests.telegram.support import FakeAdvisor

USER, CHAT = 701, 701
OTHER = 702
GROUP = -100701
QUESTION = "Je croule sous les commandes WhatsApp de ma boulangerie, que faire ?"
FIXTURE_KNOWLEDGE = Path(__file__).parents[1] / "advisor" / "fixtures" / "knowledge"


def _answers(fake: FakeTelegram, chat: int = CHAT) -> list[SentMessage]:
    return [m for m in fake.chat_messages(chat) if any(d.startswith("v:") for _, d in m.buttons)]


async def _ask(
    fake: FakeTelegram, text: str, chat: int = CHAT, user: int = USER, **kwargs: Any
) -> SentMessage:
    count = len(_answers(fake, chat))
    fake.push_message(chat, user, text, **kwargs)
    found = await fake.until(lambda f: len(_answers(f, chat)) > count and _answers(f, chat))
    return found[-1]  # type: ignore[no-any-return]


async def _said(fake: FakeTelegram, needle: str, chat: int = CHAT, after: int = 0) -> SentMessage:
    """The first bot message of the chat with id above `after` that contains `needle`."""
    found = await fake.until(
        lambda f: [m for m in f.chat_messages(chat) if m.message_id > after and needle in m.plain]
    )
    return found[0]  # type: ignore[no-any-return]


def _answer_id(answer: SentMessage) -> int:
    [data] = [d for _, d in answer.buttons if d.startswith("v:+:")]
    return int(data.rsplit(":", 1)[1])


def _toasts(fake: FakeTelegram) -> list[str]:
    return [str(c.params.get("text", "")) for c in fake.calls_to("answerCallbackQuery")]


def _store(harness: BotHarness) -> SQLiteStore:
    assert harness.store is not None
    return harness.store


async def test_vote_down_with_reason_and_comment_then_change_it(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    advisor = FakeAdvisor(cost=0.0031)
    await harness.start(advisor)
    store = _store(harness)
    answer = await _ask(fake, QUESTION)
    answer_id = _answer_id(answer)
    assert answer.buttons == [
        ("📋 Checklist", "a:ck"),
        ("💶 Coûts", "a:co"),
        ("🔄 Autre option", "a:alt"),
        ("👍 Utile", f"v:+:{answer_id}"),
        ("👎 Pas utile", f"v:-:{answer_id}"),
    ]
    assert all(len(data.encode()) <= 64 for _, data in answer.buttons)
    logged = store.answer(answer_id)
    assert logged is not None
    assert (logged.user_id, logged.chat_id, logged.question) == (USER, CHAT, QUESTION)
    assert (logged.mode, logged.provider, logged.model) == ("llm", "deepseek", "deepseek-chat")
    assert logged.cited == ("tool-whatsapp-business", "guide-pilote-messages")
    assert logged.tools == ("WhatsApp Business", "Le Chat Pro")
    assert logged.cost_eur == 0.0031 and logged.latency_s >= 0 and logged.intent == "need"

    # 👎: thanked, the keyboard shows the vote (advice buttons kept), the reasons follow
    fake.push_callback(CHAT, USER, f"v:-:{answer_id}", answer.message_id)
    reasons = await _said(fake, msg.VOTE_REASON_ASK, after=answer.message_id)
    await fake.until(lambda f: ("✓ 👎 Pas utile", f"v:-:{answer_id}") in answer.buttons)
    assert ("👍 Utile", f"v:+:{answer_id}") in answer.buttons
    assert ("📋 Checklist", "a:ck") in answer.buttons
    assert msg.VOTE_THANKS in _toasts(fake)
    assert [label for label, _ in reasons.buttons] == list(msg.VOTE_REASONS.values())
    assert all(len(data.encode()) <= 64 for _, data in reasons.buttons)

    # "Autre": the reason is stored, the reasons go, a reply field asks for one line
    fake.push_callback(CHAT, USER, f"v:r:o:{answer_id}", reasons.message_id)
    prompt = await _said(fake, msg.VOTE_COMMENT_ASK, after=reasons.message_id)
    await fake.until(lambda f: "« Autre »" in reasons.plain)
    assert reasons.buttons == []
    assert prompt.reply_markup is not None and prompt.reply_markup["force_reply"] is True
    vote = store.feedback(answer_id)
    assert vote is not None and (vote.vote, vote.reason, vote.comment) == (-1, "other", None)

    # a message typed normally is still a question, never taken as the comment
    await _ask(fake, "Et pour mes devis ?")
    assert [q for q, _, _ in advisor.calls] == [QUESTION, "Et pour mes devis ?"]
    vote = store.feedback(answer_id)
    assert vote is not None and vote.comment is None

    # the reply to the prompt is the comment: stored, thanked, not answered as a question
    comment = "Je n'ai pas WhatsApp au magasin, seulement le téléphone."
    last = fake.chat_messages(CHAT)[-1].message_id
    fake.push_message(CHAT, USER, comment, reply_to_message_id=prompt.message_id)
    await _said(fake, msg.VOTE_COMMENT_THANKS, after=last)
    vote = store.feedback(answer_id)
    assert vote is not None and (vote.vote, vote.reason, vote.comment) == (-1, "other", comment)
    await fake.until(lambda f: not store.pending_questions())  # the question's row, once done
    assert len(advisor.calls) == 2

    # the vote is changed, not added: one row, a 👍 keeps no reason nor comment
    fake.push_callback(CHAT, USER, f"v:+:{answer_id}", answer.message_id)
    await fake.until(lambda f: ("✓ 👍 Utile", f"v:+:{answer_id}") in answer.buttons)
    assert ("👎 Pas utile", f"v:-:{answer_id}") in answer.buttons
    [vote] = [f for f in store.feedback_since(0) if f.answer_id == answer_id]
    assert (vote.user_id, vote.vote, vote.reason, vote.comment) == (USER, 1, None, None)
    # a stale reason tap cannot put a reason on the 👍
    fake.push_callback(CHAT, USER, f"v:r:u:{answer_id}", reasons.message_id)
    await fake.until(lambda f: msg.VOTE_REASON_STALE in _toasts(f))
    vote2 = store.feedback(answer_id)
    assert vote2 is not None and vote2.reason is None


async def test_buttons_do_not_reappear_on_resent_text(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    answer = await _ask(fake, QUESTION)
    fake.push_callback(CHAT, USER, "a:co", answer.message_id)
    detail = await _said(fake, "Détail des coûts", after=answer.message_id)
    fake.push_callback(CHAT, USER, "a:ck", answer.message_id)
    board = await _said(fake, "Pilote de deux semaines ·", after=answer.message_id)
    for resent in (detail, board):
        assert not [d for _, d in resent.buttons if d.startswith("v:")]
    assert _answers(fake) == [answer]


async def test_votes_on_unknown_or_foreign_answers_are_refused(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    store = _store(harness)
    answer = await _ask(fake, "@pilote_ia_bot " + QUESTION, chat=GROUP, chat_type="supergroup")
    answer_id = _answer_id(answer)
    for data in (f"v:-:{answer_id}", f"v:r:f:{answer_id}"):  # another member of the group
        fake.push_callback(GROUP, OTHER, data, answer.message_id)
    fake.push_callback(GROUP, USER, f"v:-:{answer_id + 1000}", answer.message_id)  # unknown
    fake.push_callback(GROUP, USER, "v:?:x", answer.message_id)  # forged
    await fake.until(lambda f: len(_toasts(f)) == 4)
    assert sorted(_toasts(fake)) == sorted([msg.VOTE_NOT_YOURS] * 2 + [msg.VOTE_UNKNOWN] * 2)
    assert store.feedback_since(0) == []
    assert ("👎 Pas utile", f"v:-:{answer_id}") in answer.buttons  # untouched

    # the owner's 👎 in the group; another member replying to the comment prompt is asking
    # the bot a question, and is answered as such
    fake.push_callback(GROUP, USER, f"v:-:{answer_id}", answer.message_id)
    reasons = await _said(fake, msg.VOTE_REASON_ASK, chat=GROUP)
    fake.push_callback(GROUP, USER, f"v:r:f:{answer_id}", reasons.message_id)
    prompt = await _said(fake, msg.VOTE_COMMENT_ASK, chat=GROUP)
    assert prompt.text is not None and f"tg://user?id={USER}" in prompt.text
    reply = await _ask(
        fake,
        "Et pour la facturation ?",
        chat=GROUP,
        user=OTHER,
        chat_type="supergroup",
        reply_to_message_id=prompt.message_id,
    )
    assert _answer_id(reply) != answer_id
    vote = store.feedback(answer_id)
    assert vote is not None and (vote.reason, vote.comment) == ("wrong_fact", None)


@pytest.fixture
def kb(tmp_path: Path) -> Iterator[KnowledgeBase]:
    base = hash_indexed_kb(tmp_path / "index", FIXTURE_KNOWLEDGE)
    yield base
    base.close()


async def test_the_real_advisor_logs_retrieval_and_declines_can_be_voted(
    harness: BotHarness, fake: FakeTelegram, kb: KnowledgeBase
) -> None:
    advisor = Advisor(kb, None)
    harness.overrides.update(llm_provider=None, llm_api_key=None)
    await harness.start(advisor)
    store = _store(harness)
    answer = await _ask(fake, QUESTION)
    logged = store.answer(_answer_id(answer))
    assert logged is not None
    assert (logged.mode, logged.provider, logged.model, logged.cost_eur) == (
        "offline",
        None,
        None,
        0.0,
    )
    assert logged.retrieved and logged.cited and not logged.neighbour_need
    for fiche_id in (*logged.retrieved, *logged.cited):
        assert kb.fiche(fiche_id) is not None, fiche_id
    assert logged.top_score is not None and 0 < logged.top_score <= 1
    first_source = kb.fiche(logged.cited[0])
    assert first_source is not None and first_source.title in answer.plain

    declined = await _ask(fake, "Tu as une recette de la tarte tatin ?")
    assert declined.plain == msg.DECLINE_OFF_TOPIC
    decline_id = _answer_id(declined)
    assert [d for _, d in declined.buttons] == [f"v:+:{decline_id}", f"v:-:{decline_id}"]
    entry = store.answer(decline_id)
    assert entry is not None and entry.intent == "out_of_scope" and entry.cited == ()
    fake.push_callback(CHAT, USER, f"v:-:{decline_id}", declined.message_id)
    await _said(fake, msg.VOTE_REASON_ASK, after=declined.message_id)
    vote = store.feedback(decline_id)
    assert vote is not None and vote.vote == -1
    await advisor.aclose()
