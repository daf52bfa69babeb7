"""Exit 0 when a Telegram token is configured (env or .env), 1 otherwise; used by `make run`."""

from __future__ import annotations

import sys
from pathlib import Path

from bot.config import load_settings
from bot.errors import ConfigError


def has_token(env_file: Path = Path(".env")) -> bool:
    """True when TELEGRAM_BOT_TOKEN is set; a broken config counts as 'no token'."""
    try:
        return load_settings(env_file=env_file).telegram_bot_token is not None
    except ConfigError:
        return False


if __name__ == "__main__":
    sys.exit(0 if has_token() else 1)
