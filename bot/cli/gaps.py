"""`pilote-ia gaps`: the questions the knowledge base served badly, grouped into topics.

What a curator reads on Monday morning: per topic, how many owners asked, anonymised
examples, the fiches the search found, and the kind of fiche to write. `--json` prints the
object documented in docs/data-formats.md ("Gap report").
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from bot.config import Settings
from bot.errors import StorageError
from bot.gaps import Embed, GapQuestion, GapTopic, gap_questions, gap_topics
from bot.messages import VOTE_REASONS, user_message_for
from retrieval.embedding import load_embedder
from retrieval.errors import EmbeddingError

# French wording of this command (user-facing).
BAD_SINCE = (
    "Durée invalide « {value} » (--since) : un nombre suivi de d (jours) ou h (heures), "
    "ex. 7d, 30d, 12h."
)
BAD_LIMIT = "Nombre invalide (--limit) : un entier d'au moins 1 est attendu."
STORE_BROKEN = "Base de données illisible : {where}."
NO_GAPS = "Aucune question mal servie depuis le {start} : rien à ajouter à la base pour l'instant."
HEADER = (
    "Lacunes de la base depuis le {start} : {questions} question(s) mal servie(s), "
    "{owners} propriétaire(s), {topics} sujet(s)."
)
TOPIC_LINE = "{rank}. {label} — {owners} propriétaire(s), {questions} question(s)"
EXAMPLE_LINE = "   « {text} »"
FICHES_LINE = "   Fiches trouvées : {fiches}"
NO_FICHE = "aucune"
KIND_LINE = "   À écrire : {kind}"
WHY_LINE = "   Pourquoi : {reasons}"
COMMENT_LINE = "   Commentaire : « {text} »"
MORE_TOPICS = "… et {n} autre(s) sujet(s), plus petits (--limit pour les voir)."
KIND_LABELS = {
    "outil": "une fiche outil (quel outil, à quel prix)",
    "guide": "un guide (comment faire, ce que dit la règle)",
    "cas": "une étude de cas (qui l'a fait, avec quel résultat)",
}
REASON_LABELS = {
    "weak_retrieval": "recherche faible",
    "out_of_scope": "hors sujet",
    "neighbour_need": "besoin voisin",
    "thumbs_down": "👎",
}

_DURATION = re.compile(r"^\s*(\d{1,5})\s*([dhj])\s*$", re.IGNORECASE)
_UNIT_S = {"d": 86_400.0, "j": 86_400.0, "h": 3_600.0}
MAX_WINDOW_S = 3650 * 86_400.0
JSON_FORMAT = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the gaps subcommand."""
    gaps = subparsers.add_parser(
        "gaps", help="questions mal servies, regroupées par sujet (pour enrichir la base)"
    )
    gaps.add_argument(
        "--since",
        default="30d",
        metavar="DURÉE",
        help="période couverte : 7d, 30d (défaut), 12h",
    )
    gaps.add_argument(
        "--limit", type=int, default=15, metavar="N", help="sujets affichés (défaut 15)"
    )
    gaps.add_argument("--json", action="store_true", help="sortie JSON (tous les sujets)")
    gaps.set_defaults(handler=run_gaps)


def parse_duration(value: str) -> float | None:
    """Seconds in "7d", "30d", "12h" ("j" for jours too); None when not understood."""
    match = _DURATION.match(value)
    if match is None:
        return None
    seconds = int(match.group(1)) * _UNIT_S[match.group(2).lower()]
    return seconds if 0 < seconds <= MAX_WINDOW_S else None


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def run_gaps(args: argparse.Namespace, settings: Settings) -> int:
    """Read the answer log, group the gaps into topics and print the report."""
    window = parse_duration(args.since)
    if window is None:
        return _fail(BAD_SINCE.format(value=args.since))
    if args.limit < 1:
        return _fail(BAD_LIMIT)
    now = time.time()
    try:
        questions = _read_gaps(settings, now - window)
    except StorageError:
        where = (
            "PostgreSQL (DATABASE_URL)"
            if settings.database_url is not None
            else f"{settings.db_path} (PILOTE_IA_DATA_DIR)"
        )
        return _fail(STORE_BROKEN.format(where=where))
    try:
        topics = gap_topics(questions, _embedder(settings)) if questions else []
    except EmbeddingError as exc:
        return _fail(user_message_for(exc))
    if args.json:
        report = report_json(questions, topics, since=now - window, until=now, args=args)
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(format_report(questions, topics, since=now - window, limit=args.limit))
    return 0


def _read_gaps(settings: Settings, since: float) -> list[GapQuestion]:
    from bot.wiring import open_store

    store = open_store(settings)
    try:
        return gap_questions(store, since, weak_score=settings.gap_weak_score)
    finally:
        store.close()


def _embedder(settings: Settings) -> Embed:
    """The knowledge base's query embedder: same model and vectors as its search, without
    opening the index (the numpy runtime when the model allows it: no torch import)."""
    return load_embedder(settings.embedding_model, for_queries_only=True).encode


def _date(ts: float) -> str:
    return time.strftime("%d/%m/%Y", time.localtime(ts))


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def report_json(
    questions: Sequence[GapQuestion],
    topics: Sequence[GapTopic],
    *,
    since: float,
    until: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """The JSON report (docs/data-formats.md, "Gap report")."""
    return {
        "format": JSON_FORMAT,
        "since": _iso(since),
        "until": _iso(until),
        "window": args.since.strip().lower(),
        "questions": len(questions),
        "owners": len({q.user_id for q in questions}),
        "topics": [asdict(topic) | {"rank": n} for n, topic in enumerate(topics, start=1)],
    }


def format_report(
    questions: Sequence[GapQuestion], topics: Sequence[GapTopic], *, since: float, limit: int
) -> str:
    """The report in French, biggest topics first."""
    if not questions:
        return NO_GAPS.format(start=_date(since))
    lines = [
        HEADER.format(
            start=_date(since),
            questions=len(questions),
            owners=len({q.user_id for q in questions}),
            topics=len(topics),
        )
    ]
    for rank, topic in enumerate(topics[:limit], start=1):
        lines += ["", *_topic_lines(rank, topic)]
    if len(topics) > limit:
        lines += ["", MORE_TOPICS.format(n=len(topics) - limit)]
    return "\n".join(lines)


def _topic_lines(rank: int, topic: GapTopic) -> list[str]:
    lines = [
        TOPIC_LINE.format(
            rank=rank, label=topic.label, owners=topic.owners, questions=topic.questions
        )
    ]
    lines += [EXAMPLE_LINE.format(text=_one_line(text)) for text in topic.examples]
    lines.append(FICHES_LINE.format(fiches=", ".join(topic.fiches) or NO_FICHE))
    lines.append(KIND_LINE.format(kind=KIND_LABELS.get(topic.suggested_kind, topic.suggested_kind)))
    lines.append(WHY_LINE.format(reasons=_reasons(topic)))
    lines += [COMMENT_LINE.format(text=_one_line(text)) for text in topic.comments]
    return lines


def _reasons(topic: GapTopic) -> str:
    parts = []
    for reason, count in topic.reasons.items():
        part = f"{REASON_LABELS.get(reason, reason)} {count}"
        if reason == "thumbs_down" and topic.vote_reasons:
            why = ", ".join(
                f"{VOTE_REASONS.get(key, key).lower()} {n}" for key, n in topic.vote_reasons.items()
            )
            part += f" ({why})"
        parts.append(part)
    return ", ".join(parts)


def _one_line(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
