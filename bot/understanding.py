"""Reading an owner's message once: what kind of message it is and what it is about.

The message is folded once into a `Request`; everything downstream (tool choice, the
French answer, the LLM prompt, the Telegram reply) reads that value, never the raw text.
The rules are data: knowledge/vocabulary.yaml. The embeddings speak through `similarity`,
the cosine of the closest passage of the base, which tells a vague in-domain message
from an off-topic one when no keyword does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from bot.advice import Intent, Profile, Turn
from bot.catalogue import Catalogue
from bot.keywords import KeywordSet, fold_words
from retrieval.vocabulary import DomainVocabulary

FollowUp = Literal["cheaper", "another", "more"]
# below this cosine to the closest passage, a message with no domain word is off-topic
# (MiniLM on French text: in-domain questions score 0.35-0.8; calibrated on the dev split)
OFF_TOPIC_SIMILARITY = 0.3
SHORT_MESSAGE_WORDS = 6
_BUDGET = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:€|euros?\b|eur\b|e\b)", re.IGNORECASE)
_ASKS_TOOLS = ("quel outil", "quels outils", "quel logiciel", "quelle appli", "quelle solution",
               "quoi utiliser", "lequel", "laquelle", "que me conseil", "tu me conseil",
               "vous me conseil", "recommand", "alternative")  # fmt: skip


@dataclass(frozen=True)
class Request:
    """An owner's message, read once."""

    text: str
    folded: str
    intent: Intent
    needs: tuple[str, ...] = ()  # use-case families, best first
    topics: tuple[str, ...] = ()  # information topics, best first
    tools_named: tuple[str, ...] = ()  # catalogue ids named in the message
    sector: str | None = None
    budget: float | None = None
    asks_tools: bool = False
    follow_up: FollowUp | None = None
    previous_tools: tuple[str, ...] = ()  # tools of the previous answer (follow-ups)
    stated_need: bool = False  # the need comes from the message, not the profile or sector

    @property
    def need(self) -> str | None:
        """The main use-case family."""
        return self.needs[0] if self.needs else None

    @property
    def declines(self) -> bool:
        """True when the message gets a polite refusal."""
        return self.intent in ("out_of_scope", "subversion")

    @property
    def wants_pilot(self) -> bool:
        """True when the answer includes tools and a two-week pilot."""
        return self.intent in ("need", "mixed", "follow_up")


@dataclass(frozen=True)
class _Scores:
    needs: dict[str, int]
    topics: dict[str, int]
    cues: dict[str, int] = field(default_factory=dict)

    @property
    def need_total(self) -> int:
        return sum(self.needs.values())

    @property
    def topic_total(self) -> int:
        return sum(self.topics.values())


