"""`pilote-ia run` refuses to start without what it needs, naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main


def test_run_without_token_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env-file", str(tmp_path / "none.env"), "run"]) == 2
    err = capsys.readouterr().err
    assert "TELEGRAM_BOT_TOKEN" in err and "manquant" in err


def test_webhook_needs_a_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    code = main(["--env-file", str(tmp_path / "none.env"), "run", "--webhook", "https://x.fr/tg"])
    assert code == 2
    err = capsys.readouterr().err
    assert "TELEGRAM_WEBHOOK_SECRET" in err and "TELEGRAM_BOT_TOKEN" not in err
    assert "123:abc" not in err
