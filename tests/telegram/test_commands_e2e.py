"""End to end, the rest of issue 5: reminders, /usage, /outils, allowlist, /aide, /reset,
/profil, command descriptions and the buttons under an answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import time
from typing import Any

from telegram.ext import Job

from bot import messages as msg
from bot.advice import Profile
from bot.telegram.reminders import PARIS
from tests.fakes.telegram_server import FakeTelegram, SentMessage
from tests.telegram.conftest import BotHarness
from tests.telegram.support import FakeAdvisor

USER, CHAT = 601, 601
JOB = f"rappel-{USER}"


def _answers(fake: FakeTelegram, chat: int = CHAT) -> list[SentMessage]:
    return [m for m in fake.chat_messages(chat) if any(d == "a:ck" for _, d in m.buttons)]


async def _ask(fake: FakeTelegram, text: str, chat: int = CHAT, user: int = USER) -> SentMessage:
    count = len(_answers(fake, chat))
    fake.push_message(chat, user, text)
    found = await fake.until(lambda f: len(_answers(f, chat)) > count and _answers(f, chat))
    return found[-1]  # type: ignore[no-any-return]


async def _reply_to(fake: FakeTelegram, text: str, needle: str, chat: int = CHAT) -> SentMessage:
    """Send `text` and wait for a new bot message containing `needle`."""
    before = {m.message_id for m in fake.chat_messages(chat)}
    fake.push_message(chat, USER, text)
    found = await fake.until(
        lambda f: [
            m for m in f.chat_messages(chat) if m.message_id not in before and needle in m.plain
        ]
    )
    return found[-1]  # type: ignore[no-any-return]


def _shows(message: SentMessage, needle: str) -> Callable[[FakeTelegram], bool]:
    return lambda _fake: needle in message.plain


def _jobs(harness: BotHarness) -> tuple[Job[Any], ...]:
    assert harness.app is not None and harness.app.job_queue is not None
    return harness.app.job_queue.get_jobs_by_name(JOB)


async def _checklist_board(fake: FakeTelegram) -> SentMessage:
    await _ask(fake, "Je croule sous les commandes WhatsApp, que faire ?")
    return await _reply_to(fake, "/pilote", "0/7")


async def _tap(fake: FakeTelegram, message: SentMessage, data: str, needle: str) -> SentMessage:
    before = {m.message_id for m in fake.chat_messages(CHAT)}
    fake.push_callback(CHAT, USER, data, message.message_id)
    found = await fake.until(
        lambda f: [
            m for m in f.chat_messages(CHAT) if m.message_id not in before and needle in m.plain
        ]
    )
    return found[-1]  # type: ignore[no-any-return]


# -- reminders --------------------------------------------------------------------------


async def test_reminder_opt_in_runs_daily_at_nine_paris_and_sends_next_item(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    board = await _checklist_board(fake)
    assert ("🔔 Rappels 9 h", "c:r1") in board.buttons and not _jobs(harness)
    fake.push_callback(CHAT, USER, "c:t:0", board.message_id)  # day 1 done
    await fake.until(lambda f: "1/7" in board.plain)
    await _tap(fake, board, "c:r1", "Rappel activé")
    await fake.until(lambda f: ("🔕 Arrêter les rappels", "c:r0") in board.buttons)
    (job,) = _jobs(harness)
    assert job.next_t is not None
    assert job.next_t.astimezone(PARIS).time() == time(9, 0)
    assert job.chat_id == CHAT and job.user_id == USER
    assert harness.store is not None and harness.store.has_reminder(USER)

    assert harness.app is not None
    before = len(fake.chat_messages(CHAT))
    await job.run(harness.app)
    reminder = (await fake.until(lambda f: f.chat_messages(CHAT)[before:]))[-1]
    # day 1 is ticked, so the next unticked step is the one of day 2
    assert reminder.plain.startswith("Pilote, jour 1 : J2 · Étape du jour 2")
    assert "Avancement : 1/7" in reminder.plain


async def test_reminder_is_restored_after_a_restart(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    board = await _checklist_board(fake)
    await _tap(fake, board, "c:r1", "Rappel activé")
    await harness.restart()
    (job,) = _jobs(harness)
    assert job.chat_id == CHAT and job.next_t is not None
    assert job.next_t.astimezone(PARIS).time() == time(9, 0)
    assert harness.app is not None
    before = len(fake.chat_messages(CHAT))
    await job.run(harness.app)
    reminder = (await fake.until(lambda f: f.chat_messages(CHAT)[before:]))[-1]
    assert reminder.plain.startswith("Pilote, jour 1 : J1 · Étape du jour 1")


async def test_opting_out_removes_the_reminder(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    board = await _checklist_board(fake)
    await _tap(fake, board, "c:r1", "Rappel activé")
    assert len(_jobs(harness)) == 1
    await fake.until(lambda f: ("🔕 Arrêter les rappels", "c:r0") in board.buttons)
    await _tap(fake, board, "c:r0", "Rappels désactivés")
    await fake.until(lambda f: ("🔔 Rappels 9 h", "c:r1") in board.buttons)
    assert not _jobs(harness)
    assert harness.store is not None and harness.store.reminders() == []
    await harness.restart()
    assert not _jobs(harness)


async def test_forget_cancels_the_reminder(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    board = await _checklist_board(fake)
    await _tap(fake, board, "c:r1", "Rappel activé")
    confirm = await _reply_to(fake, "/oubli", "Effacer toutes vos données")
    fake.push_callback(CHAT, USER, "f:yes", confirm.message_id)
    await fake.until(lambda f: "plus rien" in confirm.plain)
    assert not _jobs(harness)
    assert harness.store is not None and harness.store.reminders() == []
    await harness.restart()
    assert not _jobs(harness)


# -- /usage -----------------------------------------------------------------------------


async def test_usage_for_admins_only(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start(FakeAdvisor(cost=0.0125), admin_ids=frozenset({USER}))
    await _ask(fake, "Quels outils pour mes devis ?")
    await _ask(fake, "Et pour mes factures ?", chat=602, user=602)
    report = await _reply_to(fake, "/usage", "Utilisateurs")
    assert report.plain == (
        "Utilisateurs : 2\n"
        "Questions : 2 aujourd'hui, 2 au total\n"
        "Coût IA : 0,0250 € aujourd'hui, 0,0250 € au total"
    )
    fake.push_message(602, 602, "/usage")
    refused = await fake.until(lambda f: [m for m in f.chat_messages(602) if "réservée" in m.plain])
    assert refused[-1].plain == msg.ADMIN_ONLY
    assert not [m for m in fake.chat_messages(602) if "Utilisateurs" in m.plain]


# -- /outils ----------------------------------------------------------------------------


async def test_tools_command_lists_catalogue_tools_with_prices(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    await harness.start()
    listed = await _reply_to(fake, "/outils devis", "Outils pour")
    assert listed.plain.splitlines()[0] == "Outils pour « devis »"
    assert "WhatsApp Business — gratuit" in listed.plain
    assert "Le Chat Pro — 14,99 €/mois" in listed.plain
    usage = await _reply_to(fake, "/outils", "Précisez")
    assert usage.plain == msg.TOOLS_USAGE
    none = await _reply_to(fake, "/outils rien", "catalogue")
    assert none.plain == msg.NO_TOOLS.format(need="rien")


# -- allowlist --------------------------------------------------------------------------


async def test_user_outside_the_allowlist_is_refused_and_nothing_is_stored(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    advisor = FakeAdvisor()
    await harness.start(advisor, allowed_user_ids=frozenset({4242}))
    fake.push_message(CHAT, USER, "/start")
    fake.push_message(CHAT, USER, "Je croule sous les commandes WhatsApp")
    refusals = await fake.until(lambda f: len(f.chat_messages(CHAT)) >= 2 and f.chat_messages(CHAT))
    assert [m.plain for m in refusals] == [msg.NOT_ALLOWED, msg.NOT_ALLOWED]
    assert advisor.calls == []
    store = harness.store
    assert store is not None
    assert store.get_profile(USER) is None and store.history(CHAT, USER, 5) == []
    assert store.questions_since(USER, 0) == 0 and store.usage_totals().users == 0
    # the allowed user is served normally
    fake.push_message(4242, 4242, "Je croule sous les commandes WhatsApp")
    await fake.until(lambda f: _answers(f, 4242))


# -- /aide, /reset, /profil -------------------------------------------------------------


async def test_help_lists_what_the_bot_does(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    shown = await _reply_to(fake, "/aide", "/pilote")
    for command, _ in msg.COMMANDS:
        if command != "start":
            assert f"/{command}" in shown.plain
    assert "IA" in shown.plain


async def test_reset_forgets_the_conversation_but_keeps_the_profile(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    advisor = FakeAdvisor()
    await harness.start(advisor)
    assert harness.store is not None
    harness.store.save_profile(USER, Profile(sector="restauration", monthly_budget_eur=50))
    await _ask(fake, "Je croule sous les commandes WhatsApp")
    assert harness.store.history(CHAT, USER, 5)
    await _reply_to(fake, "/reset", msg.RESET_DONE)
    assert harness.store.history(CHAT, USER, 5) == []
    await _ask(fake, "et moins cher ?")
    question, profile, history = advisor.calls[-1]
    assert question == "et moins cher ?" and history == []
    assert profile is not None and profile.sector == "restauration"


async def test_profile_is_edited_with_buttons(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    assert harness.store is not None
    harness.store.save_profile(
        USER, Profile(sector="restauration", size="2-9", monthly_budget_eur=50, priority="temps")
    )
    step = await _reply_to(fake, "/profil", "Votre profil")  # the saved profile first
    fake.push_callback(CHAT, USER, "p:edit", step.message_id)  # « Modifier »
    await fake.until(_shows(step, "1/4"))
    assert ("Commerce", "p:s:commerce") in step.buttons
    for data, prompt in (
        ("p:s:commerce", "2/4"),
        ("p:z:seul", "3/4"),
        ("p:b:200", "4/4"),
        ("p:p:marketing", "C'est noté"),
    ):
        fake.push_callback(CHAT, USER, data, step.message_id)
        await fake.until(_shows(step, prompt))
    assert harness.store.get_profile(USER) == Profile(
        sector="commerce", size="seul", monthly_budget_eur=200.0, priority="marketing"
    )
    # a tap on a stale or forged button does not corrupt the profile
    fake.push_callback(CHAT, USER, "p:b:9999", step.message_id)
    await fake.until(lambda f: "plus valable" in step.plain)
    assert harness.store.get_profile(USER) is not None
    assert harness.store.get_profile(USER).monthly_budget_eur == 200.0  # type: ignore[union-attr]


async def test_commands_are_registered_in_french(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    (call,) = fake.calls_to("setMyCommands")
    commands = json.loads(call.params["commands"])
    assert [(c["command"], c["description"]) for c in commands] == list(msg.COMMANDS)
    names = {c["command"] for c in commands}
    assert {"start", "profil", "pilote", "outils", "aide", "reset", "oubli"} <= names
    descriptions = " ".join(c["description"] for c in commands)
    assert "Effacer toutes mes données" in descriptions and "profil" in descriptions


# -- buttons under an answer ------------------------------------------------------------


async def test_cost_detail_button(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    answer = await _ask(fake, "Je croule sous les commandes WhatsApp")
    detail = await _tap(fake, answer, "a:co", "Détail des coûts")
    assert detail.plain.splitlines() == [
        "Détail des coûts",
        "• WhatsApp Business : gratuit (tarif au 01/11/2026)",
        "• Le Chat Pro : 14,99 €/mois (tarif au 01/11/2026)",
        "",
        "Total par mois : 14,99 €/mois",
        "Budget du pilote (deux semaines) : 15 €",
    ]


async def test_another_option_button_asks_again_without_the_same_tools(
    harness: BotHarness, fake: FakeTelegram
) -> None:
    advisor = FakeAdvisor()
    await harness.start(advisor)
    first = await _ask(fake, "Je croule sous les commandes WhatsApp")
    fake.push_callback(CHAT, USER, "a:alt", first.message_id)
    await fake.until(lambda f: len(_answers(f)) == 2)
    assert len(advisor.calls) == 2
    question, _, history = advisor.calls[1]
    assert question.startswith("Je croule sous les commandes WhatsApp")
    assert "WhatsApp Business, Le Chat Pro" in question and "moins chère" in question
    assert history and history[0].question == "Je croule sous les commandes WhatsApp"


async def test_buttons_without_a_previous_answer(harness: BotHarness, fake: FakeTelegram) -> None:
    await harness.start()
    help_message = await _reply_to(fake, "/aide", "/pilote")
    fake.push_callback(CHAT, USER, "a:co", help_message.message_id)
    shown = await fake.until(
        lambda f: [m for m in f.chat_messages(CHAT) if m.plain == msg.NO_ADVICE_YET]
    )
    assert len(shown) == 1
