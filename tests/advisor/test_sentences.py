"""Choosing the sentences that answer a question (bot/sentences.py)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from numpy.typing import NDArray

from bot.sentences import (
    MAX_SENTENCE_CHARS,
    Embed,
    Passage,
    best_sentences,
    candidates,
    split_sentences,
)
from tests.fakes.embedder import HashEmbedder

MODEL_FICHE = """# Le modèle Orion 2

## Qui le publie
Orion 2 est publié par une jeune société lyonnaise spécialisée dans les modèles de langue.
- Le modèle compte 671 milliards de paramètres, dont 37 milliards actifs à chaque mot produit.
- Ses poids sont diffusés sous une licence libre qui autorise l'usage commercial.
Voir la page https://exemple.org/orion pour le détail technique complet du modèle.

## Sources
- Note de version d'Orion 2, publiée par l'éditeur au printemps : https://exemple.org/notes
- Un long article de presse qui présente la société et ses fondateurs en détail
"""


def test_split_drops_headings_list_marks_urls_and_the_sources_section() -> None:
    assert split_sentences(MODEL_FICHE) == [
        "Orion 2 est publié par une jeune société lyonnaise spécialisée dans les modèles de "
        "langue.",
        "Le modèle compte 671 milliards de paramètres, dont 37 milliards actifs à chaque mot "
        "produit.",
        "Ses poids sont diffusés sous une licence libre qui autorise l'usage commercial.",
    ]


def test_split_keeps_the_section_after_the_sources() -> None:
    text = (
        "## Sources\n- Une source quelconque avec un titre assez long\n\n"
        "## Limites\nLe modèle se trompe parfois sur les dates récentes et les prix."
    )
    assert split_sentences(text) == [
        "Le modèle se trompe parfois sur les dates récentes et les prix."
    ]


def test_split_cuts_sentences_and_removes_inline_code_and_bold() -> None:
    text = "Le modèle `orion-2` coûte **peu** à l'usage. Il répond en français comme en anglais !"
    assert split_sentences(text) == [
        "Le modèle orion-2 coûte peu à l'usage.",
        "Il répond en français comme en anglais !",
    ]


def test_split_drops_short_fragments_and_remarks_about_the_fiche() -> None:
    text = (
        "Oui. Cette fiche résume les informations publiques du modèle. Voir aussi la fiche "
        "voisine sur les prix des API. Le modèle tourne sur un seul serveur de calcul."
    )
    assert split_sentences(text) == ["Le modèle tourne sur un seul serveur de calcul."]


def test_a_long_sentence_is_cut_at_a_clause_with_an_ellipsis() -> None:
    clause = "le modèle lit les factures, les devis et les bons de livraison"
    text = ", ".join([clause] * 8) + "."
    (sentence,) = split_sentences(text)
    assert len(sentence) <= MAX_SENTENCE_CHARS + 1
    assert sentence.endswith("…") and text.startswith(sentence[:-1])
    assert text[len(sentence) - 1] == ","  # cut where a clause ends


def test_the_same_sentence_in_two_passages_is_a_candidate_once() -> None:
    same = "Le modèle tourne sur un seul serveur de calcul."
    pool = candidates([Passage("fact-a", 0, same), Passage("fact-b", 1, same)])
    assert [(s.fiche_id, s.text) for s in pool] == [("fact-a", same)]


# --- the best sentences ---------------------------------------------------------------


@pytest.mark.parametrize("embed", [None, HashEmbedder().encode], ids=["no-embedder", "fake"])
def test_a_figure_question_gets_the_sentence_with_the_figure(embed: Embed | None) -> None:
    passages = [Passage("fact-orion", 0, MODEL_FICHE)]
    chosen = best_sentences("combien de paramètres a ce modèle ?", passages, embed=embed, limit=1)
    assert len(chosen) == 1 and "671" in chosen[0].text


def test_an_sms_figure_question_gets_the_figure() -> None:
    passages = [Passage("fact-orion", 0, MODEL_FICHE)]
    chosen = best_sentences("ca a cb de parametres ce truc ??", passages, embed=None, limit=1)
    assert "671" in chosen[0].text


VERSION_FICHE = (
    "DeepSeek est une société chinoise installée à Hangzhou, créée en 2023. "
    "La version V3.1 est sortie en août 2025 avec un contexte de 128 000 jetons. "
    "Il compte 671 milliards de paramètres, dont 37 milliards actifs par jeton."
)


@pytest.mark.parametrize(
    ("question", "text"),
    [
        ("orion 2 : combien de paramètres ?", MODEL_FICHE),
        ("deepseek v3.1 combien de paramètres ?", VERSION_FICHE),
    ],
    ids=["name-with-a-number", "version"],
)
def test_the_asked_figure_beats_a_sentence_that_only_names_the_model(
    question: str, text: str
) -> None:
    chosen = best_sentences(question, [Passage("fact-model", 0, text)], embed=None, limit=2)
    assert any("671" in s.text for s in chosen)


def test_the_fake_embedder_is_asked_once_for_the_question_and_the_shortlist() -> None:
    embedder = HashEmbedder()
    best_sentences(
        "licence commerciale ?", [Passage("fact-orion", 0, MODEL_FICHE)], embed=embedder.encode
    )
    assert embedder.calls == 1


def _pointing_to(word: str) -> Embed:
    """A fake embedder: the question and the sentences holding `word` share one direction."""

    def embed(texts: Sequence[str]) -> NDArray[np.float32]:
        rows = [[1.0, 0.0]] + [[1.0, 0.0] if word in t else [0.0, 1.0] for t in texts[1:]]
        return np.array(rows, dtype=np.float32)

    return embed


def test_the_embedder_decides_between_sentences_the_words_cannot_tell_apart() -> None:
    text = (
        "Le service garde les données en Europe, sur des serveurs situés à Paris. "
        "Le service propose une offre gratuite limitée à cinquante messages."
    )
    passages = [Passage("tool-x", 0, text)]
    for word in ("Paris", "gratuite"):
        chosen = best_sentences("et le service ?", passages, embed=_pointing_to(word), limit=1)
        assert word in chosen[0].text


def test_sentences_come_back_in_reading_order() -> None:
    passages = [
        Passage(
            "guide-a",
            0,
            "Le registre des traitements se tient à jour chaque année. "
            "Le délai de conservation des factures est de dix ans.",
        ),
        Passage("guide-b", 1, "Un délai de conservation trop long expose à une sanction."),
    ]
    chosen = best_sentences(
        "quel délai de conservation pour les factures ?", passages, embed=None, limit=3
    )
    keys = [(s.passage_rank, s.position) for s in chosen]
    assert keys == sorted(keys)
    assert chosen[0].text.startswith("Le délai de conservation des factures")


def test_an_anaphoric_best_sentence_brings_its_antecedent() -> None:
    text = (
        "Le règlement européen sur l'IA vise les entreprises qui parlent à leurs clients "
        "par un robot. Cette obligation de transparence impose de dire au client qu'il "
        "échange avec une machine. Les sanctions dépendent de chaque État membre."
    )
    chosen = best_sentences(
        "obligation de transparence : dire au client que c'est une machine ?",
        [Passage("guide-ai-act", 0, text)],
        embed=None,
        limit=2,
    )
    assert [s.position for s in chosen] == [0, 1]
    assert chosen[1].text.startswith("Cette obligation")


def test_with_one_sentence_allowed_the_best_one_is_kept() -> None:
    text = (
        "Le règlement européen sur l'IA vise les entreprises qui parlent à leurs clients "
        "par un robot. Cette obligation de transparence impose de dire au client qu'il "
        "échange avec une machine. Les sanctions dépendent de chaque État membre."
    )
    chosen = best_sentences(
        "obligation de transparence : dire au client que c'est une machine ?",
        [Passage("guide-ai-act", 0, text)],
        embed=None,
        limit=1,
    )
    assert any(s.text.startswith("Cette obligation") for s in chosen)


def test_a_topic_test_lifts_the_sentences_on_the_topic() -> None:
    text = (
        "Le modèle répond vite et coûte peu cher à l'usage quotidien. "
        "Le modèle stocke les conversations sur des serveurs situés en Chine."
    )
    passages = [Passage("fact-x", 0, text)]
    plain = best_sentences("le modèle ?", passages, embed=None, limit=1)
    lifted = best_sentences(
        "le modèle ?", passages, embed=None, limit=1, topic=lambda s: "serveurs" in s
    )
    assert "vite" in plain[0].text and "Chine" in lifted[0].text


def test_a_weak_second_sentence_is_left_out() -> None:
    text = (
        "Le tarif de l'offre pro est de 15 euros par mois et par utilisateur. "
        "L'entreprise a son siège dans une petite ville de Bretagne."
    )
    chosen = best_sentences(
        "quel tarif pour l'offre pro par mois ?", [Passage("tool-x", 0, text)], embed=None, limit=2
    )
    assert [s.text[:9] for s in chosen] == ["Le tarif "]


def test_no_passage_no_sentence() -> None:
    assert best_sentences("combien ?", [], embed=None) == []
    assert best_sentences("combien ?", [Passage("f", 0, "## Titre\n- court")], embed=None) == []


def test_a_definition_question_gets_the_defining_sentence() -> None:
    text = (
        "Les API se paient au million de tokens, en entrée comme en sortie. "
        "Un modèle de langage est payé au volume de texte, compté en « tokens » "
        "(environ trois quarts de mot). Les tokens sont rarement le poste le plus cher."
    )
    [best] = best_sentences("c'est quoi un token ?", [Passage("f", 0, text)], embed=None, limit=1)
    assert "trois quarts de mot" in best.text


def test_a_leaning_sentence_keeps_its_subject_even_when_not_the_best() -> None:
    text = (
        "## En bref\nUne TPE qui utilise un assistant est rarement concernée par le haut risque. "
        "Elle doit en revanche former ses équipes à l'IA (article 4) et rester transparente.\n"
        "## Calendrier\nLe 2 février 2025, la formation à l'IA (article 4) devient obligatoire "
        "pour les équipes."
    )
    chosen = best_sentences(
        "former équipes article 4 obligatoire", [Passage("f", 0, text)], embed=None, limit=3
    )
    texts = [s.text for s in chosen]
    assert any(t.startswith("Elle doit") for t in texts)  # it answers "article 4 formation"
    assert texts.index(next(t for t in texts if t.startswith("Une TPE"))) == 0


def test_a_question_without_a_cost_is_not_answered_by_the_price_section() -> None:
    text = (
        "## Prix\nL'offre Plus coûte 20 $ par mois pour lire et écrire vos textes.\n"
        "## Données et RGPD\nLe compte professionnel désactive la réutilisation des "
        "conversations pour l'entraînement."
    )
    [best] = best_sentences(
        "openai peut lire mes conversations ?", [Passage("f", 0, text)], embed=None, limit=1
    )
    assert best.section == "Données et RGPD"


def test_a_cases_problem_and_a_guides_pitfalls_do_not_answer() -> None:
    case = (
        "## Problème\nUn salarié colle le fichier clients dans un assistant gratuit.\n\n"
        "## À retenir\nUn fichier clients ne va que dans un outil sous contrat professionnel."
    )
    chosen = best_sentences(
        "un salarié a collé le fichier clients dans un assistant gratuit, c grave ?",
        [Passage("case-x", 0, case)],
        embed=None,
        limit=2,
    )
    assert [s.section for s in chosen] == ["À retenir"]


def test_a_definition_of_a_term_no_sentence_names_is_not_guessed() -> None:
    text = "## Les erreurs\nLaisser l'IA envoyer quoi que ce soit sans relecture."
    assert best_sentences("c'est quoi un LLM", [Passage("g", 0, text)], embed=None) == []


def test_a_when_question_gets_the_calendar_date_first_not_a_price_read_on_a_day() -> None:
    card = (
        "## Prix\nLa facturation électronique est incluse, prix relevé le 02/12/2026 sur la "
        "page officielle de l'éditeur du logiciel."
    )
    guide = (
        "## Les dates à retenir\nLes PME devront émettre leurs factures électroniques le "
        "1er septembre 2027."
    )
    chosen = best_sentences(
        "facture électronique obligatoire, c'est quand ?",
        [Passage("tool-x", 0, card), Passage("guide-y", 1, guide)],
        embed=None,
        limit=2,
    )
    assert chosen[0].fiche_id == "guide-y"


def test_one_content_word_does_not_outweigh_the_topic_the_question_is_on() -> None:
    guide = (
        "## Choisir\nQuatre critères guident le choix d'un modèle : le prix, la qualité en "
        "français, le lieu des données et la facilité de changer."
    )
    other = "## Après\nGardez un document où chacun note ses meilleures consignes du mois."
    [best] = best_sentences(
        "quelle est la meilleure IA ?",
        [Passage("guide-choose", 0, guide), Passage("guide-other", 1, other)],
        embed=None,
        limit=1,
        topic=lambda text: "choix" in text,  # the choosing topic's words
        topical=frozenset({"guide-choose"}),
    )
    assert best.fiche_id == "guide-choose"
