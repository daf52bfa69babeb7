"""The admin page in a real headless Chromium (Debian's, driven by Playwright).

CI installs Chromium (.ci/run); there a missing browser fails the test instead of skipping
it. Set SCREENSHOT_DIR=docs to refresh the screenshots of docs/admin.md.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Dialog, Page, ViewportSize, expect, sync_playwright

from bot.config import load_settings
from bot.wiring import build_admin_app
from tests.admin.seed import PAYLOAD, PAYLOAD_QUESTION, seed_demo, seed_small
from tests.admin.support import ADMIN_TOKEN, knowledge_fiches, serving

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LAPTOP: ViewportSize = {"width": 1280, "height": 800}
CITED_IN_WINDOW = {"tool-whatsapp-business", "guide-pilote-messages-clients", "tool-pennylane"}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed here (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def live_admin(data_dir: Path, seed: str) -> Iterator[str]:
    """The app as `pilote-ia admin` builds it (real store, knowledge base and embedder)."""
    settings = load_settings({"PILOTE_IA_DATA_DIR": str(data_dir), "ADMIN_TOKEN": ADMIN_TOKEN})
    now = time.time()
    if seed == "small":
        seed_small(settings.db_path, now)
    else:
        seed_demo(settings.db_path, now)
    with serving(build_admin_app(settings, ADMIN_TOKEN)) as url:
        yield url


@pytest.fixture(scope="module")
def small_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from live_admin(tmp_path_factory.mktemp("admin-small"), "small")


@pytest.fixture(scope="module")
def demo_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from live_admin(tmp_path_factory.mktemp("admin-demo"), "demo")


class Watched:
    """A page whose dialogs (alert, confirm) and console errors (CSP violations) are kept."""

    def __init__(self, browser: Browser) -> None:
        self.page: Page = browser.new_page(viewport=LAPTOP)
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)

    def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def log_in(self, url: str, token: str) -> None:
        self.page.fill("#jeton", token)
        self.page.click("button[type=submit]")


def until_topics(page: Page) -> None:
    """Reload until the gap topics, computed in the background, are on the page."""
    deadline = time.monotonic() + 120
    while "en cours" in page.locator("#sujets").inner_text():
        assert time.monotonic() < deadline, "the gap topics were never computed"
        page.wait_for_timeout(300)
        page.reload()


def texts(page: Page, selector: str) -> list[str]:
    return [t.strip() for t in page.locator(selector).all_inner_texts()]


def test_login_then_each_section_shows_the_seeded_figures(
    browser: Browser, small_site: str
) -> None:
    watched = Watched(browser)
    page = watched.page
    page.goto(f"{small_site}/")
    expect(page).to_have_url(f"{small_site}/connexion")

    watched.log_in(small_site, "mauvais-jeton-bien-long")
    expect(page.get_by_role("alert")).to_have_text("Jeton incorrect.")
    expect(page).to_have_url(f"{small_site}/connexion")
    assert page.locator("h1", has_text="tableau de bord").count() == 0
    assert [e for e in watched.errors if "401" not in e] == []  # only the refused POST
    watched.errors.clear()

    watched.log_in(small_site, ADMIN_TOKEN)
    expect(page).to_have_url(f"{small_site}/")
    until_topics(page)
    assert texts(page, ".tile .figure") == ["8", "4", "0,02 €", "43 %", "2,5 s"]

    assert page.locator("#reponses svg rect").count() == 5  # days with answers
    assert texts(page, "#modes .legend li") == [
        "IA générative : 4 (50 %)",
        "hors ligne : 3 (38 %)",
        "dégradé : 1 (12 %)",
    ]
    expect(page.locator("#modes")).to_contain_text("timeout 1")
    rows = texts(page, "#couts tbody tr")
    assert [row.split("\t")[:2] for row in rows] == [["DeepSeek", "4"], ["Mistral AI", "1"]]
    assert texts(page, "#latence tr.total td") == ["Toutes", "8", "2,5 s", "18,0 s"]

    expect(page.locator("#avis .ratio")).to_have_text("3 👍 · 4 👎 · 43 % d'avis positifs")
    downs = page.locator("#avis table.downs tbody tr")
    assert downs.count() == 4
    assert texts(page, "#avis table.downs tbody tr td:nth-child(2)")[:2] == [
        "Une vieille question",  # voted in the period on an answer from before it
        PAYLOAD_QUESTION,
    ]
    payload_row = downs.nth(1)
    assert texts(page, "#avis table.downs tbody tr:nth-child(2) td:nth-child(4)") == [
        "Information fausse"
    ]
    expect(payload_row).to_contain_text("<i>faux</i> rappelez-moi au [téléphone]")
    assert page.locator("main b, main i, main script").count() == 0

    topics = page.locator("#sujets article.topic")
    assert topics.count() >= 1
    expect(page.locator("#sujets")).to_contain_text("nettoyage")
    expect(topics.first).to_contain_text("fiche à écrire")

    fiches = knowledge_fiches()
    titles = {f.id: f.title for f in fiches}
    expect(page.locator("#fiches svg text.label").first).to_contain_text(
        titles["tool-whatsapp-business"][:20]
    )
    unused = len(fiches) - len(CITED_IN_WINDOW)
    expect(page.locator("#fiches")).to_contain_text(f"Jamais citées ({unused} sur {len(fiches)})")

    assert PAYLOAD in page.locator("main").inner_text()
    assert watched.dialogs == []
    assert watched.errors == []  # a CSP violation would be logged here


def test_the_page_drawn_from_a_month_of_traffic(
    browser: Browser, demo_site: str, tmp_path: Path
) -> None:
    out = Path(os.environ.get("SCREENSHOT_DIR", tmp_path))
    watched = Watched(browser)
    page = watched.page
    page.goto(f"{demo_site}/")
    watched.log_in(demo_site, "mauvais-jeton-bien-long")
    expect(page.get_by_role("alert")).to_be_visible()
    watched.errors.clear()  # the refused POST's 401
    page.screenshot(path=str(out / "admin-login.png"))
    watched.log_in(demo_site, ADMIN_TOKEN)
    until_topics(page)
    expect(page.locator("#sujets article.topic").first).to_be_visible()
    page.screenshot(path=str(out / "admin-dashboard.png"), full_page=True)
    assert len(page.locator("svg.chart").all()) == 4
    assert watched.dialogs == [] and watched.errors == []
    assert (out / "admin-dashboard.png").stat().st_size > 10_000
