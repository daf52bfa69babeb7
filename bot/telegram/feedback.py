"""👍 / 👎 under an answer, the reason of a 👎 and its optional one-line comment.

A vote refers to the answer log (`bot.storage.AnswerRecord`) by its id, carried in the
callback data. Only the owner of an answer may vote on it, once, changeably; the keyboard
under the answer shows the current vote. After a 👎 a small message offers the reasons; for
"autre" and "information fausse" a second one asks for a comment with ForceReply, and only a
*reply* to that message (within `COMMENT_WINDOW_S`) is taken as the comment: a question
typed normally is always answered as a question.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from telegram import CallbackQuery, ForceReply, Message, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot import messages as msg
from bot.storage import AnswerRecord, Store
from bot.telegram import keyboards as kb
from bot.telegram.formatting import esc

log = logging.getLogger(__name__)

COMMENT_WINDOW_S = 10 * 60.0
COMMENT_REASONS = frozenset({"other", "wrong_fact"})  # reasons that invite a comment


@dataclass(frozen=True)
class VoteTap:
    """A parsed vote button: `v:+:12`, `v:-:12` or `v:r:o:12`."""

    answer_id: int
    vote: int | None  # +1 / -1 for a vote, None for a reason
    reason: str | None


def parse_vote(data: str) -> VoteTap | None:
    """The tap a vote button carries; None for malformed data."""
    parts = data.split(":")
    if len(parts) == 3 and parts[1] in (kb.VOTE_UP, kb.VOTE_DOWN) and parts[2].isdigit():
        return VoteTap(int(parts[2]), 1 if parts[1] == kb.VOTE_UP else -1, None)
    if (
        len(parts) == 4
        and parts[1] == kb.VOTE_REASON
        and parts[2] in kb.REASON_CODES
        and parts[3].isdigit()
    ):
        return VoteTap(int(parts[3]), None, kb.REASON_CODES[parts[2]])
    return None


@dataclass
class FeedbackButtons:
    """Handlers of the vote buttons and of the comment that may follow a 👎."""

    store: Store

    async def on_vote(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A tap on 👍, 👎 or a reason: checked against the answer log, then stored."""
        query = update.callback_query
        assert query is not None
        tap = parse_vote(query.data or "")
        answer = self.store.answer(tap.answer_id) if tap is not None else None
        if tap is None or answer is None:
            await query.answer(msg.VOTE_UNKNOWN, show_alert=True)
            return
        if answer.user_id != query.from_user.id:
            await query.answer(msg.VOTE_NOT_YOURS, show_alert=True)
            return
        if tap.vote is not None:
            await self._vote(query, answer, tap.vote)
        elif tap.reason is not None:
            await self._reason(query, answer, tap.reason)

    async def _vote(self, query: CallbackQuery, answer: AnswerRecord, vote: int) -> None:
        before = self.store.feedback(answer.answer_id)
        self.store.set_vote(answer.answer_id, answer.user_id, vote)
        await query.answer(msg.VOTE_THANKS)
        if before is not None and before.vote == vote:
            return  # the keyboard already shows it
        message = query.message
        if not isinstance(message, Message):
            return
        markup = kb.with_vote(message.reply_markup, answer.answer_id, vote)
        try:
            await message.edit_reply_markup(markup)
        except BadRequest as exc:  # the answer was deleted: the vote still counts
            log.info("vote keyboard not updated: %s", exc.message)
        if vote < 0:
            await message.reply_text(
                msg.VOTE_REASON_ASK,
                reply_markup=kb.vote_reasons(answer.answer_id),
                do_quote=False,
            )

    async def _reason(self, query: CallbackQuery, answer: AnswerRecord, reason: str) -> None:
        current = self.store.feedback(answer.answer_id)
        if current is None or current.vote > 0:
            await query.answer(msg.VOTE_REASON_STALE, show_alert=True)
            return
        self.store.set_feedback_reason(answer.answer_id, answer.user_id, reason, None)
        await query.answer()
        message = query.message
        if not isinstance(message, Message):
            return
        label = msg.VOTE_REASONS[reason]
        try:
            await message.edit_text(msg.VOTE_REASON_NOTED.format(reason=label))
        except BadRequest as exc:
            log.info("reason message not updated: %s", exc.message)
        if reason in COMMENT_REASONS:
            await self._ask_comment(query, message, answer)

    async def _ask_comment(
        self, query: CallbackQuery, message: Message, answer: AnswerRecord
    ) -> None:
        """The ForceReply prompt for an optional comment; in a group it names the voter,
        so that only their phone opens the reply field."""
        text = esc(msg.VOTE_COMMENT_ASK)
        if message.chat.type != ChatType.PRIVATE:
            voter = query.from_user
            text = f'<a href="tg://user?id={voter.id}">{esc(voter.first_name)}</a>, {text}'
        prompt = await message.get_bot().send_message(
            message.chat.id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=ForceReply(
                selective=True, input_field_placeholder=msg.VOTE_COMMENT_PLACEHOLDER
            ),
        )
        until = time.time() + COMMENT_WINDOW_S
        self.store.await_comment(answer.answer_id, answer.user_id, prompt.message_id, until)

    def comment_target(self, message: Message, user_id: int) -> int | None:
        """The answer a text message comments on: it replies to a comment prompt of this
        user, still open; None for anything else (a question)."""
        replied = message.reply_to_message
        if replied is None or message.text is None or replied.from_user is None:
            return None
        if not replied.from_user.is_bot:
            return None
        return self.store.comment_awaited(message.chat_id, user_id, replied.message_id)

    async def take_comment(self, message: Message, user_id: int) -> bool:
        """Store the message as the comment of a 👎 when it is one; True when taken."""
        answer_id = self.comment_target(message, user_id)
        if answer_id is None or message.text is None:
            return False
        self.store.set_feedback_reason(answer_id, user_id, None, message.text)
        await message.reply_text(msg.VOTE_COMMENT_THANKS, do_quote=False)
        return True
