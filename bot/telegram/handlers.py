"""Short PTB handlers: they read the update, ask the advisor or the store, and reply.

Answering itself is `bot.telegram.answering`; questions resumed after a restart are
`bot.telegram.resume`; daily reminders are `bot.telegram.reminders`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from telegram import Bot, CallbackQuery, InlineKeyboardMarkup, InputFile, Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.ext import ApplicationHandlerStop, ContextTypes, filters

from bot import messages as msg
from bot.advice import Profile
from bot.errors import BotError
from bot.storage import Checklist, PendingQuestion, Store
from bot.telegram import checklist as ck
from bot.telegram import keyboards as kb
from bot.telegram.answering import Answering, chat_tag
from bot.telegram.feedback import FeedbackButtons
from bot.telegram.formatting import esc, format_cost_detail, format_tools, split_html
from bot.telegram.limits import Limits, Verdict
from bot.telegram.owner_data import OwnerData
from bot.telegram.reminders import Reminders, today_paris
from bot.telegram.resume import process_token
from bot.telegram.streaming import ProgressiveReply, edit_html, send_html, send_parts
from bot.telegram.voice import VOICE_FILTER
from retrieval.errors import RetrievalError

log = logging.getLogger(__name__)

MAX_QUESTION = 4000
QUESTION_FILTER = filters.TEXT & ~filters.COMMAND
# ZWNJ/ZWJ (U+200C/D) stay: they join emoji sequences and shape Persian or Indic words
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028-\u202e\ufeff]")

Ctx = ContextTypes.DEFAULT_TYPE


def clean_text(text: str) -> str:
    """Strip control and invisible characters, keep newlines and tabs."""
    return _CONTROL_RE.sub("", text).strip()


def _euros(value: float) -> str:
    """An LLM cost the French way, to the hundredth of a cent: 0,0250."""
    return f"{value:.4f}".replace(".", ",")


@dataclass
class BotHandlers:
    """Every handler of the bot, sharing the advisor, the store and the limits."""

    answering: Answering
    reminders: Reminders
    sectors: kb.Choices  # the profile menu's sectors (knowledge/vocabulary.yaml) and labels
    owner: str = field(default_factory=process_token)  # names this process's pending questions
    voice: bool = False  # voice notes are transcribed (a transcription provider is configured)

    @property
    def store(self) -> Store:
        """The bot's state (shared with the answering and the reminders)."""
        return self.answering.store

    @property
    def limits(self) -> Limits:
        """Allowlist, admins and per-user quotas."""
        return self.answering.limits

    @property
    def feedback(self) -> FeedbackButtons:
        """👍 / 👎 under the answers, with the reason and comment of a 👎."""
        return FeedbackButtons(self.store)

    @property
    def owner_data(self) -> OwnerData:
        """The profile card of `/profil` and the copy of `/mesdonnees`."""
        return OwnerData(self.store, self.sectors)

    # -- gates (handler groups -2 and -1) -------------------------------------

    async def dedupe(self, update: Update, context: Ctx) -> None:
        """Drop an update already processed (e.g. re-delivered after a restart).

        A question for the advisor is recorded as pending in the same transaction, so a
        crash before its answer leaves a row that the next start resumes.
        """
        pending = self._pending_of(update, context.bot)
        # a voice note is marked by bot.telegram.voice, with its question once transcribed
        fresh = (
            self.store.mark_question(pending)
            if pending is not None
            else VOICE_FILTER.check_update(update) or self.store.mark_update(update.update_id)
        )
        if not fresh:
            log.info("update %s already processed, skipped", update.update_id)
            raise ApplicationHandlerStop
        message = update.effective_message
        log.info(
            "update %s chat=%s text_len=%d",
            update.update_id,
            chat_tag(update.effective_chat.id) if update.effective_chat else "-",
            len(message.text or "") if message else 0,
        )

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
        await self._ask_profile(context.bot, chat.id)

    async def profile(self, update: Update, context: Ctx) -> None:
        """The saved profile with a « Modifier » button; the four-tap profile when none."""
        chat = update.effective_chat
        assert chat is not None
        if not await self.owner_data.show_profile(update, context):
            await self._ask_profile(context.bot, chat.id)

    async def _ask_profile(self, bot: Bot, chat_id: int) -> None:
        """Start (again) the four-tap profile."""
        menu = kb.profile_step("s", self.sectors)
        await bot.send_message(chat_id, msg.PROFILE_SECTOR, reply_markup=menu)

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
            users=t.users,
            q_today=t.questions_today,
            q_total=t.questions_total,
            c_today=_euros(t.cost_today_eur),
            c_total=_euros(t.cost_total_eur),
        )
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
            picks = await self.answering.advisor.tools_for(
                need, profile=self.store.get_profile(user.id)
            )
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
            if self.feedback.comment_target(message, user.id) is not None:
                return None  # the comment of a 👎, not a question
            text = self._question_text(message, bot)
            if text and len(text) <= MAX_QUESTION:
                question, chat_id, reply_to = text, message.chat_id, self._reply_to(message)
        elif query is not None and query.message is not None and self._is_another_option(query):
            chat_id = query.message.chat.id
            question = self._another_option(chat_id, user.id)
        if question is None:
            return None
        return self._asked(update, chat_id, user.id, question, reply_to)

    def _asked(
        self, update: Update, chat_id: int, user_id: int, question: str, reply_to: int | None = None
    ) -> PendingQuestion:
        """The question an update carries, answered by this process."""
        return PendingQuestion(
            update.update_id, chat_id, user_id, question, owner=self.owner, reply_to=reply_to
        )

    @staticmethod
    def _is_another_option(query: CallbackQuery) -> bool:
        data = query.data or ""
        return data.startswith("a:") and data not in (kb.ADVICE_CHECKLIST, kb.ADVICE_COST)

    async def question(self, update: Update, context: Ctx) -> None:
        """A free-text question: checks, then the streamed answer."""
        message, user = update.effective_message, update.effective_user
        assert message is not None and user is not None and message.text is not None
        if await self.feedback.take_comment(message, user.id):
            return
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
            asked = self._asked(update, message.chat_id, user.id, text, reply_to)
            await self.answer(bot, asked)

    async def answer(
        self, bot: Bot, asked: PendingQuestion, *, extra_cost_eur: float = 0.0
    ) -> None:
        """Answer one question, one at a time per user.

        The pending row `dedupe` recorded for it is deleted once the user got a final reply
        (answer, refusal or error) and kept when the task is cancelled mid-answer, so the
        next start resumes the question. `extra_cost_eur` (a transcription) is logged with
        the answer.
        """
        try:
            await self._answer_now(bot, asked, extra_cost_eur)
        except Exception:
            self.store.finish_question(asked.update_id)
            raise
        self.store.finish_question(asked.update_id)

    async def _answer_now(self, bot: Bot, asked: PendingQuestion, extra_cost_eur: float) -> None:
        turns, user_id = self.answering.turns, asked.user_id
        if turns.busy(user_id):
            await send_html(bot, asked.chat_id, esc(msg.BUSY), reply_to=asked.reply_to)
            return
        verdict = self.answering.verdict(user_id)
        if verdict in (Verdict.RATE_LIMITED, Verdict.BUDGET_SPENT):
            text = msg.RATE_LIMITED if verdict is Verdict.RATE_LIMITED else msg.BUDGET_SPENT
            await send_html(bot, asked.chat_id, esc(text), reply_to=asked.reply_to)
            return
        async with turns.of(user_id):  # free: nothing awaited since `busy`
            self.store.record_question(user_id)
            reply = ProgressiveReply(bot, asked.chat_id, reply_to=asked.reply_to)
            final_edit = await self.answering.advise(
                bot, reply, asked, verdict, extra_cost_eur=extra_cost_eur
            )
        await final_edit()  # the user may ask again as soon as they read it

    async def unsupported(self, update: Update, context: Ctx) -> None:
        """Voice, photos, stickers, files...: say what the bot can do."""
        message = update.effective_message
        if message is None:
            return
        if not self._addressed(message, context.bot.id, context.bot.username):
            return
        text = msg.UNSUPPORTED_WITH_VOICE if self.voice else msg.UNSUPPORTED_CONTENT
        await context.bot.send_message(message.chat_id, text)

    # -- buttons --------------------------------------------------------------

    async def on_profile(self, update: Update, context: Ctx) -> None:
        """One tap of the profile: store it, show the next step."""
        query = update.callback_query
        assert query is not None and query.data is not None
        await query.answer()
        if query.data == kb.PROFILE_EDIT:  # « Modifier » under the profile card
            await self._edit_query(query, msg.PROFILE_SECTOR, kb.profile_step("s", self.sectors))
            return
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
            await self._edit_query(query, prompt, kb.profile_step(next_step, self.sectors))

    def _apply_step(
        self, p: Profile, step: str, code: str
    ) -> tuple[Profile | None, str | None, str]:
        sectors, sizes, priorities = dict(self.sectors), dict(kb.SIZES), dict(kb.PRIORITIES)
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
            await self.answer(context.bot, self._asked(update, chat_id, user_id, question))

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
            await self._send_file(
                context, chat_id, "pilote.md", ck.to_markdown(checklist), msg.EXPORT_CAPTION_MD
            )
            return
        elif data == kb.EXPORT_ICS:
            ics = ck.to_ics(checklist, uid_prefix=chat_tag(user_id))
            await self._send_file(context, chat_id, "pilote.ics", ics, msg.EXPORT_CAPTION_ICS)
            return
        elif data in (kb.REMIND_ON, kb.REMIND_OFF):
            enabled = data == kb.REMIND_ON
            self.store.set_reminder(user_id, chat_id, enabled)
            self.reminders.schedule(context.job_queue, user_id, chat_id, enabled)
            await context.bot.send_message(
                chat_id, msg.REMINDERS_ON if enabled else msg.REMINDERS_OFF
            )
        await self._edit_query(
            query,
            ck.checklist_html(checklist),
            kb.checklist_buttons(checklist, self.store.has_reminder(user_id)),
            html=True,
        )

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
        self.reminders.schedule(context.job_queue, user_id, 0, False)
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
        query: CallbackQuery,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        html: bool = False,
    ) -> None:
        if query.message is None:
            return
        body = text if html else esc(text)
        await edit_html(
            query.get_bot(), query.message.chat.id, query.message.message_id, body, markup
        )

    @staticmethod
    async def _send_file(context: Ctx, chat_id: int, name: str, body: str, caption: str) -> None:
        document = InputFile(body.encode(), filename=name)
        await context.bot.send_document(chat_id, document, caption=caption)

    async def on_error(self, update: object, context: Ctx) -> None:
        """Log the failure (no text, no token) and apologise in French."""
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        log.error(
            "error on update %s: %s",
            update_id,
            type(error).__name__,
            exc_info=(type(error), error, error.__traceback__) if error else None,
        )
        if isinstance(update, Update) and update.effective_chat is not None:
            wording = msg.user_message_for(error) if isinstance(error, BotError) else None
            try:
                await context.bot.send_message(
                    update.effective_chat.id, wording or msg.GENERIC_ERROR
                )
            except Exception:  # noqa: BLE001 - the apology is best effort
                log.warning("could not send the apology")
