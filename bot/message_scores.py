"""Scores of a message's words: which needs, topics, cues and kinds of tool it names, and
where. Pure functions over keyword spans; bot/understanding.py decides from them."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scores:
    """What a message's words say, before any decision: each need, topic, cue and kind
    of tool by the words that name them."""

    needs: dict[str, int]
    topics: dict[str, int]
    cues: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)  # tool categories named
    words: int = 0  # length of the message in words
    retrieved_needs: tuple[str, ...] = ()  # needs known from the search only, not the words
    off_topic_phrase: int = 0  # words of the longest off-topic cue ("lettre de motivation": 3)
    need_at: dict[str, int] = field(default_factory=dict)  # where each need is first said
    added: frozenset[str] = frozenset()  # tasks named last by one word ("et les visuels")
    joined: frozenset[str] = frozenset()  # tasks named by one word before "et aussi" + another
    kind_of_needs: tuple[tuple[str, tuple[str, ...]], ...] = ()  # the others: whose words

    @property
    def need_total(self) -> int:
        return sum(self.needs.values())

    @property
    def topic_total(self) -> int:
        return sum(self.topics.values())


def needs_around(
    found: list[tuple[int, int, str]], need_spans: dict[str, list[tuple[int, int, str]]]
) -> tuple[str, ...]:
    """The needs whose words hold every place a kind is named (empty when a kind's word is
    its own somewhere: "un outil d'image")."""
    holders = []
    for start, end, _ in found:
        around = [
            n
            for n, spans in need_spans.items()
            if any(a <= start and end <= b for a, b, _ in spans)
        ]
        if not around:
            return ()
        holders += around
    return tuple(dict.fromkeys(holders))


def strong_needs(scores: Scores) -> tuple[str, ...]:
    """The needs the message names clearly: by a phrase or two words, or by one word after
    "et" ("des posts insta et les visuels"), in the order said."""
    found = [
        k for k, v in scores.needs.items() if v >= 2 or k in scores.added or k in scores.joined
    ]
    return tuple(sorted(found, key=lambda k: (-scores.needs[k], scores.need_at.get(k, 0))))


def need_scores(spans: dict[str, list[tuple[int, int, str]]]) -> dict[str, int]:
    """Each need's score, a keyword inside another need's longer phrase left out ("mon site"
    is no marketing need inside "un chatbot sur mon site")."""
    every = [(start, end) for found in spans.values() for start, end, _ in found]
    scores = {}
    for need, found in spans.items():
        kept = {
            keyword
            for start, end, keyword in found
            if not any(a <= start and end <= b and b - a > end - start for a, b in every)
        }
        scores[need] = sum(len(keyword.split()) for keyword in kept)
    return scores


# "…et les visuels", "…et faire des devis", "…et gérer les factures": a task added last
AND_THE = re.compile(
    r"\b(?:et|ainsi que|plus)(?: aussi)?(?: pour)?(?: (?:faire|gerer|\w+er|\w+ir|\w+re))?"
    r" (?:le|la|les|l|mes|ma|mon|nos|des)\s$"
)


# "les devis me prennent un temps fou et aussi les posts": the task before "et" is one too
# (an addition said as one: "et aussi", "et pour"; "l'article 50 et quel outil ?" adds none)
_AND = re.compile(r"\bet (?:aussi|puis|en plus|egalement|pour)\b|\bainsi que\b")


def joined_needs(needs: dict[str, int], need_at: dict[str, int], folded: str) -> frozenset[str]:
    """The tasks named by one word and then joined by "et" to a task named clearly."""
    clear = [at for n, at in need_at.items() if needs[n] >= 2]
    return frozenset(
        n
        for n, at in need_at.items()
        if needs[n] == 1 and any(at < other and _AND.search(folded[at:other]) for other in clear)
    )


def ranked(scores: dict[str, int]) -> tuple[str, ...]:
    """Keys with a positive score, best first (ties keep the vocabulary's order)."""
    order = list(scores)
    kept = [k for k in order if scores[k] > 0]
    return tuple(sorted(kept, key=lambda k: (-scores[k], order.index(k))))
