"""The admin page over plain HTTP: login, session cookie, headers, escaping, read-only."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from bot.admin.app import CSP
from bot.admin.auth import COOKIE_NAME, Sessions
from tests.admin.seed import PAYLOAD, seed_small
from tests.admin.support import ADMIN_TOKEN, admin_app, paris_noon, serving

NOW = paris_noon()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("admin") / "pilote-ia.sqlite3"
    seed_small(db, NOW)
    return db


@pytest.fixture(scope="module")
def url(seeded: Path) -> Iterator[str]:
    with serving(admin_app(seeded, NOW, ADMIN_TOKEN)) as base:
        yield base


@contextmanager
def signed_in(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url) as client:
        response = client.post("/connexion", data={"jeton": ADMIN_TOKEN})
        assert response.status_code == 303
        yield client


def test_without_a_session_the_dashboard_redirects_to_the_login_form(url: str) -> None:
    response = httpx.get(f"{url}/")
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion"
    form = httpx.get(f"{url}/connexion")
    assert form.status_code == 200
    assert 'name="jeton"' in form.text


def test_a_wrong_token_is_refused(url: str) -> None:
    response = httpx.post(f"{url}/connexion", data={"jeton": ADMIN_TOKEN + "x"})
    assert response.status_code == 401
    assert "Jeton incorrect." in response.text
    assert "set-cookie" not in response.headers
    assert httpx.post(f"{url}/connexion", data={}).status_code == 401


def test_the_right_token_sets_a_strict_http_only_cookie(url: str) -> None:
    response = httpx.post(f"{url}/connexion", data={"jeton": ADMIN_TOKEN})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE_NAME}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert ADMIN_TOKEN not in cookie


def test_forged_or_foreign_cookies_are_refused(url: str) -> None:
    foreign = Sessions("un-autre-jeton-bien-long").issue()
    expiry, _, signature = Sessions(ADMIN_TOKEN).issue().partition(".")
    stretched = f"{int(expiry) + 3600}.{signature}"
    for value in (foreign, stretched, "9999999999.abc", "abc", ""):
        response = httpx.get(f"{url}/", cookies={COOKIE_NAME: value})
        assert response.status_code == 303, value
    raw = f"{COOKIE_NAME}=1.é".encode()  # not ASCII: refused, not a server error
    assert httpx.get(f"{url}/", headers={b"cookie": raw}).status_code == 303


def test_the_dashboard_shows_the_seeded_figures_and_escapes_stored_text(url: str) -> None:
    with signed_in(url) as client:
        page = client.get("/")
    assert page.status_code == 200
    html = page.text
    for fragment in (
        '<span class="figure">8</span><span>réponses</span>',
        '<span class="figure">4</span><span>utilisateurs</span>',
        '<span class="figure">0,02 €</span>',
        '<span class="figure">43 %</span>',  # 3 👍 out of 7 votes
        '<span class="figure">2,5 s</span>',
        "Du 13/04/2026 au 12/05/2026",
    ):
        assert fragment in html
    assert html.count("<svg") == 4  # answers, modes, cost per day, most cited
    escaped = PAYLOAD.replace("<", "&lt;").replace(">", "&gt;")
    assert escaped in html
    assert "<script" not in html and "<b>x" not in html and "<i>faux" not in html
    assert "06 12 34 56 78" not in html  # the 👎 comment is masked as in the gap report


def test_every_response_carries_the_security_headers(url: str) -> None:
    paths = ("/", "/connexion", "/static/admin.css", "/introuvable")
    with signed_in(url) as client:
        responses = {path: client.get(path) for path in paths}
    for path, response in responses.items():
        assert response.headers["content-security-policy"] == CSP, path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
    assert "'unsafe-inline'" not in CSP and "default-src 'none'" in CSP
    assert responses["/static/admin.css"].headers["content-type"].startswith("text/css")


def test_the_page_changes_nothing(url: str, seeded: Path) -> None:
    def snapshot() -> list[object]:
        with sqlite3.connect(seeded) as db:
            tables = ("answers", "feedback")
            return [db.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables]

    before = snapshot()
    with signed_in(url) as client:
        assert client.get("/").status_code == 200
        for method in ("POST", "PUT", "DELETE"):
            assert client.request(method, "/").status_code == 405
    assert snapshot() == before


def test_logging_out_forgets_the_session(url: str) -> None:
    with signed_in(url) as client:
        response = client.post("/deconnexion")
        assert response.status_code == 303
        assert COOKIE_NAME not in client.cookies
        assert client.get("/").status_code == 303
