"""Ingest throughput: sentence-transformers and ONNX Runtime side by side on the same passages.

    .venv/bin/python benchmarks/ingest_onnx.py [--rounds N] [--stream-chunks N ...] [--json]

1. Encoding: every embedder encodes the indexed texts of knowledge/ in one process, rounds
   interleaved so that a busy machine slows all of them alike; best and median chunks/s, and
   where the ONNX time goes (tokenizer, ONNX Runtime, the rest).
2. Ingest: a whole `ingest` of a copy of knowledge/ without its shipped vectors (every chunk
   computed, Chroma and BM25 written), one fresh process per embedder: chunks/s, model load
   and peak RSS. benchmarks/run.py reports the "onnx" figure as `ingest_onnx_chunks_per_s`.
3. With --stream-chunks: ingests of generated documents of that many chunks (ONNX fp32),
   to show that the peak RSS does not grow with the number of chunks.

Each whole ingest of knowledge/ is then scored on knowledge/eval/questions.jsonl (recall@5 of
dense and hybrid search, queries embedded as in production), so a faster int8 graph shows at
once whether it keeps the retrieval quality. Torch keeps its own thread count (reported).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

KNOWLEDGE = REPO / "knowledge"
EMBEDDERS = ("sentence-transformers", "onnx", "onnx-int8")
_WORDS = [
    "caisse",
    "stock",
    "commande",
    "fournisseur",
    "facture",
    "devis",
    "client",
    "relance",
    "planning",
    "chantier",
    "livraison",
    "inventaire",
    "remise",
    "marge",
    "trésorerie",
    "paie",
    "congé",
    "sécurité",
    "hygiène",
    "accueil",
    "réclamation",
    "garantie",
    "retour",
    "étiquette",
    "vitrine",
    "réservation",
    "tournée",
    "atelier",
]


def log(message: str) -> None:
    print(f"[ingest-onnx] {message}", file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    """Peak resident memory of this process since it started its program.

    VmHWM, not getrusage: Linux keeps ru_maxrss across exec, so a child would report the
    peak of the parent that spawned it.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def passages() -> list[str]:
    """The indexed texts of every chunk of knowledge/, as ingest embeds them."""
    from retrieval.chunker import chunk_fiche
    from retrieval.lexical import StoredChunk
    from retrieval.loader import load_fiches

    fiches, _ = load_fiches(KNOWLEDGE)
    return [
        StoredChunk(c.id, c.text, dict(c.metadata)).indexed_text()
        for fiche in fiches
        for c in chunk_fiche(fiche)
    ]


# -- 1. encoding, in one process ----------------------------------------------------------


def _load(name: str, cache_dir: Path) -> Any:
    from retrieval.embedding import PACKAGED_MODEL_NAME, load_embedder

    return load_embedder(PACKAGED_MODEL_NAME, runtime=name, onnx_cache_dir=cache_dir)


def onnx_stages(embedder: Any, texts: Sequence[str]) -> dict[str, float]:
    """Seconds spent tokenising, in ONNX Runtime, and elsewhere, for one encode of `texts`."""
    import numpy as np

    from retrieval.fast_minilm import tokenize
    from retrieval.onnx_embedding import _BATCH_TOKENS, _MAX_BATCH, length_batches

    started = time.perf_counter()
    encodings = tokenize(embedder._tokenizer, embedder._spec, texts)
    tokenised = time.perf_counter()
    in_runtime = 0.0
    lengths = [len(e.ids) for e in encodings]
    for batch in length_batches(lengths, _BATCH_TOKENS, _MAX_BATCH):
        chosen = [encodings[i] for i in batch]
        width = max(len(e.ids) for e in chosen)
        ids = np.zeros((len(chosen), width), dtype=np.int64)
        mask = ids.copy()
        for row, enc in enumerate(chosen):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        t = time.perf_counter()
        embedder._session.run(None, {"input_ids": ids, "attention_mask": mask})
        in_runtime += time.perf_counter() - t
    total = time.perf_counter() - started
    return {
        "tokenize_s": round(tokenised - started, 3),
        "onnxruntime_s": round(in_runtime, 3),
        "other_s": round(total - (tokenised - started) - in_runtime, 3),
    }


