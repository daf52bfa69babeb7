"""`pilote-ia ingest|search|eval` handlers: real settings, real model, embedded Chroma."""

from __future__ import annotations

import argparse
import json
import shutil
import socket
from pathlib import Path
from typing import Any

import pytest

from bot.cli import kb as kb_cli
from bot.config import Settings, load_settings
from tests.retrieval.conftest import FIXTURES

pytestmark = pytest.mark.slow


def _settings(tmp_path: Path, knowledge_dir: Path, **extra: str) -> Settings:
    environ = {
        "PILOTE_IA_DATA_DIR": str(tmp_path / "data"),
        "KNOWLEDGE_DIR": str(knowledge_dir),
        **extra,
    }
    return load_settings(environ=environ)


def _run(argv: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(prog="pilote-ia")
    kb_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.handler(args, settings))


@pytest.fixture
def settings(tmp_path: Path, knowledge_dir: Path, embedder: Any) -> Settings:
    """Settings on the fixture knowledge base (the session fixture pre-imports the model)."""
    return _settings(tmp_path, knowledge_dir)


def test_ingest_prints_a_french_summary(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["ingest"], settings) == 0
    out = capsys.readouterr().out
    assert "Indexation terminée" in out and "7 documents" in out and "7 ajoutés" in out
    assert _run(["ingest"], settings) == 0
    assert "7 inchangés" in capsys.readouterr().out
    assert _run(["ingest", "--rebuild"], settings) == 0
    assert "7 ajoutés" in capsys.readouterr().out


def test_ingest_reports_a_broken_file_and_exits_1(
    settings: Settings, knowledge_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(FIXTURES / "broken" / "tool-casse.md", knowledge_dir / "tools")
    assert _run(["ingest"], settings) == 1
    captured = capsys.readouterr()
    assert "7 documents" in captured.out
    assert "tool-casse.md" in captured.err and "YAML" in captured.err
    assert "Traceback" not in captured.err


def test_search_json_and_text(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    # No ingest first: search builds the empty index from the knowledge dir.
    assert _run(["search", "saisie des factures fournisseurs", "-k", "2", "--json"], settings) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["query"] == "saisie des factures fournisseurs"
    assert payload["hits"][0]["fiche_id"] == "tool-factures-express"
    assert set(payload["hits"][0]) == {
        "fiche_id",
        "chunk_id",
        "title",
        "type",
        "heading",
        "score",
        "text",
    }
    assert _run(["search", "logo affiches", "--type", "tool", "--max-cost", "50"], settings) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. ") and "Studio Images" not in out


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["search", "   "], "La recherche est vide"),
        (["search", "devis", "--type", "robot"], "« robot » (--type)"),
        (["search", "devis", "--sector", "boulangerie"], "« boulangerie » (--sector)"),
        (["search", "devis", "--max-cost", "-3"], "(--max-cost)"),
        (["search", "devis", "-k", "0"], "(-k)"),
    ],
)
def test_search_bad_input_exits_1_with_a_french_message(
    settings: Settings, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert _run(argv, settings) == 1
    assert expected in capsys.readouterr().err


def test_model_mismatch_tells_to_rebuild(
    settings: Settings, tmp_path: Path, knowledge_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["ingest"], settings) == 0
    capsys.readouterr()
    other = _settings(tmp_path, knowledge_dir, EMBEDDING_MODEL="un-autre-modele")
    assert _run(["search", "devis"], other) == 1
    err = capsys.readouterr().err
    assert "EMBEDDING_MODEL=un-autre-modele" in err and "pilote-ia ingest --rebuild" in err


def test_unreachable_chroma_server_names_the_setting(
    tmp_path: Path, knowledge_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = _settings(tmp_path, knowledge_dir, CHROMA_HOST="127.0.0.1", CHROMA_PORT=str(port))
    assert _run(["search", "devis"], settings) == 1
    assert f"CHROMA_HOST=127.0.0.1, CHROMA_PORT={port}" in capsys.readouterr().err


def test_eval_json_shape_and_table(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    questions = FIXTURES / "knowledge" / "eval" / "questions.jsonl"
    assert _run(["eval", "--json"], settings) == 0  # default path: knowledge_dir/eval
    result = json.loads(capsys.readouterr().out)
    assert (result["questions"], result["skipped"]) == (7, 1)  # the out-of-scope one is skipped
    for method in ("dense", "bm25", "hybrid_untuned", "hybrid"):
        assert set(result[method]) == {"recall@1", "recall@3", "recall@5", "mrr"}
        assert all(0 <= v <= 1 for v in result[method].values())
    assert _run(["eval", "--questions", str(questions)], settings) == 0
    table = capsys.readouterr().out
    assert "7 questions" in table and "hyb. réglé" in table and "rappel@5" in table


def test_eval_without_question_file(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(["eval", "--questions", str(tmp_path / "absent.jsonl")], settings) == 1
    assert "absent.jsonl" in capsys.readouterr().err
