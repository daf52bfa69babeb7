"""Scale-out: a `chroma run` server, the knowledge base ingested into it, two webhook workers.

Both workers are real `pilote-ia run --webhook` processes sharing the Chroma server and one
data directory (SQLite in WAL mode: profiles, history and update de-duplication are shared, so
a reverse proxy may send any update to any worker). Telegram is the fake Bot API.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import processes
from tests.fakes.processes import BIN, free_port, stop, wait_http
from tests.fakes.telegram_server import Call, FakeTelegram, post_update, running_fake, text_update

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SECRET = "s3cret-webhook-token_42"
PUBLIC_URL = "https://bot.example.org/telegram/hook"
QUESTION = "Je tiens une boulangerie et je croule sous les commandes WhatsApp, que faire ?"


@pytest.fixture
def chroma_port(tmp_path: Path) -> Iterator[int]:
    """A `chroma run` server on a free loopback port."""
    with processes.chroma_server(tmp_path) as port:
        yield port


def _env(data: Path, chroma_port: int, fake: FakeTelegram, **extra: str) -> dict[str, str]:
    return processes.env_with(
        PILOTE_IA_DATA_DIR=str(data),
        CHROMA_HOST="127.0.0.1",
        CHROMA_PORT=str(chroma_port),
        TELEGRAM_BOT_TOKEN=fake.token,
        TELEGRAM_API_BASE_URL=fake.base_url,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        **extra,
    )


def _post(port: int, payload: dict[str, Any], secret: str) -> int | None:
    return post_update(f"http://127.0.0.1:{port}/telegram/hook", payload, secret, timeout=10)


def _final_answer(fake: FakeTelegram, chat: int) -> Call | None:
    for call in fake.calls_to("editMessageText"):
        if int(call.params["chat_id"]) == chat and "a:ck" in call.params.get("reply_markup", ""):
            return call
    return None


def test_two_webhook_workers_answer_from_one_chroma_server(
    tmp_path: Path, chroma_port: int
) -> None:
    data = tmp_path / "shared-data"
    with running_fake() as fake:
        ingest = subprocess.run(
            [str(BIN / "pilote-ia"), "ingest"],
            cwd=tmp_path,
            env=_env(data, chroma_port, fake),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert ingest.returncode == 0, ingest.stderr

        workers: list[tuple[int, subprocess.Popen[bytes], Path]] = []
        try:
            for n in range(2):
                port = free_port()
                log = tmp_path / f"worker-{n}.log"
                with log.open("wb") as out:
                    proc = subprocess.Popen(
                        [str(BIN / "pilote-ia"), "run", "--webhook", PUBLIC_URL],
                        cwd=tmp_path,
                        env=_env(data, chroma_port, fake, WEBHOOK_PORT=str(port)),
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                workers.append((port, proc, log))
            for port, proc, log in workers:
                wait_http(f"http://127.0.0.1:{port}/telegram/hook", proc, log)

            hooks = fake.calls_to("setWebhook")
            assert len(hooks) == 2
            assert {h.params["url"] for h in hooks} == {PUBLIC_URL}
            assert {h.params["secret_token"] for h in hooks} == {SECRET}

            (port_a, _, _), (port_b, _, _) = workers
            assert _post(port_a, text_update(1, 101, "Bonjour"), "wrong-secret") == 403
            assert _post(port_a, text_update(2, 201, QUESTION), SECRET) == 200
            assert _post(port_b, text_update(3, 202, QUESTION), SECRET) == 200
            first = fake.wait_for(lambda f: _final_answer(f, 201), timeout=60)
            second = fake.wait_for(lambda f: _final_answer(f, 202), timeout=60)
            # the same question answered by each worker from the shared knowledge base
            assert first.params["text"] == second.params["text"]
            assert "WhatsApp" in first.params["text"]
            # an update replayed to the other worker is recognised as already handled
            assert _post(port_b, text_update(2, 201, QUESTION), SECRET) == 200
            time.sleep(1.0)
            assert (
                len([c for c in fake.calls_to("sendMessage") if int(c.params["chat_id"]) == 201])
                == 1
            )
            assert not [c for c in fake.calls if str(c.params.get("chat_id")) == "101"]
        finally:
            for _, proc, _ in workers:
                stop(proc)
        for _, _, log in workers:
            assert "Traceback" not in log.read_text(errors="replace"), log.read_text()
