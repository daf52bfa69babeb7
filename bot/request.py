"""The value an owner's message is read into once (bot/understanding.py), and that tool
choice, the French answer, the LLM prompt and the Telegram reply read instead of the text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.advice import Intent

# cheaper / another option / the total cost of the previous proposal / more on the same need
# / a fact about something of the previous answer / how to start / a simpler way / where the
# previous answer comes from
FollowUp = Literal["cheaper", "another", "cost", "more", "fact", "start", "simpler", "sources"]


@dataclass(frozen=True)
class Request:
    """An owner's message, read once."""

    text: str
    folded: str
    intent: Intent
    needs: tuple[str, ...] = ()  # use-case families, best first
    topics: tuple[str, ...] = ()  # information topics, best first
    tools_named: tuple[str, ...] = ()  # catalogue ids named in the message
    categories: tuple[str, ...] = ()  # kinds of tool the message names ("une appli vidéo")
    sector: str | None = None
    budget: float | None = None
    asks_tools: bool = False
    follow_up: FollowUp | None = None
    previous_tools: tuple[str, ...] = ()  # tools of the previous answer (follow-ups)
    previous_subject: tuple[str, ...] = ()  # tools the previous question named (follow-ups)
    topic_carried: bool = False  # "et en Occitanie ?": the topics are the previous question's
    stated_need: bool = False  # the need comes from the message, not the profile or sector
    strong_needs: tuple[str, ...] = ()  # needs the message names clearly (a phrase, two words)
    fact_text: str = ""  # the clause that asks the fact, in a message that also states a need
    asks_help: bool = False  # "que faire", "je cherche", "je voudrais"...
    smalltalk: str | None = None  # "greeting", "thanks" or "about_bot": a friendly word
    asks_permission: bool = False  # "c'est autorisé ?": a tool it names is context, not subject
    eu_only: bool = False  # "je préfère pas les américains": data in the EU or at home only
    data_home: bool = False  # health or law data asked about: kept in the EU or at home
    sensitive_trade: bool = False  # a health or law practice: EU or at-home tools first
    asks_bot: bool = False  # "un chatbot", "qui répond tout seul": replies without a human
    wants_cheap: bool = False  # "le moins cher", "pas cher": the cheapest tools first
    other_products: tuple[str, ...] = ()  # products named that have no card ("Doctolib")
    dishonest: bool = False  # "écris-moi des faux avis": declined as a request to deceive
    # kinds named only by a need's own words, with those needs ("et les visuels": image is
    # the visuals need's kind, not the posts')
    kind_of_needs: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def kind_serves(self, kind: str, need: str) -> bool:
        """Whether a kind the message names speaks for this need."""
        needs = dict(self.kind_of_needs).get(kind)
        return needs is None or need in needs

    @property
    def fact_question(self) -> str:
        """What the fact answers: the asking clause of a mixed message, else the message."""
        return self.fact_text or self.text

    @property
    def need(self) -> str | None:
        """The main use-case family."""
        return self.needs[0] if self.needs else None

    @property
    def declines(self) -> bool:
        """True when the message gets a polite refusal."""
        return self.intent in ("out_of_scope", "subversion")

    @property
    def vague(self) -> bool:
        """ "je veux gagner du temps": a need with no task said and no trade known; the
        answer asks which task rather than guess one."""
        return self.intent == "need" and not self.needs

    @property
    def asks_fact(self) -> bool:
        """True when the answer starts with a fact (a rule, a price, a model's figures)."""
        return self.intent in ("information", "mixed") or self.follow_up == "fact"

    @property
    def wants_pilot(self) -> bool:
        """True when the answer includes tools and a two-week pilot."""
        if self.intent == "follow_up":
            return self.follow_up not in ("fact", "sources")
        return self.intent in ("need", "mixed")
