"""Time the gap report (`pilote-ia gaps`) over 10,000 stored questions.

    .venv/bin/python benchmarks/gaps_report.py [--questions 10000] [--gap-share 0.3] [--json]

Seeds a temporary SQLite store with French owner questions generated from templates (trades,
needs, SMS spellings, typos, a name or a phone number now and then); a share of them are gaps
(weak retrieval, out of scope, neighbouring need, 👎). Then:

1. runs the real console script `pilote-ia gaps --json` on it: total wall time (process start
   included) and the process's peak memory;
2. splits the same report in-process: store read + anonymisation, embedding, clustering,
   describing the topics;
3. compares, in the same run, each heavy step with a baseline: embedding every question vs
   each distinct text once (as shipped), the numpy MiniLM (as shipped) vs sentence-transformers
   on torch, and clustering with scipy on condensed distances built block by block (as shipped)
   vs scikit-learn's AgglomerativeClustering on the full square matrix (same linkage, same cut).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DAY = 86_400.0
OWNERS = 900

TRADES = [
    "boulangerie",
    "salon de coiffure",
    "garage auto",
    "cabinet de kiné",
    "restaurant",
    "entreprise de plomberie",
    "fleuriste",
    "épicerie fine",
    "agence immobilière",
    "boutique de vêtements",
    "cabinet comptable",
    "gîte",
    "atelier de menuiserie",
    "pharmacie",
    "auto-école",
]
# needs the base does not cover: these make the gaps, in several wordings each
UNCOVERED = {
    "caisse": [
        "quel logiciel de caisse pour ma {trade} ?",
        "caisse enregistreuse connectée pas chère pour une {trade}",
        "faut-il une caisse certifiée NF525 dans ma {trade}",
    ],
    "assurance": [
        "quelle assurance pro pour ma {trade} ?",
        "assurance responsabilité civile pour une {trade}, combien ça coûte",
        "mon assureur augmente ma prime, je tiens une {trade}, que faire",
    ],
    "recrutement": [
        "comment recruter un apprenti pour ma {trade}",
        "j'arrive pas à embaucher pour ma {trade}",
        "où publier une offre d'emploi pour une {trade}",
    ],
    "tva": [
        "quel taux de TVA pour ma {trade} ?",
        "comment récupérer la TVA sur mes achats, j'ai une {trade}",
        "déclaration de TVA trimestrielle pour une {trade}",
    ],
    "loyer": [
        "mon bailleur augmente le loyer de ma {trade}, c'est légal ?",
        "comment renégocier le bail commercial de ma {trade}",
        "résilier le bail 3-6-9 de ma {trade}",
    ],
    "impayes": [
        "un client de ma {trade} ne me paie pas depuis 3 mois",
        "comment relancer les factures impayées de ma {trade}",
        "injonction de payer pour un client de ma {trade} ?",
    ],
    "stock": [
        "gérer le stock de ma {trade} sans excel",
        "logiciel de gestion de stock pour une {trade}",
        "toujours des ruptures de stock dans ma {trade}",
    ],
    "traduction": [
        "traduire le site de ma {trade} en anglais",
        "un outil pour traduire les fiches produits de ma {trade} ?",
    ],
    "cyber": [
        "la boîte mail de ma {trade} a été piratée",
        "protéger ma {trade} contre les rançongiciels",
        "mail de phishing reçu à la {trade}, risque ?",
    ],
    "planning": [
        "faire le planning des employés de ma {trade}",
        "appli pour les horaires et congés de l'équipe de ma {trade}",
    ],
    "banque": [
        "quelle banque pro en ligne pour ma {trade}",
        "frais bancaires trop chers pour ma {trade}, je change pour qui ?",
    ],
    "livraison": [
        "optimiser les tournées de livraison de ma {trade}",
        "logiciel de tournée pour livrer les clients de ma {trade}",
    ],
}
OUT_OF_SCOPE = [
    "recette de la blanquette de veau stp",
    "il va faire quel temps demain à {city} ?",
    "qui a gagné le match hier soir ?",
    "mon horoscope de la semaine",
    "meilleure crypto à acheter en ce moment ?",
    "un bon film pour ce soir ?",
    "combien de calories dans un croissant",
]
COVERED = [
    "je croule sous les commandes WhatsApp dans ma {trade}, que faire ?",
    "un outil pour lire mes factures fournisseurs, j'ai une {trade}",
    "comment répondre plus vite aux avis Google de ma {trade}",
    "faire mes devis plus vite dans ma {trade}",
    "prise de rendez-vous en ligne pour ma {trade}",
    "écrire mes posts Instagram pour ma {trade} avec l'IA",
    "AI Act : quelles obligations pour ma {trade} ?",
    "combien coûte ChatGPT pour une {trade} ?",
]
CITIES = ["Lyon", "Nantes", "Marseille", "Lille", "Rennes", "Bordeaux"]
OPENINGS = ["", "", "", "bonjour, ", "slt ", "Bonjour ! ", "svp "]
SIGNATURES = [
    "",
    "",
    "",
    "",
    " je m'appelle {name}",
    " Cordialement, {name}",
    " rappelez moi au 06 {a:02d} {b:02d} {c:02d} {d:02d}",
]
NAMES = ["Marie Dupont", "Karim", "Jean-Pierre Martin", "Sophie", "Nadia Benali", "Paul"]
SMS = [
    ("qu'est-ce que", "kesk"),
    ("c'est", "c"),
    ("pour", "pr"),
    ("toujours", "tjs"),
    ("quel", "kel"),
    ("beaucoup", "bcp"),
    ("je ", "j "),
]
ACCENTS = str.maketrans("éèêàâçôûîï", "eeeaacouii")


def log(message: str) -> None:
    """Progress on stderr (stdout holds the result)."""
    print(f"[gaps-bench] {message}", file=sys.stderr, flush=True)


def owner_text(template: str, rng: random.Random) -> str:
    """One owner's wording: a trade and a city filled in, an opening, SMS style, a typo."""
    text = template.format(trade=rng.choice(TRADES), city=rng.choice(CITIES))
    text = rng.choice(OPENINGS) + text
    if rng.random() < 0.35:
        for plain, sms in SMS:
            if rng.random() < 0.6:
                text = text.replace(plain, sms)
    if rng.random() < 0.4:
        text = text.translate(ACCENTS)
    if rng.random() < 0.25 and len(text) > 12:  # one swapped pair of letters
        at = rng.randrange(1, len(text) - 2)
        text = text[:at] + text[at + 1] + text[at] + text[at + 2 :]
    signature = rng.choice(SIGNATURES)
    numbers = {k: rng.randrange(100) for k in "abcd"}
    return text + signature.format(name=rng.choice(NAMES), **numbers)


