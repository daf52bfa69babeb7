"""Ingest memory: resident memory of a real `pilote-ia ingest` of N generated chunks over time.

    nice .venv/bin/python benchmarks/ingest_memory.py [--chunks 50000] [--baseline N]
        [--lock /tmp/bench.lock] [--json]

Generates a French document base of N chunks (Markdown notes of five `##` sections built
from the sentence pool of benchmarks/corpus.py; each section is one chunk of the real
chunker) in a temporary directory, and runs `pilote-ia ingest` on it in a fresh process with
INGEST_EMBEDDER=onnx and an empty data directory. The child's RSS is sampled every
0.2 s (psutil, else /proc/<pid>/status); its progress is read from the tqdm bar it writes
to stderr. Printed for N and for a baseline of N/5 chunks in the same run: chunks/s, peak
RSS (VmHWM), RSS at 10 %, 50 % and 90 % of the bar, and the peak of each phase (reading and
chunking before the bar, embedding and writing during it, BM25 and manifest after it).
Memory is flat when the peak of N is about the peak of N/5. A warm-up ingest of a few
chunks first builds the ONNX graph in a shared cache so that no run pays for it. With
--lock, each ingest holds that file's lock (flock) while it runs, so that benchmarks
sharing the machine take turns ingest by ingest rather than for the whole run.
"""

from __future__ import annotations

import argparse
import codecs
import fcntl
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.corpus import HEADINGS, SECTIONS_PER_DOC, sentence_pool, titles  # noqa: E402
from bot.config import SETTING_PREFIXES  # noqa: E402

CLI = Path(sys.executable).parent / "pilote-ia"
SEED = 20251202
_SECTION_WORDS = 80  # title and heading included, a section stays under the chunker's 120
_BAR = re.compile(r"Indexation:.*?(\d+)/(\d+)")
_SAMPLE_S = 0.2
WARM_UP_CHUNKS = 20


def log(message: str) -> None:
    print(f"[ingest-memory] {message}", file=sys.stderr, flush=True)


# -- the documents --------------------------------------------------------------------------


def write_documents(folder: Path, n_chunks: int, seed: int = SEED) -> Path:
    """Markdown notes holding `n_chunks` sections in all, each a distinct chunk."""
    rng = random.Random(seed + n_chunks)
    pool, all_titles = sentence_pool(), titles()
    folder.mkdir(parents=True)
    for doc in range((n_chunks + SECTIONS_PER_DOC - 1) // SECTIONS_PER_DOC):
        count = min(SECTIONS_PER_DOC, n_chunks - doc * SECTIONS_PER_DOC)
        lines = [f"# {rng.choice(all_titles)}", ""]
        for heading in rng.sample(HEADINGS, count):
            sentences = [rng.choice(pool) for _ in range(rng.randint(3, 5))]
            while len(sentences) > 1 and len(" ".join(sentences).split()) > _SECTION_WORDS:
                sentences.pop()
            # a reference makes every section distinct, as in a real base (no cache hit)
            text = " ".join(sentences) + f" Réf. {doc}-{heading[:3].lower()}."
            lines += [f"## {heading}", "", text, ""]
        (folder / f"note-{doc:06d}.md").write_text("\n".join(lines), encoding="utf-8")
    return folder


# -- sampling a child -----------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` now (psutil when installed, else /proc)."""
    try:
        import psutil

        return float(psutil.Process(pid).memory_info().rss) / 2**20
    except ImportError:
        return _status_kb(pid, "VmRSS") / 1024


@dataclass
class Progress:
    """The last `done/total` the child's progress bar showed, read from its stderr."""

    done: int = 0
    total: int = 0
    tail: list[str] = field(default_factory=list)

    def follow(self, stream: IO[bytes]) -> None:
        """Read the child's stderr as it comes (a bar redraw is not a whole line)."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        buffer = ""
        while chunk := os.read(stream.fileno(), 4096):
            buffer += decoder.decode(chunk)
            pieces = re.split(r"[\r\n]", buffer)
            buffer = pieces.pop()
            for piece in pieces:
                self._read(piece)
        self._read(buffer)

    def _read(self, piece: str) -> None:
        if match := _BAR.search(piece):
            self.done, self.total = int(match.group(1)), int(match.group(2))
        elif piece.strip():
            self.tail = [*self.tail[-20:], piece]


@dataclass
class Sample:
    seconds: float
    rss_mb: float
    done: int
    bar_shown: bool  # False while documents are read and chunked


@dataclass
class Run:
    """What one child ingest did, with its memory samples."""

    chunks: int
    seconds: float
    bar_seconds: float
    peak_rss_mb: float
    samples: list[Sample]
    summary: str

    def rss_at(self, fraction: float) -> float:
        """RSS of the first sample taken once the bar passed `fraction` of the chunks."""
        goal = fraction * self.chunks
        return next((s.rss_mb for s in self.samples if s.done >= goal), float("nan"))

    def phase_peaks(self) -> dict[str, float]:
        """Highest sampled RSS before the bar moved, while it moved, after it was full."""
        before = [s.rss_mb for s in self.samples if not s.bar_shown]
        during = [s.rss_mb for s in self.samples if s.bar_shown and s.done < self.chunks]
        after = [s.rss_mb for s in self.samples if s.done >= self.chunks]
        return {
            "load_and_chunk": max(before, default=float("nan")),
            "embed_and_write": max(during, default=float("nan")),
            "bm25_and_manifest": max(after, default=float("nan")),
        }

    def report(self) -> dict[str, Any]:
        return {
            "chunks": self.chunks,
            "seconds": round(self.seconds, 1),
            "chunks_per_s": round(self.chunks / self.seconds, 1),
            "bar_chunks_per_s": round(self.chunks / self.bar_seconds, 1)
            if self.bar_seconds
            else None,
            "peak_rss_mb": round(self.peak_rss_mb),
            "rss_at_10_50_90_mb": [_mb(self.rss_at(f)) for f in (0.1, 0.5, 0.9)],
            "phase_peak_mb": {k: _mb(v) for k, v in self.phase_peaks().items()},
            "summary": self.summary,
        }


def _mb(value: float) -> int | None:
    """Rounded megabytes; None when no sample fell in the range (a run shorter than 0.2 s)."""
    return None if math.isnan(value) else round(value)


def child_env(data_dir: Path) -> dict[str, str]:
    """This environment without pilote-ia settings, plus an own data dir and the onnx embedder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTING_PREFIXES)}
    env.update(
        PILOTE_IA_DATA_DIR=str(data_dir),
        INGEST_EMBEDDER="onnx",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        TOKENIZERS_PARALLELISM="false",
    )
    return env


