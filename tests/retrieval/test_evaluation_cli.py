"""`pilote-ia eval` (retrieval): splits, JSON and French table, errors; hash-embedded index."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from bot.cli import kb as kb_cli
from bot.config import Settings, load_settings
from retrieval import knowledge_base
from retrieval.embedding import Embedder
from tests.fakes.embedder import HashEmbedder
from tests.retrieval.conftest import FIXTURES

FAKE_MODEL = "fake-hash-64"


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings on a copy of the fixture fiches; the embedder seam yields the hash embedder."""

    def load_fake(model: str, *, for_queries_only: bool = False, **_: object) -> Embedder:
        assert model == FAKE_MODEL
        return HashEmbedder(model_name=FAKE_MODEL)

    monkeypatch.setattr(knowledge_base, "load_embedder", load_fake)
    knowledge = tmp_path / "knowledge"
    shutil.copytree(FIXTURES / "knowledge", knowledge)
    environ = {
        "PILOTE_IA_DATA_DIR": str(tmp_path / "data"),
        "KNOWLEDGE_DIR": str(knowledge),
        "EMBEDDING_MODEL": FAKE_MODEL,
    }
    return load_settings(environ=environ)


def run(argv: Sequence[str], settings: Settings) -> int:
    """Parse and run one `pilote-ia` knowledge-base command."""
    parser = argparse.ArgumentParser(prog="pilote-ia")
    kb_cli.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return int(args.handler(args, settings))


def test_eval_json_per_split(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["eval", "--json"], settings) == 0  # default file: knowledge_dir/eval
    result = json.loads(capsys.readouterr().out)
    assert (result["split"], result["questions"], result["skipped"]) == ("all", 7, 1)
    assert set(result) == {
        "split",
        "questions",
        "skipped",
        "dense",
        "bm25",
        "hybrid_untuned",
        "hybrid",
        "hybrid_losses",
    }
    assert run(["eval", "--split", "dev", "--json"], settings) == 0
    dev = json.loads(capsys.readouterr().out)
    assert (dev["split"], dev["questions"], dev["skipped"]) == ("dev", 3, 0)


def test_eval_table_is_french_and_names_hybrid_losses(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["eval", "--split", "test"], settings) == 0
    table = capsys.readouterr().out
    assert table.startswith("4 questions (partie : test ; 1 sans fiche attendue, ignorées)")
    for label in ("dense", "BM25", "hyb. brut", "hyb. réglé", "rappel@5", "MRR"):
        assert label in table
    assert run(["eval", "--split", "test", "--json"], settings) == 0
    losses = json.loads(capsys.readouterr().out)["hybrid_losses"]
    if losses:
        ids = ", ".join(loss["id"] for loss in losses)
        assert f"sur {len(losses)} question(s) : {ids}." in table
    else:
        assert "ne classe jamais moins bien" in table


@pytest.mark.parametrize(
    ("lines", "argv", "expected"),
    [
        (
            '{"question": "devis", "relevant": ["guide-pilote-devis"]}',
            [],
            "ligne 1 : ancien format {question, relevant}",
        ),
        ("", ["--llm"], "--llm et --worst ne servent qu'avec --answers"),
        ("", ["--split", "train"], "« train » (--split)"),
        ("", ["--answers", "--worst", "-2"], "(--worst)"),
    ],
)
def test_eval_refuses_bad_input_in_french(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    lines: str,
    argv: list[str],
    expected: str,
) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text(lines + "\n", encoding="utf-8")
    assert run(["eval", "--questions", str(path), *argv], settings) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_eval_without_question_file(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["eval", "--questions", str(tmp_path / "absent.jsonl")], settings) == 1
    assert "Jeu d'évaluation introuvable" in capsys.readouterr().err
