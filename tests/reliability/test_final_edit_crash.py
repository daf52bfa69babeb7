"""`kill -9` of the real bot exactly while its final edit is in flight, then a restart: the
question is answered once, the LLM is not asked again and nothing is recorded twice.

The fake Bot API holds the final HTML edit of the question: either before applying it (the
request is lost with the process) or after applying it (Telegram shows the answer, the bot
never learns it). The test kills the bot while the edit is held: the pending row still holds
the question, with its reply ready. The restarted bot must deliver that reply, not answer
the question again.
"""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bot import messages as msg
from tests.fakes.llm_server import Behaviour
from tests.reliability.support import (
    BOT_TOKEN,
    CountingTelegram,
    ScriptedLLM,
    echo_marker,
)
from tests.reliability.test_crash import deliveries, start_bot, stop_bot

USER = 4100
MARKER = f"Q{USER}x0"
HOLD_S = 120.0  # the longest a held edit waits for the test to kill the bot


class HoldingTelegram(CountingTelegram):
    """The fake Bot API, holding the first final HTML edit that names `marker` until
    `release` is set; the edit is applied first when `apply`, then its connection dropped."""

    def __init__(self, marker: str, *, apply: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.marker, self.apply = marker, apply
        self.held = threading.Event()
        self.release = threading.Event()
        self._armed = True
        self._arm_lock = threading.Lock()

    def handle(self, method: str, params: dict[str, Any], files: Any) -> Any:
        if not self._take(method, params):
            return super().handle(method, params, files)
        if self.apply:
            super().handle(method, params, files)
        self.held.set()
        self.release.wait(HOLD_S)
        raise ConnectionAbortedError(method)  # no response: the bot is dead by now

    def _take(self, method: str, params: dict[str, Any]) -> bool:
        """True once: for the final edit of the marked question."""
        final = (
            method == "editMessageText"
            and str(params.get("parse_mode", "")).upper() == "HTML"
            and self.marker in str(params.get("text", ""))
        )
        if not final:
            return False
        with self._arm_lock:
            taken, self._armed = self._armed, False
        return taken


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(con.execute(sql))
    finally:
        con.close()


def recorded(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What answering the question recorded: history, answer log, usage and the pending row."""
    return {
        "history": rows(db, f"SELECT question, answer FROM history WHERE user_id={USER}"),
        "answers": rows(db, f"SELECT answer_id, message_id FROM answers WHERE user_id={USER}"),
        "usage": rows(db, f"SELECT * FROM usage WHERE user_id={USER}"),
        "pending": rows(
            db, f"SELECT placeholder_id, final_parts FROM pending_questions WHERE user_id={USER}"
        ),
    }


@pytest.mark.slow
@pytest.mark.parametrize("apply", [True, False], ids=["edit-landed", "edit-lost"])
def test_kill_during_the_final_edit_answers_once(tmp_path: Path, apply: bool) -> None:
    telegram = HoldingTelegram(MARKER, apply=apply, token=BOT_TOKEN)
    telegram.start()
    llm = ScriptedLLM(lambda r: Behaviour.stream(echo_marker(r)))
    llm.start()
    data, log = tmp_path / "data", tmp_path / "bot.log"
    db = data / "pilote-ia.sqlite3"
    bot = start_bot(telegram, llm.base_url, data, log)
    try:
        telegram.push_message(USER, USER, f"{MARKER} comment gagner du temps ?")
        assert telegram.held.wait(HOLD_S), "the final edit never came"
        bot.send_signal(signal.SIGKILL)
        bot.wait(timeout=10)
        telegram.release.set()
        asked_llm = llm.count
        at_kill = recorded(db)
        [(placeholder_id, final_parts)] = at_kill["pending"]
        assert final_parts is not None and MARKER in final_parts  # the reply is ready
        assert len(at_kill["history"]) == 1 and len(at_kill["answers"]) == 1
        assert asked_llm >= 1 and at_kill["usage"]

        bot = start_bot(telegram, llm.base_url, data, log)
        deadline = time.monotonic() + 60
        while rows(db, "SELECT 1 FROM pending_questions") or not deliveries(telegram)[MARKER]:
            assert time.monotonic() < deadline, "the question was not resumed"
            time.sleep(0.2)
        after = recorded(db)
    finally:
        telegram.release.set()
        stop_bot(bot)
        telegram.stop()
        llm.stop()

    assert llm.count == asked_llm  # the LLM was not asked again
    assert deliveries(telegram)[MARKER] == 1
    assert after["history"] == at_kill["history"] and after["answers"] == at_kill["answers"]
    assert after["usage"] == at_kill["usage"] and after["pending"] == []
    [shown] = telegram.chat_messages(USER)  # the placeholder, edited: no second message
    [(answer_id, message_id)] = after["answers"]
    assert shown.message_id == placeholder_id == message_id
    assert MARKER in shown.plain and msg.THINKING not in shown.plain
    assert any(data.endswith(f":{answer_id}") for _, data in shown.buttons)  # the 👍 / 👎
    refused = [
        c for c in telegram.calls if c.method == "editMessageText" and c.status == 400
    ]  # "message is not modified": the resumed edit of an answer already shown
    assert len(refused) == (1 if apply else 0)
