"""Answer logs for the admin page's tests: a small hand-counted one and a larger demo one."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

from bot.storage import DAY_S, AnswerRecord, SQLiteStore

PAYLOAD = "<script>alert(1)</script><b>x</b>"
PAYLOAD_QUESTION = f"{PAYLOAD} Comment planifier mes équipes de nettoyage ?"
PAYLOAD_COMMENT = "<i>faux</i> rappelez-moi au 06 12 34 56 78"


def answer(**changes: object) -> AnswerRecord:
    """An LLM answer to a WhatsApp question; `changes` override any field."""
    base = AnswerRecord(
        answer_id=0,
        user_id=1,
        chat_id=10,
        at=0.0,
        question="Je croule sous les commandes WhatsApp, que faire ?",
        intent="need",
        mode="llm",
        provider="deepseek",
        model="deepseek-chat",
        fallback_reason=None,
        retrieved=("tool-whatsapp-business", "guide-pilote-messages-clients"),
        cited=("tool-whatsapp-business",),
        tools=("WhatsApp Business",),
        top_score=0.7,
        neighbour_need=False,
        latency_s=2.0,
        cost_eur=0.003,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _offline(**changes: object) -> AnswerRecord:
    return answer(mode="offline", provider=None, model=None, cost_eur=0.0, **changes)


# (days ago, answer): hand-counted in the tests. In the 30 days: 8 answers by 4 users;
# llm 4, offline 3, degraded 1; cost deepseek 0.010 € (4 answers) + mistral 0.010 € (1);
# latencies 0.4 0.5 0.6 2 3 4 5 25 s (p50 2.5 s, p95 18 s);
# votes 3 👍 and 4 👎 (one on the answer from before the period)
SMALL_LOG: tuple[tuple[float, AnswerRecord], ...] = (
    (
        10,
        answer(
            cost_eur=0.004,
            latency_s=3.0,
            cited=("tool-whatsapp-business", "guide-pilote-messages-clients"),
        ),
    ),
    (
        3,
        answer(
            user_id=2,
            question="Comment répondre plus vite aux messages clients ?",
            cost_eur=0.002,
            latency_s=5.0,
        ),
    ),
    (
        3,
        answer(
            question="Quel outil pour lire mes factures fournisseurs ?",
            provider="mistral",
            model="mistral-small-latest",
            cost_eur=0.010,
            latency_s=4.0,
            cited=("tool-pennylane",),
            retrieved=("tool-pennylane", "tool-dext"),
        ),
    ),
    (
        2,
        _offline(
            user_id=3,
            question="Quel logiciel pour organiser le planning de mes équipes de nettoyage ?",
            latency_s=0.5,
            cited=(),
            top_score=0.12,
        ),
    ),
    (
        2,
        _offline(
            user_id=4,
            question="Un outil d'IA pour faire le planning des agents de nettoyage ?",
            latency_s=0.6,
            cited=(),
            top_score=0.1,
        ),
    ),
    (
        1,
        answer(
            user_id=2,
            question="Comment automatiser mes relances de devis ?",
            mode="degraded",
            fallback_reason="timeout",
            cost_eur=0.001,
            latency_s=25.0,
            cited=("guide-pilote-messages-clients",),
        ),
    ),
    (0, _offline(user_id=3, question=PAYLOAD_QUESTION, latency_s=0.4, cited=(), top_score=0.1)),
    (0, answer(question="Et pour Instagram ?", cost_eur=0.003, latency_s=2.0)),
    (
        40,
        answer(question="Une vieille question", cost_eur=1.0, latency_s=9.0, cited=("tool-make",)),
    ),
)
# (index in SMALL_LOG, vote, reason, comment)
SMALL_VOTES: tuple[tuple[int, int, str | None, str | None], ...] = (
    (0, 1, None, None),
    (1, 1, None, None),
    (7, 1, None, None),
    (2, -1, "too_expensive", None),
    (4, -1, "unclear", None),
    (8, -1, "other", None),
    (6, -1, "wrong_fact", PAYLOAD_COMMENT),
)


def seed_small(path: Path, now: float) -> list[int]:
    """Write SMALL_LOG and SMALL_VOTES (voted at `now`) into the store at `path`; the ids."""
    store = SQLiteStore(path, clock=lambda: now)
    try:
        ids = [
            store.record_answer(replace(record, at=now - days * DAY_S - 60))
            for days, record in SMALL_LOG
        ]
        for index, vote, reason, comment in SMALL_VOTES:
            user = SMALL_LOG[index][1].user_id
            assert store.set_vote(ids[index], user, vote)
            if reason or comment:
                assert store.set_feedback_reason(ids[index], user, reason, comment)
    finally:
        store.close()
    return ids


DEMO_QUESTIONS = (
    ("Je croule sous les commandes WhatsApp, que faire ?", ("tool-whatsapp-business",)),
    ("Quel outil pour lire mes factures fournisseurs ?", ("tool-pennylane", "tool-dext")),
    ("Comment écrire mes posts Instagram plus vite ?", ("tool-canva-magic-studio",)),
    ("Je rate des rendez-vous, un outil pour les rappels ?", ("tool-planity", "tool-calendly")),
    ("Comment répondre aux avis Google ?", ("tool-google-business-profile",)),
    ("Quelles aides publiques pour financer un projet IA ?", ("guide-aides-publiques",)),
    ("Ai-je le droit d'utiliser ChatGPT avec les données clients ?", ("guide-rgpd-cnil",)),
)
DEMO_GAPS = (
    "Quel logiciel pour organiser le planning de mes équipes de nettoyage ?",
    "Un outil d'IA pour faire le planning des agents de nettoyage ?",
    "Comment gérer les astreintes de mes techniciens de maintenance ?",
    "Une IA pour calculer le métrage de mes chantiers de carrelage ?",
    "Quel outil pour estimer les quantités de carrelage sur un chantier ?",
    "Peut-on faire la traçabilité HACCP avec une IA ?",
)


DEMO_COMMENTS = (
    "Je cherchais un outil pour le planning, pas pour les messages.",
    "Trop cher pour une entreprise de 3 personnes.",
    "Réponse trop longue à lire sur le chantier.",
)


def _demo_answer(rng: random.Random) -> AnswerRecord:
    """One answer: a question the base covers (by some mode) or one it does not (a gap)."""
    if rng.random() < 0.12:
        retrieved = ("guide-par-ou-commencer", "tool-chatgpt")
        return _offline(
            question=rng.choice(DEMO_GAPS), cited=(), retrieved=retrieved, top_score=0.1
        )
    question, cited = rng.choice(DEMO_QUESTIONS)
    record = answer(question=question, cited=cited, retrieved=cited)
    mode = rng.choices(("llm", "offline", "degraded"), (0.7, 0.22, 0.08))[0]
    if mode == "llm":
        provider = rng.choice(("deepseek", "deepseek", "mistral"))
        return replace(record, provider=provider, cost_eur=rng.uniform(0.001, 0.02))
    if mode == "offline":
        return replace(record, mode=mode, provider=None, model=None, cost_eur=0.0)
    reason = rng.choice(("timeout", "unavailable", "invalid_json"))
    return replace(record, mode=mode, fallback_reason=reason, cost_eur=0.0004)


def seed_demo(path: Path, now: float, *, answers: int = 420) -> None:
    """A month of plausible traffic (fixed random seed) for screenshots and load checks."""
    rng = random.Random(13)
    clock = [now]
    store = SQLiteStore(path, clock=lambda: clock[0])
    try:
        for _ in range(answers):
            days = int(rng.triangular(0, 30, 2))
            record = _demo_answer(rng)
            latency = rng.uniform(0.2, 0.9) if record.mode == "offline" else rng.gauss(6, 2.5)
            at = now - days * DAY_S - rng.uniform(60, 8 * 3600)
            user = rng.randint(1, 60)
            record = replace(record, user_id=user, at=at, latency_s=max(latency, 0.3))
            answer_id = store.record_answer(record)
            if rng.random() < 0.3:
                clock[0] = at + rng.uniform(30, 600)
                vote = -1 if rng.random() < 0.25 or record.top_score == 0.1 else 1
                store.set_vote(answer_id, user, vote)
                if vote < 0:
                    reason = rng.choice(("unclear", "wrong_tool", "too_expensive", None))
                    comment = rng.choice(DEMO_COMMENTS) if rng.random() < 0.3 else None
                    store.set_feedback_reason(answer_id, user, reason, comment)
    finally:
        store.close()
