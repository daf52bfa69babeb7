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
from dataclasses import replace

from bot.advice import Intent, Profile, Turn
from bot.budget import SEATS, as_seats, monthly_budget, seats_price
from bot.catalogue import Catalogue, CatalogueTool
from bot.earlier_answers import EarlierAnswers
from bot.keywords import KeywordSet, fold_words
from bot.message_scores import (
    AND_THE,
    Scores,
    joined_needs,
    need_scores,
    needs_around,
    ranked,
    strong_needs,
)
from bot.request import FollowUp, Request
from retrieval.models import Fiche
from retrieval.text import analyze
from retrieval.vocabulary import DomainVocabulary

# a message with none of our words is off-topic unless its closest passage is this close
# (MiniLM on French: off-topic questions of the dev split score 0.43-0.51, and in-domain
# ones without our words rarely more; the words decide, the embeddings break the tie)
OFF_TOPIC_SIMILARITY = 0.56
SHORT_MESSAGE_WORDS = 6
SMALLTALK_WORDS = 6  # "bonjour", "merci beaucoup !", "tu es qui ?"
NAME_WORD_LETTERS = 5  # shorter words of a tool's name ("api", "le") say nothing of it
VAGUE_WORDS = 2  # "IA ?", "l'IA ???": a word of our domain and nothing else
ABOUT_BOT_WORDS = 10  # "t'es une IA ou un vrai humain derrière ?"
ENGLISH_WORDS = 3  # English function words that make a message English, with no French ones
STRONG_CUE_WORDS = 3  # "lettre de motivation" declines even beside "comptable"
KIND_BONUS = 3
CLAUSE_TERMS = 3  # an asking clause with fewer words leans on the rest of the message
BOT_RULE_TOPIC = "ai-act"  # "un chatbot, c'est légal ?": the duty to say it is an AI
PERMISSION_TOPIC = "data-protection"  # "un notaire peut-il utiliser ChatGPT ?" is about data
RETRIEVED_NEED_FICHES = 1  # the best fiche's use cases stand in for a need the words miss
SPECIFIC_USE_CASES = 2
AUTOMATION_CATEGORY = "automatisation"
START_TOPIC = "getting-started"  # "par où commencer ?" asked first; after a plan, its start
GENERIC_KIND = "assistant"  # "une IA", "un assistant": a kind that names no task
_ASKS_BOT = re.compile(
    r"\b(?:chat ?bot\w*|bot|robot|repond\w* (?:tout seul|automatiquement)|reponses? auto\w*)\b"
)
CHOICE_TOPIC = "choose-provider"  # "quelle IA choisir ?" alone; with a task, a need
API_CATEGORY = "llm-api"  # a model called from code: "Qwen par API" is this card, not the app
_ASKS_COST = (
    "combien",
    "cb",
    "cout",
    "coute",
    "prix",
    "total",
    "en tout",
    "budget",
    "payant",
    "tarif",
)
# a goal in the first person: "je voudrais dicter", "on aimerait envoyer" (not "savoir")
_WANTS_TO = re.compile(
    r"\b(?:je|j|on|nous) (?:voudrais|voudrait|voudrions|aimerais|aimerait|aimerions|"
    r"souhaite|souhaiterais|souhaitons|cherche a|cherchons a) (?!savoir|comprendre|connaitre)"
    r"[a-z]+(?:er|ir|re)\b"
)
# a follow-up that changes the channel or the language, not the task ("et sur Instagram ?",
# "et en anglais aussi ?")
_OTHER_WAY = re.compile(
    r"^(?:et |mais |ok et )?(?:(?:aussi |pareil )?(?:sur|par|via|pour) (?:instagram|insta|"
    r"facebook|fb|whatsapp|wa|messenger|sms|mail|e mail|email|mon site|le site|telephone|tel|"
    r"tiktok|linkedin)"
    r"|(?:si (?:je veux que )?(?:ca|il|elle) (?:reponde|parle|ecrive) )?en (?:anglais|espagnol|"
    r"allemand|italien|neerlandais|chinois|arabe))\b"
)
# "combien de temps ça prend ?" counts something else than euros
_NOT_A_COST = re.compile(
    r"\bcombien de (?:temps|jours?|semaines?|mois|heures?|minutes?|personnes?|clients?|"
    r"salaries?|messages?|fois)\b"
)
_ASKS_TOOLS = (
    "quel outil",
    "quels outils",
    "quel logiciel",
    "quelle appli",
    "quelle solution",
    "quel assistant",
    "quelle ia",
    "quel chatbot",
    "quelle application",
    "quelle plateforme",
    "quoi utiliser",
    "lequel",
    "laquelle",
    "que me conseil",
    "tu me conseil",
    "vous me conseil",
    "recommand",
    "alternative",
)