class Understanding:
    """Compiled vocabulary: turns a message (and the conversation) into a Request."""

    def __init__(self, vocabulary: DomainVocabulary, catalogue: Catalogue) -> None:
        self.vocabulary = vocabulary
        self.catalogue = catalogue
        self._needs = {k: KeywordSet.of(v.keywords) for k, v in vocabulary.needs.items()}
        self._topics = {k: KeywordSet.of(v.keywords) for k, v in vocabulary.topics.items()}
        self._cues = {k: KeywordSet.of(v) for k, v in vocabulary.intents.items()}
        self._sectors = {k: KeywordSet.of(v.keywords) for k, v in vocabulary.sectors.items()}
        self._asks_tools = KeywordSet.of(_ASKS_TOOLS)

    def read(
        self,
        question: str,
        *,
        profile: Profile | None = None,
        history: Sequence[Turn] = (),
        similarity: float | None = None,
    ) -> Request:
        """The Request of one message; `similarity` is the best dense score of its search."""
        profile = profile or Profile()
        folded = fold_words(question)
        scores = self._score(folded)
        tools = tuple(t.id for t in self.catalogue.named_in(folded))
        follow_up = self._follow_up(folded, scores, tools, bool(history))
        sector = profile.sector or self._sector(folded)
        intent = self._intent(scores, tools, follow_up, similarity, sector is not None)
        needs, stated = self._needs_of(scores, profile, folded, history, follow_up)
        previous = self._previous_tools(history) if follow_up else ()
        return Request(
            text=" ".join(question.split()),
            folded=folded,
            intent=intent,
            needs=needs,
            topics=_ranked(scores.topics),
            tools_named=tools,
            sector=sector,
            budget=_budget(question, profile),
            asks_tools=bool(self._asks_tools.found(folded)),
            follow_up=follow_up,
            previous_tools=previous,
            stated_need=stated,
        )

    # -- scoring ----------------------------------------------------------------------

    def _score(self, folded: str) -> _Scores:
        return _Scores(
            needs={k: s.score(folded) for k, s in self._needs.items()},
            topics={k: s.score(folded) for k, s in self._topics.items()},
            cues={k: s.score(folded) for k, s in self._cues.items()},
        )

    def _follow_up(
        self, folded: str, scores: _Scores, tools: tuple[str, ...], has_history: bool
    ) -> FollowUp | None:
        if not has_history:
            return None
        if scores.cues["another"]:
            return "another"
        if scores.cues["cheaper"] and not tools:
            return "cheaper"
        short = len(folded.split()) <= SHORT_MESSAGE_WORDS
        if scores.cues["follow_up"] or (short and not scores.topic_total and not tools):
            return "more"
        return None

    def _intent(
        self,
        scores: _Scores,
        tools: tuple[str, ...],
        follow_up: FollowUp | None,
        similarity: float | None,
        knows_sector: bool,
    ) -> Intent:
        cues = scores.cues
        if cues["subversion"]:
            return "subversion"
        strong_domain = cues["domain"] + scores.need_total + len(tools)
        if cues["out_of_scope"] and strong_domain == 0:
            return "out_of_scope"
        if follow_up is not None:
            return "follow_up"
        in_domain = strong_domain + scores.topic_total + cues["information"] + cues["need"]
        if in_domain == 0 and (similarity is None or similarity < OFF_TOPIC_SIMILARITY):
            return "out_of_scope"
        topics = scores.topic_total - scores.topics.get("tool-price", 0)  # a need's cost is a need
        if knows_sector and topics == scores.topics.get("getting-started", 0):
            topics = 0  # "l'IA peut m'aider ?" from a known business: what it can do for it
        about_tool = bool(tools) and bool(scores.topics.get("tool-price") or cues["information"])
        asks_fact = bool(topics) or about_tool
        need = cues["need"] + scores.need_total
        needy = scores.need_total >= 2 or (scores.need_total >= 1 and cues["need"] > 0)
        if asks_fact and needy and cues["need"]:
            return "mixed"
        if about_tool:
            return "information"  # a fact about a named tool: its price, its hosting...
        info = cues["information"] + 2 * topics
        if info > need or (info and not scores.need_total) or need == 0:
            return "information"
        return "need"

    # -- what the message is about ----------------------------------------------------

    def _needs_of(
        self,
        scores: _Scores,
        profile: Profile,
        folded: str,
        history: Sequence[Turn],
        follow_up: FollowUp | None,
    ) -> tuple[tuple[str, ...], bool]:
        stated = _ranked(scores.needs)
        if stated:
            return stated, True
        if follow_up is not None and history:
            previous = self._score(fold_words(history[-1].question))
            if previous.needs and any(previous.needs.values()):
                return _ranked(previous.needs), True
        fallback = []
        priority = self.vocabulary.priorities.get(profile.priority or "")
        if priority:
            fallback.append(priority)
        sector = profile.sector or self._sector(folded)
        if sector in self.vocabulary.sectors:
            fallback += self.vocabulary.sectors[sector].needs
        return tuple(dict.fromkeys(fallback)), False

    def _sector(self, folded: str) -> str | None:
        found = {k: s.score(folded) for k, s in self._sectors.items()}
        best = max(found, key=lambda k: found[k], default=None)
        return best if best is not None and found[best] > 0 else None

    def _previous_tools(self, history: Sequence[Turn]) -> tuple[str, ...]:
        return tuple(t.id for t in self.catalogue.named_in(fold_words(history[-1].answer)))


def _ranked(scores: dict[str, int]) -> tuple[str, ...]:
    """Keys with a positive score, best first (ties keep the vocabulary's order)."""
    order = list(scores)
    kept = [k for k in order if scores[k] > 0]
    return tuple(sorted(kept, key=lambda k: (-scores[k], order.index(k))))


def _budget(question: str, profile: Profile) -> float | None:
    """The monthly budget: one stated in the message wins over the profile's."""
    match = _BUDGET.search(question)
    if match:
        return float(match.group(1).replace(",", "."))
    return profile.monthly_budget_eur
