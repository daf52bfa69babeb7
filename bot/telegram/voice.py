"""Voice notes and audio files: caps checked on the message's metadata, the file fetched
through the Bot API (getFile, then the file URL), transcribed, echoed, then answered exactly
like a typed question.

The update is marked as processed here, not in `BotHandlers.dedupe`: its question (recorded
as pending, so a crash mid-answer resumes it) is only known once transcribed. The audio itself
is never stored; the transcript is kept like a typed question.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from telegram import Bot, Message, Update
from telegram.constants import ChatType, MessageEntityType
from telegram.error import TelegramError
from telegram.ext import ContextTypes, filters

from bot import messages as msg
from bot.errors import SttEmptyError, SttError, SttFormatError, SttTimeoutError
from bot.storage import PendingQuestion
from bot.stt import Transcriber, audio_extension
from bot.telegram.answering import chat_tag
from bot.telegram.formatting import esc
from bot.telegram.limits import Verdict
from bot.telegram.streaming import send_html, typing

if TYPE_CHECKING:  # bot.telegram.handlers imports VOICE_FILTER from here
    from bot.telegram.handlers import BotHandlers

log = logging.getLogger(__name__)

VOICE_FILTER = filters.VOICE | filters.AUDIO | filters.Document.AUDIO
VOICE_NOTE_TYPE = "audio/ogg"  # Telegram records voice notes as Opus in Ogg
# Cost of a file whose duration Telegram does not give (an audio document): minutes counted
# as if it were a voice note's 16 kbit/s Opus, which overestimates richer encodings.
UNKNOWN_BYTES_PER_S = 2000
MB = 1_000_000


@dataclass(frozen=True)
class Media:
    """What the message says about its audio, before anything is downloaded."""

    file_id: str
    seconds: float | None
    size: int | None
    mime_type: str


class _Refused(Exception):
    """The note is not transcribed; `wording` tells the owner why."""

    def __init__(self, wording: str) -> None:
        super().__init__(wording)
        self.wording = wording


def _seconds(duration: int | timedelta) -> float:
    return duration.total_seconds() if isinstance(duration, timedelta) else float(duration)


def media_of(message: Message) -> Media | None:
    """The voice note, audio file or audio document of the message, if any."""
    if message.voice is not None:
        v = message.voice
        return Media(v.file_id, _seconds(v.duration), v.file_size, v.mime_type or VOICE_NOTE_TYPE)
    if message.audio is not None:
        a = message.audio
        return Media(a.file_id, _seconds(a.duration), a.file_size, a.mime_type or "")
    if message.document is not None:
        d = message.document
        return Media(d.file_id, None, d.file_size, d.mime_type or "")
    return None


def _addressed(message: Message, bot: Bot) -> bool:
    """Private chat, a reply to the bot, or a caption naming it."""
    if message.chat.type == ChatType.PRIVATE:
        return True
    replied = message.reply_to_message
    if replied is not None and replied.from_user and replied.from_user.id == bot.id:
        return True
    mentions = message.parse_caption_entities([MessageEntityType.MENTION]).values()
    return any(m.lower() == f"@{bot.username.lower()}" for m in mentions)


def _reply_to(message: Message) -> int | None:
    return None if message.chat.type == ChatType.PRIVATE else message.message_id


def _wording(exc: SttError) -> str:
    if isinstance(exc, SttTimeoutError):
        return msg.VOICE_SLOW
    if isinstance(exc, SttEmptyError):
        return msg.VOICE_EMPTY
    if isinstance(exc, SttFormatError):
        return msg.VOICE_BAD_FORMAT
    return msg.VOICE_UNAVAILABLE


def _megabytes(size: int) -> str:
    return f"{size / MB:.1f}".replace(".", ",")


@dataclass
class VoiceNotes:
    """The voice handler; without a transcriber it keeps the polite "text only" reply."""

    handlers: BotHandlers
    transcriber: Transcriber | None
    max_bytes: int

    async def on_voice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Transcribe, echo what was understood, then answer it like a typed question."""
        message, user, bot = update.effective_message, update.effective_user, context.bot
        if message is None or user is None or not _addressed(message, bot):
            return
        media = media_of(message)
        if media is None:
            return
        try:
            self._check(media, user.id)
            text, cost = await self._listen(bot, message.chat_id, user.id, media)
        except _Refused as refused:
            await self._reply_once(bot, update, message, refused.wording)
            return
        except (SttError, TelegramError) as exc:  # provider or Bot API file download
            tag = chat_tag(message.chat_id)
            log.warning("voice note not transcribed: %s chat=%s", type(exc).__name__, tag)
            wording = _wording(exc) if isinstance(exc, SttError) else msg.VOICE_DOWNLOAD_FAILED
            await self._reply_once(bot, update, message, wording)
            return
        asked = PendingQuestion(
            update.update_id,
            message.chat_id,
            user.id,
            text,
            owner=self.handlers.owner,
            reply_to=_reply_to(message),
        )
        if not self.handlers.store.mark_question(asked):
            return  # the same update, delivered twice, was answered by its first delivery
        echo = esc(msg.VOICE_UNDERSTOOD.format(text=text))
        await send_html(bot, message.chat_id, echo, reply_to=asked.reply_to)
        await self.handlers.answer(bot, asked, extra_cost_eur=cost)  # in the answer log too

    def _check(self, media: Media, user_id: int) -> None:
        """Refuse before downloading: no transcription, caps, format, then the user's limits."""
        stt = self.transcriber
        if stt is None:
            raise _Refused(msg.UNSUPPORTED_CONTENT)
        if media.seconds is not None and media.seconds > stt.max_seconds:
            seconds = round(media.seconds)
            raise _Refused(msg.VOICE_TOO_LONG.format(seconds=seconds, limit=stt.max_seconds))
        if media.size is not None and media.size > self.max_bytes:
            self._too_big(media.size)
        if audio_extension(media.mime_type) is None:
            raise _Refused(msg.VOICE_BAD_FORMAT)
        answering = self.handlers.answering
        if answering.turns.busy(user_id):
            raise _Refused(msg.BUSY)
        verdict = answering.verdict(user_id)
        if verdict is Verdict.RATE_LIMITED:
            raise _Refused(msg.RATE_LIMITED)
        if verdict is Verdict.BUDGET_SPENT:
            raise _Refused(msg.BUDGET_SPENT)
        if verdict is Verdict.OFFLINE and stt.endpoint.eur_per_min > 0:
            raise _Refused(msg.VOICE_BUDGET_SPENT)

    def _too_big(self, size: int) -> None:
        limit = _megabytes(self.max_bytes)
        raise _Refused(msg.VOICE_TOO_BIG.format(size=_megabytes(size), limit=limit))

    async def _listen(
        self, bot: Bot, chat_id: int, user_id: int, media: Media
    ) -> tuple[str, float]:
        """Download and transcribe; the minutes sent to the provider go to the user's cost
        (returned too, for the answer log)."""
        stt = self.transcriber
        assert stt is not None
        async with typing(bot, chat_id):
            file = await bot.get_file(media.file_id)
            if file.file_size is not None and file.file_size > self.max_bytes:
                self._too_big(file.file_size)
            audio = bytes(await file.download_as_bytearray())
            if len(audio) > self.max_bytes:
                self._too_big(len(audio))
            seconds = media.seconds or len(audio) / UNKNOWN_BYTES_PER_S
            log.info(
                "voice note chat=%s seconds=%.0f bytes=%d", chat_tag(chat_id), seconds, len(audio)
            )
            try:
                text = await stt.transcribe(audio, mime_type=media.mime_type)
            except SttEmptyError:
                self._charge(user_id, stt, seconds)  # the provider listened, and bills it
                raise
        return text, self._charge(user_id, stt, seconds)

    def _charge(self, user_id: int, stt: Transcriber, seconds: float) -> float:
        cost = stt.cost_eur(seconds)
        if cost > 0:
            self.handlers.store.add_usage(user_id, 0, 0, cost)
        return cost

    async def _reply_once(self, bot: Bot, update: Update, message: Message, text: str) -> None:
        """Mark the update processed, then reply (a second delivery stays silent)."""
        if self.handlers.store.mark_update(update.update_id):
            await send_html(bot, message.chat_id, esc(text), reply_to=_reply_to(message))
