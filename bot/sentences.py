"""Choosing, among the retrieved passages, the sentences that answer a question.

Each sentence is scored against the question with the base's own two signals: BM25-style
term overlap on French stems (the lexical index's analyzer) and the cosine of its
embedding to the question's (the same embedder as the search). Sentences that carry a
figure get a lift when the question asks for one. The kept sentences are put back in
reading order: by passage, then by position.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from retrieval.text import analyze

Embed = Callable[[Sequence[str]], NDArray[np.float32]]
MAX_SENTENCE_CHARS = 300
MIN_SENTENCE_CHARS = 25
LEXICAL_WEIGHT, DENSE_WEIGHT, FIGURE_BONUS, TOPIC_BONUS = 1.0, 1.5, 0.6, 0.5
FULL_WEIGHT_TERMS = 3  # content words a question needs for the words to weigh fully
DEFINITION_BONUS = 0.6  # "c'est quoi un token ?": the sentence that defines it
SECOND_BEST_SHARE = 0.75  # a further sentence must score this share of the best one
OTHER_PLACE_SHARE = 0.8  # a sentence from another section or fiche must score this share
SECTION_WEIGHT, HEADING_WEIGHT = 0.5, 1.0  # the best section's sentences come first
ECHO_SHARE = 0.6  # sentences sharing this share of their stems say the same thing
MAX_FACT_CHARS = 600  # the fact fits a phone screen
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-ZÀ-ÖØ-Ý«\"0-9])|\n+")
# "c'est quoi un token ?", "qu'est-ce que l'article 50 ?": the term, then what defines it
_DEFINITION_ASKED = re.compile(
    r"(?:c['’ ]?est (?:quoi|koi)|c (?:quoi|koi)|qu['’]est[- ]ce que?|ça veut dire quoi|"
    r"que veut dire|définition d[eu']?)\s*['’]?(?:un |une |le |la |les |l['’]|des |du )?"
    r"([\w-]+(?: \d+)?)\b(?! (?:de|du|des|d['’]))",
    re.IGNORECASE,
)
# words around "c'est quoi" that are not the term ("c'est quoi exactement", "je sais pas…")
_NOT_TERMS = frozenset(
    [
        "exactement",
        "vraiment",
        "donc",
        "alors",
        "en",
        "au",
        "ça",
        "ca",
        "je",
        "j",
        "on",
        "tu",
        "il",
        "elle",
        "ok",
        "et",
        "mais",
        "bon",
    ]
)
# what may follow the term without asking more ("c'est quoi un RAG en IA, exactement ?")
_DEFINITION_CONTEXT = re.compile(
    r"\b(?:en ia|dans l['’]ia|en intelligence artificielle|d['’]un mod[eè]le(?: d['’]ia)?|"
    r"exactement|en gros|concr[eè]tement|svp|stp|pour (?:une tpe|une pme|ma bo[iî]te|"
    r"mon entreprise|moi))\b"
)
# a proper name right before "c'est quoi", anywhere in the message
_NAME_BEFORE_DEFINITION = re.compile(
    r"\b([A-Z][\w-]+),? (?:c['’ ]?est (?:quoi|koi)|c (?:quoi|koi)|ça veut dire quoi)\b"
)
# "c'est quoi le mieux / le prix / le risque ?": a choice, a price, a risk, not a definition
_NOT_DEFINED = frozenset(
    {
        *("mieux", "meilleur", "meilleure", "plus", "moins", "prix", "tarif", "risque"),
        *("probleme", "problème", "solution", "outil", "différence", "difference", "diff"),
        *("intérêt", "interet", "but", "souci", "danger", "principe"),
    }
)
# "le Cloud Act, c'est quoi le problème ?", "l'open source c'est quoi l'intérêt ?": what the
# named term is, asked from one side; its definition answers
_ASPECTS = frozenset(
    {"probleme", "problème", "risque", "intérêt", "interet", "but", "souci", "danger", "principe"}
)
# "Qwen c'est quoi exactement ?", "les hallucinations c quoi ?": the term comes first
_DEFINITION_AFTER = re.compile(
    r"^\W*(?:un |une |le |la |les |l['’]|des |du )?([\w-]+(?: [\w-]+){0,2}),? "
    r"(?:c['’ ]?est (?:quoi|koi)|c (?:quoi|koi)|ça veut dire quoi)\b",
    re.IGNORECASE,
)
_DEFINITION_MARK = re.compile(
    r"\(|\best (?:un|une|le|la|l['’])\b|\bvaut\b|\bdésigne\b|\bappelée?s?\b|\bcompté|"
    r"\bsignifie\b|\bc['’]est-à-dire\b|\bimpose\b|\bdoit\b",
    re.IGNORECASE,
)
# a case's context and problem, a guide's pitfalls: the situation the owner describes, not the
# answer (they echo the question, so they score high)
_PROBLEM_SECTION = re.compile(r"^(?:contexte|probl[eè]mes?|les pi[eè]ges)\b", re.IGNORECASE)
# the fiche's own questions and answers are matched whole (bot/faq.py), never cut in sentences
_FAQ_SECTION = re.compile(r"^questions fr[ée]quentes\b", re.IGNORECASE)
# a list of things not to do: an item read alone says the opposite of the advice
_AVOID_SECTION = re.compile(r"\b(?:[àa] [ée]viter|ne pas faire|erreurs fr[ée]quentes)\b", re.I)
# never cut into sentences: curated entries (matched whole), pitfalls, the list of sources
_SKIPPED_SECTION = re.compile(
    rf"{_FAQ_SECTION.pattern}|{_AVOID_SECTION.pattern}|^sources?\b", re.IGNORECASE
)
# "(voir fact-cout-tokens)": a pointer to another fiche, for curators, not for owners
_FICHE_POINTER = re.compile(r"\s*\(voir (?:case|guide|tool|fact)-[a-z0-9-]+\)")
_GIST_SECTION = re.compile(r"^(?:en bref|l['’]essentiel)\b", re.IGNORECASE)
GIST_BONUS = 0.3
_PRICE_SECTION = re.compile(r"^(?:prix|tarifs?|accès et prix|co[uû]ts?)\b", re.IGNORECASE)
_LIST_INTRO = re.compile(r"\s*:\s*\n\s*(?:[-*]|\d+\.)\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_ASKED_NOUN = re.compile(r"\b(?:combien|cb)\s+(?:de|d['’]|d\s)\s*(\w+)", re.IGNORECASE)
_SOURCES_SECTION = re.compile(r"^##\s+Sources?\b.*?(?=^##\s|\Z)", re.MULTILINE | re.DOTALL)
DENSE_CANDIDATES = 16
UNRELATED_COSINE = 0.6  # a best sentence sharing no word of the question must read this alike
UNRELATED_TOP = 1  # ...the best sentence, unless it is of the question's topic
POSITION_PENALTY, ANAPHORA_PENALTY = 0.02, 0.15
# a sentence that leans on the previous one ("Cette obligation…") reads badly alone
_ANAPHORA = re.compile(
    r"^(?:cette|cet|ces|ce|cela|ceci|il|elle|ils|elles|sa|son|ses|leur|leurs|celui|celle|"
    r"là|en revanche|toutefois|mais|par ailleurs|de plus|ensuite|enfin|c['’]est)\b"
    # "…ne demande donc aucune déclaration", "…n'en demande pas": the reason or the thing
    # is in the sentence before
    r"|^[^.:;]{0,80}?\b(?:donc|n['’]en)\b",
    re.IGNORECASE,
)  # only the best sentences by the cheap signals are embedded
_ASKS_FIGURE = re.compile(
    r"\b(combien|cb|prix|co[uû]ts?|tarifs?|quand|date|d[ée]lai|param[eè]tres|taille|"
    r"pourcentage|montant|chiffres?|taux)\b",
    re.IGNORECASE,
)
_ASKS_WHEN = re.compile(r"\b(quand|[àa] partir de quand|quelle date|date limite)\b", re.IGNORECASE)
_DATE = re.compile(
    r"\b(?:1er|\d{1,2}) (?:janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|"
    r"novembre|décembre) \d{4}\b",
    re.IGNORECASE,
)
_WHEN_TERMS = frozenset(analyze("date dates calendrier échéance échéances"))
_ASKS_COST = re.compile(
    r"\b(combien|cb|prix|co[uû]t\w*|tarifs?|cher|payant|gratuit\w*|€|euros?|budget|abonnement)\b",
    re.IGNORECASE,
)
# sentences about the source article or the fiche itself, not about the business
_META = re.compile(
    r"^(?:corrections?\b|nuance\b|l'article\b|selon l'article\b|cette fiche\b|voir\b|"
    r"sources?\b|hypoth[eè]ses?\b|les deux articles\b|cette base\b)",
    re.IGNORECASE,
)


# words owners add to a question that say nothing of its subject
_FILLER_TERMS = frozenset(
    analyze(
        "exactement vraiment concrètement précisément réellement simplement juste svp stp "
        "merci bonjour salut franchement honnêtement clairement rapidement"
    )
)
# words every question of ours holds: sharing them says nothing about the subject
_GENERIC_TERMS = frozenset(
    analyze(
        "petite entreprise entreprises TPE PME IA intelligence artificielle outil outils "
        "boîte société business utiliser client clients petit gagner temps"
    )
)


@dataclass(frozen=True)
class Passage:
    """A retrieved passage: its fiche, its rank in the search, its text."""

    fiche_id: str
    rank: int
    text: str


@dataclass(frozen=True)
class Sentence:
    """A candidate sentence and where it comes from."""

    fiche_id: str
    passage_rank: int
    position: int
    text: str
    section: str = ""  # the heading of its section ("Prix", "Données et RGPD")
    in_section: int = 0  # its position in that section (the gist comes first)


def split_sentences(text: str) -> list[str]:
    """The sentences of a Markdown passage, without its sources, list marks, headings,
    links or inline code."""
    text = _SOURCES_SECTION.sub("", text)
    text = _LIST_INTRO.sub(" : ", text)  # "…n'a pas reportée :" reads with its first item
    text = re.sub(r"^\s*#+\s.*$", "", text, flags=re.MULTILINE)
    text = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", text, flags=re.MULTILINE)
    text = _FICHE_POINTER.sub("", text.replace("`", "").replace("**", ""))
    parts = (" ".join(p.split()) for p in _SENTENCE_END.split(text))
    return [
        _cap(p)
        for p in parts
        if len(p) >= MIN_SENTENCE_CHARS and not _META.match(p) and "http" not in p
    ]


def _cap(sentence: str) -> str:
    """A long sentence cut after its last clause that fits (a comma, a colon), with "…"."""
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    head = sentence[:MAX_SENTENCE_CHARS]
    cut = max(head.rfind(", "), head.rfind(" : "), head.rfind(" ; "), head.rfind(" ("))
    if cut < MAX_SENTENCE_CHARS // 2:
        cut = head.rfind(" ")
    return head[:cut].rstrip(",;: ") + "…"


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of each `## ` section of a Markdown text ("" before the first)."""
    parts = re.split(r"^##\s+(.+)$", text, flags=re.MULTILINE)
    found = [("", parts[0])] if parts[0].strip() else []
    found += [(parts[i].strip(), parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
    return found


def candidates(passages: Sequence[Passage]) -> list[Sentence]:
    """Every sentence of the passages, each text once, with its section."""
    seen: set[str] = set()
    found = []
    for passage in passages:
        position = 0
        for heading, body in sections(passage.text):
            if _SKIPPED_SECTION.search(heading):
                continue
            for rank, text in enumerate(split_sentences(body)):
                if text not in seen:
                    seen.add(text)
                    found.append(
                        Sentence(passage.fiche_id, passage.rank, position, text, heading, rank)
                    )
                position += 1
    return found


def best_sentences(
    question: str,
    passages: Sequence[Passage],
    *,
    embed: Embed | None,
    limit: int = 2,
    topic: Callable[[str], bool] | None = None,
    topical: frozenset[str] = frozenset(),
    background: frozenset[str] = frozenset(),
    strict: bool = True,
) -> list[Sentence]:
    """The sentences that best answer the question (at most `limit`), in reading order;
    none when, `strict`, nothing speaks of what is asked.

    `topic` tells whether a sentence speaks of the question's topic (data hosting, the AI
    Act...); such sentences get a lift, as do those of the `topical` fiches (the ones written
    on that topic: the ROI guide for "combien de temps on gagne ?").
    """
    pool = _answers_only(candidates(passages))
    if not pool:
        return []
    # a question with one content word ("la meilleure IA ?") matches words by chance: the
    # words weigh in proportion to how many the question holds
    subject = _asked_terms(question) - _GENERIC_TERMS - background
    weight = LEXICAL_WEIGHT * min(1.0, len(subject) / FULL_WEIGHT_TERMS)
    scores = (_lexical(question, pool, background) + _section_lift(question, pool)) * weight
    if _ASKS_FIGURE.search(question):
        scores = scores + _figure_lift(question, pool)
    else:  # a broad question: the fiche's own summary ("En bref") says it best
        scores = scores + _bonus(pool, lambda s: bool(_GIST_SECTION.match(s.section)), GIST_BONUS)
    if not _ASKS_COST.search(question):  # "OpenAI lit-il mes conversations ?", "c'est quand ?"
        scores = scores - _bonus(pool, lambda s: bool(_PRICE_SECTION.match(s.section)), 0.3)
    defined = defined_term(question)
    named = any(defined & set(analyze(s.text)) for s in pool)
    if defined and not named and _only_asks_definition(question):
        return []  # "c'est quoi un LLM ?" with no sentence naming it: say we do not know
    if defined:
        scores = scores + _bonus(pool, lambda s: _defines(s.text, defined), DEFINITION_BONUS)
    if topic is not None:
        scores = scores + _bonus(pool, lambda s: topic(s.text), TOPIC_BONUS)
    scores = scores + _bonus(pool, lambda s: s.fiche_id in topical, TOPIC_BONUS)
    scores = scores - np.array(
        [
            0.05 * s.passage_rank
            + POSITION_PENALTY * min(s.in_section, 10)
            + (ANAPHORA_PENALTY if _ANAPHORA.match(s.text) else 0.0)
            for s in pool
        ]
    )  # the search's order, gist first
    everything = pool
    cosines = None
    if embed is not None:  # embedding every sentence costs ~10 ms each: the best few only
        shortlist = [int(i) for i in np.argsort(-scores, kind="stable")[:DENSE_CANDIDATES]]
        pool = [pool[i] for i in shortlist]
        cosines = _dense(question, pool, embed)
        scores = scores[shortlist] + cosines * DENSE_WEIGHT
    ranked = [int(i) for i in np.argsort(-scores, kind="stable")]
    order = ranked[:limit]
    top = [pool[i] for i in ranked[:UNRELATED_TOP]]
    asked = _asked_terms(question) - _GENERIC_TERMS  # the topic's own name counts here
    best_cosine = None if cosines is None else float(cosines[order[0]])
    # a sentence of the question's topic answers it ("le choix d'un modèle")
    of_topic = topic is not None and topic(pool[order[0]].text)
    if strict and not of_topic and _unrelated(top, asked, best_cosine):
        return []  # nothing in the passages speaks of what is asked: say we do not know
    floor = scores[order[0]] * SECOND_BEST_SHARE
    best = pool[order[0]]
    content = set(analyze(question)) - _GENERIC_TERMS
    on_topic = topic if topic is not None and topic(best.text) else None
    others = [
        pool[i]
        for i in order[1:]
        if scores[i] >= floor * _share(pool[i], best)
        and (_same_section(pool[i], best) or _on_subject(pool[i], content, on_topic))
    ]
    kept: dict[tuple[str, int], Sentence] = {}
    for chosen in [best, *others]:
        group = _with_antecedent(chosen, everything)  # "Elle doit…" needs its subject
        fresh = [s for s in group if (s.fiche_id, s.position) not in kept]
        too_many = kept and len(kept) + len(fresh) > limit  # the best and its antecedent stay
        if too_many or any(_echoes(chosen, k) for k in kept.values()):
            continue
        kept.update({(s.fiche_id, s.position): s for s in fresh})
    # the best sentence's fiche first (the fact asked, stated first), each fiche in reading order
    reading = sorted(
        kept.values(), key=lambda s: (s.fiche_id != best.fiche_id, s.passage_rank, s.position)
    )
    return _within(reading, best)


def _on_subject(sentence: Sentence, content: set[str], topic: Callable[[str], bool] | None) -> bool:
    """Another fiche's sentence must share a word of the question's own subject, and speak of
    its topic when it has one ("comment je les forme ?" is not answered "sous forme de lien")."""
    shares = bool(content & set(analyze(sentence.text)))
    return shares and (topic is None or topic(sentence.text))


def _asked_terms(question: str) -> set[str]:
    """The question's stems without an owner's filler words ("exactement", "svp")."""
    return set(analyze(question)) - _FILLER_TERMS


def _answers_only(pool: list[Sentence]) -> list[Sentence]:
    """The pool without the sentences that state a situation (a case's context and problem, a
    guide's pitfalls): they echo the question, so they score high, but answer nothing."""
    answers = [s for s in pool if not _PROBLEM_SECTION.match(s.section)]
    return answers or pool


def asks_definition(question: str) -> bool:
    """ "c'est quoi l'AI Act ?", "qu'est-ce qu'un token ?": the question asks what a term is."""
    return _asked_term(question) is not None


def _asked_term(question: str) -> str | None:
    """The term a definition question asks about, before or after "c'est quoi"."""
    before = _DEFINITION_ASKED.search(question)
    if before and before.group(1).lower() in _NOT_DEFINED:
        after = _DEFINITION_AFTER.search(question) if before.group(1).lower() in _ASPECTS else None
        if after and after.group(1).split()[0].lower() not in _NOT_TERMS:
            return after.group(1)  # "le Cloud Act c'est quoi le problème ?"
        return None  # "c'est quoi le mieux pour mes devis ?" asks for a choice
    if before and before.group(1).lower() not in _NOT_TERMS:
        return before.group(1)
    after = _DEFINITION_AFTER.search(question)
    if after and after.group(1).split()[0].lower() not in _NOT_TERMS:
        return after.group(1)
    named = _NAME_BEFORE_DEFINITION.search(question)  # "mon comptable utilise Dext, c'est quoi ?"
    if named:
        return named.group(1)
    return before.group(1) if before else None


@lru_cache(maxsize=4096)  # the curated wordings are asked again for every question
def defined_term(question: str) -> frozenset[str]:
    """The stems of the term a definition question asks about ("c'est quoi un token" -> token)."""
    term = _asked_term(question)
    return frozenset(analyze(term)) if term else frozenset()


def _only_asks_definition(question: str) -> bool:
    """ "c'est quoi un LLM ?": the term ends the question (not "c'est quoi la différence de
    prix ?", whose term is only the start of what is asked)."""
    match = _DEFINITION_ASKED.search(question)
    if match is None or match.group(1).lower() in _NOT_TERMS:
        match = _DEFINITION_AFTER.search(question)
    if match is None:
        return False
    rest = _DEFINITION_CONTEXT.sub(" ", question[match.end() :].lower())
    return not rest.strip(" ?!.…,")


def _unrelated(top: Sequence[Sentence], subject: set[str], best_cosine: float | None) -> bool:
    """None of the best sentences shares a word of the question's own, and the best does
    not read alike (its cosine, None with no embedder): "ça prend combien de temps à
    installer ?" -> "Le temps libéré…"."""
    if not subject or any(subject & set(analyze(s.text)) for s in top):
        return False
    return best_cosine is None or best_cosine < UNRELATED_COSINE


def _defines(sentence: str, term: frozenset[str]) -> bool:
    """True when the sentence names the term and reads like its definition."""
    return bool(term & set(analyze(sentence))) and bool(_DEFINITION_MARK.search(sentence))


def _echoes(sentence: Sentence, other: Sentence) -> bool:
    """True when two sentences say mostly the same thing (two fiches quoting one fact)."""
    mine, theirs = set(analyze(sentence.text)), set(analyze(other.text))
    return bool(mine) and len(mine & theirs) >= ECHO_SHARE * min(len(mine), len(theirs))


def _share(sentence: Sentence, best: Sentence) -> float:
    """Another section's sentence must come closer to the best one to be kept: "SMS de
    relance, c'est légal ?" is not also answered by the section on data sent to China."""
    return 1.0 if _same_section(sentence, best) else OTHER_PLACE_SHARE / SECOND_BEST_SHARE


def _same_section(sentence: Sentence, best: Sentence) -> bool:
    return sentence.fiche_id == best.fiche_id and sentence.section == best.section


def _within(sentences: list[Sentence], best: Sentence) -> list[Sentence]:
    """The sentences in reading order, cut to the length budget (the best one always stays)."""
    kept, total = [], 0
    for sentence in sentences:
        if sentence is best or total + len(sentence.text) <= MAX_FACT_CHARS:
            kept.append(sentence)
            total += len(sentence.text)
    return kept


def _with_antecedent(best: Sentence, pool: Sequence[Sentence]) -> list[Sentence]:
    """The best sentence, preceded by the one it leans on ("Elle doit…" needs its subject),
    even when one sentence was asked for: alone, it makes no sense."""
    if not _ANAPHORA.match(best.text):
        return [best]
    before = [s for s in pool if s.fiche_id == best.fiche_id and s.position == best.position - 1]
    return [*before, best]


def _figure_lift(question: str, pool: Sequence[Sentence]) -> NDArray[np.float64]:
    """A lift for sentences with a number the question does not hold ("v3.1" is not the
    answer), larger when the asked quantity is named beside it ("combien de paramètres")."""
    known = set(_NUMBER.findall(question))
    asked = set(analyze(" ".join(_ASKED_NOUN.findall(question))))
    if _ASKS_WHEN.search(question):  # a calendar date, not the day a price was read
        return np.array([FIGURE_BONUS * bool(_DATE.search(s.text)) for s in pool])
    lifts = []
    for sentence in pool:
        new_number = bool(set(_NUMBER.findall(sentence.text)) - known)
        names_it = bool(asked & set(analyze(sentence.text)))
        lifts.append(FIGURE_BONUS if new_number and names_it else FIGURE_BONUS / 3 * new_number)
    return np.array(lifts, dtype=np.float64)


def _bonus(
    pool: Sequence[Sentence], test: Callable[[Sentence], bool], bonus: float
) -> NDArray[np.float64]:
    return np.array([bonus if test(s) else 0.0 for s in pool], dtype=np.float64)


def _lexical(
    question: str, pool: Sequence[Sentence], background: frozenset[str] = frozenset()
) -> NDArray[np.float64]:
    """BM25-like: question stems found in the sentence, weighted by rarity in the pool; the
    `background` stems (the topic's own name, "AI Act") say nothing of what is asked."""
    terms = _asked_terms(question) - background
    bags = [Counter(analyze(s.text)) for s in pool]
    df = Counter(term for bag in bags for term in set(bag) if term in terms)
    n = len(pool)
    idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in df}
    raw = np.array([sum(idf[t] for t in bag if t in idf) for bag in bags], dtype=np.float64)
    top = raw.max() if raw.size else 0.0
    return raw / top if top > 0 else raw


def _section_lift(question: str, pool: Sequence[Sentence]) -> NDArray[np.float64]:
    """A lift for the sentences of the section that best matches the question, by its
    heading and its words: "où sont mes données ?" finds "Données et RGPD"."""
    terms = _asked_terms(question)
    if _ASKS_WHEN.search(question):  # "c'est quand ?" is answered by "Les dates à retenir"
        terms |= _WHEN_TERMS
    keys = list(dict.fromkeys((s.fiche_id, s.section) for s in pool))
    words: dict[tuple[str, str], Counter[str]] = {key: Counter() for key in keys}
    for sentence in pool:
        words[(sentence.fiche_id, sentence.section)].update(analyze(sentence.text))
    raw = {}
    for key in keys:
        heading = set(analyze(key[1]))
        bag = words[key]
        covered = sum(1 for t in terms if bag[t]) / max(len(terms), 1)
        raw[key] = covered + HEADING_WEIGHT * len(terms & heading)
    top = max(raw.values(), default=0.0)
    if top <= 0:
        return np.zeros(len(pool))
    return np.array([SECTION_WEIGHT * raw[(s.fiche_id, s.section)] / top for s in pool])


def _dense(question: str, pool: Sequence[Sentence], embed: Embed) -> NDArray[np.float64]:
    vectors = embed([question, *(s.text for s in pool)])
    return np.asarray(vectors[1:] @ vectors[0], dtype=np.float64)
