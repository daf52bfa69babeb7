"""The knowledge-gap report: which questions the bot served badly, grouped into topics by meaning.

A question is a gap when its search found nothing close (top score under GAP_WEAK_SCORE), when
it was declined as out of scope, when the offline composer fell back to a neighbouring need,
or when its owner voted 👎. Subversion attempts are never gaps. Questions are anonymised
(bot/anonymise.py) before anything else reads them.

Topics: each distinct question becomes the knowledge base's MiniLM vector fused with the
TF-IDF of its French stems (the English model is weak on French alone, as in the search),
then average-linkage hierarchical clustering (scipy) cuts the tree at CLUSTER_THRESHOLD: a
question joins a topic when its mean cosine distance to the topic's questions is under it.
Threshold, weight and linkage were chosen with benchmarks/calibrate_gaps.py.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from bot.anonymise import anonymise, strip_masks
from bot.keywords import KeywordSet, fold_words
from retrieval.text import analyze

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from bot.storage import AnswerRecord, Feedback, Store

Embed = Callable[[Sequence[str]], NDArray[np.float32]]

WEAK_RETRIEVAL = "weak_retrieval"
OUT_OF_SCOPE = "out_of_scope"
NEIGHBOUR_NEED = "neighbour_need"
THUMBS_DOWN = "thumbs_down"
REASONS = (WEAK_RETRIEVAL, OUT_OF_SCOPE, NEIGHBOUR_NEED, THUMBS_DOWN)
NOT_GAPS = frozenset({"subversion"})  # an attack declined is the bot working, not a gap

# Chosen on 90 labelled owner questions of 23 needs (tests/gaps/topics.jsonl) with
# `python benchmarks/calibrate_gaps.py`: adjusted Rand index 0.50, homogeneity 0.89 (a topic
# seldom mixes two needs), completeness 0.81 (a need is sometimes split in two). MiniLM alone
# peaks at ARI 0.48; complete linkage at 0.46. Cosine distance of the fused vectors, and the
# dense share of the fusion (the rest is the French stems' TF-IDF).
CLUSTER_THRESHOLD = 0.60
DENSE_WEIGHT = 0.8
LINKAGE = "average"
MAX_EXACT = 5000  # distinct questions clustered at once: the distance matrix grows as n²
_BLOCK = 512  # rows of the similarity matrix computed at a time

EXAMPLES = 3
TOPIC_FICHES = 3
FICHES_PER_QUESTION = 3  # a question's best-ranked retrieved fiches count for its topic
LABEL_WORDS = 3

# What kind of fiche would answer a topic: each question votes by its words (folded), "cas"
# before "outil" before "guide"; the topic takes the majority, ties in the order of KINDS.
KINDS = ("outil", "cas", "guide")
CASE_CUES = KeywordSet.of(
    [
        "exemple",
        "temoignage",
        "retour d experience",
        "retours d experience",
        "cas concret",
        "concretement",
        "qui a teste",
        "qui a essaye",
        "qui a fait",
        "qui a mis en place",
        "qui utilise",
        "deja teste",
        "deja fait",
        "deja utilise",
        "ca marche",
        "ca fonctionne",
        "marche pour",
        "fonctionne pour",
        "d autres artisans",
        "d autres commercants",
        "d autres entreprises",
    ]
)
TOOL_CUES = KeywordSet.of(
    [
        "outil",
        "logiciel",
        "appli",
        "application",
        "plateforme",
        "prix",
        "tarif",
        "combien",
        "coute",
        "cout",
        "abonnement",
        "gratuit",
        "meilleur",
        "pas cher",
        "pas chere",
        "moins cher",
        "moins chere",
        "euros",
        "par mois",
    ]
)
# words that say nothing of a topic: owners' politeness, SMS fillers, the masks' words
_FILLER = frozenset(
    analyze(
        "bonjour merci stp svp slt salut cc bjr besoin aide aider faire fait peux peut veux "
        "kel kelle koi kesk cordialement rappelez appelle "
        "voudrais comment quoi koi quel quelle quels quelles ya a-t-il est-ce possible "
        "va vais aller dois doit faut veut veux avez ai "
        "nom téléphone e-mail url iban siret adresse ia mr mme"
    )
)
_SURFACE_WORD = re.compile(r"[a-zà-öø-ÿœæ0-9]+(?:-[a-zà-öø-ÿœæ0-9]+)*")
_MASK = re.compile(r"\[[^\]]{1,20}\]")


@dataclass(frozen=True)
class GapQuestion:
    """A question served badly, anonymised, with why it counts as a gap."""

    answer_id: int
    user_id: int
    at: float
    question: str  # ANONYMISED already (names, phones, e-mails, IBAN, URLs masked)
    reasons: tuple[str, ...]  # subset of REASONS, in that order
    retrieved: tuple[str, ...]
    intent: str = ""
    top_score: float | None = None
    vote_reason: str | None = None  # the reason given after a 👎 ("unclear", "wrong_tool"...)
    comment: str | None = None  # the free text after a 👎, anonymised


@dataclass(frozen=True)
class GapTopic:
    """Gap questions of one meaning, as a curator reads them."""

    label: str  # short French label built from the questions' salient words
    owners: int  # distinct users who asked
    questions: int
    examples: tuple[str, ...]  # 2-3 anonymised example questions, the most central first
    # (shown without their masks and what introduces them: "rappelez-moi au [téléphone]")
    fiches: tuple[str, ...]  # fiche ids most retrieved for these questions
    suggested_kind: str  # "outil" | "guide" | "cas": what kind of fiche would answer it
    reasons: dict[str, int]  # counts per reason
    vote_reasons: dict[str, int] = field(default_factory=dict)  # reasons given after a 👎
    comments: tuple[str, ...] = ()  # the latest anonymised comments after a 👎 (up to 3)
    answer_ids: tuple[int, ...] = ()  # the answers of the topic's questions, oldest first


# -- which questions --------------------------------------------------------------------------


def gap_questions(store: Store, since: float, *, weak_score: float) -> list[GapQuestion]:
    """The answers since `since` (unix time) that were gaps, oldest first.

    A 👎 given since `since` on an older answer brings that answer in too.
    """
    answers = {record.answer_id: record for record in store.answers_since(since)}
    downvotes = {f.answer_id: f for f in store.feedback_since(since) if f.vote < 0}
    for answer_id in sorted(downvotes.keys() - answers.keys()):
        older = store.answer(answer_id)
        if older is not None:
            answers[answer_id] = older
    gaps = []
    for record in sorted(answers.values(), key=lambda r: (r.at, r.answer_id)):
        vote = downvotes.get(record.answer_id)
        reasons = gap_reasons(record, vote, weak_score=weak_score)
        if reasons:
            gaps.append(_gap_question(record, vote, reasons))
    return gaps


def gap_reasons(
    record: AnswerRecord, vote: Feedback | None, *, weak_score: float
) -> tuple[str, ...]:
    """Why this answer is a gap (empty: it is not one)."""
    if record.intent in NOT_GAPS:
        return ()
    found = {
        WEAK_RETRIEVAL: record.top_score is not None and record.top_score < weak_score,
        OUT_OF_SCOPE: record.intent == "out_of_scope",
        NEIGHBOUR_NEED: record.neighbour_need,
        THUMBS_DOWN: vote is not None and vote.vote < 0,
    }
    return tuple(reason for reason in REASONS if found[reason])


def _gap_question(
    record: AnswerRecord, vote: Feedback | None, reasons: tuple[str, ...]
) -> GapQuestion:
    comment = vote.comment if vote is not None else None
    return GapQuestion(
        answer_id=record.answer_id,
        user_id=record.user_id,
        at=record.at,
        question=anonymise(record.question),
        reasons=reasons,
        retrieved=record.retrieved,
        intent=record.intent,
        top_score=record.top_score,
        vote_reason=vote.reason if vote is not None else None,
        comment=anonymise(comment) if comment else None,
    )


# -- topics -----------------------------------------------------------------------------------


def gap_topics(
    questions: Sequence[GapQuestion],
    embed: Embed,
    *,
    threshold: float = CLUSTER_THRESHOLD,
) -> list[GapTopic]:
    """The questions grouped by meaning; most owners first, then most questions."""
    if not questions:
        return []
    # one point per distinct request, the most asked first: they seed the topics (MAX_EXACT);
    # "rappelez-moi au [téléphone]" says who asks, not what: it must not bring questions together
    by_text: dict[str, list[GapQuestion]] = {}
    for question in questions:
        by_text.setdefault(strip_masks(question.question) or question.question, []).append(question)
    asked = Counter({text: len(group) for text, group in by_text.items()})
    texts = [text for text, _ in asked.most_common()]
    features = question_features(texts, embed(texts))
    labels = cluster_labels(features, threshold=threshold)
    members: dict[int, list[int]] = {}
    for point, label in enumerate(labels.tolist()):
        members.setdefault(label, []).append(point)
    stems = _StemCounts(texts, asked)
    topics = [_topic(points, texts, features, by_text, stems) for points in members.values()]
    topics.sort(key=lambda t: (-t.owners, -t.questions, t.label))
    return topics


@dataclass(frozen=True)
class Features:
    """Unit-norm rows: the dense part (weighted MiniLM) and the lexical part (weighted TF-IDF)."""

    dense: NDArray[np.float32]
    lexical: csr_matrix

    def __len__(self) -> int:
        return int(self.dense.shape[0])

    def take(self, rows: NDArray[np.intp]) -> Features:
        """The features of some rows."""
        return Features(self.dense[rows], self.lexical[rows])

    def similarity(self, rows: slice | NDArray[np.intp], other: Features) -> NDArray[np.float64]:
        """Cosine similarities of some rows against every row of `other`."""
        dense = self.dense[rows] @ other.dense.T
        lexical: NDArray[np.float64] = (self.lexical[rows] @ other.lexical.T).toarray()
        return np.asarray(dense, dtype=np.float64) + lexical


def question_features(
    texts: Sequence[str], vectors: NDArray[np.float32], *, dense_weight: float = DENSE_WEIGHT
) -> Features:
    """Fuse normalised embeddings with the TF-IDF of French stems; cosine = weighted sum."""
    from scipy.sparse import csr_matrix, diags
    from sklearn.feature_extraction.text import TfidfVectorizer

    dense = np.asarray(vectors, dtype=np.float32) * np.float32(math.sqrt(dense_weight))
    stems = [_stems_of(text) for text in texts]
    if any(stems):
        tfidf = TfidfVectorizer(analyzer=_same, sublinear_tf=True, dtype=np.float32)
        lexical = csr_matrix(tfidf.fit_transform(stems)) * math.sqrt(1 - dense_weight)
    else:
        lexical = csr_matrix((len(texts), 1), dtype=np.float32)
    # a text with no stem is its dense vector alone: rows are scaled back to unit norm
    squared = (
        np.einsum("ij,ij->i", dense, dense)
        + np.asarray(lexical.multiply(lexical).sum(axis=1)).ravel()
    )
    scale = 1.0 / np.sqrt(np.where(squared > 0, squared, 1.0))
    return Features(
        (dense * scale[:, None]).astype(np.float32),
        csr_matrix(diags(scale.astype(np.float32)) @ lexical),
    )


def _same(stems: list[str]) -> list[str]:
    return stems


def cluster_labels(
    features: Features,
    *,
    threshold: float = CLUSTER_THRESHOLD,
    method: str = LINKAGE,
    max_exact: int = MAX_EXACT,
) -> NDArray[np.intp]:
    """A topic number per row: hierarchical clustering cut at `threshold` (cosine distance).

    Beyond `max_exact` rows, the first `max_exact` are clustered exactly, every other row
    joins the topic of its closest clustered row when within the threshold, and the rest
    go to the next round: memory stays bounded, the most asked questions seed the topics.
    """
    labels = np.full(len(features), -1, dtype=np.intp)
    pending = np.arange(len(features), dtype=np.intp)
    next_label = 0
    while pending.size:
        seeds, pending = pending[:max_exact], pending[max_exact:]
        found = _exact_labels(features.take(seeds), threshold, method)
        labels[seeds] = found + next_label
        next_label += int(found.max()) + 1
        if pending.size:
            pending = _attach(features, pending, seeds, labels, threshold)
    return labels


def _exact_labels(features: Features, threshold: float, method: str) -> NDArray[np.intp]:
    """Linkage over every pair (scipy, condensed distances built block by block)."""
    from scipy.cluster.hierarchy import fcluster, linkage

    n = len(features)
    if n == 1:
        return np.zeros(1, dtype=np.intp)
    condensed = np.empty(n * (n - 1) // 2, dtype=np.float64)
    at = 0
    for start in range(0, n, _BLOCK):
        block = features.similarity(slice(start, start + _BLOCK), features)
        for offset, row in enumerate(block):
            rest = row[start + offset + 1 :]
            condensed[at : at + rest.size] = rest
            at += rest.size
    np.subtract(1.0, condensed, out=condensed)
    np.clip(condensed, 0.0, 2.0, out=condensed)
    tree = linkage(condensed, method=method)
    labels: NDArray[np.intp] = fcluster(tree, t=threshold, criterion="distance").astype(np.intp)
    return labels - 1


def _attach(
    features: Features,
    pending: NDArray[np.intp],
    seeds: NDArray[np.intp],
    labels: NDArray[np.intp],
    threshold: float,
) -> NDArray[np.intp]:
    """Give pending rows the label of their closest seed within the threshold; the rest."""
    seeded = features.take(seeds)
    left = []
    for start in range(0, pending.size, _BLOCK):
        rows = pending[start : start + _BLOCK]
        similarity = features.take(rows).similarity(slice(None), seeded)
        best = similarity.argmax(axis=1)
        close = 1.0 - similarity[np.arange(rows.size), best] <= threshold
        labels[rows[close]] = labels[seeds[best[close]]]
        left.append(rows[~close])
    return np.concatenate(left)


# -- describing a topic -----------------------------------------------------------------------


class _StemCounts:
    """How many questions hold each stem, over all gap questions (the label's rarity term)."""

    def __init__(self, texts: Sequence[str], asked: Counter[str]) -> None:
        self.total = sum(asked.values())
        self.frequency: Counter[str] = Counter()
        for text in texts:
            for stem in set(_stems_of(text)):
                self.frequency[stem] += asked[text]


def _topic(
    points: list[int],
    texts: Sequence[str],
    features: Features,
    by_text: dict[str, list[GapQuestion]],
    stems: _StemCounts,
) -> GapTopic:
    asked = [q for point in points for q in by_text[texts[point]]]
    requests = [texts[point] for point in points for _ in by_text[texts[point]]]
    reasons = Counter(reason for q in asked for reason in q.reasons)
    votes = Counter(q.vote_reason for q in asked if q.vote_reason)
    comments = [q.comment for q in sorted(asked, key=lambda q: -q.at) if q.comment]
    return GapTopic(
        label=topic_label(requests, stems),
        owners=len({q.user_id for q in asked}),
        questions=len(asked),
        examples=tuple(texts[point] for point in _central(points, features)[:EXAMPLES]),
        fiches=_most_retrieved(asked),
        suggested_kind=suggested_kind(requests),
        reasons={reason: reasons[reason] for reason in REASONS if reasons[reason]},
        vote_reasons=dict(votes.most_common()),
        comments=tuple(dict.fromkeys(comments))[:EXAMPLES],
        answer_ids=tuple(q.answer_id for q in sorted(asked, key=lambda q: (q.at, q.answer_id))),
    )


def _central(points: list[int], features: Features) -> list[int]:
    """The topic's distinct questions, closest to the others first."""
    if len(points) <= 1:
        return points
    rows = np.asarray(points, dtype=np.intp)
    members = features.take(rows)
    closeness = members.similarity(slice(None), members).mean(axis=1)
    order = sorted(range(len(points)), key=lambda i: (-closeness[i], i))
    return [points[i] for i in order]


def _most_retrieved(asked: Iterable[GapQuestion]) -> tuple[str, ...]:
    counts: Counter[str] = Counter()
    for question in asked:
        counts.update(question.retrieved[:FICHES_PER_QUESTION])
    return tuple(fiche for fiche, _ in counts.most_common(TOPIC_FICHES))


def topic_label(questions: Sequence[str], stems: _StemCounts | None = None) -> str:
    """The topic's most salient words: frequent in it, rare in the other gap questions."""
    inside: Counter[str] = Counter()
    surface: dict[str, Counter[str]] = {}
    for question in questions:
        seen = set()
        for word in _SURFACE_WORD.findall(_MASK.sub(" ", question.lower())):
            stem = _stem(word)
            if stem is None:
                continue
            surface.setdefault(stem, Counter())[word] += 1
            seen.add(stem)
        inside.update(seen)
    if not inside:
        return "(sans mots-clés)"
    total = stems.total if stems else len(questions)

    def salience(stem: str) -> float:
        everywhere = stems.frequency[stem] if stems else inside[stem]
        return inside[stem] * math.log(1 + total / max(everywhere, 1))

    ranked = sorted(inside, key=lambda s: (-salience(s), -inside[s], s))
    if len(questions) > 1 and inside[ranked[0]] > 1:
        ranked = [s for s in ranked if inside[s] > 1] or ranked  # words shared in the topic
    return ", ".join(surface[s].most_common(1)[0][0] for s in ranked[:LABEL_WORDS])


def _stems_of(text: str) -> list[str]:
    words = _SURFACE_WORD.findall(_MASK.sub(" ", text.lower()))
    return [stem for stem in map(_stem, words) if stem is not None]


@lru_cache(maxsize=20_000)
def _stem(word: str) -> str | None:
    """The word's French stem, or None for a stop word, a filler or a lone digit."""
    terms = analyze(word)
    if len(terms) != 1 or terms[0] in _FILLER or terms[0].isdigit():
        return None
    return terms[0]


def question_kind(question: str) -> str:
    """What kind of fiche would answer this question: "cas", "outil" or "guide".

    "cas" for who did it / an example / does it work for a trade; "outil" for a tool or a
    price; "guide" for how to do it, a rule, a piece of information (everything else).
    """
    folded = fold_words(question)
    if CASE_CUES.found(folded):
        return "cas"
    if TOOL_CUES.found(folded) or "€" in question:
        return "outil"
    return "guide"


def suggested_kind(questions: Sequence[str]) -> str:
    """The kind most of the questions ask for (ties in the order of KINDS)."""
    votes = Counter(question_kind(q) for q in questions)
    return max(KINDS, key=lambda kind: (votes[kind], -KINDS.index(kind)))
