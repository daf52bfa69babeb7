"""The offline composer: advice from the retrieved fiches alone, with no LLM.

The request (bot/understanding.py) says what kind of message it is; this module assembles
the answer for that kind: a decline, the fact first with its source (information), tools
fitted to the need with a two-week pilot (need, follow-up), or both (mixed). Used when no
LLM is configured and whenever the LLM fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from bot import answer_text as write
from bot import messages as msg
from bot.advice import Advice, AnswerTrace, Mode, Pilot, Profile, SourceRef, ToolPick
from bot.catalogue import Catalogue, CatalogueTool, PilotTemplates, format_eur
from bot.entry_choice import SAME_QUESTION_SCORE, EntryChoice, main_topic_test
from bot.faq import Faq, Match
from bot.grounding import normalise_pilot
from bot.keywords import KeywordSet, fold_words
from bot.request import Request
from bot.sentences import Embed, Passage, Sentence, best_sentences, sections
from bot.tool_choice import choose_tools
from retrieval.models import Fiche, Hit
from retrieval.text import analyze
from retrieval.vocabulary import DomainVocabulary

Lookup = Callable[[str], Fiche | None]
MAX_FACT_FICHES = 3
MAX_SOURCES = 4
FACT_SENTENCES = 3
MODELS_PER_PROVIDER = 2
CHEAPEST_MODELS = 4  # rows of "le LLM le moins cher ?" when no provider is named
# "où sont stockées les données ?": the place, not the rules
_ASKS_WHERE = re.compile(
    r"\b(ou sont|ou vont|ou va|heberg\w*|stock\w*|serveurs?|en europe|en france)\b"
)
COMPARED = 2  # tools named together in a price question are compared
_TOKENS = re.compile(r"\b(?:tokens?|jetons?|par million|api)\b")
LEAD_FICHES = 3  # the search's first fiches, where a case of the owner's trade counts
NEED_ENTRY_MIN = 1.05  # an entry added to a need's answer must ask what the owner asks
ANY_GUIDE_ENTRY_MIN = 1.5  # ...any guide's entry, when it asks nearly the same question
API_KIND = "llm-api"  # a model called by API: priced per million tokens
VALUE_TOPICS = frozenset({"roi", "getting-started"})  # "ça vaut le coup ?", "c'est utile ?"
_HAS_PRICE = re.compile(r"\d\s?(?:€|\$)|\bgratuit", re.IGNORECASE)


@dataclass
class _Citations:
    """Fiches cited in the answer text, numbered in order of first citation."""

    refs: list[SourceRef] = field(default_factory=list)

    def number(self, fiche: Fiche) -> int:
        for n, ref in enumerate(self.refs, start=1):
            if ref.id == fiche.id:
                return n
        self.refs.append(SourceRef(id=fiche.id, title=fiche.title))
        return len(self.refs)

    def numbers(self) -> dict[str, int]:
        return {ref.id: n for n, ref in enumerate(self.refs, start=1)}


class Composer:
    """Builds offline Advice from a Request and the search hits."""

    def __init__(
        self,
        *,
        catalogue: Catalogue,
        templates: PilotTemplates,
        vocabulary: DomainVocabulary,
        lookup: Lookup,
        cases: Sequence[Fiche],
        guides: Sequence[Fiche] = (),
        embed: Embed | None = None,
        faq: Faq | None = None,
    ) -> None:
        self.catalogue = catalogue
        self._topic_words = {k: KeywordSet.of(v.keywords) for k, v in vocabulary.topics.items()}
        self.entries = EntryChoice(
            faq or Faq([]),
            catalogue,
            self._topic_words,
            {k: v.fiches for k, v in vocabulary.topics.items()},
            {k: v.names for k, v in vocabulary.topics.items()},
        )
        self.templates = templates
        self.vocabulary = vocabulary
        self.lookup = lookup
        self.cases = list(cases)
        # the guides written for each need, and the topics each fiche is written on
        self._guides_of = _by_key((n, g.id) for g in guides for n in g.meta.get("use_cases") or ())
        self._topics_of = _by_key((f, t) for t, v in vocabulary.topics.items() for f in v.fiches)
        self.embed = embed
        self._topic_names = {k: KeywordSet.of(v.names) for k, v in vocabulary.topics.items()}
        self._need_words = KeywordSet.of(k for v in vocabulary.needs.values() for k in v.keywords)

    def compose(
        self,
        request: Request,
        hits: Sequence[Hit],
        *,
        profile: Profile | None = None,
        mode: Mode = "offline",
    ) -> Advice:
        """The offline answer to one request."""
        if request.declines:
            text = (
                msg.SMALLTALK[request.smalltalk]
                if request.smalltalk
                else msg.DECLINE_DISHONEST
                if request.dishonest
                else msg.DECLINE_SUBVERSION
                if request.intent == "subversion"
                else msg.DECLINE_OFF_TOPIC
            )
            return _words_only(text, request, mode)
        retrieved = list(dict.fromkeys(h.fiche_id for h in hits if h.type == "tool"))
        tools = choose_tools(
            request, retrieved=retrieved, catalogue=self.catalogue, vocabulary=self.vocabulary
        )
        cites = _Citations()
        parts = []
        asked_about = request.previous_subject or not request.stated_need
        if request.follow_up == "sources":  # "source ?": the numbered list under each answer
            return _words_only(msg.SOURCES_OF_ANSWER, request, mode)
        if request.follow_up == "cost" and not tools and not request.previous_tools:
            # "et c'est combien ?" after an answer that proposed no tool
            return _words_only(msg.COST_NO_TOOL, request, mode)
        if request.follow_up == "cost" and tools and asked_about:
            # "et le prix ?" after "c'est quoi Claude ?": that tool's price, nothing else
            return Advice(
                answer=" ".join(
                    self._cited(write.tool_price_sentence(t), t.id, cites) for t in tools
                ),
                intent=request.intent,
                tools=[tool.to_pick(self._why(tool, None)) for tool in tools],
                pilot=None,
                sources=self._sources(cites, hits, request, tools),
                mode=mode,
            )
        # "je veux gagner du temps": no guess at a task the owner did not say, but "on peut
        # faire tourner une IA sur mon PC ?" was a question after all
        vague_fact = self._vague_fact(request, hits, cites) if request.vague else ""
        if vague_fact:
            request = replace(request, intent="information")
            parts.append(vague_fact)
        elif not request.vague and (request.asks_fact or not request.needs):
            fact = self._fact(request, hits, tools, cites)
            # a mixed message's question is never dropped in silence
            parts.append(fact or (msg.MIXED_FACT_NOT_FOUND if request.intent == "mixed" else ""))
        if request.wants_pilot:
            if request.other_products and not request.asks_fact:  # "Qonto fait ça ?" as a need
                parts.append(msg.NO_CARD_SHORT.format(name=request.other_products[0]))
            parts.append(self._need(request, tools, hits, cites))
        picks = [tool.to_pick(self._why(tool, request.need)) for tool in tools]
        wants_pilot = request.wants_pilot and not request.vague  # no task to plan for
        pilot = self._pilot(request, picks, profile) if wants_pilot else None
        if request.follow_up == "start" and pilot is not None and tools:
            parts = [write.start_sentence(tools[0], pilot.steps)]  # the plan's first days
        return Advice(
            answer="\n\n".join(p for p in parts if p) or msg.FACT_NOT_FOUND,
            intent=request.intent,
            tools=picks,
            pilot=pilot,
            sources=self._sources(cites, hits, request, tools),
            mode=mode,
            trace=AnswerTrace(neighbour_need=_neighbour_need(request)),
        )

    # -- the fact ---------------------------------------------------------------------

    def _fact(
        self,
        request: Request,
        hits: Sequence[Hit],
        tools: Sequence[CatalogueTool],
        cites: _Citations,
    ) -> str:
        # "le LLM le moins cher ?": models are compared by their token prices
        cheapest_model = API_KIND in request.categories and request.wants_cheap
        per_token = "price-comparison" in request.topics[:2] or cheapest_model
        named = [t for t in map(self.catalogue.get, request.tools_named) if t is not None]
        plans = (
            named and not any(t.model_prices for t in named) and not _TOKENS.search(request.folded)
        )  # "Claude ou ChatGPT, la différence de prix par mois ?": two subscriptions
        asks_price = per_token or "tool-price" in request.topics
        rows = self._model_rows(request, cheapest=per_token) if asks_price else []
        # "Mistral moins cher qu'OpenAI ?": two providers, not two subscriptions, compared
        providers = len({tool.id for tool, *_ in rows}) >= COMPARED and len(named) < COMPARED
        if rows and (providers or (per_token and not plans and (_compares(request) or named))):
            return write.model_price_table(rows)  # "deepseek par million"
        match = self._task_entry(request) or self.entries.match(
            request, self._related(request, hits)
        )
        # an entry asking the very question, a price only if it asks one ("lequel est le
        # moins cher ?" is not "lequel est le meilleur ?")
        asked_as_is = (
            match is not None
            and match.score >= SAME_QUESTION_SCORE
            and ("tool-price" not in request.topics or Faq.asks_price(match.wording))
        )
        side_by_side = (plans and per_token) or "tool-price" in request.topics
        if len(named) >= COMPARED and side_by_side and not asked_as_is:
            # "ChatGPT Plus ou Le Chat Pro ?": each card's price, side by side, then which
            compared = named[:MAX_FACT_FICHES]
            each = [self._cited(write.tool_price_sentence(t), t.id, cites) for t in compared]
            return " ".join([*each, write.price_verdict(compared)]).strip()
        if request.other_products and not request.tools_named:  # "Doctolib fait de l'IA ?"
            return write.no_card_sentence(request.other_products[0], tools)
        unknown = "" if asked_as_is else self.entries.unknown_product(request)
        if unknown:  # "Notion AI, combien ?": no card, so no price rather than another's
            return msg.UNKNOWN_TOOL_PRICE.format(name=unknown)
        own_card = match is not None and match.entry.fiche_id in request.tools_named
        if match is not None and own_card and "data-protection" not in request.topics:
            # the named tool's own card answers in full (where data goes: its fields first);
            # "combien, et c'est libre de droits ?": its price first, when the entry has none
            answer = match.answer(request.fact_question)
            card = self.catalogue.get(match.entry.fiche_id)
            price_too = "tool-price" in request.topics and not _HAS_PRICE.search(answer)
            price = (
                [self._cited(write.tool_price_sentence(card), card.id, cites)]
                if (card is not None and price_too)
                else []
            )
            return " ".join([*price, self._cited(answer, match.entry.fiche_id, cites)])
        mixed = request.intent == "mixed" and not request.tools_named
        # an entry asking the very question about the tools named comes before the cards'
        # hosting lines ("combien de temps ChatGPT garde mes conversations ?")
        lead = (
            [self._cited(match.answer(request.fact_question), match.entry.fiche_id, cites)]
            if match is not None and asked_as_is and not mixed and self._names_all(request, match)
            else []
        )
        lines = self._catalogue_lines(request, tools, cites)
        if lines and mixed:
            return " ".join(lines)  # where the proposed tools keep the data: the cards say it
        if match is not None:  # a fiche's own entry asks the same thing: its answer
            if _weighs_one_tool(request, named) and "tool-price" not in request.topics:
                # "Pennylane, ça vaut le coup ?": its price, then how to judge the value
                lines.append(self._cited(write.tool_price_sentence(named[0]), named[0].id, cites))
            if lead:
                lines = [*lead, *(line for line in lines if not _repeats(line, lead))]
            else:
                answer = match.answer(request.fact_question)
                if not _repeats(answer, lines):  # the card's hosting line may already say it
                    lines.append(self._cited(answer, match.entry.fiche_id, cites))
            other = self.entries.second(request, match, self._related(request, hits))
            if other is not None:  # "… ? et c'est open source ?": the other question too
                lines.append(self._cited(other.answer(other.wording), other.entry.fiche_id, cites))
            return " ".join(lines)
        passages = self._passages(request, hits)
        topic = self._topic_test(request)
        if len(request.tools_named) >= 2 and "tool-price" not in request.topics:
            chosen = self._one_per_tool(request, passages)  # "Make ou Zapier ?": each its own
        else:
            chosen = best_sentences(
                request.fact_question,
                passages,
                embed=self.embed,
                limit=FACT_SENTENCES - len(lines),  # the catalogue's lines count too
                topic=topic,
                topical=frozenset(self._topical(request, hits)),
                background=self._topic_named(request),
            )
        for sentence in chosen:
            fiche = self.lookup(sentence.fiche_id)
            if fiche is not None:
                cites.number(fiche)
        if chosen:
            lines.append(write.cited(chosen, cites.numbers()))
        return " ".join(lines)

    def _names_all(self, request: Request, match: Match) -> bool:
        """The entry's wording names every tool the owner named."""
        named = {tool.id for tool in self.catalogue.named_in(fold_words(match.wording))}
        return set(request.tools_named) <= named

    def _vague_fact(self, request: Request, hits: Sequence[Hit], cites: _Citations) -> str:
        """For a message that names no task, only an entry that names none either ("on peut
        faire tourner une IA sur mon PC ?"), not one about devis that reads alike."""
        match = self.entries.match(request, self._related(request, hits))
        if match is None or self._need_words.found(fold_words(match.wording)):
            return ""
        return self._cited(match.answer(request.fact_question), match.entry.fiche_id, cites)

    def _related(self, request: Request, hits: Sequence[Hit]) -> set[str]:
        """The fiches the search found and those of the request's topics and tools."""
        return {*(h.fiche_id for h in hits), *self._topical(request, hits), *request.tools_named}

    def _catalogue_lines(
        self, request: Request, tools: Sequence[CatalogueTool], cites: _Citations
    ) -> list[str]:
        """Facts written from the cards' fields: the price of the tools asked about, where
        they (or, for "quel outil, et où vont les données ?", the proposed ones) keep data."""
        lines = []
        if request.intent == "information" and "tool-price" in request.topics:
            lines += [self._cited(write.tool_price_sentence(t), t.id, cites) for t in tools]
        if "data-protection" not in request.topics[:2] or request.asks_permission:
            return lines
        subjects = [t for t in map(self.catalogue.get, request.tools_named) if t is not None]
        if not subjects and request.intent == "mixed" and _ASKS_WHERE.search(request.folded):
            subjects = list(tools)
        for card in subjects[:MAX_FACT_FICHES]:
            hosting = write.tool_hosting_sentence(card)
            if hosting:  # "c'est hébergé où, Calendly ?": the card's own answer
                lines.append(self._cited(hosting, card.id, cites))
        return lines

    def _cited(self, sentence: str, fiche_id: str, cites: _Citations) -> str:
        """A sentence of our own built from a fiche's fields, with that fiche's marker."""
        fiche = self.lookup(fiche_id)
        suffix = f" [{cites.number(fiche)}]" if fiche else ""
        return sentence.rstrip(".") + suffix + "."

    def _one_per_tool(self, request: Request, passages: Sequence[Passage]) -> list[Sentence]:
        """The best sentence of each named tool's card, in the order the owner named them."""
        chosen = []
        for tool_id in request.tools_named[:MAX_FACT_FICHES]:
            own = [p for p in passages if p.fiche_id == tool_id]
            # each named tool says what it is, even in words the question does not use
            chosen += best_sentences(
                request.fact_question, own, embed=self.embed, limit=1, strict=False
            )
        return chosen

    def _topic_test(self, request: Request) -> Callable[[str], bool] | None:
        """Whether a sentence speaks of the question's main topic (its keywords)."""
        return main_topic_test(request, self._topic_words)

    def _topic_named(self, request: Request) -> frozenset[str]:
        """Stems of the topic's name as the question says it ("AI Act", "RGPD"): every
        sentence of the topic holds them, they do not tell what is asked about it."""
        main = next((t for t in request.topics if t != "tool-price"), None)
        if main is None:
            return frozenset()
        named = self._topic_names[main].found(request.folded)
        return frozenset(analyze(" ".join(named)))

    def _topical(self, request: Request, hits: Sequence[Hit]) -> list[str]:
        """The fiches of the request's topics, those the search found first and in its order
        ("mistral" among the model fact sheets is fact-mistral, not the first listed)."""
        fiches = [f for t in request.topics[:2] for f in self.vocabulary.topics[t].fiches]
        found = [h.fiche_id for h in hits if h.fiche_id in fiches]
        return list(dict.fromkeys([*found, *fiches]))

    def _passages(self, request: Request, hits: Sequence[Hit]) -> list[Passage]:
        """Passages of the fiches that hold the fact: the tools named (only them, for a
        question about a tool), else the topic's fiches the search found, then the best
        reference hits."""
        topical = self._topical(request, hits)
        leading = list(dict.fromkeys(h.fiche_id for h in hits))[:LEAD_FICHES]
        lead_cases = [f for f in leading if f.startswith("case-")]
        trade_cases = [c for c in lead_cases if self._of_trade(c, request.sector)]
        if request.tools_named and request.topics == ("tool-price",):
            order = list(request.tools_named)
        else:
            # "c'est hébergé où, Calendly ?" is about the tool; "c'est autorisé avec ChatGPT ?"
            # about the rule
            subject = [] if request.asks_permission else list(request.tools_named)
            order = [
                *subject,
                *topical[:1],
                *trade_cases,  # the owner's own trade's case says what applies to them
                *topical[1:],
                *request.tools_named,
                *lead_cases,
                *(h.fiche_id for h in hits if self._is_reference(h.fiche_id)),
            ]
        passages = []
        for rank, fiche_id in enumerate(list(dict.fromkeys(order))[:MAX_FACT_FICHES]):
            chunks = [f"## {h.heading}\n{h.text}" for h in hits if h.fiche_id == fiche_id]
            fiche = self.lookup(fiche_id)
            whole = fiche_id in (*request.tools_named, *topical, *trade_cases)
            if fiche is not None and (not chunks or whole):
                chunks = [fiche.body]  # the subject's whole fiche (price, hosting, dates...)
            if fiche_id in request.tools_named and fiche_id not in topical:
                chunks = self._on_topic_sections(request, chunks)
            elif request.tools_named:
                chunks = self._without_other_tools(request, chunks)
            passages += [Passage(fiche_id, rank, text) for text in chunks]
        return passages

    def _without_other_tools(self, request: Request, chunks: list[str]) -> list[str]:
        """A question about ChatGPT is not answered by a guide's section "Le cas DeepSeek"."""
        kept = []
        for chunk in chunks:
            for heading, body in sections(chunk):
                named = {tool.id for tool in self.catalogue.named_in(fold_words(heading))}
                if not named or named & set(request.tools_named):
                    kept.append(f"## {heading}\n{body}" if heading else body)
        return kept or chunks

    def _of_trade(self, fiche_id: str, sector: str | None) -> bool:
        fiche = self.lookup(fiche_id)
        return fiche is not None and sector is not None and sector in fiche.sectors

    def _on_topic_sections(self, request: Request, chunks: list[str]) -> list[str]:
        """A tool named in a question on a topic ("ChatGPT, c'est autorisé pour mes
        patients ?") is context: only its sections on that topic (data, law) answer."""
        main = next((t for t in request.topics if t != "tool-price"), None)
        if main is None:
            return chunks
        words = self._topic_words[main]
        kept = [
            f"## {heading}\n{body}"
            for chunk in chunks
            for heading, body in sections(chunk)
            if words.found(fold_words(f"{heading} {body}"))
        ]
        return kept or chunks

    def _on_topic(self, fiche_id: str, request: Request) -> bool:
        """A hit worth listing as a source: of the request's need, or a reference fiche."""
        fiche = self.lookup(fiche_id)
        if fiche is None:
            return False
        if request.need in (fiche.meta.get("use_cases") or ()):
            return True
        return not request.wants_pilot and self._is_reference(fiche_id)

    def _is_reference(self, fiche_id: str) -> bool:
        """A fact sheet, a tool card or a guide that is not a pilot plan."""
        fiche = self.lookup(fiche_id)
        if fiche is None:
            return False
        return fiche.type in ("fact", "tool") or (
            fiche.type == "guide" and fiche.meta.get("category") != "pilote"
        )

    def _model_rows(
        self, request: Request, *, cheapest: bool
    ) -> list[tuple[CatalogueTool, str, float, float]]:
        """Token prices of the providers the question names (two models each at most); with
        `cheapest`, the cheapest models when it names none ("le LLM le moins cher ?")."""
        words = set(request.folded.split())
        rows: list[tuple[CatalogueTool, str, float, float]] = []
        for tool in self.catalogue:
            own = [p for p in tool.model_prices if "/" not in p.model]  # resellers' copies out
            vendor = set(fold_words(f"{tool.short_name} {tool.vendor}").split()) - _NOT_VENDOR
            family = {next(iter(_model_words(p.model)), "") for p in own} - {""}
            if not own or not words & (vendor | family):
                continue
            named = [p for p in own if words & set(_model_words(p.model)) - vendor]
            for price in (named or own)[:MODELS_PER_PROVIDER]:
                rows.append((tool, price.model, price.input_eur, price.output_eur))
        if not rows and cheapest and request.wants_cheap:
            rows = self._cheapest_models()
        return rows

    def _cheapest_models(self) -> list[tuple[CatalogueTool, str, float, float]]:
        """Each provider's cheapest model, the cheapest providers first."""
        rows = []
        for tool in self.catalogue:
            own = [p for p in tool.model_prices if "/" not in p.model]
            if own:
                price = min(own, key=lambda p: p.input_eur + p.output_eur)
                rows.append((tool, price.model, price.input_eur, price.output_eur))
        return sorted(rows, key=lambda row: row[2] + row[3])[:CHEAPEST_MODELS]

    # -- the need ---------------------------------------------------------------------

    def _need(
        self,
        request: Request,
        tools: Sequence[CatalogueTool],
        hits: Sequence[Hit],
        cites: _Citations,
    ) -> str:
        need = self.vocabulary.needs.get(request.need or "")
        if need is None:
            return msg.NO_NEED_FOUND
        if request.follow_up == "cost":
            parts = [write.cost_sentence(tools)] if tools else []
        elif request.follow_up == "cheaper":
            proposed = (self.catalogue.get(t) for t in request.previous_tools)
            previous = [t for t in proposed if t and request.need in t.use_cases]
            before = sum(t.price[1] for t in previous if t.price) if previous else None
            same = tools and [t.id for t in tools] == [t.id for t in previous]
            priced = all(t.price is not None for t in tools)  # "prix non publié" fits none
            if same and priced and request.budget is not None and before is not None:
                parts = [write.fits_budget_sentence(tools, request.budget)]
            elif same:
                parts = [write.nothing_cheaper_sentence(tools, free_asked=request.budget == 0)]
            else:
                parts = [write.cheaper_sentence(tools, before)] if tools else []
        elif request.follow_up == "another":
            parts = [write.another_sentence(tools)]
        elif request.follow_up == "simpler" and tools:
            parts = [write.simpler_sentence(tools[0], need.label)]
        elif tools:
            second, for_second = self._second_need(request, tools)
            main = [t for t in tools if t not in for_second]
            parts = [write.need_sentence(need.label, main)]
            if second is not None:
                parts.append(write.second_need_sentence(second, for_second))
            else:
                parts += self._shared_second_need(request, main) or self._unserved_second_need(
                    request
                )
        elif request.budget is None:
            served = any(request.need in tool.use_cases for tool in self.catalogue)
            text = msg.NO_TOOL_FOR_TRADE if served else msg.NO_TOOL_FOR_NEED
            parts = [text.format(label=need.label)]
        else:
            budget = format_eur(request.budget)
            parts = [msg.NO_TOOL_FITS.format(label=need.label, budget=budget)]
        if request.follow_up is not None or request.intent != "need":
            return " ".join(parts)
        concern = self._need_entry(request, served=bool(tools))
        if concern is not None:  # "…sans faire de boulette ?": the guide's own answer first
            answer = concern.answer(request.text)
            # a task no catalogue tool serves: its guide's entry already said so, only the
            # plan remains; a tool for other trades only: say so too
            unserved = not tools and not any(request.need in t.use_cases for t in self.catalogue)
            parts = [self._cited(answer, concern.entry.fiche_id, cites)] + (
                [msg.PLAN_STILL_HOLDS] if unserved else parts
            )
        case = self._case(request, hits)
        leading = list(dict.fromkeys(h.fiche_id for h in hits))[:LEAD_FICHES]
        # another trade's case only when the search put it first: it matches the task itself
        if case is not None and (self._case_of_trade(case, request) or case.id in leading):
            kind = str(case.meta.get("source_kind") or "")
            parts.append(write.case_sentence(case.title, kind, cites.number(case)))
            # how the owner's own trade did it; another trade's detail reads as off-topic
            if concern is None and self._case_of_trade(case, request):
                solution = [Passage(case.id, 0, _solution(case))]
                how = best_sentences(
                    request.text, solution, embed=self.embed, limit=1, strict=False
                )
                parts += [s.text for s in how]
        return " ".join(parts)

    def _need_entry(self, request: Request, *, served: bool) -> Match | None:
        """The answer of an entry of the need's own guides that asks what the message asks
        ("un concurrent me met des faux avis, l'IA peut aider ?"), held to a higher bar than
        an information question's: the tools already answer a need."""
        guides = self._need_guides(request.need)
        match = self.entries.match(request, guides)
        if match is None or match.entry.fiche_id.startswith("tool-"):
            return None  # a tool card's entry is about that tool, not about the task
        topics = self._topics_of.get(match.entry.fiche_id, frozenset())
        if served and topics and not topics & set(request.topics):
            return None  # the e-invoicing guide answers a relance question only if asked
        if match.score >= ANY_GUIDE_ENTRY_MIN or (not served and match.score >= NEED_ENTRY_MIN):
            # the owner asks nearly that very question ("trier 200 mails ?"), or no tool
            # serves the task and a guide says what to do instead ("la jurisprudence ?")
            return match
        return match if match.entry.fiche_id in guides and match.score >= NEED_ENTRY_MIN else None

    def _task_entry(self, request: Request) -> Match | None:
        """For a question about a task with no topic of its own ("l'IA pour recruter, c'est
        risqué ?"), an entry of that task's guides, before any general one."""
        if request.intent != "information" or not request.stated_need or request.topics:
            return None
        guides = self._need_guides(request.need)
        match = self.entries.match(request, guides, only=guides) if guides else None
        return match if match is not None and match.score >= NEED_ENTRY_MIN else None

    def _need_guides(self, need: str | None) -> frozenset[str]:
        """The guides written for this need (its pilot guide among them)."""
        return self._guides_of.get(need or "", frozenset())

    def _second_need(
        self, request: Request, tools: Sequence[CatalogueTool]
    ) -> tuple[str | None, list[CatalogueTool]]:
        """The label of another need the message states and the tool added for it (the tool
        choice puts it last, see bot/tool_choice.py)."""
        others = [n for n in request.strong_needs if n != request.need]
        last = tools[-1]
        if len(tools) < 2 or not others or others[0] not in last.use_cases:
            return None, []
        need = self.vocabulary.needs.get(others[0])
        return (need.label, [last]) if need is not None else (None, [])

    def _shared_second_need(self, request: Request, tools: Sequence[CatalogueTool]) -> list[str]:
        """ "…et faire des devis": the other task a tool already proposed serves too (an
        assistant answers the mails and writes the quotes) is said, not dropped."""
        other = next((n for n in request.strong_needs if n != request.need), None)
        need = self.vocabulary.needs.get(other or "")
        serving = [t for t in tools if other in t.use_cases]
        if need is None or not serving:
            return []
        return [msg.SECOND_NEED_SAME_TOOL.format(tool=serving[0].short_name, label=need.label)]

    def _unserved_second_need(self, request: Request) -> list[str]:
        """ "…et les plannings ?": a second task no catalogue tool serves is said, not dropped."""
        for other in request.needs[1:]:  # only a need the owner named can lack every tool
            need = self.vocabulary.needs.get(other)
            if need is not None and not any(other in t.use_cases for t in self.catalogue):
                return [msg.SECOND_NEED_NO_TOOL.format(label=need.label)]
        return []

    def _case(self, request: Request, hits: Sequence[Hit]) -> Fiche | None:
        """A case written about this need (its first use case; a restaurant's reviews are no
        case for a bakery's posts): of the owner's trade first, even one the search found
        after a physiotherapist's, else the first the search found, else any."""
        found = [self.lookup(h.fiche_id) for h in hits if h.type == "case"]
        about_need = [
            c
            for c in [*found, *self.cases]
            if c is not None and _use_cases(c)[:1] == (request.need,)
        ]
        of_trade = [c for c in about_need if self._case_of_trade(c, request)]
        pool = of_trade or about_need
        return pool[0] if pool else None

    @staticmethod
    def _case_of_trade(case: Fiche, request: Request) -> bool:
        """A case of the owner's trade written about this need (its first use case)."""
        about_need = _use_cases(case)[:1] == (request.need,)
        return about_need and request.sector is not None and request.sector in case.sectors

    def _why(self, tool: CatalogueTool, need_id: str | None) -> str:
        """What the tool does for the need: the need's own words for its kind, else the kind's."""
        need = self.vocabulary.needs.get(need_id or "")
        if need is not None and tool.category in need.why:
            return write.why(tool, need.why[tool.category])
        category = self.vocabulary.categories.get(tool.category)
        return write.why(tool, category.why if category else msg.DEFAULT_TOOL_WHY)

    def _pilot(self, request: Request, picks: Sequence[ToolPick], profile: Profile | None) -> Pilot:
        template = self.templates.for_use_case(request.need)
        steps = (
            ()
            if template and template.steps
            else [(step.day, step.task) for step in self.vocabulary.generic_pilot]
        )
        budget_profile = (profile or Profile()).model_copy(
            update={"monthly_budget_eur": request.budget}
        )
        return normalise_pilot(
            template=template,
            steps=steps,
            tools=picks,
            budget_eur=template.budget_eur if template else None,
            profile=budget_profile,
        )

    def _sources(
        self,
        cites: _Citations,
        hits: Sequence[Hit],
        request: Request,
        tools: Sequence[CatalogueTool],
    ) -> list[SourceRef]:
        """The cited fiches first, then the plan's guide and the top hits."""
        refs = list(cites.refs)
        extra: list[str] = []
        template = self.templates.for_use_case(request.need) if request.wants_pilot else None
        if template is not None:
            extra.append(template.guide_id)
        extra += [tool.id for tool in tools]
        if request.wants_pilot or not refs:
            extra += [h.fiche_id for h in hits[:3] if self._on_topic(h.fiche_id, request)]
        for fiche_id in extra:
            fiche = self.lookup(fiche_id)
            if fiche is not None and all(ref.id != fiche.id for ref in refs):
                refs.append(SourceRef(id=fiche.id, title=fiche.title))
        return refs[: max(MAX_SOURCES, len(cites.refs))]


