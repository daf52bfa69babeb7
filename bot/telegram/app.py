"""Build the python-telegram-bot Application from Settings, an advisor and a store."""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import messages as msg
from bot.advice import AdvisorLike
from bot.config import Settings
from bot.errors import ConfigError
from bot.storage import Store
from bot.stt import Transcriber
from bot.telegram import keyboards as kb
from bot.telegram.answering import Answering
from bot.telegram.handlers import QUESTION_FILTER, BotHandlers
from bot.telegram.inbox import INBOX_KEY, Inbox
from bot.telegram.limits import Limits
from bot.telegram.reminders import Reminders
from bot.telegram.resume import PENDING_SWEEP_S, Resumer
from bot.telegram.retry import RetryingRateLimiter
from bot.telegram.voice import VOICE_FILTER, VoiceNotes
from retrieval.vocabulary import load_domain_vocabulary

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
PURGE_EVERY_S = 6 * 3600
# concurrent updates each hold a Bot API connection while answering (edits, typing)
CONNECTION_POOL = 256
POOL_TIMEOUT_S = 1.0
# a Bot API call that answers late still did its work: waiting longer than PTB's 5 s before
# giving up avoids apologising for an answer that was in fact sent (seen under load)
API_READ_TIMEOUT_S = API_WRITE_TIMEOUT_S = 15.0

AnyApp = Application[Any, Any, Any, Any, Any, Any]


def build_application(
    settings: Settings,
    advisor: AdvisorLike,
    store: Store,
    *,
    offline_advisor: AdvisorLike | None = None,
    rate_limiter: BaseRateLimiter[Any] | None = None,
    transcriber: Transcriber | None = None,
) -> AnyApp:
    """The Application with every handler registered; run it with polling or a webhook.

    `offline_advisor` answers (with a note) once a user's daily LLM budget is spent;
    without it such users are told to come back tomorrow. Without `transcriber`, voice
    notes get the polite "text only" reply. The caller owns and closes the advisors, the
    transcriber and the store.
    """
    if settings.telegram_bot_token is None:
        raise ConfigError({"TELEGRAM_BOT_TOKEN": msg.NO_TOKEN})
    limits = Limits(
        store,
        questions_per_hour=settings.questions_per_hour,
        daily_budget_eur=None if settings.offline else settings.daily_budget_eur,
        allowed_user_ids=settings.allowed_user_ids,
        admin_ids=settings.admin_ids,
    )
    answering = Answering(settings, advisor, store, limits, offline_advisor)
    sectors = kb.sector_choices(load_domain_vocabulary(settings.knowledge_dir))
    handlers = BotHandlers(answering, Reminders(store), sectors)
    resumer = Resumer(answering, owner=handlers.owner)

    async def purge_job(_context: object) -> None:
        store.purge(settings.history_retention_days, settings.feedback_retention_days)

    async def post_init(app: AnyApp) -> None:
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in msg.COMMANDS])
        restored = handlers.reminders.restore(app)
        purged = store.purge(settings.history_retention_days, settings.feedback_retention_days)
        if app.job_queue is not None:
            app.job_queue.run_repeating(purge_job, PURGE_EVERY_S, name="purge")
            # questions interrupted by a crash: resumed as soon as the job queue starts (it is
            # not started yet; a late start must not count as a missed run), in background
            # tasks so that polling is not held up; then a sweep for other processes' orphans
            app.job_queue.run_once(
                resumer.pending_job, 0, name="resume", job_kwargs={"misfire_grace_time": None}
            )
            app.job_queue.run_repeating(
                resumer.pending_job, PENDING_SWEEP_S, first=PENDING_SWEEP_S, name="pending"
            )
        log.info("bot ready: %d reminders restored, %d old rows purged", restored, purged)

    app = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token.get_secret_value())
        .base_url(settings.telegram_api_base_url)
        .base_file_url(settings.telegram_file_base_url)
        .rate_limiter(
            rate_limiter
            or RetryingRateLimiter(overall_max_rate=settings.telegram_rate_per_s, max_retries=3)
        )
        .concurrent_updates(True)
        .connection_pool_size(CONNECTION_POOL)
        .pool_timeout(POOL_TIMEOUT_S)
        .read_timeout(API_READ_TIMEOUT_S)
        .write_timeout(API_WRITE_TIMEOUT_S)
        .post_init(post_init)
        .build()
    )
    # `pilote-ia run` receives updates through this inbox (bot/telegram/inbox.py)
    app.bot_data[INBOX_KEY] = Inbox(store, handlers.owner, settings.inbox_lease_s)
    handlers.voice = transcriber is not None
    register(app, handlers, VoiceNotes(handlers, transcriber, settings.stt_max_bytes))
    return app


def register(app: AnyApp, h: BotHandlers, voice: VoiceNotes) -> None:
    """Attach the handlers: idempotence and allowlist gates first, then commands and buttons."""
    app.add_handler(TypeHandler(Update, h.dedupe), group=-2)
    app.add_handler(TypeHandler(Update, h.allowlist), group=-1)
    commands = {
        "start": h.start,
        "profil": h.profile,
        "aide": h.help,
        "help": h.help,
        "reset": h.reset,
        "oubli": h.forget,
        "usage": h.usage,
        "outils": h.tools,
        "pilote": h.pilot,
        "mesdonnees": h.owner_data.export,
    }
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(CallbackQueryHandler(h.on_profile, pattern=r"^p:"))
    app.add_handler(CallbackQueryHandler(h.on_advice_button, pattern=r"^a:"))
    app.add_handler(CallbackQueryHandler(h.on_checklist_button, pattern=r"^c:"))
    app.add_handler(CallbackQueryHandler(h.on_forget_button, pattern=r"^f:"))
    app.add_handler(CallbackQueryHandler(h.feedback.on_vote, pattern=r"^v:"))
    app.add_handler(MessageHandler(QUESTION_FILTER, h.question))
    app.add_handler(MessageHandler(VOICE_FILTER, voice.on_voice))  # before "unsupported"
    app.add_handler(
        MessageHandler(~filters.TEXT & ~filters.COMMAND & ~filters.StatusUpdate.ALL, h.unsupported)
    )
    # an unknown /command in a private chat gets the help rather than silence
    app.add_handler(MessageHandler(filters.COMMAND & filters.ChatType.PRIVATE, h.help))
    app.add_error_handler(h.on_error)
