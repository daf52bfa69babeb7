"""What an owner reads from the offline composer on the real knowledge base: relevant tools,
a short summary without Markdown, polite declines, follow-ups and fact questions."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.advice import Advice, Profile, Turn
from bot.advisor import Advisor
from bot.catalogue import CatalogueTool
from bot.messages import NOTHING_FOUND
from bot.telegram.formatting import format_advice, html_to_plain, is_decline

pytestmark = pytest.mark.slow

CATEGORIES_FOR_NEED = {
    "Je tiens une boulangerie, je croule sous les commandes WhatsApp, que faire ?":
        ("messagerie", ()),
    "Je suis plombier, je passe mes soirées à faire des devis, l'IA peut m'aider ?":
        ("assistant", ()),
    "Cabinet comptable : on saisit encore les factures fournisseurs à la main":
        ("comptabilite", ()),
    "Agence immobilière, je voudrais faire des vidéos de mes biens sans tournage":
        ("avatar-video", ()),
    "J'ai une boutique en ligne, 300 fiches produits à rédiger":
        ("site-seo", ()),
    "Je dois traduire mon livret d'accueil en anglais pour les touristes":
        ("traduction", ("traduction",)),
}  # fmt: skip
_MARKDOWN = re.compile(r"(^|\n)\s*(#|-{3}|[-*] )|`|\*\*|\bseed:|https?://|^\w+: \[", re.M)


@pytest.fixture
async def advisor(kb_index: Any) -> AsyncIterator[Advisor]:
    adv = Advisor(kb_index, None)
    yield adv
    await adv.aclose()


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-ZÀ-Ý«])", text) if s]


@pytest.mark.parametrize("question", list(CATEGORIES_FOR_NEED))
async def test_tools_fit_the_need(advisor: Advisor, question: str) -> None:
    advice = await advisor.advise(question)
    expected, allowed_extra = CATEGORIES_FOR_NEED[question]
    categories = [tool.category for tool in advice.tools]
    assert expected in categories, categories
    assert 2 <= len(advice.tools) <= 4
    # no translation tool unless languages are asked for, no developer API for a shop owner
    assert "traduction" not in categories or "traduction" in allowed_extra
    assert not {"llm-api", "agent"} & set(categories)
    _assert_readable(advice)


def _assert_readable(advice: Advice) -> None:
    answer = advice.answer
    assert not _MARKDOWN.search(answer), answer
    assert "Aucun" not in answer and "---" not in answer
    assert 0 < len(answer) <= 700 and len(_sentences(answer)) <= 5, answer
    for tool in advice.tools:  # the why is one or two short sentences
        assert len(tool.why) <= 140 and not _MARKDOWN.search(tool.why)
    shown = html_to_plain(format_advice(advice))
    assert "seed:" not in shown and "http" not in shown


async def test_a_case_is_cited_as_the_first_source(advisor: Advisor) -> None:
    advice = await advisor.advise(
        "Je tiens une boulangerie, je croule sous les commandes WhatsApp, que faire ?"
    )
    assert advice.answer.startswith("Exemple proche : « Boulangerie")
    assert "[1]" in advice.answer and advice.sources[0].id.startswith("case-")
    assert "Par où commencer" in advice.answer


async def test_off_topic_is_declined_and_steered_back(advisor: Advisor) -> None:
    advice = await advisor.advise("Tu as une recette de la tarte tatin ?")
    assert advice.answer == NOTHING_FOUND and is_decline(advice)
    assert "IA" in advice.answer and "/aide" in advice.answer
    assert html_to_plain(format_advice(advice)) == NOTHING_FOUND  # no plan under a decline


async def test_cheaper_follow_up_costs_less(advisor: Advisor) -> None:
    question = "Je tiens une boulangerie, je croule sous les commandes WhatsApp, que faire ?"
    profile = Profile(sector="restauration")
    first = await advisor.advise(question, profile=profile)
    history = [Turn(question=question, answer=first.answer)]
    cheaper = await advisor.advise("et moins cher ?", profile=profile, history=history)
    assert cheaper.answer.startswith("Version la moins chère")
    before = sum(t.monthly_cost_eur.max for t in first.tools)
    after = sum(t.monthly_cost_eur.max for t in cheaper.tools)
    assert after < before and len(cheaper.tools) >= 2
    assert "contre" in cheaper.answer


async def test_another_option_changes_the_tools(advisor: Advisor) -> None:
    question = "Comment répondre aux avis Google de mon restaurant ?"
    first = await advisor.advise(question)
    history = [Turn(question=question, answer=first.answer)]
    other = await advisor.advise("Une autre option ?", history=history)
    assert other.answer.startswith("Autre option")
    assert not {t.source for t in first.tools} & {t.source for t in other.tools}


async def test_a_data_safety_question_gets_the_facts_and_eu_options(advisor: Advisor) -> None:
    advice = await advisor.advise("deepseek c'est sûr pour mes données clients ?")
    assert "Chine" in advice.answer and "[1]" in advice.answer
    assert "tool-deepseek-app" not in [t.source for t in advice.tools]
    assert advice.sources[0].id.startswith(("fact-", "guide-", "tool-"))
    _assert_readable(advice)


async def test_a_rule_question_gets_the_gist_and_a_full_plan(advisor: Advisor) -> None:
    advice = await advisor.advise("C'est quoi l'AI Act pour moi, petite entreprise ?")
    assert advice.sources[0].id == "guide-ai-act"
    assert "risque" in advice.answer
    days = [s.day for s in advice.pilot.steps]
    assert days[0] == 1 and days[-1] == 14 and len(days) >= 6
    _assert_readable(advice)


def test_eu_hosting_is_read_from_the_first_place_named() -> None:
    def tool(hosting: str) -> CatalogueTool:
        return CatalogueTool("tool-x", "X", "assistant", 0, 0, data_hosting=hosting)

    assert tool("UE (France, à vérifier)").eu_hosted
    assert tool("Sur vos propres machines").eu_hosted
    assert not tool("Hors UE (Chine ou international)").eu_hosted
    assert not tool("Infrastructure Meta (hors UE possible, à vérifier)").eu_hosted
    assert not tool("Cloud Microsoft (frontière de données UE possible)").eu_hosted


async def test_an_aid_question_cites_the_aid_sheet_and_no_unrelated_plan(
    advisor: Advisor,
) -> None:
    advice = await advisor.advise("Quelles aides pour financer un projet d'IA dans ma TPE ?")
    assert advice.sources[0].id == "guide-aides-publiques"
    assert not [s for s in advice.sources if s.id.startswith("guide-pilote-")]
    assert 2 <= len(advice.tools) <= 4
    _assert_readable(advice)
