"""Wording the offline answer (bot/answer_text.py): totals that never say more than the
cards do."""

from __future__ import annotations

from bot.answer_text import (
    cheaper_sentence,
    cost_sentence,
    nothing_cheaper_sentence,
    price_verdict,
    tool_hosting_sentence,
)
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


def test_asked_for_free_with_nothing_free_says_so_not_that_it_is_cheapest() -> None:
    allo = CatalogueTool(
        id="tool-allo", name="Allo", category="telephonie", price=None, price_unknown="sur devis"
    )
    said = nothing_cheaper_sentence([allo], free_asked=True)
    assert said.startswith("Je n'ai pas d'outil gratuit pour ce besoin")
    assert nothing_cheaper_sentence([allo]).startswith("Je n'ai rien de moins cher")


def test_a_hosting_line_does_not_say_the_publisher_twice() -> None:
    pennylane = CatalogueTool(
        id="tool-pennylane",
        name="Pennylane",
        category="comptabilite",
        price=None,
        hosting_region="eu",
        hosting_note="Éditeur français ; hébergement en France à confirmer",
        gdpr="Éditeur français, données dans l'UE ; accord de traitement à signer",
    )
    line = tool_hosting_sentence(pennylane)
    assert line.count("Éditeur français") == 1 and "accord de traitement" in line
