"""Folding and keyword matching (bot/keywords.py, rules in docs/data-formats.md §3)."""

from __future__ import annotations

import pytest

from bot.keywords import PREFIX_MIN_LETTERS, KeywordSet, fold_words


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("L’IA, c'est GÉNIAL !!", "l ia c est genial"),
        ("Ça coûte   cb ? (TTC)", "ca coute cb ttc"),
        ("mes e-mails\u00a0clients", "mes e mails clients"),
        ("Cœur de métier, œuvre", "coeur de metier oeuvre"),
        ("  ...  ", ""),
    ],
)
def test_fold_words_lowercases_strips_accents_and_punctuation(raw: str, folded: str) -> None:
    assert fold_words(raw) == folded


def test_keywords_are_folded_deduplicated_and_blanks_dropped() -> None:
    keywords = KeywordSet.of(["Réservation", "reservation", "  ", "!!", "Avis Google"])
    assert keywords.keywords == ("reservation", "avis google")


def test_an_empty_set_finds_nothing() -> None:
    keywords = KeywordSet.of(["", "  "])
    assert keywords.found("n importe quoi") == []
    assert keywords.score("n importe quoi") == 0


def test_a_long_keyword_matches_at_the_start_of_a_word() -> None:
    keywords = KeywordSet.of(["factur"])
    assert len("factur") >= PREFIX_MIN_LETTERS
    assert keywords.found("je saisis mes factures le soir") == ["factur"]
    assert keywords.found("la facturation me prend un temps fou") == ["factur"]


def test_a_long_keyword_never_matches_inside_a_word() -> None:
    keywords = KeywordSet.of(["factur"])
    assert keywords.found("on refacture le client") == []


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("dan", "je suis dans le batiment"),
        ("dan", "cours de danse"),
        ("sav", "je sais pas"),
        ("bar", "un barbier a paris"),
        ("roi", "c est du droit"),
    ],
)
def test_a_short_keyword_matches_only_a_whole_word(keyword: str, text: str) -> None:
    assert KeywordSet.of([keyword]).found(text) == []


@pytest.mark.parametrize(
    ("keyword", "text"), [("dan", "mode dan active"), ("sav", "le sav me rappelle jamais")]
)
def test_a_short_keyword_matches_the_whole_word(keyword: str, text: str) -> None:
    assert KeywordSet.of([keyword]).found(text) == [keyword]


def test_only_the_last_word_of_a_phrase_is_a_prefix() -> None:
    keywords = KeywordSet.of(["rdv manque"])
    assert keywords.found("encore 3 rdv manques cette semaine") == ["rdv manque"]
    assert keywords.found("les rdvs manques") == []


def test_a_phrase_ending_with_a_short_word_matches_that_word_whole() -> None:
    keywords = KeywordSet.of(["no show"])
    assert keywords.found("encore un no show") == ["no show"]
    assert keywords.found("un no showroom") == []


def test_a_phrase_weighs_its_number_of_words() -> None:
    keywords = KeywordSet.of(["messages", "repondre aux clients", "sms"])
    assert keywords.score("je dois repondre aux clients") == 3
    assert keywords.score("trop de messages") == 1
    assert keywords.score("trop de messages et de sms, repondre aux clients") == 5


def test_the_longest_phrase_wins_where_phrases_overlap() -> None:
    keywords = KeywordSet.of(["messages", "messages clients"])
    assert keywords.found("les messages clients") == ["messages clients"]
    assert keywords.score("les messages clients") == 2


def test_found_lists_each_match_once_in_order_of_appearance() -> None:
    keywords = KeywordSet.of(["whatsapp", "sms", "mails clients"])
    text = "des sms des mails clients et whatsapp et encore des sms"
    assert keywords.found(text) == ["sms", "mails clients", "whatsapp"]
    assert keywords.score(text) == 4


def test_matching_works_on_the_folded_form_of_an_owners_message() -> None:
    keywords = KeywordSet.of(["rendez-vous manqués", "no show"])
    message = fold_words("Les Rendez-Vous manqués + les No-Show, j'en peux plus")
    assert keywords.found(message) == ["rendez vous manques", "no show"]


def test_a_keyword_counts_once_whatever_forms_it_matches() -> None:
    keywords = KeywordSet.of(["factur"])
    text = "mes factures et la facturation me prennent mes soirees"
    assert keywords.found(text) == ["factur"]
    assert keywords.score(text) == 1


def test_spans_find_overlapping_phrases_each_at_its_word() -> None:
    words = KeywordSet.of(["un chatbot", "chatbot sur mon site"])
    folded = "je veux un chatbot sur mon site"
    assert [k for _, _, k in words.spans(folded)] == ["un chatbot", "chatbot sur mon site"]
