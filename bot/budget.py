"""What an owner says about money and headcount: a monthly budget ("j'ai 30 € par mois",
"gratuit svp") and a team size asked after a price ("et pour 3 coiffeuses ?")."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.advice import Profile, Turn
from bot.keywords import fold_words
from bot.request import FollowUp

_BUDGET = re.compile(
    r"(\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?|\d+(?:[.,]\d+)?)\s*"
    r"(?:€|euros?\b|eur\b|e(?![\w-]))",
    re.IGNORECASE,
)
_NO_BUDGET = re.compile(
    r"\b(?:pas de|sans|aucun|zero|0) budget\b|\bbudget (?:0|zero|nul)\b"
    r"|\b(?:ia|outil|appli|application|logiciel|solution|truc)s? gratuite?s?\b"
    r"|\bgratuite?s? si possible\b|\b(?:que du|en) gratuit\b"
    r"|\b(?:sans (?:rien )?|pas |rien )payer\b|\bgratos\b"
    # "gratuit svp", "qqch de gratuit", and "et gratuit ?" said alone after a proposal
    r"|\bgratuite?s? (?:svp|stp|de preference|idealement)\b|\bde gratuit\b"
    r"|^(?:et |mais |ok |sinon )*(?:en |du )?gratuite?s?$"
    # "et si c'est gratuit ?", "et si je veux du gratuit ?": a proposal asked again, free
    r"|^(?:et |mais |ok |sinon )*si (?:c est|c|je veux|on veut|on prend|je prends) "
    r"(?:du )?gratuite?s?$"
)
# "et pour 3 personnes ?", "pour toute l'équipe ?": the price of several seats
SEATS = re.compile(
    r"\bpour (?:"
    # "pour 3 agents", "pour deux coiffeuses": a count of anyone, not of time or money
    r"(?:\d+|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|douze|quinze|vingt) "
    r"(?!(?:ans?|annees?|mois|semaines?|jours?|heures?|minutes?|euros?|eur|fois|pourcents?)\b)"
    r"[a-z]{3,}"
    r"|(?:toute l|tout le|mes|nos) ?(?:personnes?|salaries?|employes?|utilisateurs?|comptes?|"
    r"postes?|collaborateurs?|equipe|monde|gens))\b"
)


def seats_price(folded: str, follow_up: FollowUp | None) -> tuple[str, ...]:
    """ "et pour 3 personnes ?" after a tool's price asks the price of three seats."""
    return ("tool-price",) if follow_up == "fact" and SEATS.search(folded) else ()


def as_seats(question: str) -> str:
    """ "et pour 3 coiffeuses ?" asked as "et pour 3 personnes ?": a team's size, whoever they
    are (a trade's name would bring up that trade's entries)."""
    folded = fold_words(question)
    found = SEATS.search(folded)
    count = found.group(0).split()[1] if found else ""
    if found is None or not (count.isdigit() or count in _COUNTS):
        return question
    return f"{folded[: found.start()]}pour {count} personnes{folded[found.end() :]}".strip()


_COUNTS = frozenset(
    {"deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf", "dix", "douze", "quinze"}
    | {"vingt"}
)


def monthly_budget(question: str, profile: Profile, history: Sequence[Turn]) -> float | None:
    """The monthly budget: one stated in the message, else the last one stated in the
    conversation ("j'ai que 30 €" still holds two questions later), else the profile's."""
    for text in (question, *(turn.question for turn in reversed(history))):
        stated = _stated_budget(text)
        if stated is not None:
            return stated
    return profile.monthly_budget_eur


def _stated_budget(text: str) -> float | None:
    match = _BUDGET.search(text)
    if match:
        digits = re.sub(r"[ \u00a0\u202f]", "", match.group(1))
        return float(digits.replace(",", "."))
    return 0.0 if _NO_BUDGET.search(fold_words(text)) else None
