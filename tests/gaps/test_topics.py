"""Grouping gap questions into topics: paraphrases together, different needs apart, and what
each topic tells a curator (fake bag-of-words embedder; the real model in the slow test)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot.gaps import (
    GapQuestion,
    GapTopic,
    cluster_labels,
    gap_topics,
    question_features,
    question_kind,
    suggested_kind,
    topic_label,
)
from tests.fakes.embedder import HashEmbedder

TOPICS_FILE = Path(__file__).with_name("topics.jsonl")

CASH_REGISTER = [
    "quel logiciel de caisse pour ma boulangerie ?",
    "logiciel de caisse pour boulangerie svp",
    "un logiciel de caisse pas cher en boulangerie",
]
INSURANCE = [
    "quelle assurance décennale pour un plombier",
    "assurance décennale obligatoire pour un artisan plombier ?",
]
WEATHER = ["météo de demain à Lyon", "météo du week-end à Lyon"]


def gap(
    question: str,
    *,
    user_id: int = 1,
    answer_id: int = 0,
    reasons: tuple[str, ...] = ("weak_retrieval",),
    retrieved: tuple[str, ...] = (),
    **extra: Any,
) -> GapQuestion:
    return GapQuestion(
        answer_id=answer_id,
        user_id=user_id,
        at=float(answer_id),
        question=question,
        reasons=reasons,
        retrieved=retrieved,
        **extra,
    )


def fake_embed() -> HashEmbedder:
    return HashEmbedder(dimension=256)


def topic_of(topics: list[GapTopic], example: str) -> GapTopic:
    return next(t for t in topics if example in t.examples)


def test_paraphrases_together_and_needs_apart() -> None:
    questions = [
        gap(text, user_id=n, answer_id=n)
        for n, text in enumerate(CASH_REGISTER + INSURANCE + WEATHER)
    ]
    topics = gap_topics(questions, fake_embed().encode)
    assert sorted(t.questions for t in topics) == [2, 2, 3]
    cash = topics[0]  # the most owners first
    assert set(cash.examples) == set(CASH_REGISTER)
    assert set(topic_of(topics, INSURANCE[0]).examples) == set(INSURANCE)
    assert set(topic_of(topics, WEATHER[0]).examples) == set(WEATHER)


def test_what_a_topic_tells_the_curator() -> None:
    questions = [
        gap(CASH_REGISTER[0], user_id=1, answer_id=1, retrieved=("tool-a", "guide-b")),
        gap(CASH_REGISTER[0], user_id=2, answer_id=2, retrieved=("tool-a", "case-c")),
        gap(
            CASH_REGISTER[1],
            user_id=2,
            answer_id=3,
            reasons=("weak_retrieval", "thumbs_down"),
            retrieved=("guide-b", "tool-a"),
            vote_reason="wrong_tool",
            comment="il me faut une caisse certifiée",
        ),
        gap(CASH_REGISTER[2], user_id=3, answer_id=4, reasons=("neighbour_need",)),
    ]
    (topic,) = gap_topics(questions, fake_embed().encode)
    assert (topic.owners, topic.questions) == (3, 4)
    assert len(topic.examples) == 3 and len(set(topic.examples)) == 3  # a repeat shows once
    assert topic.fiches == ("tool-a", "guide-b", "case-c")
    assert topic.reasons == {"weak_retrieval": 3, "thumbs_down": 1, "neighbour_need": 1}
    assert topic.vote_reasons == {"wrong_tool": 1}
    assert topic.comments == ("il me faut une caisse certifiée",)
    assert topic.suggested_kind == "outil"
    assert set(topic.label.split(", ")) == {"boulangerie", "caisse", "logiciel"}


def test_most_owners_first_then_most_questions() -> None:
    one_owner_many_times = [gap(WEATHER[0], user_id=9, answer_id=n) for n in range(5)]
    three_owners = [gap(INSURANCE[n % 2], user_id=n, answer_id=10 + n) for n in range(3)]
    topics = gap_topics(one_owner_many_times + three_owners, fake_embed().encode)
    assert [(t.owners, t.questions) for t in topics] == [(3, 3), (1, 5)]


def test_who_asks_does_not_bring_questions_together() -> None:
    signed = [
        gap(f"{text} rappelez-moi au [téléphone]", user_id=n, answer_id=n)
        for n, text in enumerate([CASH_REGISTER[0], INSURANCE[0], WEATHER[0]])
    ]
    unsigned = gap(CASH_REGISTER[0], user_id=9, answer_id=9)
    embedder = fake_embed()
    topics = gap_topics([*signed, unsigned], embedder.encode)
    assert sorted(t.questions for t in topics) == [1, 1, 2]
    assert topic_of(topics, CASH_REGISTER[0]).examples == (CASH_REGISTER[0],)  # one request
    assert all("[téléphone]" not in t.label + " ".join(t.examples) for t in topics)


def test_no_question_no_topic_and_no_embedding() -> None:
    embedder = fake_embed()
    assert gap_topics([], embedder.encode) == []
    assert embedder.calls == 0


def test_a_masked_question_alone_is_still_a_topic() -> None:
    (topic,) = gap_topics([gap("[nom] [téléphone]")], fake_embed().encode)
    assert topic.examples == ("[nom] [téléphone]",) and topic.questions == 1


def test_bounded_rounds_give_the_exact_grouping_on_separate_needs() -> None:
    texts = CASH_REGISTER + INSURANCE + WEATHER
    features = question_features(texts, fake_embed().encode(texts))
    exact = cluster_labels(features)
    bounded = cluster_labels(features, max_exact=2)  # seeds, then attachment, then a new round
    assert _partition(exact) == _partition(bounded)


def _partition(labels: np.ndarray[Any, Any]) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for row, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(row)
    return {frozenset(group) for group in groups.values()}


def test_label_keeps_salient_words_without_masks_or_fillers() -> None:
    label = topic_label(
        [
            "bonjour, je m'appelle [nom], quel logiciel de caisse svp",
            "logiciel de caisse pour mon bar, merci",
        ]
    )
    words = label.split(", ")
    assert set(words) == {"logiciel", "caisse"}
    assert topic_label(["[nom] [téléphone]"]) == "(sans mots-clés)"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("quel logiciel de caisse pour ma boulangerie ?", "outil"),
        ("combien coûte une caisse enregistreuse", "outil"),
        ("une appli pas chère pour le planning", "outil"),
        ("qui a testé l'IA dans un salon de coiffure ?", "cas"),
        ("un exemple concret chez un plombier ?", "cas"),
        ("est-ce que ça marche pour un fleuriste ?", "cas"),
        ("TVA à 10 ou 20 % sur des travaux de rénovation ?", "guide"),
        ("comment résilier un bail commercial", "guide"),
    ],
)
def test_kind_of_fiche_from_words(question: str, kind: str) -> None:
    assert question_kind(question) == kind


def test_suggested_kind_is_the_majority() -> None:
    tie = ["comment résilier mon bail", "bail commercial, quel logiciel ?"]
    assert suggested_kind(tie) == "outil"  # a tie goes to the first of KINDS
    assert suggested_kind(["comment résilier", "bail ?", "logiciel de bail"]) == "guide"


@pytest.mark.slow
def test_real_model_groups_french_paraphrases(embedder: Any) -> None:
    """The knowledge base's MiniLM on owners' questions: a need's paraphrases share a topic,
    and that topic holds no other need."""
    rows = [json.loads(line) for line in TOPICS_FILE.read_text(encoding="utf-8").splitlines()]
    questions = [gap(row["question"], answer_id=n, user_id=n) for n, row in enumerate(rows)]
    topics = gap_topics(questions, embedder.encode)
    need_of_topic = [{rows[n]["topic"] for n in topic.answer_ids} for topic in topics]
    for need in ("tva", "loyer", "sport"):
        holding = [needs for needs in need_of_topic if need in needs]
        assert holding == [{need}], need  # together, and with no other need
    assert sorted(n for t in topics for n in t.answer_ids) == list(range(len(rows)))
