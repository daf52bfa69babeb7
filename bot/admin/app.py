"""The admin web app (Starlette): a login form, then one read-only dashboard page.

Nothing here changes the store. Templates autoescape everything; the only markup inserted
as is comes from bot.admin.charts, which escapes its own text. Every response carries a
Content-Security-Policy that allows no script at all and only this server's stylesheet.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import messages as msg
from bot.admin import formatting
from bot.admin.auth import COOKIE_NAME, Sessions
from bot.admin.dashboard import Sources, build_dashboard, generated_moment, mode_class

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
)
MAX_FORM_BYTES = 4096  # the login form holds one token
TOKEN_FIELD = "jeton"
TOPICS_SHOWN = 12  # the biggest ones; `pilote-ia gaps` lists them all


class SecurityHeaders:
    """ASGI middleware adding SECURITY_HEADERS to every HTTP response, errors included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        euros=formatting.euros,
        count=formatting.count,
        percent=formatting.percent,
        seconds=formatting.seconds,
        long_day=formatting.long_day,
        mode_label=lambda mode: msg.ADMIN_MODES.get(mode, mode),
        mode_class=mode_class,
        reason_label=lambda reason: msg.VOTE_REASONS.get(reason or "", msg.ADMIN_NO_REASON),
        gap_reason_label=lambda reason: msg.ADMIN_GAP_REASONS.get(reason, reason),
        fiche_type_label=lambda kind: msg.ADMIN_FICHE_TYPES.get(kind, kind),
        provider_label=lambda name: msg.provider_name(name) if name else "?",
    )
    return env


async def _form_field(request: Request, name: str) -> str:
    """One field of a url-encoded form body (read up to MAX_FORM_BYTES)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return ""
    values = parse_qs(body.decode("utf-8", errors="replace"))
    return values.get(name, [""])[0]


class AdminPages:
    """The page handlers: the login form, the dashboard, logging out."""

    def __init__(self, sources: Sources, sessions: Sessions) -> None:
        self.sources = sources
        self.sessions = sessions
        self.templates = Jinja2Templates(env=_environment())

    def signed_in(self, request: Request) -> bool:
        """True when the request carries a valid session cookie."""
        return self.sessions.valid(request.cookies.get(COOKIE_NAME))

    def login_page(self, request: Request, *, failed: bool) -> Response:
        """The login form, saying the last token was wrong when `failed`."""
        context = {"failed": failed, "field": TOKEN_FIELD}
        status = 401 if failed else 200
        return self.templates.TemplateResponse(request, "login.html", context, status_code=status)

    async def dashboard(self, request: Request) -> Response:
        """GET /: the dashboard, or a redirect to the login form."""
        if not self.signed_in(request):
            return RedirectResponse("/connexion", status_code=303)
        board = await run_in_threadpool(build_dashboard, self.sources)
        tz = self.sources.tz
        context: dict[str, Any] = {
            "d": board,
            "generated": generated_moment(board, tz),
            "moment": lambda at: formatting.moment(at, tz),
            "clock_time": lambda at: formatting.clock_time(at, tz),
            "topics_shown": TOPICS_SHOWN,
        }
        return self.templates.TemplateResponse(request, "dashboard.html", context)

    async def login_form(self, request: Request) -> Response:
        """GET /connexion."""
        if self.signed_in(request):
            return RedirectResponse("/", status_code=303)
        return self.login_page(request, failed=False)

    async def login(self, request: Request) -> Response:
        """POST /connexion: a session cookie for the right token, the form again otherwise."""
        if not self.sessions.token_matches(await _form_field(request, TOKEN_FIELD)):
            logger.warning("admin page: wrong token from %s", _client(request))
            return self.login_page(request, failed=True)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            COOKIE_NAME,
            self.sessions.issue(),
            max_age=self.sessions.lifetime_s,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def logout(self, request: Request) -> Response:
        """POST /deconnexion: forget the cookie."""
        response = RedirectResponse("/connexion", status_code=303)
        response.delete_cookie(COOKIE_NAME, httponly=True, samesite="strict")
        return response


async def _no_favicon(request: Request) -> Response:
    return Response(status_code=204)


def create_app(
    sources: Sources, sessions: Sessions, *, on_close: Callable[[], None] | None = None
) -> Starlette:
    """The admin app reading `sources`, guarded by `sessions`; `on_close` runs at shutdown."""
    pages = AdminPages(sources, sessions)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if on_close is not None:
                on_close()

    app = Starlette(
        routes=[
            Route("/", pages.dashboard, methods=["GET"]),
            Route("/connexion", pages.login_form, methods=["GET"]),
            Route("/connexion", pages.login, methods=["POST"]),
            Route("/deconnexion", pages.logout, methods=["POST"]),
            Route("/favicon.ico", _no_favicon, methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(SecurityHeaders)
    return app


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"
