"""Wording the offline answer (bot/answer_text.py): totals that never say more than the
cards do."""

from __future__ import annotations

from bot.answer_text import cost_sentence
from bot.catalogue import CatalogueTool


def card(name: str, price: tuple[float, float] | None) -> CatalogueTool:
    return CatalogueTool(
        id=f"tool-{name.lower()}",
        name=name,
        category="assistant",
        price=price,
        price_unknown="" if price else "non publié",
    )


def test_the_total_adds_the_published_prices_and_says_what_it_leaves_out() -> None:
    text = cost_sentence([card("Agenda", (0, 15)), card("Robot", None), card("Mails", (5, 30))])
    assert "soit 5 à 45 €/mois au total (hors outils au prix non publié)." in text


def test_no_published_price_is_no_total_not_free() -> None:
    text = cost_sentence([card("Robot", None), card("Standard", None)])
    assert "gratuit" not in text and "au total" not in text
    assert "Aucun de ces prix n'est publié" in text
