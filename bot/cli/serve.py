"""`pilote-ia run [--webhook URL]`: serve the Telegram bot by polling or through a webhook."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Any
from urllib.parse import urlparse

from bot import messages as msg
from bot.config import Settings
from bot.errors import ConfigError

EXIT_CONFIG = 2


def register(subparsers: Any) -> None:
    """Add the `run` subcommand."""
    parser = subparsers.add_parser("run", help="lancer le bot Telegram")
    parser.add_argument(
        "--webhook", metavar="URL", help="URL publique https du webhook (sinon : polling)"
    )
    parser.set_defaults(handler=run)


def check(settings: Settings, webhook: str | None) -> None:
    """Raise ConfigError when the bot cannot start in the requested mode."""
    problems = {}
    if settings.telegram_bot_token is None:
        problems["TELEGRAM_BOT_TOKEN"] = msg.NO_TOKEN
    if webhook is not None:
        if settings.telegram_webhook_secret is None:
            problems["TELEGRAM_WEBHOOK_SECRET"] = msg.WEBHOOK_SECRET_MISSING
        if not webhook.startswith("https://"):
            problems["--webhook"] = msg.WEBHOOK_URL_INVALID
    if problems:
        raise ConfigError(problems)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Build the bot and serve until interrupted."""
    webhook: str | None = args.webhook
    try:
        check(settings, webhook)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    # opt into PTB's timedelta values now rather than a deprecation warning per RetryAfter
    os.environ.setdefault("PTB_TIMEDELTA", "1")
    from bot.telegram.app import ALLOWED_UPDATES
    from bot.telegram.inbox import Webhook, serve
    from bot.wiring import build_telegram_app

    app = build_telegram_app(settings)
    hook = None
    if webhook is not None:
        assert settings.telegram_webhook_secret is not None
        hook = Webhook(
            url=webhook,
            url_path=urlparse(webhook).path,
            secret=settings.telegram_webhook_secret.get_secret_value(),
            listen=settings.webhook_listen,
            port=settings.webhook_port,
        )
    # updates go through the inbox, stored before Telegram is told they arrived
    asyncio.run(serve(app, ALLOWED_UPDATES, hook))
    return 0
