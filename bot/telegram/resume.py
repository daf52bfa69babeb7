"""Questions interrupted by a restart: taken over from a dead process and answered.

Every pending question (see `bot.storage.PendingQuestion`) names the process answering it.
A restarted bot takes over the questions of a dead process at once, and those of a process it
cannot check (another machine or container) once their lease expired. The token holds the
host name, the pid and the pid's start time (from /proc), so a new process that got the same
pid, as pid 1 does in a restarted container, is not mistaken for the old one.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from time import time as wall_clock

from telegram import Bot
from telegram.ext import ContextTypes

from bot import messages as msg
from bot.storage import FinalReply, PendingQuestion
from bot.telegram.answering import Answering, chat_tag, markup_of
from bot.telegram.formatting import esc
from bot.telegram.limits import Verdict
from bot.telegram.streaming import ProgressiveReply, edit_or_send

log = logging.getLogger(__name__)

PROC = Path("/proc")
PENDING_SWEEP_S = 20.0  # renew this process's questions in flight, take over orphans
PENDING_MAX_AGE_S = 24 * 3600.0  # older interrupted questions get an apology, not an answer
_SHOWN_QUESTION = 60  # characters of a question quoted back to its owner


def _start_ticks(pid: int) -> str | None:
    """Start time of a process in clock ticks since boot; None when unknown or gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text("ascii", errors="replace")
    except OSError:
        return None
    # fields after the command name (which may hold spaces and parentheses)
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


@cache
def process_token() -> str:
    """`host/pid/start` of the current process."""
    pid = os.getpid()
    return f"{socket.gethostname()}/{pid}/{_start_ticks(pid) or '?'}"


def owner_alive(token: str) -> bool:
    """False only when `token` surely names a process that no longer runs.

    A process of another host, or one this system cannot inspect, counts as alive: its
    questions are taken over when their lease expires.
    """
    host, _, rest = token.partition("/")
    pid_text, _, start = rest.partition("/")
    if host != socket.gethostname() or not pid_text.isdigit() or start == "?":
        return True
    if not PROC.joinpath("self").exists():
        return True
    return _start_ticks(int(pid_text)) == start


def shown_question(question: str) -> str:
    """A question on one short line, to quote it back to its owner."""
    line = " ".join(question.split())
    return line if len(line) <= _SHOWN_QUESTION else line[: _SHOWN_QUESTION - 1].rstrip() + "…"


@dataclass
class Resumer:
    """Takes over the questions in flight of dead processes and answers them in the background."""

    answering: Answering
    owner: str = field(default_factory=process_token)  # names this process's pending questions
    clock: Callable[[], float] = wall_clock

    async def pending_job(self, context: ContextTypes.DEFAULT_TYPE) -> None:
        """At startup and every `PENDING_SWEEP_S`: renew this process's questions in flight,
        take over those of a dead process and answer them in background tasks."""
        store = self.answering.store
        store.renew_questions(self.owner)
        now = self.clock()
        claimed: dict[int, list[PendingQuestion]] = defaultdict(list)
        for pending in store.pending_questions():
            if pending.owner == self.owner:
                continue
            if pending.lease_until > now and owner_alive(pending.owner):
                continue
            if store.claim_question(pending.update_id, pending.owner, self.owner):
                claimed[pending.user_id].append(replace(pending, owner=self.owner))
        for user_id, questions in claimed.items():
            context.application.create_task(
                self._resume_user(context.bot, questions), name=f"resume-{chat_tag(user_id)}"
            )
        if claimed:
            count = sum(len(q) for q in claimed.values())
            log.info("resuming %d interrupted questions of %d users", count, len(claimed))

    async def _resume_user(self, bot: Bot, questions: list[PendingQuestion]) -> None:
        for pending in questions:  # oldest first, one at a time like live questions
            try:
                await self._resume(bot, pending)
            except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
                chat = chat_tag(pending.chat_id)
                log.warning("resumed question failed: %s chat=%s", type(exc).__name__, chat)
            self.answering.store.finish_question(pending.update_id)

    async def _resume(self, bot: Bot, pending: PendingQuestion) -> None:
        """Answer a question interrupted by a restart: edit its placeholder when it was sent,
        else a new message that says so; an apology when the question is too old. A question
        whose reply was ready (maybe even delivered) gets that reply again, not a new answer."""
        if pending.final is not None:  # answered and recorded already: deliver it again
            await _deliver_again(bot, pending, pending.final)
            return
        answering, user_id, chat_id = self.answering, pending.user_id, pending.chat_id
        shown = shown_question(pending.question)
        if not answering.limits.is_allowed(user_id):
            return
        if self.clock() - pending.created_at > PENDING_MAX_AGE_S:
            await _say_instead(bot, pending, msg.RESUME_TOO_OLD.format(question=shown))
            return
        async with answering.turns.of(user_id):  # a live question of the same user goes first
            # already counted when asked: the hourly quota does not apply again
            verdict = answering.verdict(user_id)
            if verdict is Verdict.BUDGET_SPENT:
                await _say_instead(bot, pending, msg.BUDGET_SPENT)
                return
            reply = ProgressiveReply(bot, chat_id, reply_to=pending.reply_to)
            prefix = None
            if pending.placeholder_id is not None:
                reply.attach(pending.placeholder_id)
            else:
                prefix = msg.RESUMED.format(question=shown)
            final_edit = await answering.advise(
                bot,
                reply,
                pending,
                verdict,
                prefix=prefix,
                placeholder=f"{esc(msg.RESUMING.format(question=shown))}\n{esc(msg.THINKING)}",
            )
        await final_edit()


async def _deliver_again(bot: Bot, pending: PendingQuestion, final: FinalReply) -> None:
    """Send a ready reply again, as the killed process would have: an identical edit of a
    delivered reply is answered "message is not modified", which counts as delivered."""
    reply = ProgressiveReply(bot, pending.chat_id, reply_to=pending.reply_to)
    if pending.placeholder_id is not None:
        reply.attach(pending.placeholder_id)
    await reply.finish(final.parts, markup_of(final, bot))
    log.info(
        "resumed question had its reply ready: delivered again chat=%s", chat_tag(pending.chat_id)
    )


async def _say_instead(bot: Bot, pending: PendingQuestion, text: str) -> None:
    """Say `text` where the answer was expected: its placeholder, else a new message."""
    chat_id, placeholder_id = pending.chat_id, pending.placeholder_id
    await edit_or_send(bot, chat_id, placeholder_id, esc(text), reply_to=pending.reply_to)