def ingest(docs: Path, data_dir: Path, onnx_cache: Path, expected: int) -> Run:
    """`pilote-ia ingest docs` in a fresh process, sampled until it exits."""
    data_dir.mkdir(parents=True)
    (data_dir / "onnx").symlink_to(onnx_cache, target_is_directory=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [str(CLI), "ingest", str(docs)],
        cwd=data_dir,  # no .env of the checkout
        env=child_env(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None and proc.stdout is not None
    progress = Progress()
    reader = threading.Thread(target=progress.follow, args=(proc.stderr,), daemon=True)
    reader.start()
    samples: list[Sample] = []
    peak_kb, bar_start, bar_end = 0, 0.0, 0.0
    while proc.poll() is None:
        now = time.perf_counter() - started
        try:
            samples.append(Sample(now, rss_mb(proc.pid), progress.done, progress.total > 0))
            peak_kb = max(peak_kb, _status_kb(proc.pid, "VmHWM"))
        except (OSError, ProcessLookupError):
            break  # exited between poll() and the read
        except Exception as exc:  # psutil.NoSuchProcess: the same race
            if proc.poll() is None:
                raise
            log(f"last sample lost: {exc}")
            break
        if progress.total and not bar_start:  # the bar appears at 0/N once chunks are read
            bar_start = now
        if progress.total and progress.done >= progress.total and not bar_end:
            bar_end = now
        time.sleep(_SAMPLE_S)
    seconds = time.perf_counter() - started
    summary = proc.stdout.read().decode("utf-8", errors="replace").strip()
    proc.wait()
    reader.join(timeout=5)
    if proc.returncode != 0:
        raise RuntimeError(f"ingest failed ({proc.returncode}): {progress.tail}")
    if progress.total and progress.total != expected:
        log(f"the bar counted {progress.total} chunks, {expected} expected")
    chunks = progress.total or expected
    for sample in samples:  # past the bar's last redraw: every chunk is written
        if bar_end and sample.seconds >= bar_end:
            sample.done, sample.bar_shown = chunks, True
    bar_s = (bar_end or seconds) - bar_start if bar_start else 0.0
    return Run(chunks, seconds, bar_s, peak_kb / 1024, samples, summary)


@contextmanager
def turn(lock: Path | None) -> Iterator[None]:
    """Hold `lock` (flock), when given, for the duration of the block."""
    if lock is None:
        yield
        return
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def measure(n_chunks: int, baseline: int, work: Path, lock: Path | None) -> dict[str, Any]:
    onnx_cache = work / "onnx"
    onnx_cache.mkdir()
    result: dict[str, Any] = {}
    for name, count in (("warm_up", WARM_UP_CHUNKS), ("baseline", baseline), ("main", n_chunks)):
        docs = write_documents(work / f"docs-{count}", count)
        log(f"{name}: ingest of {count} chunks")
        with turn(lock):
            run = ingest(docs, work / f"data-{name}", onnx_cache, count)
        result[name] = run.report()
        log(f"{name}: {json.dumps(result[name], ensure_ascii=False)}")
        shutil.rmtree(work / f"data-{name}", ignore_errors=True)
        shutil.rmtree(docs, ignore_errors=True)
    result["load_average"] = os.getloadavg()
    return result


def table(result: dict[str, Any]) -> str:
    lines = [
        f"{'run':9} {'chunks':>7} {'s':>7} {'chunks/s':>9} {'bar/s':>7} {'peak MB':>8} "
        f"{'10%':>5} {'50%':>5} {'90%':>5}  phase peaks MB (read+chunk / embed+write / bm25)"
    ]
    for name in ("warm_up", "baseline", "main"):
        r = result[name]
        at = [-1 if v is None else v for v in r["rss_at_10_50_90_mb"]]
        phases = " / ".join(str(v) for v in r["phase_peak_mb"].values())
        lines.append(
            f"{name:9} {r['chunks']:7d} {r['seconds']:7.1f} {r['chunks_per_s']:9.1f} "
            f"{r['bar_chunks_per_s'] or 0:7.1f} {r['peak_rss_mb']:8d} "
            f"{at[0]:5d} {at[1]:5d} {at[2]:5d}  {phases}"
        )
    growth = result["main"]["peak_rss_mb"] - result["baseline"]["peak_rss_mb"]
    lines.append(
        f"peak growth {result['baseline']['chunks']} -> {result['main']['chunks']} chunks: "
        f"{growth:+d} MB; load average at the end {result['load_average'][0]:.2f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chunks", type=int, default=50000)
    parser.add_argument("--baseline", type=int, help="chunks of the baseline (default N/5)")
    parser.add_argument("--lock", type=Path, help="take turns with other benchmarks (flock)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-memory-"))
    try:
        result = measure(args.chunks, args.baseline or max(1, args.chunks // 5), work, args.lock)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result, indent=1, default=asdict) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
