"""Calibrate the gap report: the weak-retrieval threshold, then the topic clustering threshold.

    .venv/bin/python benchmarks/calibrate_gaps.py [--questions FILE] [--topics FILE] [--json]

1. Weak retrieval (setting GAP_WEAK_SCORE). Every question of the evaluation set
   (knowledge/eval/questions.jsonl) is searched as the advisor searches it, and its top score
   (the best dense cosine, as `Advisor._search_scored` computes it) is set against what
   happened: "well" = in scope and a relevant fiche among the advisor's hits (k=6); "missed" =
   in scope, but the base has no fiche for it or the search did not find one; "out of scope"
   = a question the bot must decline. Subversion attempts are left out (they are no gaps).
   The flag is `top_score < threshold`; the threshold printed maximises the F1 score of
   flagging "missed" and "out of scope" questions against "well" ones.
2. Topics (bot/gaps.py CLUSTER_THRESHOLD). The labelled owner questions of
   tests/gaps/topics.jsonl (paraphrases of 15 needs: typos, SMS style, and the evaluation
   set's off-topic questions) are clustered at several thresholds; adjusted Rand index,
   homogeneity (no topic mixes two needs) and completeness (a need is not split) are printed.

The index is built in a temporary directory from the packaged vectors (no download).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ADVISOR_K = 6  # Advisor.k: the general search whose hits an answer is built from
CLASSES = ("well", "missed", "out_of_scope")
FLAGGED = ("missed", "out_of_scope")
GRID = [round(0.30 + 0.01 * i, 2) for i in range(51)]  # 0.30 .. 0.80
CLUSTER_GRID = [round(0.40 + 0.025 * i, 3) for i in range(19)]  # 0.40 .. 0.85
DENSE_WEIGHTS = (1.0, 0.8, 0.6)  # 1.0 = MiniLM alone; else fused with the stems' TF-IDF
LINKAGES = ("average", "complete")


@dataclass(frozen=True)
class Scored:
    """One evaluation question: its class and the top dense score of its search."""

    id: str
    kind: str
    score: float
    question: str


def log(message: str) -> None:
    """Progress on stderr (stdout holds the result)."""
    print(f"[calibrate] {message}", file=sys.stderr, flush=True)


def score_questions(questions_path: Path, data_dir: Path) -> list[Scored]:
    """Search every evaluation question the way the advisor does and classify it."""
    from bot.advice import Turn
    from bot.advisor import retrieval_query
    from bot.config import load_settings
    from bot.wiring import open_knowledge
    from retrieval.evaluation import load_questions
    from retrieval.models import SearchFilters

    settings = load_settings(environ={"PILOTE_IA_DATA_DIR": str(data_dir)})
    kb = open_knowledge(settings, progress=False)
    scored = []
    try:
        for q in load_questions(questions_path):
            if q.intent == "subversion":
                continue
            history = [Turn(question=t.question, answer=t.answer) for t in q.history]
            query = retrieval_query(q.question, history)
            top = kb.search_dense(query, k=1)
            score = float(top[0].score) if top else 1.0
            sector = q.profile.sector if q.profile else None
            hits = kb.search(query, k=ADVISOR_K, filters=SearchFilters(sector=sector))
            found = {hit.fiche_id for hit in hits} & set(q.relevant)
            kind = "well" if found else "missed"
            if q.intent == "out_of_scope":
                kind = "out_of_scope"
            scored.append(Scored(q.id, kind, score, q.question))
    finally:
        kb.close()
    return scored


def flag_quality(scored: Sequence[Scored], threshold: float) -> dict[str, float]:
    """Precision, recall and F1 of `score < threshold` as a flag of missed/out-of-scope."""
    flagged = [s for s in scored if s.score < threshold]
    true = sum(s.kind in FLAGGED for s in flagged)
    positives = sum(s.kind in FLAGGED for s in scored)
    precision = true / len(flagged) if flagged else 1.0
    recall = true / positives if positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"threshold": threshold, "precision": precision, "recall": recall, "f1": f1}


def best_threshold(scored: Sequence[Scored]) -> dict[str, float]:
    """The grid value with the best F1 (the lowest one on ties: fewer false alarms)."""
    return max((flag_quality(scored, t) for t in GRID), key=lambda r: (r["f1"], -r["threshold"]))


def distribution(scored: Sequence[Scored]) -> dict[str, dict[str, float]]:
    """Count, min, deciles and max of the top score per class."""
    out = {}
    for kind in CLASSES:
        values = sorted(s.score for s in scored if s.kind == kind)
        if not values:
            continue
        deciles = statistics.quantiles(values, n=10) if len(values) > 1 else values * 9
        out[kind] = {
            "n": len(values),
            "min": values[0],
            "p10": deciles[0],
            "median": statistics.median(values),
            "p90": deciles[-1],
            "max": values[-1],
        }
    return out


def histogram(scored: Sequence[Scored], width: float = 0.05) -> list[str]:
    """One text line per score bin: how many questions of each class fall in it."""
    lines = [f"{'score':<11}" + "".join(f"{kind:>14}" for kind in CLASSES)]
    low = min(s.score for s in scored)
    start = int(low / width) * width
    while start <= max(s.score for s in scored):
        counts = [
            sum(start <= s.score < start + width and s.kind == k for s in scored) for k in CLASSES
        ]
        lines.append(f"{start:.2f}-{start + width:.2f}" + "".join(f"{c:>14}" for c in counts))
        start += width
    return lines


def cluster_sweep(topics_path: Path) -> tuple[list[dict[str, Any]], tuple[int, int]]:
    """Clustering quality of bot.gaps on labelled questions, for each threshold of the grid."""
    from sklearn.metrics import adjusted_rand_score, homogeneity_completeness_v_measure

    from bot.gaps import cluster_labels, question_features
    from retrieval.embedding import PACKAGED_MODEL_NAME, load_embedder

    rows = [json.loads(line) for line in topics_path.read_text(encoding="utf-8").splitlines()]
    texts = [row["question"] for row in rows]
    truth = [row["topic"] for row in rows]
    embedder = load_embedder(PACKAGED_MODEL_NAME, for_queries_only=True)
    vectors = embedder.encode(texts)
    results = []
    for weight, method, threshold in itertools.product(DENSE_WEIGHTS, LINKAGES, CLUSTER_GRID):
        features = question_features(texts, vectors, dense_weight=weight)
        labels = cluster_labels(features, threshold=threshold, method=method)
        homogeneity, completeness, _ = homogeneity_completeness_v_measure(truth, labels)
        results.append(
            {
                "dense_weight": weight,
                "linkage": method,
                "threshold": threshold,
                "clusters": float(len(set(labels))),
                "ari": float(adjusted_rand_score(truth, labels)),
                "homogeneity": float(homogeneity),
                "completeness": float(completeness),
            }
        )
    return results, (len(texts), len(set(truth)))


def report(
    scored: Sequence[Scored], sweep: Sequence[dict[str, Any]], sweep_size: tuple[int, int]
) -> dict[str, Any]:
    """Everything the script measured, as one JSON-serialisable object."""
    best = best_threshold(scored)
    around = [
        flag_quality(scored, round(best["threshold"] + d, 2)) for d in (-0.04, -0.02, 0.02, 0.04)
    ]
    return {
        "questions": len(scored),
        "distribution": distribution(scored),
        "best": best,
        "around": around,
        "out_of_scope_recall": _recall(scored, "out_of_scope", best["threshold"]),
        "missed_recall": _recall(scored, "missed", best["threshold"]),
        "labelled": sweep_size[0],
        "needs": sweep_size[1],
        "clustering": list(sweep),
        "clustering_best": _best_per_setting(sweep),
        "clustering_shipped": _shipped(sweep),
    }


def _best_per_setting(sweep: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The best-ARI row of each (dense weight, linkage)."""
    best: dict[tuple[float, str], dict[str, Any]] = {}
    for row in sweep:
        key = (row["dense_weight"], row["linkage"])
        if key not in best or row["ari"] > best[key]["ari"]:
            best[key] = row
    return list(best.values())