class Understanding:
    """Compiled vocabulary: turns a message (and the conversation) into a Request."""

    def __init__(self, vocabulary: DomainVocabulary, catalogue: Catalogue) -> None:
        self.vocabulary = vocabulary
        self.catalogue = catalogue
        self._earlier = EarlierAnswers(catalogue)
        self._needs = {k: KeywordSet.of(v.keywords) for k, v in vocabulary.needs.items()}
        self._topics = {k: KeywordSet.of(v.keywords) for k, v in vocabulary.topics.items()}
        self._cues = {k: KeywordSet.of(v) for k, v in vocabulary.intents.items()}
        self._sectors = {k: KeywordSet.of(v.keywords) for k, v in vocabulary.sectors.items()}
        self._trade_words = {
            k: _trade_pattern(v.trade_words) for k, v in vocabulary.sectors.items() if v.trade_words
        }
        self._asks_tools = KeywordSet.of(_ASKS_TOOLS)
        self._categories = {k: KeywordSet.of(v.keywords) for k, v in vocabulary.categories.items()}
        self._costs = KeywordSet.of(_ASKS_COST)
        self._products = {
            name: KeywordSet.of([name], names=True) for name in vocabulary.other_products
        }
        self._spelled = {fold_words(k): fold_words(v) for k, v in vocabulary.abbreviations.items()}

    def read(
        self,
        question: str,
        *,
        profile: Profile | None = None,
        history: Sequence[Turn] = (),
        similarity: float | None = None,
        retrieved: Sequence[Fiche] = (),
    ) -> Request:
        """The Request of one message; `similarity` is the best dense score of its search and
        `retrieved` the fiches it found, best first (they speak when the words are silent)."""
        profile = profile or Profile()
        question = self._earlier.rank_named(question, history)  # "le premier ?" -> "Planity ?"
        folded = " ".join(self._spelled.get(w, w) for w in fold_words(question).split())
        said = self._score(folded)
        # "j'ai le droit de faire des faux avis ?": the rule answers, not a refusal
        rule_asked = bool(said.cues.get("dishonest")) and _asks_if_allowed(question, folded)
        if rule_asked:
            said = replace(said, cues={**said.cues, "dishonest": 0})
        # a search that found nothing close guesses no topic: "tu peux me prêter 200 balles ?"
        # is not about the ROI passage that holds "200 €"
        confident = similarity is None or similarity >= OFF_TOPIC_SIMILARITY
        scores = self._with_retrieved(said, retrieved if confident else ())
        tools = self._named_tools(folded, said)
        others = tuple(name for name, words in self._products.items() if words.found(folded))
        follow_up = self._follow_up(folded, said, tools, bool(history))
        # "et moins cher ?", "je commence comment ?" are about the proposal, whatever was
        # asked in between ("et si j'ai pas d'ordi ?")
        about_proposal = follow_up in _ABOUT_PROPOSAL or (
            follow_up == "start" and bool(self._earlier.previous_tools(history))
        )
        carried = (
            self._carried_topics(folded, said, tools, history)
            if follow_up and not about_proposal
            else ()
        )
        if carried:  # "et en Occitanie ?" after a question on public aid: still public aid
            follow_up = "fact"
        said_sector = self._sector(folded)
        sector = profile.sector or said_sector or self._sector_of(history)
        # the words alone, not the search's guess
        smalltalk = "english" if _in_english(folded) else self._smalltalk(said, tools)
        asks_tool = self._asks_tool_for_task(folded, said)
        intent = (
            "out_of_scope"
            if smalltalk
            else self._intent(
                scores,
                tools + others,
                follow_up,
                similarity,
                sector,
                said_sector,
                asks_tool,
                asks=_is_question(question, folded),
            )
        )
        if intent == "need" and _is_question(question, folded):
            intent = "information" if self._asks_rather_than_tells(scores, asks_tool) else intent
        if intent == "need" and self._weighs_named(folded, tools, said):
            intent = "information"  # "Copilot ou ChatGPT pour Word ?": the two compared
        if rule_asked and intent == "need":
            intent = "information"
        needs, stated = self._needs_of(scores, profile, sector, history, follow_up)
        if follow_up and _OTHER_WAY.search(folded):  # "et sur Instagram ?": the same task
            needs = tuple(dict.fromkeys([*self._previous_needs(history), *needs]))
        previous = self._earlier.previous_tools(history) if follow_up else ()
        if said.kinds.get(API_CATEGORY):  # "et par API ?" after Qwen Chat: the Qwen API card
            previous = tuple(self._api_id(tool_id) for tool_id in previous)
        request = Request(
            text=" ".join(question.split()),
            folded=folded,
            intent=intent,
            needs=needs,
            topics=seats_price(folded, follow_up) or carried or ranked(scores.topics),
            topic_carried=bool(carried),
            fact_text=as_seats(question) if seats_price(folded, follow_up) else "",
            tools_named=tools,
            categories=ranked(scores.kinds),
            strong_needs=self._strong_needs(scores),
            sector=sector,
            budget=monthly_budget(question, profile, history),
            asks_tools=bool(self._asks_tools.found(folded)),
            follow_up=follow_up,
            previous_tools=previous,
            previous_subject=self._earlier.previous_subject(history) if follow_up else (),
            stated_need=stated,
            asks_help=bool(scores.cues["need"]),
            smalltalk=smalltalk,
            asks_permission=bool(scores.cues.get("permission")),
            eu_only=bool(scores.cues.get("eu_only")),
            data_home=self._keeps_secrets(sector, scores),
            sensitive_trade=self._sensitive(sector),
            asks_bot=bool(_ASKS_BOT.search(folded)),
            wants_cheap=bool(said.cues["cheaper"]),
            other_products=others,
            dishonest=bool(said.cues.get("dishonest")),
            kind_of_needs=said.kind_of_needs,
        )
        return self._by_clause(request, profile, similarity) if not follow_up else request

    def _named_tools(self, folded: str, said: Scores) -> tuple[str, ...]:
        """The catalogue tools the message names; "Qwen par API" is the vendor's API card, not
        its chat app."""
        named = self.catalogue.named_in(folded)
        if said.kinds.get(API_CATEGORY):
            named = [self._api_card(tool) or tool for tool in named]
        if _ASKS_BOT.search(folded):
            named = [self._automatable(tool) or tool for tool in named]
        return tuple(dict.fromkeys(t.id for t in named))

    def _automatable(self, tool: CatalogueTool) -> CatalogueTool | None:
        """For a bot, the vendor's card of the same kind that automation can drive ("un
        chatbot WhatsApp" is the WhatsApp Business Platform, not the free app)."""
        if AUTOMATION_CATEGORY not in tool.not_with:
            return None
        words = _name_words(tool)
        for card in self.catalogue:
            same = card.category == tool.category and _name_words(card) & words
            if same and AUTOMATION_CATEGORY not in card.not_with:
                return card  # the same product line: "WhatsApp", not Meta's Messenger
        return None

    def _api_id(self, tool_id: str) -> str:
        tool = self.catalogue.get(tool_id)
        card = self._api_card(tool) if tool is not None else None
        return card.id if card is not None else tool_id

    def _api_card(self, tool: CatalogueTool) -> CatalogueTool | None:
        """The API card of the tool's vendor (same first word of the vendor's name)."""
        vendor = fold_words(tool.vendor).split()[:1]
        for card in self.catalogue:
            if card.category == API_CATEGORY and fold_words(card.vendor).split()[:1] == vendor:
                return card
        return None

    def _by_clause(self, request: Request, profile: Profile, similarity: float | None) -> Request:
        """A message of several clauses where one asks a fact and another states a task ("c'est
        gratuit ? et pour envoyer des rappels ?") is mixed: the fact answers its own clause."""
        parts = _clauses(request.text)
        if len(parts) < 2 or request.intent not in ("need", "information", "mixed"):
            return request
        reads = [self.read(part, profile=profile, similarity=similarity) for part in parts]
        asking = [r for r in reads if r.intent == "information" and (r.topics or r.tools_named)]
        # "c'est pour mes visuels" only gives context: the task must be asked about
        telling = [r for r in reads if _tells_task(r)]
        if not asking or not telling:
            return request
        needs = tuple(dict.fromkeys([*telling[0].needs, *request.needs]))
        return replace(
            request,
            intent="mixed",
            needs=needs,
            stated_need=True,
            topics=self._asked_topics(request, asking),  # its own clauses, not the task's
            # "…, c'est rgpd ok ?": too few words alone, the whole message says what is asked
            fact_text=asking[0].text if len(set(analyze(asking[0].text))) >= CLAUSE_TERMS else "",
        )

    def _asked_topics(self, request: Request, asking: Sequence[Request]) -> tuple[str, ...]:
        """The topics of every clause that asks a fact; "c'est légal ?" alone is read with
        the whole message ("un chatbot sur mon site, c'est légal ?": the AI Act's duty to
        say it is a bot, not where data goes)."""
        topics = list(dict.fromkeys(t for clause in asking for t in clause.topics))
        data_words = self._topics.get(PERMISSION_TOPIC)
        if PERMISSION_TOPIC in topics and data_words and not data_words.found(request.folded):
            rule = self._permission_rule(request.folded, request.needs)
            topics = [rule if topic == PERMISSION_TOPIC else topic for topic in topics]
        return tuple(dict.fromkeys(topics))

    def _permission_rule(self, folded: str, needs: Sequence[str]) -> str:
        """The topic that says whether a task is allowed: a bot's duty to say it is one, the
        task's own rule (vocabulary), else where the data goes."""
        if _ASKS_BOT.search(folded):
            return BOT_RULE_TOPIC
        rules = (
            self.vocabulary.needs[n].permission_topic for n in needs if n in self.vocabulary.needs
        )
        return next((rule for rule in rules if rule), PERMISSION_TOPIC)

    # -- scoring ----------------------------------------------------------------------

    def _score(self, folded: str) -> Scores:
        topics = {k: s.score(folded) for k, s in self._topics.items()}
        need_spans = {need: words.spans(folded) for need, words in self._needs.items()}
        kind_spans = {kind: words.spans(folded) for kind, words in self._categories.items()}
        inside = {kind: needs_around(found, need_spans) for kind, found in kind_spans.items()}
        needs = need_scores(need_spans)
        permission = self._cues.get("permission")
        if PERMISSION_TOPIC in topics and permission and permission.found(folded):
            # "c'est autorisé ?", also beside a price ("c'est légal ? et combien ?"): where
            # data goes, for a bot the duty to say it is one, for a task its own rule
            rule = self._permission_rule(folded, ranked(needs))
            if rule in topics:
                topics[rule] += not any(v for k, v in topics.items() if k != "tool-price")
        need_at = {n: min(s for s, _, _ in found) for n, found in need_spans.items() if found}
        return Scores(
            needs=needs,
            need_at=need_at,
            added=frozenset(
                n for n, at in need_at.items() if needs[n] == 1 and AND_THE.search(folded[:at])
            ),
            joined=joined_needs(needs, need_at, folded),
            kind_of_needs=tuple((k, needs) for k, needs in inside.items() if needs),
            topics=topics,
            cues=self._cue_scores(folded),
            kinds={k: s.score(folded) for k, s in self._categories.items()},
            words=len(folded.split()),
            off_topic_phrase=max(
                (len(k.split()) for k in self._cues["out_of_scope"].found(folded)), default=0
            ),
        )

    def _cue_scores(self, folded: str) -> dict[str, int]:
        """Each intent cue's score; "je voudrais dicter…" states a goal like "je veux"."""
        cues = {k: s.score(folded) for k, s in self._cues.items()}
        cues["need"] += len(_WANTS_TO.findall(folded))
        return cues

    def _smalltalk(self, scores: Scores, tools: tuple[str, ...]) -> str | None:
        """ "bonjour", "merci !", "tu es qui ?": a short message with none of our subjects."""
        if scores.cues["subversion"] or scores.cues.get("dishonest"):
            return None
        if scores.cues.get("send_copy") and scores.words <= ABOUT_BOT_WORDS:
            return "send_copy"  # "vous pouvez m'envoyer un récap par mail ?"
        if scores.need_total or scores.topic_total:
            return None
        if scores.cues.get("complaint") and scores.words <= ABOUT_BOT_WORDS:
            return "complaint"  # "t'es nul, tu comprends rien" gets an apology, not a refusal
        if scores.cues.get("about_bot") and scores.words <= ABOUT_BOT_WORDS:
            return "about_bot"  # "t'es une IA ou un humain ?" names a tool, asks about the bot
        if scores.words > SMALLTALK_WORDS:
            return None
        if tools or scores.cues["information"] or scores.cues["need"]:
            return None
        if scores.cues["follow_up"]:
            return None  # "ok et perplexity ?" goes on, it does not thank
        for kind in ("thanks", "greeting"):
            if scores.cues.get(kind):
                return kind
        if scores.words <= VAGUE_WORDS and scores.cues["domain"]:
            return "greeting"  # "IA ????": the welcome asks what takes their time
        return None

    def _asks_tool_for_task(self, folded: str, said: Scores) -> bool:
        """ "le moins cher pour faire des visuels ?", "la meilleure IA pour les devis ?": a
        tool for a task the message names. A model or an API asked for ("le LLM le moins cher
        pour un chatbot") is a price comparison instead."""
        if said.kinds.get(API_CATEGORY) or _CHOOSES_BETWEEN.search(folded):
            return False  # "Jasper ou Copy.ai, lequel ?" compares what the owner names
        task = any(said.needs.values()) or any(said.kinds.values())
        wants = (
            said.cues["cheaper"] or said.topics.get(CHOICE_TOPIC) or self._asks_tools.found(folded)
        )
        return task and bool(wants)

    @staticmethod
    def _weighs_named(folded: str, tools: tuple[str, ...], said: Scores) -> bool:
        """Two named tools put side by side with "ou", and no goal of the owner's own."""
        weighs = _OR.search(folded) or _BETWEEN.search(folded)  # "j'hésite entre X et Y"
        return len(tools) >= COMPARED and not said.cues["need"] and bool(weighs)

    def _asks_rather_than_tells(self, scores: Scores, asks_tool: bool) -> bool:
        """A question with a fact cue and no first-person goal ("je veux", "on perd"): the
        owner asks about something rather than describing a task to improve, unless they
        ask for a tool for a task."""
        if asks_tool:
            return False
        cost_of_a_task = bool(scores.topics.get("tool-price")) and scores.need_total > 0
        cost_of_a_task = cost_of_a_task and not scores.cues["cheaper"]  # "lequel, moins cher ?"
        return scores.cues["need"] == 0 and scores.cues["information"] > 0 and not cost_of_a_task

    def _with_retrieved(self, scores: Scores, retrieved: Sequence[Fiche]) -> Scores:
        """Scores completed by the search: the topic of the best fiche when the message names
        none, and the use cases of the best fiches when it names no need and no kind of tool."""
        topics, needs = dict(scores.topics), dict(scores.needs)
        if not any(topics.values()) and not any(needs.values()) and retrieved:
            for topic, words in self.vocabulary.topics.items():
                if retrieved[0].id in words.fiches:
                    topics[topic] = 1
                    break
        if not any(needs.values()) and not any(scores.kinds.values()):
            for rank, fiche in enumerate(retrieved[:RETRIEVED_NEED_FICHES]):
                families = [u for u in fiche.meta.get("use_cases") or () if u in needs]
                if 0 < len(families) <= SPECIFIC_USE_CASES:  # a fiche for every need says nothing
                    for family in families:
                        needs[family] += 1 if rank == 0 else 0
        from_search = tuple(k for k in needs if needs[k] and not scores.needs[k])
        return replace(scores, needs=needs, topics=topics, retrieved_needs=from_search)

    def _follow_up(
        self, folded: str, scores: Scores, tools: tuple[str, ...], has_history: bool
    ) -> FollowUp | None:
        """The kind of follow-up, from the message's own words (not the search's guess)."""
        if not has_history:
            return None
        if scores.cues["another"]:
            return "another"
        if scores.cues["cheaper"] and not tools:
            return "cheaper"
        short = len(folded.split()) <= SHORT_MESSAGE_WORDS
        if not (scores.cues["follow_up"] or short):
            return None
        if short and scores.cues.get("sources") and not tools:
            return "sources"  # "source ?", "t'es sûr ?"
        if scores.cues.get("simpler") and not tools:
            return "simpler"  # "plus simple ?", "je suis nul en informatique"
        other_topics = {t for t, v in scores.topics.items() if v} - {START_TOPIC}
        if scores.cues.get("start") and not tools and not other_topics:
            return "start"  # "ok et je commence comment ?" (not "…pour l'AI Act ?")
        if SEATS.search(folded):
            return "fact"  # "et pour 3 personnes ?" after a price: the team's price
        if self._costs.found(_NOT_A_COST.sub(" ", folded)) and not tools:
            return "cost"
        if self._asks_tools.found(folded) and not tools:
            return "more"  # "et alors, quel outil ?" after a question on the law
        real_topics = scores.topic_total - scores.topics.get("tool-price", 0)
        if tools or real_topics or (scores.cues["information"] and not scores.need_total):
            return "fact"
        return "more"

    def _intent(
        self,
        scores: Scores,
        tools: tuple[str, ...],
        follow_up: FollowUp | None,
        similarity: float | None,
        sector: str | None,
        said_sector: str | None,
        asks_tool: bool,
        *,
        asks: bool = False,
    ) -> Intent:
        cues = scores.cues
        if cues["subversion"] or cues.get("dishonest"):
            return "subversion"
        # one long off-topic phrase ("lettre de motivation"), not two family words
        strong_cue = scores.off_topic_phrase >= STRONG_CUE_WORDS and not cues["need"]
        said_needs = sum(v for k, v in scores.needs.items() if k not in scores.retrieved_needs)
        asked_topic = scores.topic_total - scores.topics.get("tool-price", 0)  # "ça vaut le coup ?"
        if cues["out_of_scope"] and (strong_cue or not (said_needs or tools or asked_topic)):
            return "out_of_scope"  # "laisse tomber l'IA, un bon plombier ?": a cue beats "IA"
        if cues["out_of_scope"] and not (tools or cues["domain"] or said_sector):
            return "out_of_scope"  # "mon ado passe 6 h sur TikTok": private life, not a business
        if follow_up is not None:
            return "follow_up"
        task = said_needs + sum(scores.kinds.values())  # a task or a kind of tool
        topics = scores.topic_total - scores.topics.get("tool-price", 0)  # a need's cost is a need
        if cues.get("eu_only") and topics == scores.topics.get(PERMISSION_TOPIC, 0) and not asks:
            topics = 0  # "un outil qui ne garde pas mes données aux US": a wish, not a question
        # "et moins cher ?" asked before any answer is a conversation, not an off-topic message
        conversation = (cues["cheaper"] + cues["another"]) * (scores.words <= SHORT_MESSAGE_WORDS)
        evidence = cues["domain"] + task + len(tools) + topics + conversation + bool(said_sector)
        if not evidence and (similarity is None or similarity < OFF_TOPIC_SIMILARITY):
            return "out_of_scope"  # nothing of our domain: neither our words nor our passages
        if (sector or said_needs) and topics == scores.topics.get("getting-started", 0):
            topics = 0  # "l'IA peut m'aider ?" from a known business or for a task: a need
        if said_needs and topics == scores.topics.get(CHOICE_TOPIC, 0):
            topics = 0  # "la meilleure IA pour mes devis ?": a tool for that task
        about_tool = bool(tools) and bool(scores.topics.get("tool-price") or cues["information"])
        if (topics or about_tool) and task and cues["need"]:
            return "mixed"  # a fact and what to do: "c'est légal ? et quel outil ?"
        if about_tool:
            return "information"  # a fact about a named tool: its price, its hosting...
        if scores.topics.get("tool-price") and task and not topics and not cues["cheaper"]:
            return "need"  # "combien coûte un chatbot ?": the tools for it, with their prices
        if said_sector and not topics and not task:
            return "need"  # "j'ai un resto, l'IA peut faire quoi pour moi ?"
        if asks_tool and not topics and not tools:
            return "need"  # "la meilleure IA pour mes devis ?"
        info = cues["information"] + 2 * topics
        need = cues["need"] + task
        if topics and not task:
            return "information"  # "comment éviter que l'IA invente ?": a topic, no task
        if info > need or need == 0:
            return "information"
        return "need"

    # -- what the message is about ----------------------------------------------------

    def _needs_of(
        self,
        scores: Scores,
        profile: Profile,
        sector: str | None,
        history: Sequence[Turn],
        follow_up: FollowUp | None,
    ) -> tuple[tuple[str, ...], bool]:
        """The needs, best first, and whether the message itself states them."""
        stated = self._stated_needs(scores)
        if stated:
            return stated, True
        previous = self._previous_needs(history) if follow_up is not None else ()
        if previous:  # the last question of the conversation that named a need
            return previous, True
        fallback = []
        priority = self.vocabulary.priorities.get(profile.priority or "")
        if priority:
            fallback.append(priority)
        if sector in self.vocabulary.sectors:
            fallback += self.vocabulary.sectors[sector].needs
        kinds = ranked(scores.kinds)
        if kinds:  # "un logiciel de réservation": the need that kind of tool serves first
            return self._needs_for_kinds(kinds, fallback), True
        found = [k for k in scores.retrieved_needs if scores.needs[k]]
        # a vague message from a known business: its sector's usual needs before the search's
        ordered = [*fallback, *found] if sector else [*found, *fallback]
        return tuple(dict.fromkeys(ordered)), False

    def _strong_needs(self, scores: Scores) -> tuple[str, ...]:
        """The needs named clearly (bot/message_scores.py), then one named by one word
        beside a kind of tool that serves it and none of those ("faire des vidéos tiktok et
        gérer les factures": a video tool is the videos' own)."""
        clear = strong_needs(scores)
        served = {kind for need in clear for kind in self.vocabulary.needs[need].categories}
        named = {kind for kind, score in scores.kinds.items() if score}
        said = [need for need, score in scores.needs.items() if score]
        by_kind = []
        for kind in sorted(named - served - {GENERIC_KIND}):  # each kind for the need it is
            serving = [n for n in said if kind in self.vocabulary.needs[n].categories]
            if serving:  # "une image" is the visuals' own kind more than the posts'
                by_kind.append(
                    min(serving, key=lambda n: self.vocabulary.needs[n].categories.index(kind))
                )
        return tuple(dict.fromkeys([*clear, *by_kind]))

    def _keeps_secrets(self, sector: str | None, scores: Scores) -> bool:
        """A health or law professional asking about their data: EU or at home only."""
        return self._sensitive(sector) and bool(scores.topics.get(PERMISSION_TOPIC))

    def _sensitive(self, sector: str | None) -> bool:
        """A trade whose clients' data is a secret (patients, clients of a lawyer)."""
        words = self.vocabulary.sectors.get(sector or "")
        return words is not None and words.sensitive_data

    def _previous_needs(self, history: Sequence[Turn]) -> tuple[str, ...]:
        """The needs of the last question of the conversation that named one."""
        for turn in reversed(history):
            previous = self._stated_needs(self._score(fold_words(turn.question)))
            if previous:
                return previous
        return ()

    def _stated_needs(self, scores: Scores) -> tuple[str, ...]:
        """The needs the message itself states, best first; a need whose kind of tool the
        owner names weighs more ("transcrire mes rdv": the transcription need)."""
        said = {k: v for k, v in scores.needs.items() if k not in scores.retrieved_needs}
        named = {kind for kind, score in scores.kinds.items() if score}
        for need_id in said:
            categories = self.vocabulary.needs[need_id].categories
            if need_id in scores.added:
                continue  # "…et les visuels": a task added last, by one word, comes second
            if said[need_id] and categories[0] in named:
                said[need_id] += KIND_BONUS
            elif said[need_id] and set(categories) & named:
                said[need_id] += KIND_BONUS // 2
        # on a tie, a task added last by one word comes second
        return tuple(sorted(ranked(said), key=lambda k: (-said[k], k in scores.added)))

    def _needs_for_kinds(self, kinds: Sequence[str], preferred: Sequence[str]) -> tuple[str, ...]:
        order = list(dict.fromkeys([*preferred, *self.vocabulary.needs]))
        serving = [n for n in order if set(self.vocabulary.needs[n].categories) & set(kinds)]
        # a task no catalogue tool serves is guessed from a kind of tool only as a last resort
        serving = [n for n in serving if self.catalogue.for_use_case(n)] or serving
        serving.sort(key=lambda n: self.vocabulary.needs[n].categories[0] not in kinds)
        return tuple(serving[:2])

    def _sector(self, folded: str) -> str | None:
        folded = _WITHOUT.sub(" ", folded)  # "des photos sans photographe": not a photographer
        found = {k: s.score(folded) for k, s in self._sectors.items()}
        for sector, trade in self._trade_words.items():  # "notaire, je veux…"
            found[sector] += _own_trade(folded, trade)
        best = max(found, key=lambda k: found[k], default=None)
        return best if best is not None and found[best] > 0 else None

    def _sector_of(self, history: Sequence[Turn]) -> str | None:
        """The trade the owner named earlier in the conversation ("j'ai un restaurant")."""
        for turn in reversed(history):
            sector = self._sector(fold_words(turn.question))
            if sector is not None:
                return sector
        return None

    def _carried_topics(
        self, folded: str, said: Scores, tools: tuple[str, ...], history: Sequence[Turn]
    ) -> tuple[str, ...]:
        """The topics of the previous question when it asked a fact (topics, no task) and the
        follow-up names no topic, tool or task of its own."""
        if tools or said.topic_total or said.need_total or sum(said.kinds.values()):
            return ()
        before = self._score(fold_words(history[-1].question))
        real = before.topic_total - before.topics.get("tool-price", 0)
        # after a message that also stated a task, only a follow-up that asks a fact ("c'est
        # à partir de quand ?") is about its topic; "ok et après ?" is about the task
        asks_fact = bool(said.cues["information"]) or bool(_ASKS_FACT.search(folded))
        return ranked(before.topics) if real and (asks_fact or not before.need_total) else ()


