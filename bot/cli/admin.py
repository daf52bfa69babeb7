"""`pilote-ia admin [--host H] [--port P]`: the read-only web dashboard for the deployer."""

from __future__ import annotations

import argparse
import contextlib
import logging
import secrets
import socket
import sys
from typing import TYPE_CHECKING

from bot import messages as msg
from bot.admin.auth import is_loopback
from bot.config import Settings
from bot.errors import BotError, ConfigError
from retrieval.errors import RetrievalError

if TYPE_CHECKING:
    import uvicorn
    from starlette.applications import Starlette

EXIT_CONFIG = 2
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `admin` subcommand."""
    parser = subparsers.add_parser("admin", help="tableau de bord web, en lecture seule")
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"adresse d'écoute (défaut : {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_PORT, help=f"port (défaut : {DEFAULT_PORT})"
    )
    parser.set_defaults(handler=run_admin)


def _port(raw: str) -> int:
    if not raw.isdigit() or int(raw) > 65535:
        raise argparse.ArgumentTypeError(msg.ADMIN_BAD_PORT.format(value=raw))
    return int(raw)


def check(settings: Settings, host: str) -> None:
    """Raise ConfigError when the page would listen beyond this machine without a token."""
    if settings.admin_token is None and not is_loopback(host):
        raise ConfigError({"ADMIN_TOKEN": msg.ADMIN_TOKEN_REQUIRED.format(host=host)})


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: any free port); OSError when impossible."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host.strip("[]"), port), family=family)


def build_server(app: Starlette) -> uvicorn.Server:
    """A uvicorn server for `app` that keeps the program's logging and hides its name."""
    import uvicorn

    config = uvicorn.Config(
        app, log_config=None, access_log=False, server_header=False, lifespan="on"
    )
    return uvicorn.Server(config)


def run_admin(args: argparse.Namespace, settings: Settings) -> int:
    """Serve the dashboard until interrupted."""
    host: str = args.host
    try:
        check(settings, host)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    try:
        sock = listen(host, args.port)
    except OSError:
        print(msg.ADMIN_CANNOT_LISTEN.format(host=host, port=args.port), file=sys.stderr)
        return 1
    token = _token(settings)
    from bot.wiring import build_admin_app

    try:
        app = build_admin_app(settings, token)
    except (BotError, RetrievalError) as exc:
        sock.close()
        print(msg.user_message_for(exc), file=sys.stderr)
        return 1
    port = sock.getsockname()[1]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    print(msg.ADMIN_LISTENING.format(url=url), file=sys.stderr)
    if not is_loopback(host):
        print(msg.ADMIN_PLAIN_HTTP.format(url=url), file=sys.stderr)
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)  # our line says it started
    with contextlib.suppress(KeyboardInterrupt):  # re-raised by uvicorn after a clean stop
        build_server(app).run(sockets=[sock])
    return 0


def _token(settings: Settings) -> str:
    """ADMIN_TOKEN, or a one-time token shown once in the terminal (loopback only)."""
    if settings.admin_token is not None:
        return settings.admin_token.get_secret_value()
    token = secrets.token_urlsafe(18)
    print(msg.ADMIN_ONE_TIME_TOKEN.format(token=token), file=sys.stderr)
    return token
