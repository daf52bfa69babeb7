"""Answering a question in a chat: one at a time per user, the streamed advice, then storage
(history, usage, and the answer log that the 👍 / 👎 buttons under the answer refer to) and
the final reply, kept with the question until delivered.

Live questions (`bot.telegram.handlers`) and questions resumed after a restart
(`bot.telegram.resume`) both go through `Answering.advise`, holding the user's turn.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

from telegram import Bot, InlineKeyboardMarkup

from bot import messages as msg
from bot.advice import Advice, AdvisorLike
from bot.config import Settings
from bot.errors import BotError
from bot.storage import AnswerRecord, FinalReply, PendingQuestion, Store
from bot.telegram import keyboards as kb
from bot.telegram.formatting import esc, format_advice, is_decline, split_html
from bot.telegram.limits import Limits, Verdict
from bot.telegram.streaming import ProgressiveReply, typing
from retrieval.errors import RetrievalError

log = logging.getLogger(__name__)

# The last message of an answer, sent once the user's turn is released.
FinalEdit = Callable[[], Awaitable[None]]


def markup_json(markup: InlineKeyboardMarkup | None) -> str | None:
    """The stored form of a keyboard (`FinalReply.markup`)."""
    return None if markup is None else markup.to_json()


def markup_of(final: FinalReply, bot: Bot) -> InlineKeyboardMarkup | None:
    """The keyboard of a stored reply, as it was sent."""
    if final.markup is None:
        return None
    return InlineKeyboardMarkup.de_json(json.loads(final.markup), bot)


def chat_tag(chat_id: int) -> str:
    """A short hash of the chat id for logs (ids are personal data)."""
    return hashlib.sha256(str(chat_id).encode()).hexdigest()[:10]


class UserTurns:
    """One question at a time per user: a lock per user, kept while someone holds or awaits it."""

    def __init__(self) -> None:
        self._locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()

    def busy(self, user_id: int) -> bool:
        """True while a question of the user is being answered."""
        lock = self._locks.get(user_id)
        return lock is not None and lock.locked()

    def of(self, user_id: int) -> asyncio.Lock:
        """The user's lock: `async with turns.of(user_id)` waits for their previous question."""
        lock = self._locks.get(user_id)
        if lock is None:
            lock = self._locks[user_id] = asyncio.Lock()
        return lock


@dataclass
class Answering:
    """Asks the advisor for one user and stores the result; shared by live and resumed questions."""

    settings: Settings
    advisor: AdvisorLike
    store: Store
    limits: Limits
    offline_advisor: AdvisorLike | None = None  # answers once a user's LLM budget is spent
    turns: UserTurns = field(default_factory=UserTurns)

    def verdict(self, user_id: int) -> Verdict:
        """What the limits allow for a new question of the user."""
        return self.limits.check(user_id, can_go_offline=self.offline_advisor is not None)

    def _advisor_for(self, verdict: Verdict) -> tuple[AdvisorLike, str | None]:
        if verdict is Verdict.OFFLINE and self.offline_advisor is not None:
            return self.offline_advisor, msg.BUDGET_OFFLINE_NOTE
        return self.advisor, None

    async def advise(
        self,
        bot: Bot,
        reply: ProgressiveReply,
        asked: PendingQuestion,
        verdict: Verdict,
        *,
        prefix: str | None = None,
        placeholder: str = esc(msg.THINKING),
        extra_cost_eur: float = 0.0,
    ) -> FinalEdit:
        """Placeholder (unless attached), streamed advice and storage; returns the final edit.

        The caller holds the user's turn and awaits the final edit once it released it, so
        that the user may ask again as soon as they read the answer (or the error).
        `extra_cost_eur` (e.g. the transcription of a voice note) is logged with the answer.
        """
        started = time.monotonic()
        chat_id, user_id, question = asked.chat_id, asked.user_id, asked.question
        advisor, note = self._advisor_for(verdict)
        async with typing(bot, chat_id):
            if reply.message_id is None:
                sent = await reply.start(placeholder)
                self.store.set_placeholder(asked.update_id, sent)
            try:
                advice = await advisor.advise(
                    question,
                    profile=self.store.get_profile(user_id),
                    history=self.store.history(chat_id, user_id, self.settings.history_turns),
                    on_text=reply.update,
                )
            except (BotError, RetrievalError) as exc:  # Chroma down, empty query
                log.warning("advisor failed: %s chat=%s", type(exc).__name__, chat_tag(chat_id))
                return partial(reply.fail, esc(msg.user_message_for(exc)))
        reply_parts, buttons = self._store_answer(
            asked,
            advice,
            note=note,
            prefix=prefix,
            latency=time.monotonic() - started,
            extra_cost_eur=extra_cost_eur,
            message_id=reply.message_id,
        )
        return partial(reply.finish, reply_parts, buttons)

    def _store_answer(
        self,
        asked: PendingQuestion,
        advice: Advice,
        *,
        note: str | None,
        prefix: str | None,
        latency: float,
        extra_cost_eur: float,
        message_id: int | None,
    ) -> tuple[tuple[str, ...], InlineKeyboardMarkup | None]:
        """Record an answer and render its reply: the HTML parts and the keyboard."""
        chat_id, user_id, question = asked.chat_id, asked.user_id, asked.question
        declined = is_decline(advice)
        if advice.pilot is not None and not declined:  # /pilote keeps the last real plan
            self.store.save_last_advice(chat_id, user_id, question, advice)
        body = format_advice(advice, note=note)
        if prefix:
            body = f"{esc(prefix)}\n\n{body}"
        # keyed on the placeholder: recorded again by a resumer, it keeps the same row and id
        answer_id = self.store.record_answer(
            self._record(asked, advice, latency=latency, extra_cost_eur=extra_cost_eur),
            message_id=message_id,
        )
        buttons = kb.advice_buttons(
            pilot=advice.pilot is not None and not declined,
            tools=bool(advice.tools) and not declined,
            answer_id=answer_id,
        )
        final = FinalReply(tuple(split_html(body)), markup_json(buttons))
        # history and usage with the reply, at once: a crash from here on leaves a reply to
        # deliver again (`bot.telegram.resume`), never an answer recorded twice
        self.store.keep_final(asked, advice.answer, final, advice.usage)
        return final.parts, buttons

    def _record(
        self, asked: PendingQuestion, advice: Advice, *, latency: float, extra_cost_eur: float
    ) -> AnswerRecord:
        """The answer log entry of a final answer."""
        usage, trace = advice.usage, advice.trace
        offline = advice.mode == "offline"
        return AnswerRecord(
            answer_id=0,
            user_id=asked.user_id,
            chat_id=asked.chat_id,
            at=time.time(),
            question=asked.question,
            intent=advice.intent,
            mode=advice.mode,
            provider=usage.provider if usage else None if offline else self.settings.llm_provider,
            model=usage.model if usage else None if offline else self.settings.llm_model,
            fallback_reason=advice.fallback_reason,
            retrieved=tuple(trace.retrieved),
            cited=tuple(source.id for source in advice.sources),
            tools=tuple(tool.name for tool in advice.tools),
            top_score=trace.top_score,
            neighbour_need=trace.neighbour_need,
            latency_s=round(latency, 3),
            cost_eur=round((usage.cost_eur if usage else 0.0) + extra_cost_eur, 6),
        )