def encode_side_by_side(rounds: int, cache_dir: Path) -> dict[str, Any]:
    """Chunks/s of each embedder on the same passages, rounds interleaved."""
    import numpy as np

    texts = passages()
    loaded: dict[str, Any] = {}
    load_s: dict[str, float] = {}
    for name in EMBEDDERS:
        started = time.perf_counter()
        loaded[name] = _load(name, cache_dir)
        loaded[name].encode(texts[:16])  # warm-up: first run allocates
        load_s[name] = round(time.perf_counter() - started, 2)
    speeds: dict[str, list[float]] = {name: [] for name in EMBEDDERS}
    vectors: dict[str, Any] = {}
    for round_ in range(rounds):
        for name in EMBEDDERS:
            started = time.perf_counter()
            vectors[name] = loaded[name].encode(texts)
            speeds[name].append(len(texts) / (time.perf_counter() - started))
        log(f"round {round_ + 1}: " + ", ".join(f"{n} {s[-1]:.1f}" for n, s in speeds.items()))
    reference = vectors["sentence-transformers"]
    result: dict[str, Any] = {
        "passages": len(texts),
        "rounds": rounds,
        "threads": {"torch": _torch_threads(), "onnxruntime": loaded["onnx"].threads},
    }
    for name in EMBEDDERS:
        cosines = np.sum(vectors[name] * reference, axis=1)
        result[name] = {
            "best_chunks_per_s": round(max(speeds[name]), 1),
            "median_chunks_per_s": round(statistics.median(speeds[name]), 1),
            "load_s": load_s[name],
            "min_cosine_to_st": round(float(cosines.min()), 6),
            "mean_cosine_to_st": round(float(cosines.mean()), 6),
        }
    for name in ("onnx", "onnx-int8"):
        result[name]["stages"] = onnx_stages(loaded[name], texts)
        result[name]["speedup_median"] = round(
            result[name]["median_chunks_per_s"]
            / result["sentence-transformers"]["median_chunks_per_s"],
            2,
        )
    return result


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


# -- 2. whole ingests, one process each ---------------------------------------------------


def child_ingest(embedder: str, source: Path, index: Path, cache_dir: Path) -> dict[str, Any]:
    """One ingest of `source` with `embedder` (run in a fresh process): a folder named
    knowledge is ingested as the fiches, any other as user documents."""
    from retrieval import open_knowledge_base
    from retrieval.embedding import PACKAGED_MODEL_NAME, load_embedder

    started = time.perf_counter()
    # loaded apart (converting the graph on a first run), as run.py does for the torch model
    embedder_ = load_embedder(PACKAGED_MODEL_NAME, runtime=embedder, onnx_cache_dir=cache_dir)
    load_s = time.perf_counter() - started
    knowledge = source if source.name == "knowledge" else KNOWLEDGE
    kb = open_knowledge_base(
        index_dir=index,
        knowledge_dir=knowledge,
        embedding_model=PACKAGED_MODEL_NAME,
        embedder=embedder_,
        ingest_embedder=embedder,
    )
    try:
        report = kb.ingest([source], progress=False)
    finally:
        kb.close()
    scores = recall_at_5(index, knowledge, embedder, cache_dir) if knowledge == source else {}
    return {
        "embedder": embedder,
        "chunks": report.embedded_chunks,
        "cached_chunks": report.cached_chunks,
        "seconds": report.seconds,
        "chunks_per_s": round(report.embedded_chunks / report.seconds, 1),
        "model_load_s": round(load_s, 2),
        "peak_rss_mb": round(peak_rss_mb()),
        "torch_loaded": "torch" in sys.modules,
        "recall@5": scores,
    }


def recall_at_5(index: Path, knowledge: Path, embedder: str, cache_dir: Path) -> dict[str, float]:
    """Recall@5 of dense and hybrid search on the eval questions, for the index just built.

    Reopened without the ingest embedder, so that queries are embedded as in production.
    """
    from retrieval import open_knowledge_base
    from retrieval.embedding import PACKAGED_MODEL_NAME
    from retrieval.evaluation import evaluate

    kb = open_knowledge_base(
        index_dir=index,
        knowledge_dir=knowledge,
        embedding_model=PACKAGED_MODEL_NAME,
        ingest_embedder=embedder,
        onnx_cache_dir=cache_dir,
    )
    try:
        scores = evaluate(kb, knowledge / "eval" / "questions.jsonl")
    finally:
        kb.close()
    return {method: scores[method]["recall@5"] for method in ("dense", "hybrid")}