def _by_key(pairs: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    """(key, value) pairs grouped: each key's values."""
    grouped: dict[str, set[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, set()).add(value)
    return {key: frozenset(values) for key, values in grouped.items()}


def _neighbour_need(request: Request) -> bool:
    """A plan for a need neither the message nor the owner's trade gave (the search's guess,
    or none): the base may lack what was asked, a gap for the curators."""
    return request.wants_pilot and not request.stated_need and request.sector is None


def _use_cases(fiche: Fiche) -> tuple[str, ...]:
    return tuple(fiche.meta.get("use_cases") or ())


def _weighs_one_tool(request: Request, named: Sequence[CatalogueTool]) -> bool:
    """The owner asks whether one named tool is worth it ("Pennylane, ça vaut le coup ?")."""
    return len(named) == 1 and bool(VALUE_TOPICS & set(request.topics[:2]))


def _compares(request: Request) -> bool:
    """A comparison of providers' prices, not "c'est quoi un token ?"."""
    cue = any(
        w in request.folded.split() for w in ("compar", "difference", "versus", "vs", "entre")
    )
    return cue or "moins cher" in request.folded or "compar" in request.folded


def _words_only(text: str, request: Request, mode: Mode) -> Advice:
    """An answer of words alone: no tool, no plan, no source (a decline, "source ?")."""
    return Advice(answer=text, intent=request.intent, tools=[], pilot=None, sources=[], mode=mode)


REPEAT_SHARE = 0.5  # an entry sharing this much of its words with the lines says it again


def _repeats(answer: str, lines: Sequence[str]) -> bool:
    """The answer says again what the lines before it say (where DeepSeek keeps data, from
    the card's fields, then from its entry)."""
    own = set(analyze(answer))
    said = set(analyze(" ".join(lines)))
    return bool(lines) and len(own & said) >= REPEAT_SHARE * len(own)


# words of a provider's name that name no provider ("Mistral AI", "Alibaba Cloud", "API Qwen")
_NOT_VENDOR = frozenset({"api", "ai", "ia", "cloud", "labs", "inc", "technologies", "group"})


def _model_words(model: str) -> list[str]:
    """ "gpt-4o-mini" -> ["gpt", "4o", "mini"] (the family first)."""
    return fold_words(model.rsplit("/", 1)[-1]).split()


def _solution(case: Fiche) -> str:
    """The case's "solution" section, else its whole body."""
    sections = case.body.split("\n## ")
    for section in sections[1:]:
        heading = section.split("\n", 1)[0].lower()
        if heading.startswith(("solution", "ce qui a été fait", "mise en place")):
            return section.split("\n", 1)[-1]
    return case.body