_ABOUT_PROPOSAL = frozenset({"cheaper", "another", "simpler", "sources"})
# a follow-up that asks a fact ("c'est à partir de quand ?", "et si je le fais pas ?")
_ASKS_FACT = re.compile(
    r"\b(?:quand|depuis|jusqu|pourquoi|obligatoire|amende|amendes|sanction|sanctions|"
    r"si je (?:le fais|respecte) pas|risque quoi|je risque)\b"
)


def _asks_if_allowed(question: str, folded: str) -> bool:
    """ "est-ce que je peux…", "c'est légal de… ?": whether something is allowed."""
    return _is_question(question, folded) and bool(_MAY_I.search(folded))


_MAY_I = re.compile(
    r"\b(?:je peux|j ai le droit|ai je le droit|on peut|on a le droit|puis je|peut on|"
    r"est ce legal|c est legal|est il legal|legal de|autorise de|interdit de)\b"
)


def _is_question(question: str, folded: str) -> bool:
    """A question mark, or an interrogative opening ("est-ce que je dois…" typed without one)."""
    return "?" in question or bool(_QUESTION_OPENING.match(folded))


_QUESTION_OPENING = re.compile(
    r"(?:(?:bonjour|bjr|salut|slt|hello|svp|dites moi|question)\s+)?"
    r"(?:est ce qu|est ce que|dois je|doit on|puis je|peut on|peut il|peut elle|ai je|a t on|"
    r"faut il|y a t il|combien|comment|pourquoi|quand|ou sont|qui|quel|quelle|quels|quelles|"
    r"c est quoi|c quoi|qu est ce|est il|est elle|sont ils|je peux|on peut|j ai le droit|"
    r"on a le droit)\b"
)

