"""Shared pieces of the scale-out tests: real `pilote-ia run` processes against the fakes.

A `Worker` is one bot process (polling, or a webhook on its own port) that a test can SIGKILL
and start again; `deliveries` counts, per question marker, the distinct chat messages that end
up showing its answer (a resumed answer edits its placeholder again: still one message).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fakes.processes import env_with, free_port, wait_http
from tests.fakes.telegram_server import FakeTelegram, post_update

ROOT = Path(__file__).resolve().parents[2]
SMALL_KNOWLEDGE = ROOT / "tests" / "advisor" / "fixtures" / "knowledge"
SECRET = "scaleout-webhook-secret_42"
PUBLIC_URL = "https://bot.example.org/telegram/hook"
START_TIMEOUT_S = 240.0  # loading the embedding model on a loaded 2-core machine
_ANSWER = re.compile(r"Réponse à (Q[0-9]+x[0-9]+)\b")


def bot_env(telegram: FakeTelegram, llm_url: str, data: Path, **extra: str) -> dict[str, str]:
    """The environment of a bot process pointed at the fakes (a priced hosted model name)."""
    env = env_with(
        TELEGRAM_BOT_TOKEN=telegram.token,
        TELEGRAM_API_BASE_URL=telegram.base_url,
        TELEGRAM_WEBHOOK_SECRET=SECRET,
        PILOTE_IA_DATA_DIR=str(data),
        KNOWLEDGE_DIR=str(SMALL_KNOWLEDGE),
        LLM_PROVIDER="custom",
        LLM_BASE_URL=llm_url,
        LLM_MODEL="fake-model",
        LLM_API_KEY="sk-test-scaleout",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


@dataclass
class Worker:
    """One `pilote-ia run` process, polling (port None) or serving the webhook on `port`."""

    name: str
    env: dict[str, str]
    log: Path
    telegram: FakeTelegram
    port: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    hostname: str | None = None  # its own host name (a UTS namespace), as on another machine
    starts: int = 0
    pids: list[int] = field(default_factory=list)

    @classmethod
    def webhook(cls, name: str, env: dict[str, str], log: Path, telegram: FakeTelegram) -> Worker:
        port = free_port()
        return cls(name, {**env, "WEBHOOK_PORT": str(port)}, log, telegram, port)

    def start(self) -> None:
        """Start the process and wait until it serves."""
        before = len(self.telegram.calls_to("setMyCommands"))
        self.launch()
        self.ready(before)

    def launch(self) -> None:
        """Start the process without waiting."""
        argv = [sys.executable, "-m", "bot", "run"]
        if self.port is not None:
            argv += ["--webhook", PUBLIC_URL]
        if self.hostname is not None:  # unshare and sh exec: the pid stays the bot's
            rename = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"']
            argv = [*rename, self.hostname, *argv]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, cwd=self.log.parent, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.starts += 1
        self.pids.append(self.proc.pid)

    def ready(self, commands_before: int = 0) -> None:
        """Wait until the webhook answers (it listens once the bot is ready), or, polling,
        until the bot set its commands (`commands_before` counts those of earlier runs)."""
        proc = self.proc
        assert proc is not None
        if self.port is not None:
            wait_http(self.hook_url, proc, self.log, timeout=START_TIMEOUT_S)
        else:
            self.telegram.wait_for(
                lambda f: (
                    len(f.calls_to("setMyCommands")) > commands_before or proc.poll() is not None
                ),
                timeout=START_TIMEOUT_S,
            )
        assert proc.poll() is None, self.log.read_text(errors="replace")[-3000:]

    @property
    def hook_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/telegram/hook"

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not stop in time."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    def post(self, update: dict[str, Any]) -> int | None:
        """POST an update as Telegram does; the HTTP status, None when nobody answered."""
        assert self.port is not None
        return post_update(self.hook_url, update, SECRET)


def can_set_hostname() -> bool:
    """Whether this machine lets a process take its own host name (root, namespaces allowed)."""
    try:
        done = subprocess.run(
            ["unshare", "--uts", "sh", "-c", "hostname pilote-probe"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def deliveries(telegram: FakeTelegram, chats: list[int]) -> Counter[str]:
    """Per question marker, the bot messages that show its answer now (HTML, final)."""
    found: Counter[str] = Counter()
    for chat in chats:
        for sent in telegram.chat_messages(chat):
            if (sent.parse_mode or "").upper() != "HTML":
                continue
            match = _ANSWER.search(sent.text or "")
            if match:
                found[match.group(1)] += 1
    return found


def answer_edits(telegram: FakeTelegram) -> Counter[str]:
    """Per marker, how many HTML sends or edits carried its answer (a resumed answer that
    edits its placeholder again counts twice here, once in `deliveries`)."""
    found: Counter[str] = Counter()
    for call in telegram.calls_to("sendMessage") + telegram.calls_to("editMessageText"):
        if str(call.params.get("parse_mode", "")).upper() == "HTML":
            match = _ANSWER.search(str(call.params.get("text", "")))
            if match:
                found[match.group(1)] += 1
    return found


def wait_until(predicate: Any, timeout: float, what: Any) -> None:
    """Poll a condition read from outside the bot (its database, the fakes) until it holds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what() if callable(what) else what
        time.sleep(0.2)


def no_tracebacks(*logs: Path) -> None:
    for log in logs:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text, text[-5000:]
