"""Delivering answers: typing indicator, throttled progressive edits, HTML with a plain fallback.

Why edits and not `send_message_draft`: drafts only exist in private chats and vanish unless a
final `send_message` follows, while an edited placeholder works in groups too, keeps its
buttons and stays in the chat if the bot stops mid-answer. Edits are throttled (at most one
every `min_interval` seconds, only when the text grew by `min_growth` characters) and
PTB's AIORateLimiter handles Telegram's own flood limits on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field

from telegram import Bot, InlineKeyboardMarkup, Message, ReplyParameters
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, TelegramError

from bot import messages as msg
from bot.telegram.formatting import MAX_MESSAGE, html_to_plain, split_plain

log = logging.getLogger(__name__)

TYPING_EVERY_S = 4.5
_PREVIEW_CHARS = 3500


def _is_parse_error(exc: BadRequest) -> bool:
    return "parse entities" in exc.message.lower()


def _not_modified(exc: BadRequest) -> bool:
    return "not modified" in exc.message.lower()


def _gone(exc: BadRequest) -> bool:
    """The message to edit was deleted or can no longer be edited."""
    text = exc.message.lower()
    return "not found" in text or "can't be edited" in text


@contextlib.asynccontextmanager
async def typing(bot: Bot, chat_id: int) -> AsyncIterator[None]:
    """Show "typing…" until the block ends (Telegram clears it after ~5 s, so repeat)."""

    first_sent = asyncio.Event()

    async def repeat() -> None:
        while True:
            with contextlib.suppress(TelegramError):
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            first_sent.set()
            await asyncio.sleep(TYPING_EVERY_S)

    task = asyncio.create_task(repeat())
    try:
        yield
    finally:
        # let the first indicator land rather than cutting its request mid-flight
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_sent.wait(), 1.0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def send_html(
    bot: Bot,
    chat_id: int,
    text: str,
    *,
    markup: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
) -> Message:
    """Send one HTML part; on "can't parse entities" send it again as plain text."""
    reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
    try:
        return await bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            reply_parameters=reply,
        )
    except BadRequest as exc:
        if not _is_parse_error(exc):
            raise
        log.warning("HTML refused by Telegram, resending as plain text (%d chars)", len(text))
        plain = split_plain(html_to_plain(text), MAX_MESSAGE)[0]
        return await bot.send_message(chat_id, plain, reply_markup=markup, reply_parameters=reply)


async def edit_html(
    bot: Bot, chat_id: int, message_id: int, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Edit a message to HTML, falling back to plain text; "not modified" is not an error."""
    try:
        await bot.edit_message_text(
            text, chat_id, message_id, parse_mode=ParseMode.HTML, reply_markup=markup
        )
    except BadRequest as exc:
        if _not_modified(exc):
            return
        if not _is_parse_error(exc):
            raise
        plain = split_plain(html_to_plain(text), MAX_MESSAGE)[0]
        await bot.edit_message_text(plain, chat_id, message_id, reply_markup=markup)


async def edit_or_send(
    bot: Bot,
    chat_id: int,
    message_id: int | None,
    text: str,
    *,
    markup: InlineKeyboardMarkup | None = None,
    reply_to: int | None = None,
) -> None:
    """Edit `message_id` to `text`, or send it when there is no such message (any more)."""
    if message_id is not None:
        try:
            await edit_html(bot, chat_id, message_id, text, markup)
            return
        except BadRequest as exc:
            if not _gone(exc):
                raise
            log.info("message to edit gone (%s), sending a new one", exc.message)
    await send_html(bot, chat_id, text, markup=markup, reply_to=reply_to)


async def send_parts(
    bot: Bot, chat_id: int, parts: Sequence[str], *, markup: InlineKeyboardMarkup | None = None
) -> None:
    """Send several HTML parts in order; the keyboard goes under the last one."""
    for i, part in enumerate(parts):
        await send_html(bot, chat_id, part, markup=markup if i == len(parts) - 1 else None)


@dataclass(eq=False)
class ProgressiveReply:
    """A placeholder message, edited as the advisor streams, then replaced by the answer."""

    bot: Bot
    chat_id: int
    _: KW_ONLY
    reply_to: int | None = None
    min_interval: float = 1.5  # seconds between two preview edits
    min_growth: int = 40  # characters a preview must have grown by to be shown
    clock: Callable[[], float] = time.monotonic
    edits: int = field(default=0, init=False)  # preview edits made
    _message_id: int | None = field(default=None, init=False)
    _shown: str = field(default="", init=False)
    _last_edit: float = field(default=0.0, init=False)
    _pending: asyncio.Task[None] | None = field(default=None, init=False)

    @property
    def message_id(self) -> int | None:
        """Id of the placeholder once sent or attached."""
        return self._message_id

    async def start(self, text: str = msg.THINKING) -> int:
        """Send the placeholder (HTML); returns its message id."""
        message = await send_html(self.bot, self.chat_id, text, reply_to=self.reply_to)
        self._message_id = message.message_id
        self._last_edit = self.clock()
        return message.message_id

    def attach(self, message_id: int) -> None:
        """Use a placeholder sent earlier (e.g. before a restart) instead of a new one."""
        self._message_id = message_id
        self._last_edit = self.clock()

    async def update(self, text: str) -> None:
        """Streamed text so far (the advisor's `on_text`); never blocks the stream."""
        if self._message_id is None or (self._pending and not self._pending.done()):
            return
        preview = text.strip()
        if len(preview) > _PREVIEW_CHARS:
            preview = "…" + preview[-_PREVIEW_CHARS:]
        due = self.clock() - self._last_edit >= self.min_interval
        if not preview or not due or len(preview) - len(self._shown) < self.min_growth:
            return
        self._shown = preview
        self._last_edit = self.clock()
        self._pending = asyncio.create_task(self._edit_plain(preview + " ▌"))

    async def _edit_plain(self, text: str) -> None:
        assert self._message_id is not None
        try:
            await self.bot.edit_message_text(text, self.chat_id, self._message_id)
            self.edits += 1
        except TelegramError as exc:  # a lost preview edit is harmless
            log.debug("preview edit skipped: %s", type(exc).__name__)

    async def _settle(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending

    async def finish(self, parts: Sequence[str], markup: InlineKeyboardMarkup | None) -> None:
        """Replace the placeholder by the first part; send the others; buttons on the last."""
        await self._settle()
        if self._message_id is None:
            await send_parts(self.bot, self.chat_id, parts, markup=markup)
            return
        first = markup if len(parts) == 1 else None
        await edit_or_send(self.bot, self.chat_id, self._message_id, parts[0], markup=first)
        if len(parts) > 1:
            await send_parts(self.bot, self.chat_id, parts[1:], markup=markup)

    async def fail(self, text: str) -> None:
        """Replace the placeholder by an error text."""
        await self._settle()
        await edit_or_send(self.bot, self.chat_id, self._message_id, text)