_CLAUSE_END = re.compile(
    r"(?<=[?!.;])\s+|\s+(?=(?:et au passage|et aussi|et sinon|sinon|et pour|et avec quel)\b)"
    # "…avec une IA, ok pour la confidentialité ?", "…, et les droits d'auteur ?"
    r"|,\s+(?=(?:c['’ ]?est (?:legal|autoris|conforme|permis|risqu)|est[- ]ce|ok pour|"
    r"niveau|et (?:les|le|la|l['’]|niveau|question)\b))",
    re.IGNORECASE,
)


COMPARED = 2  # tools weighed against each other ("Make ou Zapier ?")
_OR = re.compile(r"\w ou \w")
_BETWEEN = re.compile(r"\b(?:entre|hesite|j hesite)\b.*\w et \w")
_CHOOSES_BETWEEN = re.compile(r"\b(?:lequel|laquelle|lesquels|lesquelles|vs|versus)\b")

_FOR_TASK = re.compile(
    r"^(?:et |mais |sinon )?pour (?:envoyer|faire|gerer|avoir|mes|nos|les|des|le|la)\b"
)


def _clauses(text: str) -> list[str]:
    """The clauses of a message: its sentences, and what follows "et au passage", "sinon"...;
    a duty asked after a comma is a clause of its own when the owner said what they do ("je
    veux envoyer des rappels par sms, faut il l'accord des patients ?"), not after a bare
    subject ("vidéo avec un avatar, faut-il le préciser ?")."""
    clauses = []
    for part in _CLAUSE_END.split(text):
        found = _DUTY_ASKED.search(part)
        if found and _FIRST_PERSON.search(fold_words(part[: found.start()])):
            clauses += [part[: found.start()], part[found.end() :]]
        else:
            clauses.append(part)
    return [c.strip() for c in clauses if len(c.split()) >= 2]


