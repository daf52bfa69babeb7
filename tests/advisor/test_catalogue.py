"""The tool catalogue (bot/catalogue.py): prices as owners read them, hosting, names."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from bot.catalogue import (
    FREE_THEN_UNKNOWN,
    PRICE_UNKNOWN,
    Catalogue,
    CatalogueTool,
    format_date,
    format_eur,
    format_monthly,
)
from retrieval.models import Fiche

NNBSP = "\u202f"  # French thousands separator


def tool_fiche(fiche_id: str, **meta: Any) -> Fiche:
    """A `tool` fiche with a price block unless the test gives its own."""
    meta.setdefault("title", fiche_id.removeprefix("tool-").title())
    meta.setdefault("category", "assistant")
    if "price_eur_month" not in meta and "price_unknown" not in meta:
        meta["price_eur_month"] = {"min": 0, "max": 20}
    return Fiche(
        id=fiche_id,
        title=str(meta["title"]),
        type="tool",
        body="",
        path="x.md",
        content_hash="0",
        meta={"id": fiche_id, "type": "tool", **meta},
    )


# --- formatting -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "text"),
    [
        (0, 0, "gratuit"),
        (15, 15, "15 €/mois"),
        (28, 28, "28 €/mois"),
        (0, 15, "0 à 15 €/mois"),
        (9.2, 14.7, "9,2 à 14,7 €/mois"),
        (0, 1234.5, f"0 à 1{NNBSP}234,5 €/mois"),
    ],
)
def test_format_monthly(low: float, high: float, text: str) -> None:
    assert format_monthly(low, high) == text


def test_format_monthly_never_prints_a_range_of_one_printed_amount() -> None:
    assert format_monthly(15, 15.001) == "15 €/mois"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.7, "0,7"),
        (15, "15"),
        (15.0, "15"),
        (14.99, "14,99"),
        (0.42, "0,42"),
        (1234.5, f"1{NNBSP}234,5"),
        (1_000_000, f"1{NNBSP}000{NNBSP}000"),
    ],
)
def test_format_eur_french_notation(value: float, text: str) -> None:
    assert format_eur(value) == text


def test_format_eur_never_prints_a_paid_amount_as_zero() -> None:
    assert format_eur(0.003) != "0"


@pytest.mark.parametrize(
    ("iso", "text"),
    [("2026-11-23", "23/11/2026"), (" 2026-01-05 ", "05/01/2026"), ("nov. 2026", "nov. 2026")],
)
def test_format_date(iso: str, text: str) -> None:
    assert format_date(iso) == text


# --- prices ---------------------------------------------------------------------------


def test_a_fixed_price_reads_once() -> None:
    card = CatalogueTool.from_fiche(tool_fiche("tool-fixe", price_eur_month={"min": 28, "max": 28}))
    assert card.price_text() == "28 €/mois"
    assert "28 à 28" not in card.price_text()


def test_a_free_tool_reads_free() -> None:
    card = CatalogueTool.from_fiche(tool_fiche("tool-libre", price_eur_month={"min": 0, "max": 0}))
    assert card.price_text() == "gratuit" and card.free_start


@pytest.mark.parametrize(
    ("reason", "text"),
    [
        ("sur devis", "prix non publié : sur devis"),
        ("non publié", PRICE_UNKNOWN),  # the reason says what the sentence already says
        ("non publié dans nos sources", PRICE_UNKNOWN),
        ("grille officielle non consultable, seulement des prix de revendeurs", PRICE_UNKNOWN),
    ],
)
def test_an_unknown_price_says_so_with_a_short_reason(reason: str, text: str) -> None:
    card = CatalogueTool.from_fiche(
        tool_fiche("tool-devis", price_eur_month=None, price_unknown=reason)
    )
    assert card.price is None and card.price_min is None
    assert card.price_text() == text


def test_an_unknown_price_never_fits_and_is_never_free() -> None:
    card = CatalogueTool.from_fiche(
        tool_fiche("tool-devis", price_eur_month=None, price_unknown="sur devis")
    )
    assert not card.fits(budget=10_000)
    assert card.fits()  # no budget: nothing to fit
    assert not card.free_start
    pick = card.to_pick("Utile.")
    assert pick.monthly_cost_eur is None


def test_the_cheapest_offer_decides_whether_a_tool_fits() -> None:
    card = CatalogueTool.from_fiche(tool_fiche("tool-x", price_eur_month={"min": 10, "max": 90}))
    assert card.fits(budget=10) and not card.fits(budget=9.99)


def test_the_sector_decides_whether_a_tool_fits() -> None:
    card = CatalogueTool.from_fiche(tool_fiche("tool-x", sectors=["restauration"]))
    assert card.fits(sector="restauration") and not card.fits(sector="sante")
    assert CatalogueTool.from_fiche(tool_fiche("tool-y", sectors=["tous"])).fits(sector="sante")


def test_a_price_block_missing_or_broken_is_an_error() -> None:
    broken = tool_fiche("tool-x", price_eur_month="15 € par mois")
    with pytest.raises(ValueError):
        CatalogueTool.from_fiche(broken)


def test_the_catalogue_skips_a_card_without_a_usable_price(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fiches = [tool_fiche("tool-ok"), tool_fiche("tool-bad", price_eur_month="cher")]
    with caplog.at_level(logging.WARNING, logger="bot.catalogue"):
        catalogue = Catalogue.from_fiches(fiches)
    assert [t.id for t in catalogue] == ["tool-ok"]
    assert "tool-bad" in caplog.text


def test_the_price_date_is_the_day_the_price_was_read() -> None:
    card = CatalogueTool.from_fiche(
        tool_fiche("tool-x", as_of=dt.date(2026, 12, 2), price_read_on=dt.date(2026, 11, 23))
    )
    assert card.as_of == "2026-11-23"
    assert card.to_pick("Utile.").as_of == "2026-11-23"
    assert CatalogueTool.from_fiche(tool_fiche("tool-y", as_of="2026-12-02")).as_of == "2026-12-02"


# --- hosting --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hosting", "eu"),
    [
        ({"region": "eu", "note": "France"}, True),
        ({"region": "self-hostable", "note": "sur vos machines"}, True),
        ({"region": "mixed", "note": "UE et États-Unis"}, False),
        ({"region": "outside-eu", "note": "États-Unis"}, False),
        (None, False),
    ],
)
def test_the_hosting_region_says_whether_data_stays_in_the_eu(
    hosting: dict[str, str] | None, eu: bool
) -> None:
    card = CatalogueTool.from_fiche(tool_fiche("tool-x", hosting=hosting))
    assert card.eu_hosted is eu


# --- names ----------------------------------------------------------------------------


def _catalogue() -> Catalogue:
    return Catalogue.from_fiches(
        [
            tool_fiche(
                "tool-microsoft-copilot", title="Microsoft 365 Copilot", aliases=["copilot"]
            ),
            tool_fiche("tool-canva-magic-studio", title="Canva (Magic Studio)"),
            tool_fiche("tool-le-chat-mistral", title="Le Chat", aliases=["le chat de mistral"]),
        ]
    )


def test_named_in_finds_front_matter_aliases_short_names_and_ids() -> None:
    found = _catalogue().named_in("copilot ou canva ou le chat mistral c est mieux")
    assert [t.id for t in found] == [
        "tool-microsoft-copilot",
        "tool-canva-magic-studio",
        "tool-le-chat-mistral",
    ]


def test_named_in_lists_each_tool_once_in_order_of_appearance() -> None:
    found = _catalogue().named_in("le chat de mistral ou copilot et encore le chat")
    assert [t.id for t in found] == ["tool-le-chat-mistral", "tool-microsoft-copilot"]


def test_named_in_matches_whole_names_only() -> None:
    assert _catalogue().named_in("mes copilotes et mes canvas") == []


def test_a_tool_is_found_by_id_name_leading_words_or_close_spelling() -> None:
    catalogue = _catalogue()
    assert catalogue.find("tool-canva-magic-studio") is catalogue.get("tool-canva-magic-studio")
    assert catalogue.find("Microsoft 365 Copilot") is catalogue.get("tool-microsoft-copilot")
    assert catalogue.find("Canva Pro") is catalogue.get("tool-canva-magic-studio")
    assert catalogue.find("Copilott") is catalogue.get("tool-microsoft-copilot")
    assert catalogue.find("Photoshop") is None and catalogue.find("!!") is None


def test_the_short_name_drops_the_parenthesis() -> None:
    canva = _catalogue().get("tool-canva-magic-studio")
    assert canva is not None and canva.short_name == "Canva"


# --- token prices ---------------------------------------------------------------------

RATE = {"rate": 0.92, "on": "2026-11-23"}


def test_dollar_token_prices_are_converted_with_the_cards_rate() -> None:
    card = CatalogueTool.from_fiche(
        tool_fiche(
            "tool-api",
            category="llm-api",
            usd_eur_rate=RATE,
            model_prices=[
                {
                    "model": "modele-mini",
                    "input": 0.15,
                    "output": 0.6,
                    "currency": "USD",
                    "note": "hors cache",
                }
            ],
        )
    )
    (price,) = card.model_prices
    assert price.model == "modele-mini" and price.note == "hors cache"
    assert price.input_eur == pytest.approx(0.138)
    assert price.output_eur == pytest.approx(0.552)


def test_dollar_token_prices_without_a_rate_are_skipped_euro_ones_kept() -> None:
    card = CatalogueTool.from_fiche(
        tool_fiche(
            "tool-api",
            category="llm-api",
            model_prices=[
                {"model": "en-dollars", "input": 1, "output": 2, "currency": "USD"},
                {"model": "en-euros", "input": 0.5, "output": 1.5, "currency": "EUR"},
            ],
        )
    )
    assert [(p.model, p.input_eur, p.output_eur) for p in card.model_prices] == [
        ("en-euros", 0.5, 1.5)
    ]


def test_a_version_glued_to_a_name_still_names_the_tool() -> None:
    catalogue = Catalogue(
        [
            CatalogueTool(
                id="tool-qwen-chat",
                name="Qwen Chat",
                category="assistant",
                price=(0, 0),
                extra_aliases=("qwen",),
            )
        ]
    )
    assert [t.id for t in catalogue.named_in("c quoi qwen3 max")] == ["tool-qwen-chat"]
    assert catalogue.named_in("qwenix") == []


@pytest.mark.parametrize(
    ("free_tier", "text"),
    [
        ("Traducteur gratuit avec limites", FREE_THEN_UNKNOWN),
        # free for the client who books, not for the owner who pays
        ("aucune relevée (gratuit pour le client qui réserve)", PRICE_UNKNOWN),
    ],
)
def test_an_unknown_price_is_free_to_start_only_when_the_free_tier_is(
    free_tier: str, text: str
) -> None:
    card = CatalogueTool.from_fiche(
        tool_fiche(
            "tool-resa", price_eur_month=None, price_unknown="non publié", free_tier=free_tier
        )
    )
    assert card.price_text() == text
