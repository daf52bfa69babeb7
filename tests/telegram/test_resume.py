"""Questions interrupted by a crash: resumed at the next start, each answered once.

The database is prepared as a killed bot leaves it (a pending row, with or without the id of
its "searching…" placeholder), then the real Application starts against the fake Bot API.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from bot import messages as msg
from bot.advice import Advice, Profile, Turn
from bot.storage import PendingQuestion, SQLiteStore
from bot.telegram.resume import owner_alive, process_token
from tests.fakes.telegram_server import FakeTelegram, SentMessage
from tests.telegram.conftest import BotHarness
from tests.telegram.support import FakeAdvisor

USER, CHAT = 701, 701
QUESTION = "Je croule sous les commandes WhatsApp de ma boulangerie, que faire ?"
DEAD = f"{socket.gethostname()}/{2**22 + 7}/123"  # this host, a pid that does not run


def interrupted(data_dir: Path, *pending: PendingQuestion, age_s: float = 5.0) -> None:
    """Write pending rows as a bot killed `age_s` seconds ago left them."""
    store = SQLiteStore(data_dir / "pilote-ia.sqlite3", clock=lambda: time.time() - age_s)
    for row in pending:
        assert store.mark_question(row)
        if row.placeholder_id is not None:
            store.set_placeholder(row.update_id, row.placeholder_id)
    store.close()


def placeholder(fake: FakeTelegram, chat: int = CHAT) -> int:
    """A "searching…" message as the killed bot had sent it."""
    return int(
        fake.handle("sendMessage", {"chat_id": chat, "text": msg.THINKING}, {})["message_id"]
    )


def answers(fake: FakeTelegram, chat: int = CHAT) -> list[SentMessage]:
    return [m for m in fake.chat_messages(chat) if any(d == "a:ck" for _, d in m.buttons)]


async def settled(harness: BotHarness) -> None:
    assert harness.store is not None
    store = harness.store
    async with asyncio.timeout(10):
        while store.pending_questions():
            await asyncio.sleep(0.05)


async def test_resume_edits_the_placeholder(harness: BotHarness, fake: FakeTelegram) -> None:
    message_id = placeholder(fake)
    interrupted(
        harness.data_dir,
        PendingQuestion(9001, CHAT, USER, QUESTION, owner=DEAD, placeholder_id=message_id),
    )
    advisor = FakeAdvisor(chunks=3, delay=0.1)
    await harness.start(advisor)
    [answer] = await fake.until(lambda f: answers(f))
    await settled(harness)
    assert answer.message_id == message_id  # the placeholder itself, no new message
    assert [m.message_id for m in fake.chat_messages(CHAT)] == [message_id]
    assert "WhatsApp Business" in answer.plain and msg.THINKING not in answer.plain
    assert [c[0] for c in advisor.calls] == [QUESTION]
    assert harness.store is not None
    assert [t.question for t in harness.store.history(CHAT, USER, 5)] == [QUESTION]
    assert harness.store.last_advice(CHAT, USER) is not None


async def test_resume_without_placeholder_sends_a_new_message_saying_so(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    interrupted(harness.data_dir, PendingQuestion(9002, CHAT, USER, QUESTION, owner=DEAD))
    await harness.start(FakeAdvisor())
    [answer] = await fake.until(lambda f: answers(f))
    await settled(harness)
    assert len(fake.chat_messages(CHAT)) == 1
    first_line = answer.plain.splitlines()[0]
    assert first_line.startswith("Suite à un redémarrage, voici la réponse à votre question")
    assert "« Je croule sous les commandes WhatsApp de ma boulangerie, qu… »" in first_line
    assert "WhatsApp Business" in answer.plain
    # sent as a placeholder first, whose id is stored: a second crash would edit it too
    sent = [c for c in fake.calls_to("sendMessage") if int(c.params["chat_id"]) == CHAT]
    assert len(sent) == 1 and "je reprends votre question" in sent[0].params["text"]


async def test_a_not_modified_edit_counts_as_delivered(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    """Killed after the final edit but before the row was deleted: the same answer again."""
    harness.advisor = FakeAdvisor()
    await harness.start()
    fake.push_message(CHAT, USER, QUESTION)
    [first] = await fake.until(lambda f: answers(f))
    await harness.stop()
    interrupted(
        harness.data_dir,
        PendingQuestion(9003, CHAT, USER, QUESTION, owner=DEAD, placeholder_id=first.message_id),
    )
    await harness.start()
    await settled(harness)
    not_modified = [c for c in fake.calls if c.method == "editMessageText" and c.status == 400]
    assert len(not_modified) == 1  # the resumed edit, answered "message is not modified"
    assert first.edits == 1 and len(fake.chat_messages(CHAT)) == 1 and len(answers(fake)) == 1


async def test_stale_question_gets_an_apology(harness: BotHarness, fake: FakeTelegram) -> None:
    message_id = placeholder(fake)
    interrupted(
        harness.data_dir,
        PendingQuestion(9004, CHAT, USER, QUESTION, owner=DEAD, placeholder_id=message_id),
        age_s=25 * 3600,
    )
    interrupted(
        harness.data_dir,
        PendingQuestion(9005, 702, 702, "Et la compta ?", owner=DEAD),
        age_s=30 * 3600,
    )
    advisor = FakeAdvisor()
    await harness.start(advisor)
    await settled(harness)
    [edited] = fake.chat_messages(CHAT)
    assert edited.message_id == message_id
    assert "Désolé, un redémarrage m'a interrompu" in edited.plain
    assert "Posez-la à nouveau" in edited.plain and not edited.buttons
    [other] = fake.chat_messages(702)
    assert "« Et la compta ? »" in other.plain
    assert advisor.calls == []


async def test_questions_of_a_live_process_are_left_to_it(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    alive = "autre-machine/12/345"  # cannot be checked from here: its lease decides
    interrupted(harness.data_dir, PendingQuestion(9006, CHAT, USER, QUESTION, owner=alive))
    advisor = FakeAdvisor()
    await harness.start(advisor)
    await asyncio.sleep(0.5)
    assert advisor.calls == [] and fake.chat_messages(CHAT) == []
    assert harness.store is not None
    [row] = harness.store.pending_questions()
    assert row.owner == alive


class OneAtATime(FakeAdvisor):
    """Records the most questions of one user it ever answered at the same time."""

    def __init__(self) -> None:
        super().__init__(delay=0.2)
        self.running = 0
        self.peak = 0

    async def advise(
        self,
        question: str,
        *,
        profile: Profile | None = None,
        history: Sequence[Turn] = (),
        on_text: Callable[[str], Awaitable[None]] | None = None,
    ) -> Advice:
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            return await super().advise(question, profile=profile, history=history, on_text=on_text)
        finally:
            self.running -= 1


async def test_resumed_questions_of_a_user_are_answered_one_at_a_time(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    interrupted(
        harness.data_dir,
        PendingQuestion(9007, CHAT, USER, "Q1 devis plus rapides ?", owner=DEAD),
        PendingQuestion(9008, CHAT, USER, "Q2 et les relances ?", owner=DEAD),
    )
    advisor = OneAtATime()
    await harness.start(advisor)
    fake.push_message(CHAT, USER, "Q3 une question en direct")  # meets a resumed one in flight
    await fake.until(lambda f: len(answers(f)) >= 2, timeout=10)
    await settled(harness)
    assert advisor.peak == 1
    asked = [c[0] for c in advisor.calls]
    assert asked.index("Q1 devis plus rapides ?") < asked.index("Q2 et les relances ?")
    busy = [m for m in fake.chat_messages(CHAT) if m.plain == msg.BUSY]
    assert len(answers(fake)) + len(busy) == 3  # each question: its answer, or "busy" if live


async def test_answered_question_leaves_no_pending_row(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start(FakeAdvisor(delay=0.3))
    fake.push_message(CHAT, USER, QUESTION)
    assert harness.store is not None
    store = harness.store
    async with asyncio.timeout(5):  # recorded with its placeholder while the answer is on its way
        while not (rows := [r for r in store.pending_questions() if r.placeholder_id]):
            await asyncio.sleep(0.02)
    [row] = rows
    assert row.question == QUESTION and row.owner == process_token()
    [answer] = await fake.until(lambda f: answers(f))
    await settled(harness)
    assert answer.message_id == row.placeholder_id


def test_owner_alive_tells_a_dead_process_from_a_live_one() -> None:
    me = process_token()
    host, pid, start = me.split("/")
    assert (host, int(pid)) == (socket.gethostname(), os.getpid()) and start.isdigit()
    assert owner_alive(me)
    assert not owner_alive(DEAD)
    assert not owner_alive(f"{host}/{pid}/{int(start) + 1}")  # same pid, another process
    assert owner_alive("autre-machine/1/1")  # cannot tell: the lease decides