# "…par sms, faut il l'accord des patients ?", "…, dois-je prévenir ?"
_DUTY_ASKED = re.compile(
    r",\s+(?=(?:faut[- ]il|faut[- ]t[- ]il|dois[- ]je|doit[- ]on|ai[- ]je le droit|"
    r"a[- ]t[- ]on le droit)\b)",
    re.IGNORECASE,
)
_FIRST_PERSON = re.compile(r"\b(?:je|j|on|nous)\b")


def _tells_task(clause: Request) -> bool:
    """A clause that asks for help with a task: "je cherche un outil pour…", or "et pour
    envoyer des rappels de rdv, ça marche ?" (a task named plainly after "et pour")."""
    if not clause.stated_need:
        return False
    if clause.intent in ("need", "mixed") and (clause.asks_help or clause.asks_tools):
        return True
    if clause.needs and _CAN_AI.search(clause.folded):
        return True  # "secrétariat téléphonique IA possible ?", "résumer mes actes avec une IA"
    if clause.intent == "need" and clause.strong_needs and "?" not in clause.text:
        # "générer des vidéos avec avatar pour nos clients, et les droits ?", but "c'est pour
        # traduire mes mails" only says what the tool asked about is for
        return not _CONTEXT.match(clause.folded)
    return bool(clause.strong_needs) and _FOR_TASK.match(clause.folded) is not None