def seed_store(path: Path, total: int, gap_share: float, seed: int = 7) -> int:
    """Write `total` answers (a `gap_share` of them gaps) into a fresh store; the gap count."""
    from bot.storage import AnswerRecord, SQLiteStore

    rng = random.Random(seed)
    store = SQLiteStore(path)
    now = time.time()
    base = AnswerRecord(
        0, 0, 0, 0.0, "", "need", "offline", None, None, None, (), (), (), 0.7, False, 1.0, 0.0
    )
    gaps = 0
    for _ in range(total):
        user = rng.randrange(OWNERS)
        at = now - rng.uniform(0, 29 * DAY)
        record = replace(base, user_id=user, chat_id=user, at=at)
        if rng.random() < gap_share:
            gaps += 1
            record = _gap_record(record, rng)
        else:
            record = replace(
                record,
                question=owner_text(rng.choice(COVERED), rng),
                retrieved=("tool-whatsapp-business", "guide-pilote-messages"),
                top_score=rng.uniform(0.6, 0.85),
            )
        answer_id = store.record_answer(record)
        if record.intent != "out_of_scope" and rng.random() < 0.05:
            store.set_vote(answer_id, user, -1 if (record.top_score or 1.0) < 0.6 else 1)
    store.close()
    return gaps


def _gap_record(record: Any, rng: random.Random) -> Any:
    kind = rng.random()
    if kind < 0.12:
        question = owner_text(rng.choice(OUT_OF_SCOPE), rng)
        return replace(record, question=question, intent="out_of_scope", top_score=0.42)
    need = rng.choice(sorted(UNCOVERED))
    question = owner_text(rng.choice(UNCOVERED[need]), rng)
    retrieved = rng.sample(["guide-pilote-messages", "tool-pennylane", "guide-aides", "case-x"], 2)
    neighbour = kind > 0.85
    score = rng.uniform(0.6, 0.7) if neighbour else rng.uniform(0.35, 0.55)
    return replace(
        record,
        question=question,
        retrieved=tuple(retrieved),
        top_score=score,
        neighbour_need=neighbour,
    )


