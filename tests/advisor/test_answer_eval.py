"""Answer-level evaluation: each check catches its fault, the figures, the runner and the CLI."""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from bot import answer_eval as ae
from bot.advice import (
    Advice,
    AnswerTrace,
    CostRange,
    Pilot,
    PilotStep,
    Profile,
    ToolPick,
    Turn,
    Usage,
)
from bot.cli import kb as kb_cli
from bot.config import Settings, load_settings
from retrieval import knowledge_base
from retrieval.embedding import Embedder
from retrieval.errors import IndexNotReadyError
from retrieval.evaluation import EvalQuestion
from tests.advisor.conftest import FIXTURE_KNOWLEDGE
from tests.fakes.embedder import HashEmbedder
from tests.fakes.llm_server import Behaviour, FakeLLMServer

PILOT = Pilot(
    goal="Répondre plus vite",
    kpis=["délai de réponse"],
    steps=[PilotStep(day=1, task="mesurer"), PilotStep(day=14, task="décider")],
    budget_eur=20,
)


def question(**fields: Any) -> EvalQuestion:
    """An information question by default; `fields` override it."""
    base: dict[str, Any] = {
        "id": "q001",
        "split": "test",
        "question": "deepseek v3.1 cb de parametres ?",
        "relevant": ["fact-deepseek"],
        "intent": "information",
        "needs": [],
        "must_have": [],
        "tool_categories": [],
        "must_not": [],
        "decline": False,
    }
    return EvalQuestion.model_validate({**base, **fields})


def tool(name: str, category: str, why: str = "utile") -> ToolPick:
    """A catalogue tool pick."""
    return ToolPick(
        name=name,
        category=category,
        monthly_cost_eur=CostRange(min=0, max=10),
        why=why,
        source=f"tool-{name.lower()}",
    )


def advice(answer: str = "Réponse.", **fields: Any) -> Advice:
    """An offline information answer by default; `fields` override it."""
    base: dict[str, Any] = {
        "answer": answer,
        "intent": "information",
        "tools": [],
        "pilot": None,
        "sources": [],
        "mode": "offline",
    }
    return Advice(**{**base, **fields})


# -- scoring -------------------------------------------------------------------------------


def test_fold_text_ignores_case_accents_and_odd_spaces() -> None:
    folded = ae.fold_text("Données\u00a0:  1\u202f000 € l\u2019Été\u2009!")
    assert folded == "donnees : 1 000 € l'ete !"


def test_missing_facts_folded_with_alternatives() -> None:
    q = question(must_have=["671", "37|trente-sept", "données", "1 000"])
    text = ae.fold_text("DeepSeek V3.1 : 671 milliards de paramètres, DONNEES, 1\u00a0000 €")
    assert ae.missing_facts(q, text) == ("37|trente-sept",)
    assert ae.missing_facts(q, text + " dont trente-sept actifs") == ()


def test_must_have_and_must_not_read_tool_names_too() -> None:
    q = question(must_have=["Messagerie Pro"], must_not=["le chat"])
    shown = advice(
        "Voici deux outils.",
        tools=[tool("Messagerie Pro", "messagerie"), tool("Le Chat", "assistant")],
    )
    score = ae.score_answer(q, shown)
    assert score.missing == () and score.forbidden == ("le chat",)
    assert not score.good and ae.score_answer(q, advice("Rien.")).missing == ("Messagerie Pro",)


def test_off_need_tools_outside_the_expected_categories() -> None:
    picks = [tool("Messagerie Pro", "messagerie"), tool("Studio", "image")]
    need = question(intent="need", tool_categories=["messagerie"])
    assert ae.off_need_tools(need, advice(tools=picks)) == ("Studio (image)",)
    # an information question expects no tool at all
    assert len(ae.off_need_tools(question(), advice(tools=picks))) == 2
    assert ae.off_need_tools(need, advice(tools=picks[:1])) == ()


def test_first_tool_fits_only_when_its_category_is_expected() -> None:
    expected = question(tool_categories=["comptabilite", "automatisation"])
    fits = advice(tools=[tool("Pennylane", "comptabilite"), tool("Canva", "image")])
    misses = advice(tools=[tool("Canva", "image"), tool("Pennylane", "comptabilite")])
    assert ae.first_tool_fits(expected, fits) is True
    assert ae.first_tool_fits(expected, misses) is False
    assert ae.first_tool_fits(expected, advice()) is None  # no tool: nothing to judge
    assert ae.first_tool_fits(question(tool_categories=[]), fits) is None