def ingest_run(embedder: str, knowledge: Path, index: Path, cache_dir: Path) -> dict[str, Any]:
    """`child_ingest` in a fresh Python process (own peak RSS, no module shared)."""
    args = [str(knowledge), str(index), str(cache_dir)]
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", embedder, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=7200,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def knowledge_copy(work: Path) -> Path:
    """knowledge/ without its shipped vectors, so that every chunk is computed."""
    target = work / "knowledge"
    shutil.copytree(KNOWLEDGE, target, ignore=shutil.ignore_patterns("*.npz"))
    return target


def generated_documents(folder: Path, chunks: int) -> Path:
    """About `chunks` one-chunk text documents, all different (no cache hit)."""
    folder.mkdir(parents=True)
    for i in range(chunks):
        words = [_WORDS[(i * 7 + j * j) % len(_WORDS)] for j in range(90)]
        text = f"Procédure {i} du réseau. " + " ".join(words) + f". Référence interne {i}."
        (folder / f"procedure-{i:06d}.txt").write_text(text, encoding="utf-8")
    return folder


def run(rounds: int, stream_chunks: Sequence[int]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-onnx-"))
    cache_dir = work / "onnx"
    try:
        log(f"encoding side by side, {rounds} rounds")
        result: dict[str, Any] = {"encode": encode_side_by_side(rounds, cache_dir)}
        knowledge = knowledge_copy(work)
        result["ingest"] = {}
        for name in EMBEDDERS:
            log(f"whole ingest with {name}")
            result["ingest"][name] = ingest_run(name, knowledge, work / f"i-{name}", cache_dir)
        result["stream"] = []
        for count in stream_chunks:
            log(f"streaming ingest of {count} generated chunks (onnx)")
            docs = generated_documents(work / f"docs-{count}", count)
            result["stream"].append(ingest_run("onnx", docs, work / f"s-{count}", cache_dir))
            shutil.rmtree(docs, ignore_errors=True)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def table(result: dict[str, Any]) -> str:
    enc = result["encode"]
    lines = [
        f"encode, {enc['passages']} passages of knowledge/, {enc['rounds']} interleaved rounds, "
        f"threads {enc['threads']}",
        f"{'embedder':24} {'median/s':>9} {'best/s':>8} {'load s':>7} {'min cos':>8}",
    ]
    for name in EMBEDDERS:
        r = enc[name]
        lines.append(
            f"{name:24} {r['median_chunks_per_s']:9.1f} {r['best_chunks_per_s']:8.1f} "
            f"{r['load_s']:7.2f} {r['min_cosine_to_st']:8.5f}"
        )
    for name in ("onnx", "onnx-int8"):
        lines.append(f"{name} stages: {enc[name]['stages']}  x{enc[name]['speedup_median']}")
    lines.append("whole ingest (fresh process each)")
    for name, r in result["ingest"].items():
        lines.append(
            f"{name:24} {r['chunks_per_s']:7.1f} chunks/s  {r['chunks']} chunks  "
            f"load {r['model_load_s']:.1f} s  peak RSS {r['peak_rss_mb']} MB  "
            f"torch {r['torch_loaded']}  recall@5 {r['recall@5']}"
        )
    for r in result["stream"]:
        lines.append(
            f"stream {r['chunks']:>6} chunks: {r['chunks_per_s']:.1f} chunks/s, "
            f"peak RSS {r['peak_rss_mb']} MB"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stream-chunks", type=int, nargs="*", default=[])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs=4, metavar=("EMBEDDER", "KNOWLEDGE", "INDEX", "CACHE"))
    args = parser.parse_args(argv)
    if args.child:
        name, knowledge, index, cache = args.child
        print(json.dumps(child_ingest(name, Path(knowledge), Path(index), Path(cache))))
        return 0
    result = run(args.rounds, args.stream_chunks)
    print(json.dumps(result, indent=1) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