def run_console(data_dir: Path) -> dict[str, float]:
    """`pilote-ia gaps --json` in a fresh process: wall time, peak memory, topics."""
    env = {**os.environ, "PILOTE_IA_DATA_DIR": str(data_dir)}
    script = Path(sys.executable).with_name("pilote-ia")
    code = (
        "import resource, sys\n"
        "from bot.cli import main\n"
        "status = main(['gaps', '--json'])\n"
        "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(peak, file=sys.stderr)\n"
        "raise SystemExit(status)\n"
    )
    assert script.exists()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=data_dir,
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.perf_counter() - started
    report = json.loads(done.stdout)
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_kb / 1024,
        "gap_questions": report["questions"],
        "topics": len(report["topics"]),
        "topics_2plus": sum(t["questions"] >= 2 for t in report["topics"]),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """(result, seconds) of one call."""
    started = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - started


def peak_mb(fn: Callable[[], Any]) -> float:
    """Peak MB of the Python and numpy allocations of one call (traced: run apart from timing)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return peak


def breakdown(db_path: Path, compare_torch: bool) -> dict[str, Any]:
    """The report's steps in-process, each with its baseline."""
    from collections import Counter

    from bot.anonymise import strip_masks
    from bot.config import load_settings
    from bot.gaps import cluster_labels, gap_questions, gap_topics, question_features
    from bot.storage import SQLiteStore
    from retrieval.embedding import PACKAGED_MODEL_NAME, load_embedder

    settings = load_settings(environ={"PILOTE_IA_DATA_DIR": str(db_path.parent)})
    store = SQLiteStore(db_path)
    since = time.time() - 30 * DAY
    questions, read_s = timed(
        lambda: gap_questions(store, since, weak_score=settings.gap_weak_score)
    )
    store.close()
    requests = Counter(strip_masks(q.question) or q.question for q in questions)  # as gap_topics
    texts = [text for text, _ in requests.most_common()]
    embedder = load_embedder(PACKAGED_MODEL_NAME, for_queries_only=True)
    spent: list[float] = []

    def embed(batch: Sequence[str]) -> Any:
        started = time.perf_counter()
        vectors = embedder.encode(batch)
        spent.append(time.perf_counter() - started)
        return vectors

    _, topics_s = timed(lambda: gap_topics(questions, embed))
    embed_s = sum(spent)
    # the machine is shared: each embedding variant runs twice, interleaved, best time kept
    every = [q.question for q in questions]
    runs: dict[str, list[float]] = {"distinct": [], "every": []}
    for _ in range(2):
        vectors, seconds = timed(lambda: embedder.encode(texts))
        runs["distinct"].append(seconds)
        runs["every"].append(timed(lambda: embedder.encode(every))[1])
    features, features_s = timed(lambda: question_features(texts, vectors))
    labels, scipy_s = timed(lambda: cluster_labels(features))
    sk_labels, sklearn_s = timed(lambda: _sklearn_labels(features))
    scipy_mb = peak_mb(lambda: cluster_labels(features))
    sklearn_mb = peak_mb(lambda: _sklearn_labels(features))
    out: dict[str, Any] = {
        "gap_questions": len(questions),
        "distinct_texts": len(texts),
        "store_read_s": read_s,
        "topics_s": topics_s,
        "embedding_s": embed_s,
        "features_s": features_s,
        "clustering_s": scipy_s,
        "describe_s": topics_s - embed_s - features_s - scipy_s,
        "embedding_best_of_2_s": min(runs["distinct"]),
        "baseline_embed_every_question_s": min(runs["every"]),
        "clustering_peak_mb": scipy_mb,
        "baseline_sklearn_clustering_s": sklearn_s,
        "baseline_sklearn_clustering_peak_mb": sklearn_mb,
        "same_partition": _same_partition(labels, sk_labels),
    }
    if compare_torch:
        from retrieval.embedding import SentenceTransformerEmbedder

        started = time.perf_counter()
        torch_model = SentenceTransformerEmbedder(PACKAGED_MODEL_NAME)
        out["baseline_torch_load_s"] = time.perf_counter() - started
        _, out["baseline_torch_embedding_s"] = timed(lambda: torch_model.encode(texts))
    return out