def test_decline_needs_refusing_intent_no_tool_and_no_pilot() -> None:
    q = question(intent="out_of_scope", decline=True, relevant=[])
    polite = advice("Je ne traite que l'IA en entreprise.", intent="out_of_scope")
    assert ae.decline_correct(q, polite)
    assert not ae.decline_correct(q, polite.model_copy(update={"pilot": PILOT}))
    assert not ae.decline_correct(q, polite.model_copy(update={"tools": [tool("X", "image")]}))
    assert not ae.decline_correct(q, polite.model_copy(update={"intent": "need"}))
    subversion = question(intent="subversion", decline=True, relevant=[])
    assert ae.decline_correct(subversion, polite.model_copy(update={"intent": "subversion"}))


def test_refusing_a_real_question_is_a_false_decline() -> None:
    refused = ae.score_answer(question(), advice("Hors sujet.", intent="out_of_scope"))
    assert not refused.decline_ok and not refused.good
    assert ae.FAIL_FALSE_DECLINE in refused.failures()


def test_good_answer_needs_every_check_but_not_the_intent() -> None:
    q = question(
        intent="mixed", must_have=["671"], tool_categories=["assistant"], must_not=["HeyGen"]
    )
    fine = advice("671 milliards.", intent="mixed", tools=[tool("Le Chat", "assistant")])
    assert ae.score_answer(q, fine).good and ae.score_answer(q, fine).intent_ok
    wrong_kind = ae.score_answer(q, fine.model_copy(update={"intent": "need"}))
    assert wrong_kind.good and not wrong_kind.intent_ok
    assert wrong_kind.failures() == ["intention need au lieu de mixed"]


def test_failures_say_what_went_wrong_in_french() -> None:
    q = question(
        intent="need", must_have=["671", "37"], tool_categories=["messagerie"], must_not=["Le Chat"]
    )
    bad = advice("671 et Le Chat.", intent="information", tools=[tool("Studio", "image")])
    assert ae.score_answer(q, bad).failures() == [
        "faits absents : 37",
        "outils hors besoin : Studio (image)",
        "à éviter présent : Le Chat",
        "intention information au lieu de need",
    ]
    failed = ae.failed_answer(q, "La base est vide.")
    assert not failed.good and failed.failures() == ["erreur : La base est vide."]


# -- figures -------------------------------------------------------------------------------


def result(q: EvalQuestion, given: Advice | None, seconds: float = 0.1) -> ae.AnswerResult:
    """A scored result, as the runner makes it."""
    score = ae.score_answer(q, given) if given is not None else ae.failed_answer(q, "erreur")
    return ae.AnswerResult(q, given, score, seconds)


def test_summary_rates_declines_latency_and_per_intent() -> None:
    need = question(id="q002", intent="need", tool_categories=["messagerie"], must_have=["délai"])
    decline = question(id="q003", intent="out_of_scope", decline=True, relevant=[])
    results = [
        result(question(must_have=["671"]), advice("671."), 0.1),  # good
        result(
            need,
            advice("Délai court.", intent="need", tools=[tool("Studio", "image")], pilot=PILOT),
            0.2,
        ),  # off-need
        result(decline, advice("Non.", intent="out_of_scope", pilot=PILOT), 0.3),  # has a pilot
        result(question(id="q004"), advice("Hors sujet.", intent="out_of_scope"), 0.4),
        result(question(id="q005"), None, 2.0),  # the advisor failed
    ]
    summary = ae.summarise(results)
    assert summary["answers"] == 5 and summary["good_answer_rate"] == 0.2
    assert summary["intent_accuracy"] == 0.6  # q004 refused, q005 failed
    assert summary["must_have_rate"] == 1.0  # the two questions with facts have them
    assert summary["off_need_rate"] == 0.2 and summary["must_not_rate"] == 0.0
    assert (summary["declines_expected"], summary["declines_correct"]) == (1, 0)
    assert (summary["false_declines"], summary["errors"]) == (1, 1)
    assert (summary["latency_p50_s"], summary["latency_p95_s"]) == (0.3, 2.0)
    assert list(summary["per_intent"]) == ["need", "information", "out_of_scope"]
    assert summary["per_intent"]["information"] == {
        "answers": 3,
        "good_answer_rate": round(1 / 3, 4),
        "intent_accuracy": round(1 / 3, 4),
        "must_have_rate": 1.0,
    }


