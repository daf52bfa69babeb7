"""Matching an owner's question to the fiches' own questions (bot/faq.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from bot.advice import Turn
from bot.advisor import Advisor
from bot.faq import Faq
from retrieval.faq_section import Entry

ENTRIES = [
    Entry(
        "guide-ai-act",
        "Mon chatbot doit-il dire qu'il est une IA ?",
        "Oui : depuis le 2 août 2026, l'article 50 de l'AI Act l'impose.",
        (
            "Faut-il prévenir mes clients qu'ils parlent à un robot ?",
            "Mon chatbot doit-il dire qu'il est une IA ?",
        ),
    ),
    Entry(
        "fact-cout-tokens",
        "C'est quoi un token ?",
        "Un token est un morceau de mot : environ trois quarts d'un mot.",
    ),
    Entry(
        "tool-whisper",
        "Whisper est-il gratuit ?",
        "Whisper est gratuit installé chez vous ; l'API d'OpenAI est payante à la minute.",
    ),
]


def test_an_owner_wording_finds_the_entry_that_asks_the_same_thing() -> None:
    faq = Faq(ENTRIES)

    match = faq.best("faut il prevenir les clients qu'ils parlent a un robot")

    assert match is not None
    assert match.entry.fiche_id == "guide-ai-act"


def test_every_wording_of_an_entry_is_matched() -> None:
    faq = Faq(ENTRIES)

    for wording in ENTRIES[0].questions:
        match = faq.best(wording)
        assert match is not None and match.entry is ENTRIES[0]


def test_a_question_no_entry_asks_gets_none() -> None:
    assert Faq(ENTRIES).best("quel logiciel de caisse pour ma boulangerie ?") is None


def test_only_allowed_entries_answer() -> None:
    faq = Faq(ENTRIES)

    blocked = faq.best(
        "whisper est il gratuit ?", allowed=lambda entry, _: entry.fiche_id != "tool-whisper"
    )

    assert blocked is None or blocked.entry.fiche_id != "tool-whisper"


def test_related_fiches_break_a_tie() -> None:
    twins = [
        Entry("fiche-a", "Combien coûte un pilote ?", "A."),
        Entry("fiche-b", "Combien coûte un pilote ?", "B."),
    ]

    match = Faq(twins).best("combien coute un pilote", related={"fiche-b"})

    assert match is not None and match.entry.fiche_id == "fiche-b"


def test_the_embedding_adds_to_the_words_and_is_computed_once() -> None:
    calls: list[int] = []

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        calls.append(len(texts))
        # a fake at the seam: every text on one axis, except the tokens entry's question
        return np.array(
            [[0.0, 1.0] if "token" in t.lower() else [1.0, 0.0] for t in texts], np.float32
        )

    faq = Faq(ENTRIES, embed)
    first = faq.scores("c'est quoi un token")
    faq.scores("c'est quoi un token")

    assert calls[0] == sum(len(e.questions) for e in ENTRIES)  # every wording, once
    assert calls[1:] == [1, 1]  # then only the owner's question
    assert int(np.argmax(first)) == 1


@pytest.fixture
async def advisor(kb_index: Any) -> Any:
    adv = Advisor(kb_index, None)
    yield adv
    await adv.aclose()


@pytest.mark.slow
async def test_the_shipped_base_answers_a_curated_question_with_its_entry(
    advisor: Advisor,
) -> None:
    faq = advisor.composer.entries.faq
    entry = next(e for e in faq.entries if e.fiche_id == "guide-ai-act")

    advice = await advisor.advise(entry.questions[-1])

    assert advice.answer.startswith(entry.answer.rstrip("."))
    assert advice.sources[0].id == "guide-ai-act"
    assert advice.tools == [] and advice.pilot is None


@pytest.mark.slow
async def test_a_follow_up_is_not_answered_from_an_entry(advisor: Advisor) -> None:
    faq = advisor.composer.entries.faq
    cheapest = next(e for e in faq.entries if "moins cher" in e.question)

    first = await advisor.advise("je veux un chatbot pour répondre aux messages de mes clients")
    history = [Turn(question="je veux un chatbot pour mes clients", answer=first.answer)]

    advice = await advisor.advise("et moins cher ?", history=history)

    assert cheapest.answer not in advice.answer
    assert advice.tools  # the cheaper tools of the conversation, not a fact


def test_a_wording_naming_a_brand_answers_only_an_owner_who_names_it() -> None:
    whatsapp = Entry(
        "guide-messages",
        "Faut-il prévenir le client quand un chatbot lui répond sur WhatsApp ?",
        "Oui : l'AI Act impose de prévenir le client.",
    )
    faq = Faq([whatsapp])

    assert faq.best("faut il prevenir le client quand un chatbot repond sur whatsapp") is not None
    assert faq.best("faut il prevenir le client quand un chatbot repond sur mon site") is None


def test_a_yes_or_no_is_kept_only_when_both_questions_lean_the_same_way() -> None:
    entry = Entry(
        "guide-ai-act",
        "Faut-il prévenir mes clients que mon chatbot est une IA ?",
        "Oui. Depuis le 2 août 2026, l'AI Act l'impose.",
    )
    match = Faq([entry]).best("faut-il prévenir mes clients que le chatbot est une IA ?")
    assert match is not None

    assert match.answer("faut-il prévenir mes clients ?") == entry.answer
    assert match.answer("j'ai le droit de ne pas prévenir mes clients ?") == (
        "Depuis le 2 août 2026, l'AI Act l'impose."
    )


def test_thousands_are_read_alike_with_or_without_a_space() -> None:
    entry = Entry("guide-auto", "Tout automatiser pour moins de 2 000 €, sérieux ?", "Non.")

    match = Faq([entry]).best("automatiser pour moins de 2000 € c'est sérieux")

    assert match is not None and match.entry is entry


def test_shipped_vectors_spare_embedding_the_wordings() -> None:
    calls: list[list[str]] = []

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        calls.append(list(texts))
        return np.ones((len(texts), 2), np.float32) / np.sqrt(2)

    shipped = {ENTRIES[0].questions[0]: np.array([1.0, 0.0], np.float32)}
    faq = Faq(ENTRIES, embed, known=lambda texts: {t: shipped[t] for t in texts if t in shipped})

    faq.scores("c'est quoi un token")

    wordings = {q for e in ENTRIES for q in e.questions}
    assert set(calls[0]) == wordings - set(shipped)  # only what was not shipped
    assert calls[1:] == [["c'est quoi un token"]]


def test_a_price_entry_answers_only_a_price_question() -> None:
    price = Entry("guide-visuels", "Combien coûte une photo produit faite par IA ?", "0,03 $.")
    rule = Entry("guide-visuels", "Dois-je signaler qu'une photo a été faite par IA ?", "Oui.")
    faq = Faq([price, rule])
    found = faq.best("je dois le dire à mes clients, pour mes photos produits faites par IA ?")
    assert found is not None and found.entry is rule
    found = faq.best("une photo produit faite par IA, ça coûte combien ?")
    assert found is not None and found.entry is price


def test_compta_is_the_accounts_not_a_report() -> None:
    report = Entry("guide-notes", "Combien de temps je gagne sur mes comptes rendus ?", "1 h.")
    books = Entry("guide-compta", "Combien de temps je gagne sur ma comptabilité ?", "2 h.")
    found = Faq([report, books]).best("combien de temps je gagne sur ma compta ?")
    assert found is not None and found.entry is books


def test_a_trade_asks_alike_as_a_shop_or_as_a_person() -> None:
    entry = Entry("guide-rgpd", "Je suis pharmacien, l'IA peut conseiller mes clients ?", "Non.")
    other = Entry("guide-rgpd", "Je suis kiné, l'IA peut écrire mes comptes rendus ?", "Oui.")
    found = Faq([entry, other]).best("pharmacie : une IA peut conseiller les clients ?")
    assert found is not None and found.entry is entry


@pytest.mark.parametrize(
    "question",
    ["le cloud act c'est quoi le probleme ?", "le Cloud Act, c'est quoi l'intérêt pour eux ?"],
)
def test_what_a_term_is_asked_from_one_side_may_be_answered_by_its_definition(
    question: str,
) -> None:
    definition = Entry("fact-cloud-act", "Le Cloud Act, c'est quoi ?", "Une loi américaine.")
    assert np.isfinite(Faq([definition]).wording_scores(question)).all()


def test_a_choice_asked_with_c_est_quoi_is_no_definition() -> None:
    definition = Entry("guide-devis", "Un devis, c'est quoi ?", "Une offre chiffrée.")
    assert not np.isfinite(
        Faq([definition]).wording_scores("les devis c'est quoi le mieux ?")
    ).any()


@pytest.mark.parametrize(
    ("wording", "question"),
    [
        # a client's names are their data
        (
            "Puis-je mettre les données de mes patients dans ChatGPT ?",
            "je peux mettre les noms de mes patients dans chatgpt ?",
        ),
        # trades bound by the same secret ask alike
        (
            "Je suis kiné, je peux transcrire mes séances avec l'IA ?",
            "je suis dentiste, je peux transcrire mes séances avec l'IA ?",
        ),
        # "la moins chère" asks a price
        (
            "Quel prix pour une IA dans une petite entreprise ?",
            "c'est quoi l'ia la moins chere pour une petite entreprise ?",
        ),
    ],
)
def test_owners_words_ask_alike(wording: str, question: str) -> None:
    entry = Entry("guide-x", wording, "Réponse.")
    found = Faq([entry]).best(question)
    assert found is not None and found.entry is entry


def test_a_product_named_without_its_maker_is_named() -> None:
    entry = Entry("tool-gemini", "C'est quoi Gemini dans Google Workspace ?", "L'IA de Google.")
    assert np.isfinite(Faq([entry]).wording_scores("c quoi gemini dans workspace ?")).all()
    maker = Entry("fact-gpt", "J'ai le droit d'envoyer des données de clients à OpenAI ?", "Oui.")
    assert not np.isfinite(Faq([maker]).wording_scores("envoyer des sms à mes clients ?")).any()


PRICES = Entry(
    "tool-claude",
    "Claude, c'est payant ?",
    "Claude a une version gratuite avec quotas. Claude Pro coûte 20 $ par mois.",
    ("Claude, c'est payant ?", "Quel est le prix de Claude Pro ?"),
)


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("combien coute claude pro ?", "Claude Pro coûte 20 $ par mois."),
        ("claude est il gratuit ?", "Claude a une version gratuite avec quotas."),
        ("claude c payant ?", "Claude a une version gratuite avec quotas."),
    ],
)
def test_the_sentence_answering_the_narrower_question_leads(question: str, first: str) -> None:
    match = Faq([PRICES]).best(question)
    assert match is not None
    assert match.answer(question).startswith(first)


def test_a_sentence_sharing_one_word_does_not_lead() -> None:
    entry = Entry(
        "tool-le-chat-mistral",
        "Le Chat, mes données vont où ?",
        "Le Chat est fourni par Mistral AI, société française. Désactivez l'entraînement et "
        "ne saisissez pas de données personnelles inutiles.",
    )
    match = Faq([entry]).best("le chat, les données vont où ?")
    assert match is not None
    assert match.answer("et les données elles vont où ?").startswith("Le Chat est fourni")


def test_an_impact_assessment_is_asked_in_any_of_its_names() -> None:
    entry = Entry(
        "guide-rgpd-cnil",
        "Dois-je faire une analyse d'impact (AIPD) avant d'utiliser l'IA ?",
        "Une AIPD n'est nécessaire qu'en cas de risque élevé.",
    )
    faq = Faq([entry, *ENTRIES])
    for question in ("faut il une AIPD ?", "on doit faire une DPIA avant l'IA ?"):
        match = faq.best(question)
        assert match is not None and match.entry is entry


def test_asking_when_lifts_the_wording_that_asks_when_without_holding_others_back() -> None:
    when = Entry(
        "guide-facturation-electronique",
        "La facture électronique, c'est obligatoire à partir de quand ?",
        "L'obligation de recevoir démarre le 1er septembre 2026.",
    )
    micro = Entry(
        "guide-facturation-electronique",
        "La facture électronique est-elle obligatoire pour une micro-entreprise ?",
        "Oui, toutes les entreprises assujetties à la TVA sont concernées.",
    )
    faq = Faq([micro, when])
    for question in ("la facture électronique c'est quand ?", "facture électronique obligatoire ?"):
        match = faq.best(question)
        assert match is not None and match.entry is when, question


def test_a_yes_is_not_stripped_into_a_sentence_pointing_back_to_the_question() -> None:
    entry = Entry(
        "guide-pilote-messages-clients",
        "L'IA risque-t-elle d'inventer des prix dans mes réponses ?",
        "Oui, c'est le risque principal. Faites relire chaque brouillon avant l'envoi.",
    )
    question = "pourquoi l'IA risque d'inventer des prix dans mes réponses ?"
    match = Faq([entry]).best(question)
    assert match is not None
    assert match.answer(question) == "Faites relire chaque brouillon avant l'envoi."


def test_dictating_is_asked_like_transcribing() -> None:
    entry = Entry(
        "guide-rgpd-cnil",
        "Puis-je faire transcrire mes notes de séance par une IA ?",
        "Oui, avec précautions : des notes de séance sont des données de santé.",
    )
    match = Faq([entry, *ENTRIES]).best("je peux dicter mes séances à une IA ?")
    assert match is not None and match.entry is entry
