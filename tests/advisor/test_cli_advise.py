"""`pilote-ia ask`, `chat` and `doctor`: contract keys, stdin mode, REPL, health checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.advisor import Advisor
from bot.cli.advise import _ask_all, _chat, _check_llm, format_advice, parse_profile
from bot.config import load_settings
from retrieval import KnowledgeBase
from tests.advisor.conftest import CONTRACT_KEYS, FIXTURE_KNOWLEDGE, AdvisorFactory
from tests.fakes.llm_server import Behaviour, FakeLLMServer

REPO = Path(__file__).resolve().parents[2]


def test_parse_profile() -> None:
    profile = parse_profile("secteur=restauration, taille=3-9, budget=50€, priorite=temps")
    assert (profile.sector, profile.size, profile.monthly_budget_eur) == ("restauration", "3-9", 50)
    assert parse_profile("") == parse_profile(" ")
    for bad in ("budget=beaucoup", "couleur=bleu", "secteur"):
        with pytest.raises(ValueError):
            parse_profile(bad)


async def test_ask_json_prints_one_contract_object_per_question(
    small_kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]
) -> None:
    questions = ["commandes par messages, que faire ?", "et moins cher ?", " ?! "]
    status = await _ask_all(Advisor(small_kb, None), questions, parse_profile(""), True)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and status == 1  # the punctuation-only line is an error object
    first, second, third = (json.loads(line) for line in lines)
    assert set(first) == CONTRACT_KEYS and set(second) == CONTRACT_KEYS
    assert set(first["tools"][0]) == {
        "name",
        "category",
        "monthly_cost_eur",
        "why",
        "source",
        "as_of",
    }
    assert set(first["pilot"]) == {"goal", "kpis", "steps", "budget_eur"}
    assert first["mode"] == "offline" and first["usage"] is None
    assert set(third) == {"error"} and "question" in third["error"]


async def test_human_output_is_a_french_block(small_kb: KnowledgeBase) -> None:
    advice = await Advisor(small_kb, None).advise("commandes par messages, que faire ?")
    text = format_advice(advice)
    assert "Outils proposés" in text and "Pilote de deux semaines" in text
    assert "J1 " in text and "J14" in text and "Mode : hors ligne" in text


async def test_chat_keeps_memory_and_quits(
    make_advisor: AdvisorFactory, llm_server: FakeLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    llm_server.default = Behaviour.stream(
        json.dumps(
            {"answer": "Essayez Messagerie Pro [1].", "tools": [{"id": "tool-messagerie-pro"}]}
        )
    )
    inputs = iter(
        ["commandes par messages, que faire ?", "/profil budget=5", "et moins cher ?", "/quitter"]
    )
    assert await _chat(make_advisor(), parse_profile(""), 4, lambda prompt: next(inputs)) == 0
    out = capsys.readouterr().out
    first, second = (request.body["messages"] for request in llm_server.requests)
    assert len(first) == 2 and len(second) == 4  # the second question carries the first turn
    assert second[1]["content"] == "commandes par messages, que faire ?"
    assert "5 € par mois" in second[-1]["content"]
    assert "Essayez Messagerie Pro" in out and "Profil noté" in out and "À bientôt" in out


async def test_chat_exits_on_eof(
    small_kb: KnowledgeBase, capsys: pytest.CaptureFixture[str]
) -> None:
    def eof(prompt: str) -> str:
        raise EOFError

    assert await _chat(Advisor(small_kb, None), parse_profile(""), 4, eof) == 0


async def test_doctor_llm_check_names_refused_key(llm_server: FakeLLMServer) -> None:
    llm_server.enqueue(Behaviour.status(401))
    settings = load_settings(
        {"LLM_PROVIDER": "custom", "LLM_BASE_URL": llm_server.base_url, "LLM_MODEL": "m"}
    )
    (line,) = await _check_llm(settings)
    assert line.startswith("❌") and "a refusé la clé API" in line
    llm_server.enqueue(Behaviour.reply("OK"))
    (line,) = await _check_llm(settings)
    assert line.startswith("✅")
    assert llm_server.requests[-1].body["max_tokens"] >= 500  # a realistic answer, not 8 tokens


@pytest.mark.slow
@pytest.mark.skipif(
    not (REPO / "bot" / "cli" / "serve.py").exists(),
    reason="the CLI dispatch needs bot/cli/serve.py",
)
def test_ask_stdin_subprocess_one_json_per_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PILOTE_IA_DATA_DIR": str(tmp_path / "data"),
        "KNOWLEDGE_DIR": str(FIXTURE_KNOWLEDGE),
    }
    questions = "commandes par messages, que faire ?\n\nrobot pour les commandes ?\n"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json"],
        input=questions,
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert all(set(json.loads(line)) == CONTRACT_KEYS for line in lines)
