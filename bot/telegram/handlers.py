"""Short PTB handlers: they read the update, ask the advisor or the store, and reply."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from time import time as wall_clock
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes, JobQueue, filters

from bot import messages as msg
from bot.advice import AdvisorLike, Profile
from bot.config import Settings
from bot.errors import BotError
from bot.storage import Checklist, PendingQuestion, Store
from bot.telegram import checklist as ck
from bot.telegram import keyboards as kb
from bot.telegram.formatting import (
    esc,
    format_advice,
    format_cost_detail,
    format_tools,
    is_decline,
    split_html,
)
from bot.telegram.limits import Limits, Verdict
from bot.telegram.resume import owner_alive, process_token
from bot.telegram.streaming import (
    ProgressiveReply,
    edit_html,
    edit_or_send,
    send_html,
    send_parts,
    typing,
)
from retrieval.errors import RetrievalError

log = logging.getLogger(__name__)

MAX_QUESTION = 4000
QUESTION_FILTER = filters.TEXT & ~filters.COMMAND
PENDING_SWEEP_S = 20.0  # renew this process's questions in flight, take over orphans
PENDING_MAX_AGE_S = 24 * 3600.0  # older interrupted questions get an apology, not an answer
_SHOWN_QUESTION = 60  # characters of a question quoted back to its owner
PARIS = ZoneInfo("Europe/Paris")
REMINDER_AT = time(9, 0, tzinfo=PARIS)
# ZWNJ/ZWJ (U+200C/D) stay: they join emoji sequences and shape Persian or Indic words
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028-\u202e\ufeff]")

Ctx = ContextTypes.DEFAULT_TYPE


def chat_tag(chat_id: int) -> str:
    """A short hash of the chat id for logs (ids are personal data)."""
    return hashlib.sha256(str(chat_id).encode()).hexdigest()[:10]


def clean_text(text: str) -> str:
    """Strip control and invisible characters, keep newlines and tabs."""
    return _CONTROL_RE.sub("", text).strip()


def _euros(value: float) -> str:
    """An LLM cost the French way, to the hundredth of a cent: 0,0250."""
    return f"{value:.4f}".replace(".", ",")


def today_paris() -> date:
    """Today's date in France (day 1 of a pilot started now)."""
    return datetime.now(PARIS).date()


def shown_question(question: str) -> str:
    """A question on one short line, to quote it back to its owner."""
    line = " ".join(question.split())
    return line if len(line) <= _SHOWN_QUESTION else line[: _SHOWN_QUESTION - 1].rstrip() + "…"