def test_llm_figures_count_only_answers_the_llm_was_asked_for() -> None:
    usage = Usage(
        provider="deepseek",
        model="deepseek-chat",
        prompt_tokens=1000,
        completion_tokens=300,
        cost_eur=0.0006,
    )
    answers = [
        advice(mode="llm", usage=usage, trace=AnswerTrace(claims_removed=2)),
        advice(mode="llm", usage=usage, trace=AnswerTrace(structure_valid=False, repairs=1)),
        advice(
            mode="degraded",
            fallback_reason="timeout",
            usage=usage,
            trace=AnswerTrace(structure_valid=False),
        ),
        advice(mode="degraded", fallback_reason="timeout"),  # no token spent
        advice(mode="offline"),  # a local decline: not an LLM answer
    ]
    assert ae.llm_summary([result(question(), a) for a in answers[-1:]]) is None
    llm = ae.llm_summary([result(question(), a) for a in answers])
    assert llm == {
        "llm_answers": 4,
        "valid_structure_rate": 0.5,
        "repair_rate": 0.25,
        "fallback_rate": 0.5,
        "fallback_reasons": {"timeout": 2},
        "claims_removed": 2,
        "prompt_tokens_per_answer": 750.0,
        "completion_tokens_per_answer": 225.0,
        "eur_per_answer": 0.00045,
    }


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 21)]
    assert ae.percentile(values, 0.5) == 10.0 and ae.percentile(values, 0.95) == 19.0
    assert ae.percentile([3.0], 0.95) == 3.0


def test_worst_puts_bad_answers_first_then_intent_slips() -> None:
    slip = result(question(id="q001"), advice(intent="need"))  # good but wrong intent
    one = result(question(id="q002", must_have=["x"]), advice())
    two = result(question(id="q003", must_have=["x", "y"]), advice())
    fine = result(question(id="q004"), advice())
    chosen = ae.worst([slip, one, fine, two], 5)
    assert [r.question.id for r in chosen] == ["q003", "q002", "q001"]
    assert [r.question.id for r in ae.worst([slip, one, fine, two], 1)] == ["q003"]


def test_french_report_with_llm_lines_and_worst_answers() -> None:
    usage = Usage(
        provider="deepseek",
        model="deepseek-chat",
        prompt_tokens=1480,
        completion_tokens=300,
        cost_eur=0.0005,
    )
    long_answer = "Mauvaise réponse. " * 40
    results = [
        result(question(must_have=["671"]), advice("671.", mode="llm", usage=usage)),
        result(
            question(id="q002", must_have=["37"]),
            advice(long_answer, mode="degraded", fallback_reason="timeout"),
        ),
    ]
    data = ae.report(results, split="test", mode="llm", seconds=3.25)
    text = ae.format_report(data, results, 5)
    assert text.startswith("Réponses du conseiller (avec LLM) · partie test · 2 questions · 3,2")
    assert "information" in text and "total" in text and "50 %" in text
    assert "Objectif (≥ 90 % de bonnes réponses sur la partie test) : non atteint" in text
    assert "repli hors ligne 50 % (timeout ×1)" in text
    assert "Par réponse : 740 + 150 jetons · 0,00025 €" in text
    assert "Pires réponses (1) :" in text and "faits absents : 37" in text
    excerpt = next(line for line in text.splitlines() if line.startswith("  → "))
    assert len(excerpt) == len("  → ") + 300 + 1 and excerpt.endswith("…")
    assert json.loads(json.dumps(data))["results"][1]["failures"] == ["faits absents : 37"]
    assert "Pires" not in ae.format_report(data, results, 0)


# -- runner --------------------------------------------------------------------------------


class ScriptedAdvisor:
    """AdvisorLike double: records what it is asked, answers from a script or fails."""

    def __init__(self, answer: Callable[[str], Awaitable[Advice]]) -> None:
        self.answer = answer
        self.asked: list[tuple[str, Profile | None, list[Turn]]] = []

    async def advise(
        self,
        question: str,
        *,
        profile: Profile | None = None,
        history: Sequence[Turn] = (),
        on_text: Any = None,
    ) -> Advice:
        self.asked.append((question, profile, list(history)))
        return await self.answer(question)

    async def tools_for(self, need: str, *, profile: Profile | None = None) -> list[ToolPick]:
        return []

    async def aclose(self) -> None:
        return None


async def test_runner_passes_profile_and_history_and_times_each_answer() -> None:
    async def answer(text: str) -> Advice:
        if text == "panne":
            raise IndexNotReadyError("empty")
        return advice("671 milliards.")

    follow_up = question(
        id="q002",
        intent="follow_up",
        must_have=["671"],
        profile={"sector": "commerce", "monthly_budget_eur": 50},
        history=[{"question": "deepseek ?", "answer": "Un modèle."}],
    )
    broken = question(id="q003", question="panne")
    advisor = ScriptedAdvisor(answer)
    ticks = itertools.count(step=0.5)
    results = await ae.answer_all(advisor, [follow_up, broken], clock=lambda: next(ticks))
    asked, profile, history = advisor.asked[0]
    assert profile == Profile(sector="commerce", monthly_budget_eur=50)
    assert history == [Turn(question="deepseek ?", answer="Un modèle.")]
    assert [r.seconds for r in results] == [0.5, 0.5]
    assert results[0].score.missing == () and results[0].advice is not None
    assert results[1].advice is None and results[1].score.error is not None
    assert "ingest" in results[1].score.error  # the French message of the failure


