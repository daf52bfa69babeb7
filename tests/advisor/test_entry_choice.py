"""Which curated entry may answer a request (bot/entry_choice.py), on a hand-made catalogue
and entries, with the stems alone (no embedder)."""

from __future__ import annotations

from typing import Any

from bot.catalogue import Catalogue, CatalogueTool
from bot.entry_choice import EntryChoice
from bot.faq import Faq
from bot.keywords import KeywordSet
from bot.request import Request
from retrieval.faq_section import Entry

CATALOGUE = Catalogue(
    [
        CatalogueTool(id="tool-claude", name="Claude", category="assistant", price=(0, 18)),
        CatalogueTool(id="tool-calendly", name="Calendly", category="reservation", price=(0, 15)),
    ]
)
TOPICS = {
    "tool-price": KeywordSet.of(["combien", "prix"]),
    "data-protection": KeywordSet.of(["donnees", "heberge", "rgpd"]),
}
CLAUDE_PRICE = Entry("tool-claude", "Claude coûte combien par mois ?", "Claude Pro : 18 €.")
CALENDLY_PRICE = Entry(
    "tool-calendly", "Calendly coûte combien par mois ?", "Calendly : gratuit, puis 15 €."
)
CALENDLY_DATA = Entry(
    "tool-calendly",
    "Calendly héberge mes données où ?",
    "Calendly est américain : vérifiez son accord de traitement des données (RGPD).",
)
TOKEN = Entry("fact-tokens", "C'est quoi un token ?", "Un token est un morceau de mot.")
TOKEN_PRICE = Entry("fact-tokens", "Les tokens coûtent combien ?", "Quelques centimes par million.")
CHOICE = EntryChoice(
    Faq([CLAUDE_PRICE, CALENDLY_PRICE, CALENDLY_DATA, TOKEN, TOKEN_PRICE]), CATALOGUE, TOPICS
)


def request(text: str, **fields: Any) -> Request:
    fields.setdefault("intent", "information")
    return Request(text=text, folded=text.lower(), **fields)


def test_a_question_on_a_tool_gets_an_entry_about_that_tool() -> None:
    asked = request(
        "calendly coute combien par mois", tools_named=("tool-calendly",), topics=("tool-price",)
    )

    match = CHOICE.match(asked, related=())

    assert match is not None and match.entry is CALENDLY_PRICE


def test_a_tool_cards_entry_answers_the_questions_topic_not_its_price() -> None:
    asked = request(
        "calendly heberge mes donnees ou",
        tools_named=("tool-calendly",),
        topics=("data-protection",),
    )

    match = CHOICE.match(asked, related=())

    assert match is not None and match.entry is CALENDLY_DATA


def test_a_definition_question_gets_the_definition() -> None:
    match = CHOICE.match(request("c'est quoi un token ?"), related=())

    assert match is not None and match.entry is TOKEN


def test_a_follow_up_is_never_answered_by_an_entry() -> None:
    asked = request("et claude coute combien par mois", follow_up="cheaper", intent="follow_up")

    assert CHOICE.match(asked, related=()) is None


def test_a_product_without_a_card_is_named_back() -> None:
    assert (
        CHOICE.unknown_product(request("Notion AI ça coûte combien ?", topics=("tool-price",)))
        == "Notion AI"
    )
    assert (
        CHOICE.unknown_product(
            request(
                "Claude ça coûte combien ?", topics=("tool-price",), tools_named=("tool-claude",)
            )
        )
        == ""
    )


def test_an_entry_of_another_topics_fiche_does_not_answer_a_topic_it_never_names() -> None:
    """ "les obligations pour recruter avec l'IA, c'est à partir de quand ?" is not answered
    by the e-invoicing guide's date, unless the search found that guide."""
    invoicing = Entry(
        "guide-factures",
        "La facture électronique, c'est obligatoire à partir de quand ?",
        "Le 1er septembre 2026 pour recevoir.",
    )
    topics = {**TOPICS, "ai-act": KeywordSet.of(["ai act", "recrutement"])}
    choice = EntryChoice(
        Faq([invoicing]),
        CATALOGUE,
        topics,
        topic_fiches={"e-invoicing": ["guide-factures"], "ai-act": ["guide-ai-act"]},
    )
    asked = request(
        "recrutement : la facture electronique c'est obligatoire a partir de quand",
        topics=("ai-act",),
    )
    assert choice.match(asked, related=()) is None
    assert choice.match(asked, related={"guide-factures"}) is not None
