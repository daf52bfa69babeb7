"""Worker start against a 100k-chunk `chroma run` server (issue 14 §2).

    .venv/bin/python benchmarks/worker_start.py            # 100,000 chunks
    .venv/bin/python benchmarks/worker_start.py --chunks 10000 --baseline 2000

The first run fills a Chroma server (data under benchmarks/out/worker-start-N/) through the
real ingest: benchmarks/corpus.py passages, one seeded random unit vector per chunk put in
the ingest's vector cache beforehand (the embedding model never runs; a worker's start does
not depend on what the vectors mean). Later runs reuse the filled server.

Then, each in a fresh process, a real `pilote-ia run --webhook` worker (offline advisor,
fake Bot API) is timed until its webhook answers and until it answered one question:
- cold: empty data directory, so no BM25 copy: it reads every chunk from the server;
- warm: the same data directory again, its BM25 copy current (fingerprint unchanged).
The ingested documents are hidden meanwhile, as on a machine that never had them.

The steps of a cold start are also timed in this process (read every chunk, build BM25,
save it, load it back), and, as a baseline in the same run, the BM25 build of the first
`--baseline` chunks with the previous French analysis (no per-word stem cache, accents
dropped by a Python call per character) and with today's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.corpus import OUT, Corpus, generate  # noqa: E402
from bot.config import DEFAULT_EMBEDDING_MODEL  # noqa: E402
from tests.fakes.processes import (  # noqa: E402
    BIN,
    env_with,
    free_port,
    start_chroma,
    stop,
    wait_http,
)
from tests.fakes.telegram_server import (  # noqa: E402
    Call,
    FakeTelegram,
    post_update,
    running_fake,
    text_update,
)

SECRET = "worker-start-secret_1"
PUBLIC_URL = "https://bot.example.org/telegram/hook"
QUESTION = "Je tiens une boulangerie et je croule sous les commandes WhatsApp, que faire ?"
DIMENSION = 384
START_TIMEOUT_S = 1800.0


def log(message: str) -> None:
    """Progress on stderr (the figures go to stdout)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# -- the filled server -----------------------------------------------------------------


@contextmanager
def chroma(workdir: Path) -> Iterator[int]:
    """The `chroma run` server of `workdir` (its data kept between runs); yields its port."""
    port = free_port()
    proc = start_chroma(workdir / "chroma-server", port, workdir / "chroma.log")
    try:
        yield port
    finally:
        stop(proc, timeout=60)


def _seed_vectors(corpus: Corpus, index_dir: Path, model_name: str) -> int:
    """Put a seeded unit vector for every chunk of the corpus in the ingest's vector cache."""
    from retrieval.chunker import chunk_fiche
    from retrieval.embed_cache import VectorCache, text_key
    from retrieval.lexical import StoredChunk
    from retrieval.loader import load_document

    keys = []
    for path in sorted(corpus.docs_dir.glob("*.md")):
        for chunk in chunk_fiche(load_document(path)):
            stored = StoredChunk(chunk.id, chunk.text, dict(chunk.metadata))
            keys.append(text_key(stored.indexed_text()))
    rng = np.random.default_rng(20261202)
    vectors = rng.standard_normal((len(keys), DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cache = VectorCache(index_dir / "embeddings.sqlite3")
    try:
        cache.put_many(model_name, keys, vectors)
    finally:
        cache.close()
    return len(keys)


def fill(workdir: Path, port: int, corpus: Corpus) -> dict[str, Any]:
    """Ingest the corpus into the server once (`ready.json` records it)."""
    ready = workdir / "ready.json"
    if ready.is_file():
        done: dict[str, Any] = json.loads(ready.read_text())
        return done
    from retrieval import open_knowledge_base
    from retrieval.embedding import resolve_model

    model_name, _ = resolve_model(DEFAULT_EMBEDDING_MODEL)
    index_dir = workdir / "fill-index"
    log(f"seeding {corpus.n_chunks} vectors")
    _seed_vectors(corpus, index_dir, model_name)
    empty = workdir / "no-fiches"
    empty.mkdir(exist_ok=True)
    log("ingesting into the Chroma server (once)")
    kb = open_knowledge_base(
        index_dir=index_dir,
        knowledge_dir=empty,
        embedding_model=DEFAULT_EMBEDDING_MODEL,
        chroma_host="127.0.0.1",
        chroma_port=port,
    )
    try:
        report = kb.ingest([corpus.docs_dir], progress=True)
    finally:
        kb.close()
    if report.chunks != corpus.n_chunks or report.cached_chunks != corpus.n_chunks:
        raise RuntimeError(f"unexpected ingest: {report}")
    done = {"chunks": report.chunks, "ingest_s": report.seconds}
    ready.write_text(json.dumps(done))
    return done


@contextmanager
def hidden(directory: Path) -> Iterator[None]:
    """Rename the ingested documents away for the block (a worker on another machine)."""
    away = directory.with_name(directory.name + ".hidden")
    directory.rename(away)
    try:
        yield
    finally:
        away.rename(directory)


# -- one worker ------------------------------------------------------------------------


def _env(data: Path, chroma_port: int, fake: FakeTelegram, webhook_port: int) -> dict[str, str]:
    return env_with(
        PILOTE_IA_DATA_DIR=str(data),
        CHROMA_HOST="127.0.0.1",
        CHROMA_PORT=str(chroma_port),
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        WEBHOOK_PORT=str(webhook_port),
    )


def _post_question(port: int, update_id: int, chat: int) -> int | None:
    url = f"http://127.0.0.1:{port}/telegram/hook"
    return post_update(url, text_update(update_id, chat, QUESTION), SECRET, timeout=60)


def _final_answer(chat: int) -> Callable[[FakeTelegram], Call | None]:
    def found(fake: FakeTelegram) -> Call | None:
        for call in fake.calls_to("editMessageText"):
            markup = call.params.get("reply_markup", "")
            if int(call.params["chat_id"]) == chat and "a:ck" in markup:
                return call
        return None

    return found


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_worker(data: Path, chroma_port: int, fake: FakeTelegram, chat: int) -> dict[str, Any]:
    """Start a `pilote-ia run --webhook` worker; seconds until ready and until one answer."""
    port = free_port()
    log_path = data.with_name(data.name + f"-{chat}.log")
    started = time.monotonic()
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "pilote-ia"), "run", "--webhook", PUBLIC_URL],
            cwd=REPO,
            env=_env(data, chroma_port, fake, port),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_http(f"http://127.0.0.1:{port}/telegram/hook", proc, log_path, START_TIMEOUT_S)
        ready = time.monotonic() - started
        status = _post_question(port, chat, chat)
        if status != 200:
            raise RuntimeError(f"the worker refused the update: HTTP {status}")
        fake.wait_for(_final_answer(chat), timeout=300)
        answered = time.monotonic() - started
        rss = peak_rss_mb(proc.pid)
    finally:
        stop(proc, timeout=60)
    text = log_path.read_text(errors="replace")
    if "Traceback" in text:
        raise RuntimeError(f"the worker failed:\n{text[-3000:]}")
    return {"ready_s": round(ready, 2), "first_answer_s": round(answered, 2), "peak_rss_mb": rss}


