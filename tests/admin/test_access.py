"""Who may open the admin page: tokens, session cookies, and where it may listen."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from bot.admin.auth import Sessions, is_loopback
from bot.cli import main
from bot.cli.admin import check
from bot.config import load_settings
from bot.errors import ConfigError

TOKEN = "jeton-de-test-assez-long"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("admin.example.fr", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_sessions_expire_and_die_with_the_token() -> None:
    now = [1_000_000.0]
    sessions = Sessions(TOKEN, lifetime_s=60, clock=lambda: now[0])
    cookie = sessions.issue()
    assert sessions.valid(cookie)
    assert not Sessions(TOKEN + "-changé", clock=lambda: now[0]).valid(cookie)
    now[0] += 61
    assert not sessions.valid(cookie)
    assert sessions.token_matches(TOKEN) and not sessions.token_matches(TOKEN[:-1])
    assert not sessions.token_matches("") and not sessions.token_matches("é" * 30)


def test_a_public_address_needs_a_token() -> None:
    without = load_settings({})
    with pytest.raises(ConfigError) as raised:
        check(without, "0.0.0.0")
    assert "ADMIN_TOKEN" in raised.value.problems
    check(without, "127.0.0.1")
    check(load_settings({"ADMIN_TOKEN": TOKEN}), "0.0.0.0")


def test_the_command_refuses_to_listen_publicly_without_a_token(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["--env-file", str(tmp_path / "none.env"), "admin", "--host", "0.0.0.0"])
    assert code == 2
    err = capsys.readouterr().err
    assert "ADMIN_TOKEN" in err and "0.0.0.0" in err
    assert not (tmp_path / "xdg" / "pilote-ia").exists()  # refused before opening anything


def test_a_short_token_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("ADMIN_TOKEN", "court")
    code = main(["--env-file", str(tmp_path / "none.env"), "admin"])
    assert code == 2
    assert "ADMIN_TOKEN: au moins 12 caractères" in capsys.readouterr().err


def test_a_busy_port_gets_a_french_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code = main(["--env-file", str(tmp_path / "none.env"), "admin", "--port", str(port)])
    assert code == 1
    assert f"Impossible d'écouter sur 127.0.0.1:{port}" in capsys.readouterr().err


def test_a_port_out_of_range_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["admin", "--port", "70000"])
    assert exited.value.code == 2
    assert "« 70000 » : un numéro de port entre 1 et 65535" in capsys.readouterr().err