@dataclass
class BotHandlers:
    """Every handler of the bot, sharing the advisor, the store and the limits."""

    settings: Settings
    advisor: AdvisorLike
    store: Store
    limits: Limits
    offline_advisor: AdvisorLike | None = None
    in_flight: set[int] = field(default_factory=set)
    owner: str = field(default_factory=process_token)  # names this process's pending questions
    clock: Callable[[], float] = wall_clock

    # -- gates (handler groups -2 and -1) -------------------------------------

    async def dedupe(self, update: Update, context: Ctx) -> None:
        """Drop an update already processed (e.g. re-delivered after a restart).

        A question for the advisor is recorded as pending in the same transaction, so a
        crash before its answer leaves a row that the next start resumes.
        """
        pending = self._pending_of(update, context.bot)
        fresh = (
            self.store.mark_question(pending) if pending is not None
            else self.store.mark_update(update.update_id)
        )  # fmt: skip
        if not fresh:
            log.info("update %s already processed, skipped", update.update_id)
            raise ApplicationHandlerStop
        message = update.effective_message
        log.info(
            "update %s chat=%s text_len=%d", update.update_id,
            chat_tag(update.effective_chat.id) if update.effective_chat else "-",
            len(message.text or "") if message else 0,
        )  # fmt: skip

    async def allowlist(self, update: Update, context: Ctx) -> None:
        """Refuse users outside the allowlist."""
        user = update.effective_user
        if user is None or self.limits.is_allowed(user.id):
            return
        if update.callback_query is not None:
            await update.callback_query.answer(msg.NOT_ALLOWED, show_alert=True)
        elif update.effective_chat and update.effective_chat.type == ChatType.PRIVATE:
            await context.bot.send_message(update.effective_chat.id, msg.NOT_ALLOWED)
        raise ApplicationHandlerStop

    # -- commands -------------------------------------------------------------

    async def start(self, update: Update, context: Ctx) -> None:
        """Welcome (says it is an AI), then the first profile question."""
        chat = update.effective_chat
        assert chat is not None
        await context.bot.send_message(chat.id, msg.WELCOME)
        await self.profile(update, context)

    async def profile(self, update: Update, context: Ctx) -> None:
        """Start (again) the four-tap profile."""
        chat = update.effective_chat
        assert chat is not None
        await context.bot.send_message(
            chat.id, msg.PROFILE_SECTOR, reply_markup=kb.profile_step("s")
        )

    async def help(self, update: Update, context: Ctx) -> None:
        """What the bot can do."""
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, msg.HELP)

    async def reset(self, update: Update, context: Ctx) -> None:
        """Forget the conversation of this chat, keep the profile."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        self.store.clear_history(chat.id, user.id)
        await context.bot.send_message(chat.id, msg.RESET_DONE)

    async def forget(self, update: Update, context: Ctx) -> None:
        """Ask for confirmation before erasing everything."""
        assert update.effective_chat is not None
        await context.bot.send_message(
            update.effective_chat.id, msg.FORGET_CONFIRM, reply_markup=kb.forget_confirmation()
        )

    async def usage(self, update: Update, context: Ctx) -> None:
        """Admins only: users, questions and LLM cost."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        if not self.limits.is_admin(user.id):
            await context.bot.send_message(chat.id, msg.ADMIN_ONLY)
            return
        t = self.store.usage_totals()
        text = msg.USAGE_REPORT.format(
            users=t.users, q_today=t.questions_today, q_total=t.questions_total,
            c_today=_euros(t.cost_today_eur), c_total=_euros(t.cost_total_eur),
        )  # fmt: skip
        await context.bot.send_message(chat.id, text)

    async def tools(self, update: Update, context: Ctx) -> None:
        """`/outils besoin`: catalogue tools for a need."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        need = clean_text(" ".join(context.args or []))[:200]
        if not need:
            await context.bot.send_message(chat.id, msg.TOOLS_USAGE)
            return
        try:
            picks = await self.advisor.tools_for(need, profile=self.store.get_profile(user.id))
        except (BotError, RetrievalError) as exc:
            await context.bot.send_message(chat.id, msg.user_message_for(exc))
            return
        await send_parts(context.bot, chat.id, split_html(format_tools(need, picks)))

    async def pilot(self, update: Update, context: Ctx) -> None:
        """`/pilote`: the checklist of the last answer, with its ticks."""
        chat, user = update.effective_chat, update.effective_user
        assert chat is not None and user is not None
        checklist = self.store.checklist(user.id) or self._checklist_from_last(chat.id, user.id)
        if checklist is None:
            await context.bot.send_message(chat.id, msg.NO_ADVICE_YET)
            return
        await self._send_checklist(context, chat.id, user.id, checklist)

    # -- questions ------------------------------------------------------------

    def _addressed(self, message: Message, bot_id: int, username: str) -> bool:
        if message.chat.type == ChatType.PRIVATE:
            return True
        replied = message.reply_to_message
        if replied is not None and replied.from_user and replied.from_user.id == bot_id:
            return True
        mentions = message.parse_entities([MessageEntityType.MENTION]).values()
        return any(m.lower() == f"@{username.lower()}" for m in mentions)

    def _question_text(self, message: Message, bot: Bot) -> str | None:
        """The cleaned question of a text addressed to the bot; None when not addressed."""
        if message.text is None or not self._addressed(message, bot.id, bot.username):
            return None
        return clean_text(re.sub(f"@{re.escape(bot.username)}", "", message.text, flags=re.I))

    @staticmethod
    def _reply_to(message: Message) -> int | None:
        return None if message.chat.type == ChatType.PRIVATE else message.message_id

    def _another_option(self, chat_id: int, user_id: int) -> str | None:
        """The follow-up question of the "another option" button; None without a last answer."""
        last = self.store.last_advice(chat_id, user_id)
        if last is None:
            return None
        names = ", ".join(t.name for t in last.advice.tools) or "-"
        return msg.ANOTHER_OPTION_QUESTION.format(question=last.question, tools=names)

    def _pending_of(self, update: Update, bot: Bot) -> PendingQuestion | None:
        """The question this update sends to `answer`, if any (same checks as the handlers)."""
        user = update.effective_user
        if user is None or not self.limits.is_allowed(user.id):
            return None
        question: str | None = None
        chat_id, reply_to = 0, None
        message, query = update.message, update.callback_query
        if message is not None and QUESTION_FILTER.check_update(update):
            text = self._question_text(message, bot)
            if text and len(text) <= MAX_QUESTION:
                question, chat_id, reply_to = text, message.chat_id, self._reply_to(message)
        elif query is not None and query.message is not None and self._is_another_option(query):
            chat_id = query.message.chat.id
            question = self._another_option(chat_id, user.id)
        if question is None:
            return None
        return PendingQuestion(
            update.update_id, chat_id, user.id, question, owner=self.owner, reply_to=reply_to
        )

    @staticmethod
    def _is_another_option(query: CallbackQuery) -> bool:
        data = query.data or ""
        return data.startswith("a:") and data not in (kb.ADVICE_CHECKLIST, kb.ADVICE_COST)

    async def question(self, update: Update, context: Ctx) -> None:
        """A free-text question: checks, then the streamed answer."""
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None and message.text is not None
        bot = context.bot
        text = self._question_text(message, bot)
        if text is None:
            return
        reply_to = self._reply_to(message)
        if not text:
            await send_html(bot, message.chat_id, esc(msg.EMPTY_QUESTION), reply_to=reply_to)
        elif len(text) > MAX_QUESTION:
            tip = msg.TOO_LONG.format(length=len(text), limit=MAX_QUESTION)
            await send_html(bot, message.chat_id, esc(tip), reply_to=reply_to)
        else:
            await self.answer(context, message.chat_id, user.id, text, reply_to=reply_to,
                              update_id=update.update_id)  # fmt: skip

    async def answer(
        self, context: Ctx, chat_id: int, user_id: int, question: str,
        *, reply_to: int | None = None, update_id: int | None = None,
    ) -> None:  # fmt: skip
        """Answer one question for this chat+user, one at a time per user.

        `update_id` names the pending row `dedupe` recorded: it is deleted once the user got
        a final reply (answer, refusal or error) and kept when the task is cancelled mid-answer,
        so the next start resumes the question.
        """
        try:
            await self._answer_now(context.bot, chat_id, user_id, question, reply_to, update_id)
        except Exception:
            self._finish(update_id)
            raise
        self._finish(update_id)

    def _finish(self, update_id: int | None) -> None:
        if update_id is not None:
            self.store.finish_question(update_id)

    def _advisor_for(self, verdict: Verdict) -> tuple[AdvisorLike, str | None]:
        if verdict is Verdict.OFFLINE and self.offline_advisor is not None:
            return self.offline_advisor, msg.BUDGET_OFFLINE_NOTE
        return self.advisor, None

    async def _answer_now(
        self, bot: Bot, chat_id: int, user_id: int, question: str,
        reply_to: int | None, update_id: int | None,
    ) -> None:  # fmt: skip
        if user_id in self.in_flight:
            await send_html(bot, chat_id, esc(msg.BUSY), reply_to=reply_to)
            return
        verdict = self.limits.check(user_id, can_go_offline=self.offline_advisor is not None)
        if verdict in (Verdict.RATE_LIMITED, Verdict.BUDGET_SPENT):
            text = msg.RATE_LIMITED if verdict is Verdict.RATE_LIMITED else msg.BUDGET_SPENT
            await send_html(bot, chat_id, esc(text), reply_to=reply_to)
            return
        advisor, note = self._advisor_for(verdict)
        self.in_flight.add(user_id)
        try:
            self.store.record_question(user_id)
            reply = ProgressiveReply(bot, chat_id, reply_to=reply_to)
            await self._complete(bot, reply, chat_id, user_id, question, advisor, note,
                                 update_id=update_id)  # fmt: skip
        finally:
            self.in_flight.discard(user_id)

    async def _complete(
        self, bot: Bot, reply: ProgressiveReply, chat_id: int, user_id: int, question: str,
        advisor: AdvisorLike, note: str | None, *, update_id: int | None,
        prefix: str | None = None, placeholder: str = esc(msg.THINKING),
    ) -> None:  # fmt: skip
        """Placeholder (unless attached), streamed advice, storage, then the final edit.

        The caller holds the user's in-flight mark; it is released before the final edit
        so that the user may ask again as soon as they read the answer.
        """
        async with typing(bot, chat_id):
            if reply.message_id is None:
                sent = await reply.start(placeholder)
                if update_id is not None:
                    self.store.set_placeholder(update_id, sent)
            try:
                advice = await advisor.advise(
                    question,
                    profile=self.store.get_profile(user_id),
                    history=self.store.history(chat_id, user_id, self.settings.history_turns),
                    on_text=reply.update,
                )
            except (BotError, RetrievalError) as exc:  # Chroma down, empty query
                log.warning("advisor failed: %s chat=%s", type(exc).__name__, chat_tag(chat_id))
                self.in_flight.discard(user_id)  # a retry right after the error is welcome
                await reply.fail(esc(msg.user_message_for(exc)))
                return
        if advice.usage is not None:
            u = advice.usage
            self.store.add_usage(user_id, u.prompt_tokens, u.completion_tokens, u.cost_eur)
        self.store.add_turn(chat_id, user_id, question, advice.answer)
        declined = is_decline(advice)
        if advice.pilot is not None and not declined:  # /pilote keeps the last real plan
            self.store.save_last_advice(chat_id, user_id, question, advice)
        body = format_advice(advice, note=note)
        if prefix:
            body = f"{esc(prefix)}\n\n{body}"
        self.in_flight.discard(user_id)  # the user may ask again as soon as they read it
        buttons = kb.advice_buttons(pilot=advice.pilot is not None, tools=bool(advice.tools))
        await reply.finish(split_html(body), None if declined else buttons)

    # -- questions interrupted by a restart -----------------------------------

    async def pending_job(self, context: Ctx) -> None:
        """At startup and every `PENDING_SWEEP_S`: renew this process's questions in flight,
        take over those of a dead process and answer them in background tasks."""
        self.store.renew_questions(self.owner)
        now = self.clock()
        claimed: dict[int, list[PendingQuestion]] = defaultdict(list)
        for pending in self.store.pending_questions():
            if pending.owner == self.owner:
                continue
            if pending.lease_until > now and owner_alive(pending.owner):
                continue
            if self.store.claim_question(pending.update_id, pending.owner, self.owner):
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
                log.warning("resumed question failed: %s chat=%s", type(exc).__name__,
                            chat_tag(pending.chat_id))  # fmt: skip
            self.store.finish_question(pending.update_id)

    async def _resume(self, bot: Bot, pending: PendingQuestion) -> None:
        """Answer a question interrupted by a restart: edit its placeholder when it was sent,
        else a new message that says so; an apology when the question is too old."""
        user_id, chat_id = pending.user_id, pending.chat_id
        shown = shown_question(pending.question)
        if not self.limits.is_allowed(user_id):
            return
        if self.clock() - pending.created_at > PENDING_MAX_AGE_S:
            text = esc(msg.RESUME_TOO_OLD.format(question=shown))
            await edit_or_send(bot, chat_id, pending.placeholder_id, text,
                               reply_to=pending.reply_to)  # fmt: skip
            return
        while user_id in self.in_flight:  # a live question of the same user goes first
            await asyncio.sleep(0.1)
        # already counted when asked: the hourly quota does not apply again
        verdict = self.limits.check(user_id, can_go_offline=self.offline_advisor is not None)
        if verdict is Verdict.BUDGET_SPENT:
            await edit_or_send(bot, chat_id, pending.placeholder_id, esc(msg.BUDGET_SPENT),
                               reply_to=pending.reply_to)  # fmt: skip
            return
        advisor, note = self._advisor_for(verdict)
        reply = ProgressiveReply(bot, chat_id, reply_to=pending.reply_to)
        prefix = None
        if pending.placeholder_id is not None:
            reply.attach(pending.placeholder_id)
        else:
            prefix = msg.RESUMED.format(question=shown)
        self.in_flight.add(user_id)
        try:
            await self._complete(
                bot, reply, chat_id, user_id, pending.question, advisor, note,
                update_id=pending.update_id, prefix=prefix,
                placeholder=f"{esc(msg.RESUMING.format(question=shown))}\n{esc(msg.THINKING)}",
            )  # fmt: skip
        finally:
            self.in_flight.discard(user_id)

    async def unsupported(self, update: Update, context: Ctx) -> None:
        """Voice, photos, stickers, files...: say what the bot can do."""
        message = update.effective_message
        if message is None:
            return
        if not self._addressed(message, context.bot.id, context.bot.username):
            return
        await context.bot.send_message(message.chat_id, msg.UNSUPPORTED_CONTENT)

    # -- buttons --------------------------------------------------------------

    async def on_profile(self, update: Update, context: Ctx) -> None:
        """One tap of the profile: store it, show the next step."""
        query = update.callback_query
        assert query is not None and query.data is not None
        await query.answer()
        _, step, code = (query.data.split(":", 2) + ["", ""])[:3]
        user_id = query.from_user.id
        current = self.store.get_profile(user_id) or Profile()
        updated, next_step, prompt = self._apply_step(current, step, code)
        if updated is None:
            await self._edit_query(query, msg.PROFILE_EXPIRED)
            return
        self.store.save_profile(user_id, updated)
        if next_step is None:
            await self._edit_query(query, prompt)
        else:
            await self._edit_query(query, prompt, kb.profile_step(next_step))

    @staticmethod
    def _apply_step(p: Profile, step: str, code: str) -> tuple[Profile | None, str | None, str]:
        sectors, sizes, priorities = dict(kb.SECTORS), dict(kb.SIZES), dict(kb.PRIORITIES)
        if step == "s" and code in sectors:
            return p.model_copy(update={"sector": code}), "z", msg.PROFILE_SIZE
        if step == "z" and code in sizes:
            return p.model_copy(update={"size": code}), "b", msg.PROFILE_BUDGET
        if step == "b" and code in kb.BUDGETS:
            budget = kb.BUDGETS[code][1]
            return p.model_copy(update={"monthly_budget_eur": budget}), "p", msg.PROFILE_PRIORITY
        if step == "p" and code in priorities:
            label = priorities[code].lower()
            return p.model_copy(update={"priority": label}), None, msg.PROFILE_DONE
        return None, None, ""

    async def on_advice_button(self, update: Update, context: Ctx) -> None:
        """Buttons under an answer: checklist, cost detail, another option."""
        query = update.callback_query
        assert query is not None and query.message is not None
        await query.answer()
        chat_id, user_id = query.message.chat.id, query.from_user.id
        last = self.store.last_advice(chat_id, user_id)
        if last is None:
            await context.bot.send_message(chat_id, msg.NO_ADVICE_YET)
        elif query.data == kb.ADVICE_CHECKLIST:
            checklist = self._checklist_from_last(chat_id, user_id)
            assert checklist is not None
            await self._send_checklist(context, chat_id, user_id, checklist)
        elif query.data == kb.ADVICE_COST:
            await send_parts(context.bot, chat_id, split_html(format_cost_detail(last.advice)))
        else:
            question = self._another_option(chat_id, user_id)
            assert question is not None
            await self.answer(context, chat_id, user_id, question, update_id=update.update_id)

    async def on_checklist_button(self, update: Update, context: Ctx) -> None:
        """Tick an item, export, or switch reminders."""
        query = update.callback_query
        assert query is not None and query.message is not None and query.data is not None
        chat_id, user_id = query.message.chat.id, query.from_user.id
        checklist = self.store.checklist(user_id)
        if checklist is None:
            await query.answer(msg.NO_ADVICE_YET)
            return
        await query.answer()
        data = query.data
        if data.startswith(kb.TICK) and data[len(kb.TICK) :].isdigit():
            checklist = self.store.toggle_tick(user_id, int(data[len(kb.TICK) :])) or checklist
        elif data == kb.EXPORT_MD:
            await self._send_file(context, chat_id, "pilote.md", ck.to_markdown(checklist),
                                  msg.EXPORT_CAPTION_MD)  # fmt: skip
            return
        elif data == kb.EXPORT_ICS:
            ics = ck.to_ics(checklist, uid_prefix=chat_tag(user_id))
            await self._send_file(context, chat_id, "pilote.ics", ics, msg.EXPORT_CAPTION_ICS)
            return
        elif data in (kb.REMIND_ON, kb.REMIND_OFF):
            enabled = data == kb.REMIND_ON
            self.store.set_reminder(user_id, chat_id, enabled)
            self._schedule(context.job_queue, user_id, chat_id, enabled)
            await context.bot.send_message(
                chat_id, msg.REMINDERS_ON if enabled else msg.REMINDERS_OFF
            )
        await self._edit_query(
            query, ck.checklist_html(checklist),
            kb.checklist_buttons(checklist, self.store.has_reminder(user_id)), html=True,
        )  # fmt: skip

    async def on_forget_button(self, update: Update, context: Ctx) -> None:
        """Erase everything about the user once confirmed, and cancel their reminders."""
        query = update.callback_query
        assert query is not None
        await query.answer()
        if query.data != kb.FORGET_YES:
            await self._edit_query(query, msg.CANCELLED)
            return
        user_id = query.from_user.id
        self.store.forget_user(user_id)
        self._schedule(context.job_queue, user_id, 0, False)
        log.info("user data erased (user=%s)", chat_tag(user_id))
        await self._edit_query(query, msg.FORGET_DONE)

    # -- helpers --------------------------------------------------------------

    def _checklist_from_last(self, chat_id: int, user_id: int) -> Checklist | None:
        """The checklist of the last answer, keeping the ticks when it is the same plan."""
        last = self.store.last_advice(chat_id, user_id)
        if last is None:
            return self.store.checklist(user_id)
        items = ck.items_from_advice(last.advice)
        current = self.store.checklist(user_id)
        if current is None or list(current.items) != items:
            self.store.save_checklist(user_id, items, today_paris().isoformat())
        return self.store.checklist(user_id)

    async def _send_checklist(
        self, context: Ctx, chat_id: int, user_id: int, checklist: Checklist
    ) -> None:
        markup = kb.checklist_buttons(checklist, self.store.has_reminder(user_id))
        await send_html(context.bot, chat_id, ck.checklist_html(checklist), markup=markup)

    @staticmethod
    async def _edit_query(
        query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None,
        *, html: bool = False,
    ) -> None:  # fmt: skip
        if query.message is None:
            return
        body = text if html else esc(text)
        await edit_html(query.get_bot(), query.message.chat.id, query.message.message_id,
                        body, markup)  # fmt: skip

    @staticmethod
    async def _send_file(context: Ctx, chat_id: int, name: str, body: str, caption: str) -> None:
        document = InputFile(body.encode(), filename=name)
        await context.bot.send_document(chat_id, document, caption=caption)

    # -- reminders ------------------------------------------------------------

    def _schedule(self, jobs: JobQueue[Any] | None, user_id: int, chat_id: int, on: bool) -> None:
        if jobs is None:
            return
        for job in jobs.get_jobs_by_name(f"rappel-{user_id}"):
            job.schedule_removal()
        if on:
            jobs.run_daily(self.remind, REMINDER_AT, name=f"rappel-{user_id}",
                           chat_id=chat_id, user_id=user_id)  # fmt: skip

    async def remind(self, context: Ctx) -> None:
        """The daily 9:00 reminder; stops itself after the pilot."""
        job = context.job
        assert job is not None and job.user_id is not None and job.chat_id is not None
        checklist = self.store.checklist(job.user_id)
        text = ck.reminder_text(checklist, today_paris()) if checklist else None
        if checklist is None or ck.pilot_day(checklist, today_paris()) > ck.PILOT_DAYS:
            self.store.set_reminder(job.user_id, job.chat_id, False)
            job.schedule_removal()
        if text:
            await context.bot.send_message(job.chat_id, text)

    def restore_reminders(self, app: Application[Any, Any, Any, Any, Any, Any]) -> int:
        """Re-schedule the opted-in reminders from storage (at startup)."""
        reminders = self.store.reminders()
        for reminder in reminders:
            self._schedule(app.job_queue, reminder.user_id, reminder.chat_id, True)
        return len(reminders)

    async def on_error(self, update: object, context: Ctx) -> None:
        """Log the failure (no text, no token) and apologise in French."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("error on update %s: %s", update_id, type(error).__name__,
                  exc_info=(type(error), error, error.__traceback__) if error else None)
        if isinstance(update, Update) and update.effective_chat is not None:
            wording = msg.user_message_for(error) if isinstance(error, BotError) else None
            try:
                await context.bot.send_message(
                    update.effective_chat.id, wording or msg.GENERIC_ERROR
                )
            except Exception:  # noqa: BLE001 - the apology is best effort
                log.warning("could not send the apology")

