"""A fiche's "## Questions fréquentes" section: curated questions and their answers.

Format (docs/data-formats.md): `### ` headings, each a question ending with "?", then one
paragraph of answer. Several headings in a row with no text between them are other
wordings of the same question; the answer follows the last one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAQ_HEADING = re.compile(r"^##\s+Questions fr[ée]quentes\s*$", re.IGNORECASE | re.MULTILINE)
_NEXT_SECTION = re.compile(r"^##\s", re.MULTILINE)
_ENTRY = re.compile(r"^###\s+(.+?)\s*$", re.MULTILINE)
MAX_ANSWER_CHARS = 420  # an answer fits a phone screen


@dataclass(frozen=True)
class Entry:
    """One curated question of a fiche (and its other wordings) and its answer."""

    fiche_id: str
    question: str
    answer: str
    phrasings: tuple[str, ...] = ()  # the question and its other wordings, all matched

    @property
    def questions(self) -> tuple[str, ...]:
        return self.phrasings or (self.question,)


def faq_section(body: str) -> str | None:
    """The text of the body's "Questions fréquentes" section, if it has one."""
    found = FAQ_HEADING.search(body)
    if found is None:
        return None
    rest = body[found.end() :]
    end = _NEXT_SECTION.search(rest)
    return rest[: end.start()] if end else rest


def parse_entries(fiche_id: str, body: str) -> tuple[list[Entry], list[str]]:
    """The entries of a fiche body's section, and the wordings left with no answer."""
    section = faq_section(body)
    if section is None:
        return [], []
    parts = _ENTRY.split(section)
    found: list[Entry] = []
    waiting: list[str] = []
    for i in range(1, len(parts) - 1, 2):
        waiting.append(parts[i].strip())
        answer = " ".join(parts[i + 1].split())
        if answer:
            found.append(Entry(fiche_id, waiting[0], answer, tuple(waiting)))
            waiting = []
    return found, waiting


def format_problems(body: str) -> list[str]:
    """What breaks the section's format, in French, for `pilote-ia kb check`."""
    section = faq_section(body)
    if section is None:
        return []
    entries, orphans = parse_entries("", body)
    problems = [f"« {q} » n'a pas de réponse" for q in orphans]
    if not entries:
        problems.append("la section n'a aucune question (titres « ### … ? »)")
    for entry in entries:
        problems += [f"« {q} » ne finit pas par « ? »" for q in entry.questions if q[-1] != "?"]
        if len(entry.answer) > MAX_ANSWER_CHARS:
            problems.append(
                f"la réponse à « {entry.question} » fait {len(entry.answer)} caractères "
                f"(au plus {MAX_ANSWER_CHARS})"
            )
    return problems