def _shipped(sweep: Sequence[dict[str, Any]]) -> dict[str, Any]:
    from bot.gaps import CLUSTER_THRESHOLD, DENSE_WEIGHT, LINKAGE

    return next(
        row
        for row in sweep
        if (row["dense_weight"], row["linkage"]) == (DENSE_WEIGHT, LINKAGE)
        and math.isclose(row["threshold"], CLUSTER_THRESHOLD)
    )


def _recall(scored: Sequence[Scored], kind: str, threshold: float) -> float:
    of_kind = [s for s in scored if s.kind == kind]
    return sum(s.score < threshold for s in of_kind) / len(of_kind) if of_kind else 0.0


def print_report(result: dict[str, Any], scored: Sequence[Scored]) -> None:
    """The figures as a human reads them."""
    print(f"{result['questions']} questions (subversion left out) · top score = best dense cosine")
    for kind, row in result["distribution"].items():
        print(
            f"  {kind:<13} n={row['n']:<4.0f} min {row['min']:.3f}  p10 {row['p10']:.3f}  "
            f"median {row['median']:.3f}  p90 {row['p90']:.3f}  max {row['max']:.3f}"
        )
    print()
    print("\n".join(histogram(scored)))
    best = result["best"]
    print(
        f"\nbest threshold {best['threshold']:.2f}: precision {best['precision']:.2f}, "
        f"recall {best['recall']:.2f}, F1 {best['f1']:.2f} "
        f"(flags {result['out_of_scope_recall']:.0%} of out-of-scope, "
        f"{result['missed_recall']:.0%} of missed)"
    )
    for row in result["around"]:
        print(
            f"  at {row['threshold']:.2f}: precision {row['precision']:.2f}, "
            f"recall {row['recall']:.2f}, F1 {row['f1']:.2f}"
        )
    print(
        f"\ntopic clustering of {result['labelled']} labelled owner questions "
        f"({result['needs']} needs):"
    )
    print("  best threshold of each (dense weight, linkage):")
    for row in result["clustering_best"]:
        print("    " + _cluster_line(row))
    print("  as shipped (bot/gaps.py):")
    print("    " + _cluster_line(result["clustering_shipped"]))


def _cluster_line(row: dict[str, Any]) -> str:
    return (
        f"weight {row['dense_weight']:.1f}, {row['linkage']:<8}, threshold "
        f"{row['threshold']:.3f}: {row['clusters']:.0f} topics, ARI {row['ari']:.3f}, "
        f"homogeneity {row['homogeneity']:.3f}, completeness {row['completeness']:.3f}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run both calibrations and print the figures (or one JSON object)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--questions", type=Path, default=REPO / "knowledge" / "eval" / "questions.jsonl"
    )
    parser.add_argument("--topics", type=Path, default=REPO / "tests" / "gaps" / "topics.jsonl")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="calibrate-gaps-") as data_dir:
        log("building the index and searching the evaluation set")
        scored = score_questions(args.questions, Path(data_dir))
    log("clustering the labelled questions")
    result = report(scored, *cluster_sweep(args.topics))
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result, scored)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