# -- the steps, in this process --------------------------------------------------------


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = action()
    return value, round(time.perf_counter() - started, 2)


def _previous_fold(text: str) -> str:
    """`retrieval.text.fold` as it was: a Python call per character to drop the accents."""
    text = text.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae").replace("Æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _build_as_before(records: list[Any]) -> float:
    """Seconds to build BM25 over `records` with the previous analysis: every word stemmed
    afresh, accents dropped character by character (the baseline)."""
    from retrieval import text
    from retrieval.lexical import LexicalIndex

    stem, fold = text.stem, text.fold
    text.stem = lambda word: text._stemmer().stemWord(word)  # type: ignore[assignment]
    text.fold = _previous_fold
    try:
        _, seconds = _timed(lambda: LexicalIndex.build(records, "baseline"))
    finally:
        text.stem, text.fold = stem, fold
    return seconds


def steps(chroma_port: int, baseline: int) -> dict[str, Any]:
    """Where a cold start goes: read chunks, build BM25, save, load; plus the baseline."""
    from retrieval import text
    from retrieval.lexical import LexicalIndex
    from retrieval.store import ChromaStore

    store = ChromaStore.open(
        index_dir=Path(tempfile.gettempdir()),
        host="127.0.0.1",
        port=chroma_port,
        model_name="unused",
        embedder=lambda: None,  # type: ignore[arg-type,return-value]
    )
    try:
        records, read_s = _timed(store.all_chunks)
    finally:
        store.close()
    result: dict[str, Any] = {"chunks": len(records), "read_chunks_s": read_s}
    if baseline:
        subset = records[:baseline]
        result["baseline_chunks"] = len(subset)
        result["baseline_build_before_s"] = _build_as_before(subset)
        text.stem.cache_clear()
        result["baseline_build_now_s"] = _timed(lambda: LexicalIndex.build(subset, "b"))[1]
    text.stem.cache_clear()
    index, result["build_bm25_s"] = _timed(lambda: LexicalIndex.build(records, "steps"))
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "bm25"
        result["save_bm25_s"] = _timed(lambda: index.save(target))[1]
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        result["bm25_copy_mb"] = round(size / 2**20, 1)
        result["load_bm25_s"] = _timed(lambda: LexicalIndex.load(target))[1]
    return result


# -- main ------------------------------------------------------------------------------


def run(n_chunks: int, baseline: int, runs: int) -> dict[str, Any]:
    """Fill (once), then time cold and warm worker starts and the cold start's steps."""
    workdir = OUT / f"worker-start-{n_chunks}"
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"corpus of {n_chunks} chunks")
    corpus = generate(n_chunks)
    result: dict[str, Any] = {"chunks": n_chunks, "cold": [], "warm": []}
    with chroma(workdir) as port:
        result["fill"] = fill(workdir, port, corpus)
        with hidden(corpus.docs_dir), running_fake(token="123:worker-start") as fake:
            for n in range(runs):
                with tempfile.TemporaryDirectory(dir=workdir) as tmp:
                    data = Path(tmp) / "data"
                    log(f"cold start {n + 1}/{runs}")
                    result["cold"].append(time_worker(data, port, fake, 1000 + 2 * n))
                    log(f"warm start {n + 1}/{runs}")
                    result["warm"].append(time_worker(data, port, fake, 1001 + 2 * n))
        log("steps of a cold start, in this process")
        result["steps"] = steps(port, baseline)
    return result


def table(result: dict[str, Any]) -> str:
    """The figures, for humans."""
    lines = [f"worker start against a {result['chunks']}-chunk Chroma server"]
    for kind in ("cold", "warm"):
        for n, each in enumerate(result[kind], start=1):
            lines.append(
                f"{kind} start {n}: webhook ready {each['ready_s']:.1f} s, first answer "
                f"{each['first_answer_s']:.1f} s, peak RSS {each['peak_rss_mb']:.0f} MB"
            )
    lines += [f"{key}: {value}" for key, value in result["steps"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse options, run, print a table (or JSON)."""
    parser = argparse.ArgumentParser(prog="worker_start")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1, help="cold + warm pairs")
    parser.add_argument(
        "--baseline", type=int, default=10_000, help="chunks built without the stem cache (0: no)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.chunks, args.baseline, args.runs)
    print(json.dumps(result) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