def _sklearn_labels(features: Any) -> Any:
    """Baseline: scikit-learn on the full square distance matrix, same linkage and cut."""
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering

    from bot.gaps import CLUSTER_THRESHOLD, LINKAGE

    distances = 1.0 - features.similarity(slice(None), features)
    np.clip(distances, 0.0, 2.0, out=distances)
    np.fill_diagonal(distances, 0.0)
    model = AgglomerativeClustering(
        n_clusters=None,
        metric="precomputed",
        linkage=LINKAGE,
        distance_threshold=CLUSTER_THRESHOLD,
    )
    return model.fit_predict(distances)


def _same_partition(a: Any, b: Any) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(a, b))


def print_report(result: dict[str, Any]) -> None:
    """The figures as a human reads them."""
    console, steps = result["console"], result["steps"]
    print(
        f"{result['stored']} stored answers, {result['gaps_seeded']} seeded gaps "
        f"({steps['gap_questions']} found, {steps['distinct_texts']} distinct requests)"
    )
    print(
        f"pilote-ia gaps --json (fresh process): {console['seconds']:.1f} s, peak RSS "
        f"{console['peak_rss_mb']:.0f} MB, {console['topics']:.0f} topics "
        f"({console['topics_2plus']:.0f} with 2+ questions)"
    )
    topics = steps["topics_s"]
    print("in-process split of the report:")
    print(f"  store read + anonymisation {steps['store_read_s']:6.2f} s")
    for key, label in (
        ("embedding_s", "embedding (numpy MiniLM)"),
        ("features_s", "fusion with TF-IDF"),
        ("clustering_s", "clustering (scipy)"),
        ("describe_s", "labels, examples, kinds"),
    ):
        share = steps[key] / topics if topics else 0.0
        print(f"  {label:<26} {steps[key]:6.2f} s  ({share:.0%} of gap_topics)")
    print(f"  gap_topics total           {topics:6.2f} s")
    print("baselines (same run):")
    print(
        f"  embedding every question instead of each distinct request (best of 2): "
        f"{steps['baseline_embed_every_question_s']:.2f} s "
        f"vs {steps['embedding_best_of_2_s']:.2f} s"
    )
    if "baseline_torch_embedding_s" in steps:
        print(
            f"  sentence-transformers (torch) instead of numpy: "
            f"{steps['baseline_torch_embedding_s']:.2f} s + {steps['baseline_torch_load_s']:.1f} s "
            f"load vs {steps['embedding_best_of_2_s']:.2f} s"
        )
    print(
        f"  scikit-learn on the square matrix: {steps['baseline_sklearn_clustering_s']:.2f} s, "
        f"peak {steps['baseline_sklearn_clustering_peak_mb']:.0f} MB vs scipy "
        f"{steps['clustering_s']:.2f} s, peak {steps['clustering_peak_mb']:.0f} MB "
        f"(same partition: ARI {steps['same_partition']:.3f})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Seed, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--gap-share", type=float, default=0.3)
    parser.add_argument("--no-torch", action="store_true", help="skip the torch baseline")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-gaps-") as tmp:
        data_dir = Path(tmp)
        log(f"seeding {args.questions} answers")
        gaps = seed_store(data_dir / "pilote-ia.sqlite3", args.questions, args.gap_share)
        log("running pilote-ia gaps --json")
        console = run_console(data_dir)
        log("timing each step and its baseline")
        steps = breakdown(data_dir / "pilote-ia.sqlite3", compare_torch=not args.no_torch)
    result = {
        "stored": args.questions,
        "gaps_seeded": gaps,
        "console": console,
        "steps": steps,
        "peak_rss_mb_this_process": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
