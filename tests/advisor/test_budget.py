"""What an owner says about money and headcount (bot/budget.py)."""

from __future__ import annotations

import pytest

from bot.advice import Profile, Turn
from bot.budget import as_seats, monthly_budget, seats_price
from bot.keywords import fold_words


@pytest.mark.parametrize(
    ("said", "budget"),
    [
        ("j'ai 30 € par mois", 30.0),
        ("max 1 200 euros", 1200.0),
        ("gratuit svp", 0.0),
        ("et si c'est gratuit ?", 0.0),
        ("c'est gratuit chatgpt ?", None),  # a price question, not a budget
    ],
)
def test_a_budget_is_read_from_the_owners_words(said: str, budget: float | None) -> None:
    assert monthly_budget(said, Profile(), []) == budget


def test_a_budget_said_earlier_holds_until_another_is_said() -> None:
    history = [Turn(question="j'ai que 20 € par mois", answer="…")]
    assert monthly_budget("et pour les avis ?", Profile(monthly_budget_eur=90), history) == 20


@pytest.mark.parametrize(
    ("said", "asked"),
    [
        ("et pour 3 coiffeuses ?", "et pour 3 personnes"),
        ("et pour trois agents ?", "et pour trois personnes"),
        ("et pour toute l'équipe ?", "et pour toute l'équipe ?"),  # no count to restate
    ],
)
def test_a_team_size_is_asked_whoever_the_team_is(said: str, asked: str) -> None:
    assert seats_price(fold_words(said), "fact") == ("tool-price",)
    assert as_seats(said) == asked


@pytest.mark.parametrize("said", ["et pour 2 ans ?", "et pour 30 euros ?", "pour 3 mois ?"])
def test_a_duration_or_an_amount_is_no_team(said: str) -> None:
    assert seats_price(fold_words(said), "fact") == ()
