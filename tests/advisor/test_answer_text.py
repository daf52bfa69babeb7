"""Wording the offline answer (bot/answer_text.py): totals that never say more than the
cards do."""

from __future__ import annotations

from bot.answer_text import cheaper_sentence, cost_sentence, price_verdict
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


def test_a_cheaper_set_urges_free_offers_only_when_a_tool_has_one() -> None:
    free = cheaper_sentence([card("Agenda", (0, 15))], before_max=40)
    assert "Agenda (0 à 15 €/mois), contre 40 €/mois" in free
    assert "l'offre gratuite d'Agenda" in free and "au total" not in free  # one tool: no total
    paid = cheaper_sentence([card("Mails", (5, 30))], before_max=40)
    assert "gratuit" not in paid and "au mois" in paid


def test_a_cheaper_set_with_an_unpublished_price_claims_no_saving() -> None:
    text = cheaper_sentence([card("Robot", None)], before_max=40)
    assert "contre" not in text and "gratuit" not in text


def test_a_price_comparison_says_which_costs_least_or_that_they_cost_the_same() -> None:
    assert price_verdict([card("Agenda", (0, 15)), card("Mails", (5, 30))]) == (
        "Le moins cher : Agenda."
    )
    same = price_verdict([card("Agenda", (0, 18.4)), card("Mails", (0, 18.4))])
    assert same.startswith("Même prix : 0 à 18,4 €/mois")
    assert price_verdict([card("Agenda", (0, 15)), card("Robot", None)]) == ""  # unknown
