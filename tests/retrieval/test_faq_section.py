"""The "Questions fréquentes" section of a fiche: parsing and the format kb check enforces."""

from __future__ import annotations

from retrieval.faq_section import MAX_ANSWER_CHARS, format_problems, parse_entries

BODY = """# Facture électronique

## Les dates
Les grandes entreprises reçoivent en 2026.

## Questions fréquentes

### Je dois recevoir des factures électroniques quand ?
### À partir de quand la facture électronique est-elle obligatoire ?
Dès le 1er septembre 2026, toute entreprise doit pouvoir recevoir
des factures électroniques.

### Puis-je garder mes factures PDF ?
Non, pas pour les ventes entre entreprises une fois votre date passée.

## Sources
- https://example.org
"""


def test_entries_group_the_wordings_of_one_question_and_join_the_answer_lines() -> None:
    entries, orphans = parse_entries("guide-x", BODY)

    assert orphans == []
    assert [e.questions for e in entries] == [
        (
            "Je dois recevoir des factures électroniques quand ?",
            "À partir de quand la facture électronique est-elle obligatoire ?",
        ),
        ("Puis-je garder mes factures PDF ?",),
    ]
    assert entries[0].answer == (
        "Dès le 1er septembre 2026, toute entreprise doit pouvoir recevoir "
        "des factures électroniques."
    )
    assert all(e.fiche_id == "guide-x" for e in entries)
    assert "Sources" not in entries[-1].answer  # the next `##` section ends the last answer


def test_a_fiche_without_the_section_has_no_entry_and_no_problem() -> None:
    assert parse_entries("guide-x", "# Titre\n\n## Prix\nGratuit.\n") == ([], [])
    assert format_problems("# Titre\n\n## Prix\nGratuit.\n") == []


def test_format_problems_name_what_is_wrong() -> None:
    long_answer = "x" * (MAX_ANSWER_CHARS + 1)
    body = (
        "## Questions fréquentes\n\n### Sans point d'interrogation\nRéponse.\n\n"
        f"### Trop long ?\n{long_answer}\n\n### Restée sans réponse ?\n"
    )

    problems = format_problems(body)

    assert problems == [
        "« Restée sans réponse ? » n'a pas de réponse",
        "« Sans point d'interrogation » ne finit pas par « ? »",
        f"la réponse à « Trop long ? » fait {MAX_ANSWER_CHARS + 1} caractères "
        f"(au plus {MAX_ANSWER_CHARS})",
    ]


def test_an_empty_section_is_reported() -> None:
    assert format_problems("## Questions fréquentes\n\nRien ici.\n") == [
        "la section n'a aucune question (titres « ### … ? »)"
    ]
