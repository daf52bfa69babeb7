"""The claims guard: prices, percentages, articles, figures and tool names need evidence."""

from __future__ import annotations

import pytest

from bot.claims import canonical_number, check_claims, echo_share
from bot.prompt import PILOT_FACTS

EVIDENCE = [
    "[1] Le Chat (Mistral AI) — prix catalogue : 0 à 18 €/mois (tarif au 2026-11-23)\n"
    "Assistant conversationnel hébergé en France.",
    "[2] DeepSeek V3.1 compte 671 milliards de paramètres, dont 37 milliards actifs. "
    "L'API coûte 0,28 $ par million de jetons en entrée.",
    "[3] L'article 50 du règlement européen impose de dire à l'utilisateur qu'il parle à une "
    "IA. Une boulangerie a gagné 30 % de temps sur ses commandes.",
    "Je tiens une boulangerie, budget 40 € par mois.",
    PILOT_FACTS,  # the prompt's own rules about the pilot
]
OFFERED = ["Le Chat (Mistral AI)", "Le Chat"]
KNOWN = [*OFFERED, "Make (automatisation sans code)", "Make", "Notion", "Claude (Pro et Team)"]


def check(text: str) -> tuple[str, int, tuple[str, ...]]:
    result = check_claims(
        text, evidence=EVIDENCE, offered_tool_names=OFFERED, known_tool_names=KNOWN
    )
    return result.text, result.removed, result.reasons


@pytest.mark.parametrize(
    "sentence",
    [
        "Le Chat coûte de 0 à 18 € par mois [1].",
        "DeepSeek V3.1 a 671 milliards de paramètres, dont 37 milliards actifs [2].",
        "L'entrée coûte 0,28 $ par million de jetons [2].",
        "L'article 50 impose d'annoncer l'IA [3].",
        "Une boulangerie a gagné 30 % de temps [3].",
        "Avec vos 40 € par mois, commencez petit.",
        "Testez 2 outils, puis décidez au jour 14.",
        "Prix relevé le 23/11/2026 [1].",
        "Gardez la notion de risque en tête.",  # "notion" the word, not Notion the tool
    ],
)
def test_supported_claims_are_kept(sentence: str) -> None:
    assert check(sentence) == (sentence, 0, ())


@pytest.mark.parametrize(
    ("sentence", "kind"),
    [
        ("Make coûte 9 € par mois.", "price"),
        ("Le Chat coûte 25 € par mois [1].", "price"),
        ("Vous gagnerez 45 % de temps.", "percent"),
        ("L'article 52 impose une déclaration.", "article"),
        ("DeepSeek a 685 milliards de paramètres.", "figure"),
        ("Depuis 2024, tout a changé.", "figure"),
        ("Essayez Make pour relier vos outils.", "tool"),
        ("Notion garde vos notes.", "tool"),
    ],
)
def test_unsupported_claims_are_removed(sentence: str, kind: str) -> None:
    text, removed, reasons = check(f"Commencez petit [1]. {sentence} Mesurez au jour 1.")
    assert text == "Commencez petit [1]. Mesurez au jour 1."
    assert (removed, reasons) == (1, (kind,))


def test_line_structure_is_kept_and_too_much_removed_is_flagged() -> None:
    names = {"offered_tool_names": OFFERED, "known_tool_names": KNOWN}
    text = "Deux idées :\n- Le Chat pour les brouillons [1].\n- Make à 9 € par mois.\nÀ tester."
    result = check_claims(text, evidence=EVIDENCE, **names)
    assert result.text == "Deux idées :\n- Le Chat pour les brouillons [1].\nÀ tester."
    assert (result.kept, result.removed, result.too_much_removed) == (3, 1, False)
    worst = check_claims("Make coûte 9 €. Gain de 80 %. Bien.", evidence=EVIDENCE, **names)
    assert worst.too_much_removed and worst.text == "Bien."
    assert check_claims("Make coûte 9 €.", evidence=[], **names).too_much_removed


def test_numbers_are_compared_by_value() -> None:
    assert canonical_number("1 500,00") == canonical_number("1500") == "1500"
    assert canonical_number("0,28") == canonical_number("0.280") == "0.28"
    text, removed, _ = check("L'entrée coûte 0.28 dollar par million [2].")
    assert removed == 0


def test_an_answer_that_copies_its_instructions_or_the_question_is_an_echo() -> None:
    question = "mon chatbot doit il dire que c'est une IA ? a partir de quand"
    rules = "Réponds avec 1 à 4 phrases avec leurs citations, lues sur un téléphone."
    assert echo_share("mon chatbot doit dire que c'est une IA ?", [question]) > 0.9
    assert echo_share("1 à 4 phrases avec leurs citations", [rules, question]) == 1.0
    real = "Oui : votre chatbot doit dire que c'est une IA, dès août 2026 [1]."
    assert echo_share(real, [rules, question]) < 0.6
