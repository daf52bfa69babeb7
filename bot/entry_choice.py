"""Which curated entry may answer a request (bot/faq.py scores them; this module rules).

An entry answers only what the owner asks about: a question naming a tool needs an entry
about that tool, an entry naming a tool answers only an owner who names it, "c'est quoi
X ?" needs the entry that defines X, and a tool card's entry must speak of the question's
topic ("hébergé où ?" is not its price). A follow-up leans on the conversation, never on
an entry. A price asked for a product without a card gets no other product's price.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from bot.catalogue import Catalogue, CatalogueTool
from bot.faq import Faq, Match, names_in
from bot.keywords import KeywordSet, fold_words
from bot.request import Request
from bot.sentences import defined_term
from retrieval.faq_section import Entry
from retrieval.text import analyze

TopicTest = Callable[[str], bool]
SAME_QUESTION_SCORE = 1.55  # an entry this close asks the owner's very question
FOLLOW_UP_ENTRY_MIN = 1.3  # a follow-up leans on the conversation: its entry must fit well
MAX_NAME_WORDS = 3  # a product's name, in a price question
ALL_TOPICS_BONUS = 0.1  # an entry speaking of every topic asked ("des aides pour former ?")
TOPIC_FICHE_BONUS = 0.1  # an entry of the asked topic's own fiches, over one the search found
SECOND_ENTRY_MIN = 1.3  # the second question of a message gets its own entry when this close
SECOND_ECHO_SHARE = 0.5  # ...unless it repeats this share of the first entry's words
# where a message's second question starts: "?", or "et"/"mais" before an asking word
_SECOND_ASK = re.compile(
    r"\?+|[.;]\s|\s(?:et|mais)\s+(?=(?:combien|cb|c['’]?est|est[- ]ce|quel|quelle|quels|"
    r"comment|pourquoi|o[uù]\s|qui|quand|faut|je dois|on doit|[çc]a)\b)",
    re.IGNORECASE,
)
PRICE_NAME = "prix"  # what a price follow-up asks, when it does not say it
VERIFICATION_TOPIC = "verification"  # the vocabulary's topic of claims to check
_DOUBT = re.compile(r"\b(?:vraiment|reellement|est il vrai|est ce vrai|c vrai|cest vrai)\b")
_PRICE = re.compile(r"\d\s?(?:€|\$|euros?|dollars?)|\bgratuit|\bpayant|\bprix non publi")
# words left of a price question that name no product ("IA", "TPE", "Europe")
_NOT_PRODUCT = re.compile(r"^(?:ia|tpe|pme|ai act|rgpd|cnil|europe|france|je|j|l)$")
# the words of a price question that are not the product's name ("Notion AI ça coûte combien ?")
_PRICE_WORDS = frozenset(
    {
        *("combien", "cb", "coute", "coutent", "couter", "ca", "c", "est", "ce", "et"),
        *("par", "mois", "an", "prix", "tarif", "tarifs", "abonnement", "euros", "svp"),
        *("le", "la", "les", "l", "un", "une", "de", "du", "des", "d", "pour", "en", "au"),
        *("quel", "quelle", "quels", "que", "qu", "gratuit", "gratuite", "payant", "payante"),
    }
)


def _asked_topics(request: Request) -> list[str]:
    """The topics asked about, the price and "c'est vrai que… ?" (how the owner asks, not
    what about) left out."""
    return [t for t in request.topics if t not in ("tool-price", VERIFICATION_TOPIC)]


def main_topic_test(request: Request, topic_words: Mapping[str, KeywordSet]) -> TopicTest | None:
    """Whether a text speaks of the question's main topic (its keywords); the price comes
    from the catalogue, so the main topic is the other one asked."""
    if not request.topics:
        return None
    asked = _asked_topics(request)
    main = asked[0] if asked else request.topics[0]
    words = topic_words[main]
    return lambda text: bool(words.found(fold_words(text)))


class EntryChoice:
    """The curated entry that answers a request, within the rules above."""

    def __init__(
        self,
        faq: Faq,
        catalogue: Catalogue,
        topic_words: Mapping[str, KeywordSet],
        topic_fiches: Mapping[str, Sequence[str]] | None = None,
        topic_names: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self.faq = faq
        self._topic_names = {
            k: (v[0], KeywordSet.of(v)) for k, v in (topic_names or {}).items() if v
        }
        self._topic_fiche_ids = dict(topic_fiches or {})
        self._fiche_topics: dict[str, frozenset[str]] = {}
        for topic, fiches in self._topic_fiche_ids.items():
            for fiche in fiches:
                self._fiche_topics[fiche] = self._fiche_topics.get(fiche, frozenset()) | {topic}
        self.catalogue = catalogue
        self._topic_words = topic_words
        self._named: dict[str, frozenset[str]] = {}

    def match(
        self, request: Request, related: Collection[str], *, only: Collection[str] = ()
    ) -> Match | None:
        """The entry that asks what the owner asks (the `related` fiches, those the search
        found, get a small lift), or None; with `only`, an entry of those fiches."""
        if request.follow_up is not None or request.intent == "follow_up":
            return self._follow_up_match(request, related)
        asked = request.fact_question
        scored = self.faq.wording_scores(asked) if self.faq.entries else None  # once: 3 rules
        if scored is not None:
            scored = self._lift_topic_fiches(request, self._lift_all_topics(request, scored))

        def best(rule: Callable[[Entry, str], bool]) -> Match | None:
            def allowed(entry: Entry, wording: str) -> bool:
                return (not only or entry.fiche_id in only) and rule(entry, wording)

            return self.faq.best(asked, related=related, allowed=allowed, scored=scored)

        found = best(self._rules(request, searched=related))
        # a card entry asking nearly the very question answers it, whatever topic the
        # words suggested ("je peux utiliser ChatGPT pour mes fiches de paie ?")
        same = best(self._rules(request, topics=False, searched=None))
        if same is not None and same.score >= SAME_QUESTION_SCORE:
            found = same if found is None or same.score > found.score else found
        if found is None and request.tools_named and self._topic_fiches(request):
            # "ChatGPT invente des trucs ?": no entry about ChatGPT says it, the topic's does
            found = best(self._general_rules(request))
        return found

    def second(self, request: Request, first: Match, related: Collection[str]) -> Match | None:
        """The entry that answers the message's other question, when it asks two ("combien
        de paramètres a DeepSeek V3 ? et c'est open source ?"): each part is matched with
        the tools and topic the message names, and an entry close to it that the first
        does not already say answers it."""
        parts = [p for p in _SECOND_ASK.split(request.fact_question) if p and p.strip()]
        if len(parts) < 2 or request.follow_up is not None:
            return None
        cards = [t for t in map(self.catalogue.get, request.tools_named) if t is not None]
        said = set(analyze(first.entry.answer))
        # "c quoi un token et combien ça coûte ?": the second part is about the first's term
        term = " ".join(defined_term(parts[0]))
        for part in parts:
            words = set(fold_words(part).split())
            unsaid = [c for c in cards if not set(fold_words(c.short_name).split()) & words]
            about = self._restated(request, f"{part.strip()} {term}".strip(), unsaid)
            if len(set(analyze(about.text))) < 2:  # "c'est fiable ?" is about Manus
                continue
            found = self.match(about, related)
            if found is None or found.entry == first.entry or found.score < SECOND_ENTRY_MIN:
                continue
            own = set(analyze(found.entry.answer))
            if len(own & said) < SECOND_ECHO_SHARE * len(own):
                return found
        return None

    def _lift_all_topics(
        self, request: Request, scored: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """A question on two topics ("y a des aides pour former mes salariés ?": aid and
        training) is best answered by an entry that speaks of both, not of the one its
        words share most with."""
        asked = _asked_topics(request)
        if len(asked) < 2:
            return scored
        tests = [self._topic_words[t] for t in asked[:2]]
        lifted = scored.copy()
        for i in np.flatnonzero(np.isfinite(scored)):
            entry, wording = self.faq.pair(int(i))
            text = fold_words(f"{wording} {entry.answer}")
            if all(words.found(text) for words in tests):
                lifted[i] += ALL_TOPICS_BONUS
        return lifted

    def _lift_topic_fiches(
        self, request: Request, scored: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """A fact question is best answered from its topic's own fiches: "une AIPD pour mon
        chatbot ?" asks the data-protection guide, not the AI Act's chatbot entry that the
        word "chatbot" brought up. Only a topic the message names counts, not one guessed
        from "c'est légal ?"."""
        said = [t for t in _asked_topics(request) if self._topic_words[t].found(request.folded)]
        fiches = frozenset(f for t in said for f in self._topic_fiche_ids.get(t, ()))
        if not fiches or request.intent not in ("information", "mixed"):
            return scored
        own = [self.faq.pair(i)[0].fiche_id in fiches for i in range(len(scored))]
        return np.asarray(scored + TOPIC_FICHE_BONUS * np.array(own), dtype=np.float64)

    def _follow_up_match(self, request: Request, related: Collection[str]) -> Match | None:
        """A question after an answer ("et les données, elles vont où ?", "faut être doué en
        informatique ?"): an entry that asks nearly the same, about the tool just proposed
        when the owner names none."""
        if request.follow_up != "fact":
            return None
        # "c'est à partir de quand ?" after a question on the AI Act and a proposal: the law's
        before = (
            ()
            if request.topic_carried
            else (request.previous_subject or request.previous_tools)[:1]
        )
        named = request.tools_named
        # "et ChatGPT Team ?" is about ChatGPT; "c mieux que ChatGPT ?" after Le Chat, both;
        # "c'est sécurisé ?" after Make, Make; else a general entry asking the same
        both = tuple(dict.fromkeys([*named, *before]))
        subjects = dict.fromkeys([*([named] if named else []), both, ()])
        for tools in subjects:
            cards = [t for t in map(self.catalogue.get, tools) if t is not None]
            about = self._restated(
                replace(request, tools_named=tools), request.fact_question, cards
            )
            found = self.faq.best(about.text, related=related, allowed=self._rules(about))
            if found is not None and found.score >= FOLLOW_UP_ENTRY_MIN:
                return found
        return None

    def _restated(self, request: Request, text: str, cards: Sequence[CatalogueTool]) -> Request:
        """The request asking `text`, completed with what the conversation leaves unsaid:
        the tools' names and the topic's ("et pour les amendes ?" after the AI Act)."""
        asked = " ".join([text, *(c.short_name for c in cards)])
        asked = " ".join([asked, self._unsaid(replace(request, folded=fold_words(text)))])
        return replace(request, text=asked, fact_text="", folded=fold_words(asked))

    def _unsaid(self, request: Request) -> str:
        """The name of the conversation's topic when the follow-up does not say it: "et pour
        les amendes ?" after an answer on the AI Act asks about the AI Act's fines."""
        if request.topics[:1] == ("tool-price",):  # "et pour 3 personnes ?": their price
            return "" if self.faq.asks_price(request.folded) else PRICE_NAME
        name = self._topic_names.get(request.topics[0]) if request.topics else None
        return name[0] if name is not None and not name[1].found(request.folded) else ""

    def unknown_product(self, request: Request) -> str:
        """The name of a product the owner asks the price of that the catalogue lacks."""
        if request.topics != ("tool-price",) or request.tools_named or request.stated_need:
            return ""
        if request.follow_up is not None:  # "et pour 3 personnes ?" names no product
            return ""
        # "c'est combien ?": every folded part of a word is a price word ("c", "est")
        rest = [w for w in request.text.split() if not set(fold_words(w).split()) <= _PRICE_WORDS]
        name = " ".join(w.strip("?!.,;:'’") for w in rest).strip()
        short = 0 < len(name.split()) <= MAX_NAME_WORDS
        return name if short and not _NOT_PRODUCT.search(fold_words(name)) else ""

    def _rules(
        self, request: Request, *, topics: bool = True, searched: Collection[str] | None = ()
    ) -> Callable[[Entry, str], bool]:
        """Which (entry, wording) pairs may answer; `topics`: a tool card's entry must also
        speak of the question's topic; `searched`: the fiches the search found (None: an
        entry of another topic's fiche may answer too, for a wording that asks the very
        question)."""
        named = set(request.tools_named)
        defined = defined_term(request.fact_question)
        price_and_more = "tool-price" in request.topics and len(request.topics) >= 2
        # a mixed message's fact is about its topic, not its task ("automatiser mes relances,
        # y a une aide ?" asks about aid, not how the relances work)
        mixed_topic = request.intent == "mixed" and bool(_asked_topics(request))
        topic = (
            main_topic_test(request, self._topic_words) if price_and_more or mixed_topic else None
        )

        checks_claim = self._checks_claim(request.folded)
        elsewhere = (
            self._other_topics_entry(request, searched)
            if searched is not None
            else (lambda entry: False)
        )

        def fits(entry: Entry, wording: str) -> bool:
            if not checks_claim and self._names_claim(fold_words(wording)):
                return False  # "c'est vrai que… ?" answers only an owner who doubts a claim
            asks, says = self._tools_in(wording), self._tools_in(entry.answer)
            if named and not named & (asks | says) and not names_in(wording):
                return False  # "Claude Team, combien ?" needs an entry about Claude (or GPT-4o)
            if asks and not asks & named:
                return False  # "Manus, c'est combien ?" does not answer "Notion AI ?"
            if len(named) >= 2 and asks and not named <= asks | says:
                return False  # "Midjourney et Canva ?" is not answered by Midjourney alone
            if defined and not defined & defined_term(wording):
                return False  # "c'est quoi un token ?" wants the entry that defines it
            if elsewhere(entry):
                return False  # the AI Act's dates for recruiting are not e-invoicing's
            # "légal ? et combien ?": the card gave the price, the entry answers the rest
            if topic is not None and not topic(entry.answer):
                return False
            on_card = entry.fiche_id.startswith("tool-")
            return not (topics and on_card) or self._answers_topic(request, entry)

        return fits

    def _other_topics_entry(
        self, request: Request, searched: Collection[str]
    ) -> Callable[[Entry], bool]:
        """Whether an entry belongs to the fiches of other topics than those asked, does not
        speak of the asked one and was not found by the search: a question on the AI Act is
        not answered by the e-invoicing guide because both say "obligatoire à partir de
        quand"."""
        asked = set(_asked_topics(request))
        test = main_topic_test(request, self._topic_words) if asked else None
        if test is None or request.intent not in ("information", "mixed"):
            return lambda entry: False

        def elsewhere(entry: Entry) -> bool:
            owners = self._fiche_topics.get(entry.fiche_id, frozenset())
            unrelated = bool(owners) and not owners & asked and entry.fiche_id not in searched
            return unrelated and not test(entry.answer)

        return elsewhere

    def _general_rules(self, request: Request) -> Callable[[Entry, str], bool]:
        """An entry of the question's topic that names no tool at all, for a question whose
        tool is only an example of the topic."""
        fiches = self._topic_fiches(request)
        fits = self._rules(replace(request, tools_named=()))

        def general(entry: Entry, wording: str) -> bool:
            no_tool = not self._tools_in(wording) and not self._tools_in(entry.answer)
            return entry.fiche_id in fiches and no_tool and fits(entry, wording)

        return general

    def _topic_fiches(self, request: Request) -> frozenset[str]:
        """The fiches of the request's topics (a price has none: the card says it)."""
        return frozenset(f for t in request.topics for f in self._topic_fiche_ids.get(t, ()))

    def _checks_claim(self, folded: str) -> bool:
        """The owner doubts something heard ("c vrai que… ?", "ça marche vraiment ?")."""
        return bool(_DOUBT.search(folded)) or self._names_claim(folded)

    def _names_claim(self, folded: str) -> bool:
        """The text asks whether a claim is true in so many words ("c'est vrai que… ?")."""
        words = self._topic_words.get(VERIFICATION_TOPIC)
        return words is not None and bool(words.found(folded))

    def _answers_topic(self, request: Request, entry: Entry) -> bool:
        """The entry speaks of what the question is about (a price, where data goes)."""
        if not request.topics:
            return True
        text = fold_words(entry.answer)
        return any(
            bool(_PRICE.search(entry.answer))
            if t == "tool-price"
            else bool(self._topic_words[t].found(text))
            for t in request.topics[:2]
        )

    def _tools_in(self, text: str) -> frozenset[str]:
        """The catalogue tools a text names (entries' texts are few: kept once read)."""
        found = self._named.get(text)
        if found is None:
            found = frozenset(t.id for t in self.catalogue.named_in(fold_words(text)))
            self._named[text] = found
        return found
