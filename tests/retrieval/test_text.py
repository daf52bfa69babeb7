"""French analysis for BM25."""

from __future__ import annotations

from retrieval.text import analyze, fold, has_words


def test_fold_strips_accents_and_ligatures() -> None:
    assert fold("Élève, cœur, Noël") == "eleve, coeur, noel"


def test_accented_and_plain_spellings_give_the_same_terms() -> None:
    assert analyze("comptabilité des données") == analyze("COMPTABILITE des donnees")


def test_stop_words_and_elisions_are_dropped_and_words_stemmed() -> None:
    terms = analyze("L'assistant gère les factures jusqu'à la fin du mois")
    assert "l" not in terms and "les" not in terms and "la" not in terms
    assert analyze("facture") == analyze("factures") == analyze("facturation")
    assert "assist" in terms[0]


def test_has_words() -> None:
    assert has_words("ça ?")
    assert not has_words(" ?!… ")
