"""Issue 13's loop, end to end: an owner votes 👎 with a reason in Telegram, and the question
reaches the curator, in the gap report and on the admin page."""

from __future__ import annotations

import time

import httpx

from bot.gaps import gap_questions, gap_topics
from tests.admin.support import ADMIN_TOKEN, WEAK_SCORE, admin_app, serving
from tests.fakes.embedder import HashEmbedder
from tests.fakes.telegram_server import FakeTelegram
from tests.telegram.conftest import BotHarness
from tests.telegram.support import FakeAdvisor

USER = CHAT = 731
QUESTION = "Quel logiciel pour gérer le planning de mes 8 salariés ? Écrivez-moi : zoe@exemple.fr"


async def test_a_thumbs_down_reaches_the_gap_report_and_the_admin_page(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start(FakeAdvisor())
    store = harness.store
    assert store is not None
    fake.push_message(CHAT, USER, QUESTION)
    answer = (
        await fake.until(
            lambda f: [
                m for m in f.chat_messages(CHAT) if any(d.startswith("v:-:") for _, d in m.buttons)
            ]
        )
    )[-1]
    [down] = [d for _, d in answer.buttons if d.startswith("v:-:")]
    answer_id = int(down.rsplit(":", 1)[1])
    fake.push_callback(CHAT, USER, down, answer.message_id)
    reasons = (
        await fake.until(
            lambda f: [
                m for m in f.chat_messages(CHAT) if m.buttons and m.message_id > answer.message_id
            ]
        )
    )[-1]
    fake.push_callback(CHAT, USER, f"v:r:t:{answer_id}", reasons.message_id)
    await fake.until(lambda f: (v := store.feedback(answer_id)) is not None and v.reason)

    gaps = gap_questions(store, 0, weak_score=WEAK_SCORE)
    [gap] = [g for g in gaps if g.answer_id == answer_id]
    assert "thumbs_down" in gap.reasons
    assert "[e-mail]" in gap.question and "zoe@exemple.fr" not in gap.question
    [topic] = gap_topics([gap], HashEmbedder().encode)
    assert topic.owners == 1 and topic.reasons["thumbs_down"] == 1

    db_path = harness.settings().db_path
    app = admin_app(db_path, time.time(), ADMIN_TOKEN)
    with serving(app) as url, httpx.Client(base_url=url) as client:
        assert client.post("/connexion", data={"jeton": ADMIN_TOKEN}).status_code == 303
        page = client.get("/").text
    assert "Quel logiciel pour gérer le planning" in page and "Outil inadapté" in page
    assert "zoe@exemple.fr" not in page