# -- CLI -----------------------------------------------------------------------------------

FAKE_MODEL = "fake-hash-64"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on the advisor's fixture fiches; the embedder seam yields the hash embedder."""

    def load_fake(model: str, *, for_queries_only: bool = False, **_: object) -> Embedder:
        return HashEmbedder(model_name=model)

    monkeypatch.setattr(knowledge_base, "load_embedder", load_fake)
    knowledge = tmp_path / "knowledge"
    shutil.copytree(FIXTURE_KNOWLEDGE, knowledge)
    environ = {
        "PILOTE_IA_DATA_DIR": str(tmp_path / "data"),
        "KNOWLEDGE_DIR": str(knowledge),
        "EMBEDDING_MODEL": FAKE_MODEL,
    }
    return load_settings(environ=environ)


def run(argv: Sequence[str], settings: Settings) -> int:
    """Parse and run `pilote-ia eval ...`."""
    parser = argparse.ArgumentParser(prog="pilote-ia")
    kb_cli.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return int(args.handler(args, settings))


def eval_file(tmp_path: Path) -> Path:
    """Three questions: a need, an impossible fact (test split) and a decline (dev split)."""
    lines = [
        question(
            id="q001",
            intent="need",
            question="commandes par messages, que faire ?",
            relevant=["tool-messagerie-pro"],
            needs=["messages-clients"],
            tool_categories=["messagerie", "assistant"],
            profile={"sector": "restauration", "monthly_budget_eur": 30},
        ),
        question(
            id="q002",
            question="quel est le fait introuvable ?",
            relevant=[],
            must_have=["zzz-introuvable"],
        ),
        question(
            id="q003",
            split="dev",
            intent="out_of_scope",
            decline=True,
            relevant=[],
            question="une recette de crêpes ?",
        ),
    ]
    path = tmp_path / "questions.jsonl"
    path.write_text("\n".join(q.model_dump_json() for q in lines) + "\n", encoding="utf-8")
    return path


def test_cli_scores_the_offline_advisor(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = eval_file(tmp_path)
    assert (
        run(["eval", "--answers", "--split", "test", "--questions", str(path), "--json"], settings)
        == 0
    )
    data = json.loads(capsys.readouterr().out)
    assert (data["split"], data["mode"], data["answers"], data["llm"]) == (
        "test",
        "offline",
        2,
        None,
    )
    by_id = {r["id"]: r for r in data["results"]}
    assert set(by_id) == {"q001", "q002"} and by_id["q001"]["mode"] == "offline"
    assert "faits absents : zzz-introuvable" in by_id["q002"]["failures"]
    assert data["good_answer_rate"] <= 0.5
    assert run(["eval", "--answers", "--questions", str(path), "--worst", "3"], settings) == 0
    text = capsys.readouterr().out
    assert text.startswith("Réponses du conseiller (hors ligne) · partie toutes · 3 questions")
    assert "refus corrects : " in text and "/1" in text and "Latence : p50" in text
    assert "Pires réponses" in text
    assert "q002 (information) « quel est le fait introuvable ? »" in text


def test_cli_answers_refuses_llm_when_none_is_configured(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = eval_file(tmp_path)
    assert run(["eval", "--answers", "--llm", "--questions", str(path)], settings) == 1
    assert "Aucun LLM configuré" in capsys.readouterr().err


def test_cli_scores_the_llm_advisor_through_a_fake_provider(
    settings: Settings,
    tmp_path: Path,
    llm_server: FakeLLMServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    reply = {"answer": "Essayez Messagerie Pro [1].", "tools": [{"id": "tool-messagerie-pro"}]}
    llm_server.default = Behaviour.stream(json.dumps(reply))
    with_llm = settings.model_copy(
        update={"llm_provider": "custom", "llm_model": "m", "llm_base_url": llm_server.base_url}
    )
    path = eval_file(tmp_path)
    argv = ["eval", "--answers", "--llm", "--split", "test", "--questions", str(path)]
    assert run([*argv, "--json"], with_llm) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["mode"] == "llm" and llm_server.requests
    llm = data["llm"]
    assert llm is not None and 1 <= llm["llm_answers"] <= 2
    assert llm["prompt_tokens_per_answer"] > 0 and 0 <= llm["valid_structure_rate"] <= 1
    assert run(argv, with_llm) == 0
    text = capsys.readouterr().out
    assert "(avec LLM)" in text and "LLM : structure valide" in text and "jetons" in text