# a trade word after these is someone else's: "mon comptable", "chez le notaire"
_SOMEONE_ELSES = frozenset(
    {"mon", "ma", "mes", "notre", "nos", "votre", "vos", "son", "sa", "ses", "leur", "leurs"}
    | {"le", "la", "l", "du", "au", "aux", "chez"}
)


def _trade_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """A trade's names, with the word before them caught to tell whose trade it is."""
    names = "|".join(map(re.escape, words))
    return re.compile(rf"\b(?:(\w+) )?(?:{names})\b")


def _own_trade(folded: str, trade: re.Pattern[str]) -> int:
    """How often the message names the trade as the owner's own ("avocate seule, je…")."""
    return sum(1 for m in trade.finditer(folded) if m.group(1) not in _SOMEONE_ELSES)


_WITHOUT = re.compile(r"\b(?:sans|pas de|pas d|aucun|aucune) (?:(?:un|une|de|d) )?\w+")
_CONTEXT = re.compile(r"^(?:c|c est|ce serait|ca serait|ce sera|c etait|ca sera) pour\b")
_CAN_AI = re.compile(
    r"\b(?:possible|faisable|peut le faire|peut faire ca|ca se fait|avec une ia|avec l ia|"
    r"par une ia|par l ia|une ia (?:peut|pourrait)|l ia (?:peut|pourrait))\b"
)


_ENGLISH = re.compile(
    r"\b(?:the|which|what|how|do|does|you|your|my|is|are|can|could|speak|english|hello|"
    r"please|small|shop|with|should|would|best|need|want)\b"
)
_FRENCH = re.compile(r"\b(?:le|la|les|de|des|du|je|j|mon|ma|mes|pour|un|une|est|et|quel\w*)\b")


def _in_english(folded: str) -> bool:
    """ "Hello, which AI tool for my small shop?": English words and hardly a French one."""
    english = len(_ENGLISH.findall(folded))
    return english >= ENGLISH_WORDS and len(_FRENCH.findall(folded)) < english // 2


def _name_words(tool: CatalogueTool) -> set[str]:
    """The distinctive words of a tool's name ("whatsapp", "business")."""
    return {w for w in fold_words(tool.short_name).split() if len(w) >= NAME_WORD_LETTERS}
