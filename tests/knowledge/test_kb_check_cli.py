"""`pilote-ia kb check`: French lines, summary, JSON and exit codes, through bot.cli.main."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from tests.knowledge.conftest import MiniBase


def run(tmp_path: Path, *args: str) -> int:
    """`pilote-ia kb check ARGS` with no .env file."""
    return main(["--env-file", str(tmp_path / "absent.env"), "kb", "check", *args])


def test_clean_base_exits_0_with_one_summary_line(
    base: MiniBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, str(base.root)) == 0
    out = capsys.readouterr().out
    assert out == f"Base valide : 5 fiches vérifiées dans {base.root}, aucun problème.\n"


def test_errors_exit_1_with_one_line_each(
    base: MiniBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base.replace("tool-messagerie", price_eur_month={"min": 20, "max": 5})
    base.replace("case-boulangerie", related=["guide-absent"])
    assert run(tmp_path, str(base.root)) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "[erreur] cases/case-boulangerie.md · related : id inexistant : guide-absent → corriger "
        "l'id (nom du fichier sans .md) ou créer la fiche",
        "[erreur] tools/tool-messagerie.md · price_eur_month : min (20) est plus grand que max "
        "(5) → mettre le plus petit montant en min",
        f"5 fiches vérifiées dans {base.root} : 2 erreur(s), 0 alerte(s). Corrigez les erreurs "
        "puis relancez « pilote-ia kb check ».",
    ]


def test_warnings_only_exit_0(
    base: MiniBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, str(base.root), "--max-age-days", "3") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6  # five stale fiches and the summary
    assert lines[0].startswith("[attention] cases/case-boulangerie.md · as_of : fiche périmée")
    assert lines[-1] == f"5 fiches vérifiées dans {base.root} : 0 erreur(s), 5 alerte(s)."


def test_json_output(base: MiniBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base.replace("tool-messagerie", price_tax="hors taxes")
    assert run(tmp_path, str(base.root), "--json") == 1
    payload = json.loads(capsys.readouterr().out)
    assert (payload["fiches"], payload["errors"], payload["warnings"]) == (5, 1, 0)
    assert payload["problems"] == [
        {
            "file": "tools/tool-messagerie.md",
            "field": "price_tax",
            "severity": "error",
            "message": "valeur « hors taxes » non admise",
            "fix": 'écrire « price_tax: HT, TTC ou "sans objet" »',
        }
    ]


def test_default_dir_is_the_configured_knowledge_dir(
    base: MiniBase,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KNOWLEDGE_DIR", str(base.root))
    assert run(tmp_path) == 0
    assert f"dans {base.root}," in capsys.readouterr().out


def test_missing_dir_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, str(tmp_path / "absent")) == 1
    assert "aucune fiche .md trouvée" in capsys.readouterr().out


def test_bad_max_age_is_refused_in_french(
    base: MiniBase, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run(tmp_path, str(base.root), "--max-age-days", "0")
    assert exit_info.value.code == 2
    assert "un nombre entier de jours, au moins 1" in capsys.readouterr().err


def test_kb_alone_prints_its_help(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env-file", str(tmp_path / "absent.env"), "kb"]) == 0
    assert "check" in capsys.readouterr().out
