"""`pilote-ia` command line: reads settings once, then dispatches to a command module.

Each command module (`kb`, `kb_check`, `advise`, `serve`) exposes `register(subparsers)`, which
adds its subcommands with `set_defaults(handler=...)`; a handler takes `(args, settings)` and
returns an exit code.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings, load_settings
from bot.errors import ConfigError

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    from bot.cli import admin, advise, gaps, kb, kb_check, migrate_store, serve  # noqa: I001 (lazy: keeps --help fast)

    parser = argparse.ArgumentParser(
        prog="pilote-ia", description="Conseiller IA pour TPE/PME (Telegram et terminal)."
    )
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="fichier .env à lire")
    sub = parser.add_subparsers(dest="command", metavar="COMMANDE")
    for module in (kb, kb_check, advise, serve, admin, gaps, migrate_store):
        module.register(sub)
    return parser


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every URL at INFO, and Telegram URLs carry the bot token.
    for noisy in ("httpx", "httpcore", "chromadb", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from bot.guard import install_log_redaction, settings_secrets

    install_log_redaction(settings_secrets(settings))  # a library may still log a secret


def _quiet_third_parties() -> None:
    # Never let a library reach a model hub or phone home.
    for name, value in (
        ("HF_HUB_OFFLINE", "1"),
        ("TRANSFORMERS_OFFLINE", "1"),
        ("ANONYMIZED_TELEMETRY", "False"),
        ("TOKENIZERS_PARALLELISM", "false"),
    ):
        os.environ.setdefault(name, value)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `pilote-ia` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    _quiet_third_parties()
    try:
        settings = load_settings(env_file=args.env_file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    _configure_logging(settings)
    return int(args.handler(args, settings))
