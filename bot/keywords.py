"""Folding and keyword matching over owners' messages (rules: knowledge/vocabulary.yaml)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from retrieval.text import fold

_NON_WORD = re.compile(r"[^a-z0-9]+")
PREFIX_MIN_LETTERS = 5  # a shorter last word must match a whole word ("dan" is not "dans")


def fold_words(text: str) -> str:
    """Lowercase, accents stripped, punctuation turned into single spaces."""
    return " ".join(_NON_WORD.sub(" ", fold(text)).split())


@dataclass(frozen=True)
class KeywordSet:
    """Keywords compiled once; scores a folded text by the words of the phrases it holds."""

    keywords: tuple[str, ...]
    pattern: re.Pattern[str] | None

    @classmethod
    def of(cls, keywords: Iterable[str], *, names: bool = False) -> KeywordSet:
        """Compile folded keywords (duplicates and blanks dropped); `names` match whole
        words only ("Descript" is not in "descriptions"), a version number aside ("v2")."""
        clean = tuple(dict.fromkeys(k for k in (fold_words(w) for w in keywords) if k))
        if not clean:
            return cls((), None)
        alternatives = sorted(clean, key=len, reverse=True)  # longest phrase wins
        body = "|".join(_alternative(k, names) for k in alternatives)
        return cls(clean, re.compile(rf"(?<![a-z0-9])(?:{body})"))

    def found(self, folded: str) -> list[str]:
        """The keywords present in a folded text, each once, in order of appearance
        ("factures" and "facturation" are both the keyword "factur")."""
        if self.pattern is None:
            return []
        return list(dict.fromkeys(self._keyword(m.group(0)) for m in self.pattern.finditer(folded)))

    def spans(self, folded: str) -> list[tuple[int, int, str]]:
        """(start, end, keyword) of the longest match at each word of a folded text; matches
        may overlap ("un chatbot" and "chatbot sur mon site")."""
        if self.pattern is None:
            return []
        starts = [0, *(i + 1 for i, c in enumerate(folded) if c == " ")]
        found = (self.pattern.match(folded, i) for i in starts)
        return [(m.start(), m.end(), self._keyword(m.group(0))) for m in found if m]

    def _keyword(self, matched: str) -> str:
        if matched in self.keywords:
            return matched
        return max((k for k in self.keywords if matched.startswith(k)), key=len, default=matched)

    def score(self, folded: str) -> int:
        """Sum over the keywords found of their number of words (phrases weigh more)."""
        return sum(len(k.split()) for k in self.found(folded))


def _alternative(keyword: str, name: bool = False) -> str:
    last = keyword.rsplit(" ", 1)[-1]
    if name:
        return re.escape(keyword) + r"[0-9]*(?![a-z])"
    tail = r"[a-z0-9]*" if len(last) >= PREFIX_MIN_LETTERS else r"(?![a-z0-9])"
    return re.escape(keyword) + tail
