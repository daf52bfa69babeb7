"""Event-loop CPU time to decode a streamed "answer": the former regex decoder vs pydantic_core.

A 1,500-character French answer (with quotes, accents and escapes) inside the JSON object
the LLM is asked for is streamed in 4-character deltas; each decoder in turn is fed every
delta inside a coroutine, forwarding each new text as the advisor's `_answer_streamer` does.
The CPU time of the event-loop thread is measured per stream and the median of several
runs printed, both decoders in the same run.

    PYTHONPATH=. .venv/bin/python benchmarks/decoder.py [RUNS]
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from typing import Protocol

from bot.advisor import AnswerDecoder

ANSWER_CHARS = 1500
DELTA_CHARS = 4

# -- baseline: the hand-written decoder bot/advisor.py used before, copied unchanged --------
_ANSWER_KEY = re.compile(r'"answer"\s*:\s*"')
_ESCAPE_TAIL = re.compile(r"\\(u[0-9a-fA-F]{0,3})?$")


class BaselineRegexDecoder:
    """BASELINE (former code): a C regex resumes the scan where the previous delta ended."""

    _BODY = re.compile(r'(?:[^"\\]|\\.)*', re.S)

    def __init__(self) -> None:
        self._buffer = ""
        self._start: int | None = None
        self._end = 0
        self._closed = False

    def feed(self, delta: str) -> str | None:
        self._buffer += delta
        if self._start is None:
            match = _ANSWER_KEY.search(self._buffer)
            if match is None:
                return None
            self._start = self._end = match.end()
        if not self._closed:
            body = self._BODY.match(self._buffer, self._end)
            self._end = body.end() if body is not None else self._end
            self._closed = self._end < len(self._buffer) and self._buffer[self._end] == '"'
        raw = self._buffer[self._start : self._end]
        if not self._closed and self._end < len(self._buffer):
            raw = self._buffer[self._start :]
        raw = _ESCAPE_TAIL.sub("", raw)
        try:
            decoded = json.loads(f'"{raw}"')
        except ValueError:
            return None
        return decoded if isinstance(decoded, str) else None


# -- end of baseline -------------------------------------------------------------------------


class Decoder(Protocol):
    def feed(self, delta: str) -> str | None: ...


def reply() -> str:
    """The JSON reply: a 1,500-character answer, then citations and tools."""
    sentence = 'Un pilote « mesuré » de deux semaines : 15 €/mois, "simple" \\ clair. '
    answer = (sentence * (ANSWER_CHARS // len(sentence) + 1))[:ANSWER_CHARS]
    payload = {"answer": answer, "citations": [1, 2], "tools": [{"id": "mistral-le-chat"}]}
    return json.dumps(payload, ensure_ascii=False)


async def stream_once(text: str, decoder: Decoder) -> float:
    """CPU seconds of this thread spent decoding `text` delta by delta, as the advisor does."""
    shown: list[str] = []

    async def on_text(value: str) -> None:
        shown.append(value)

    started = time.thread_time()
    for start in range(0, len(text), DELTA_CHARS):
        decoded = decoder.feed(text[start : start + DELTA_CHARS])
        if decoded and (not shown or decoded != shown[-1]):
            await on_text(decoded)
    spent = time.thread_time() - started
    assert shown[-1] == json.loads(text)["answer"], "decoder lost the answer"
    return spent


def median_ms(make: Callable[[], Decoder], runs: int) -> float:
    """Median CPU milliseconds per streamed answer with decoders built by `make`."""
    text = reply()
    times = [asyncio.run(stream_once(text, make())) for _ in range(runs)]
    return statistics.median(times) * 1000


def main() -> None:
    """Print both medians, in ms of event-loop CPU per streamed answer."""
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    deltas = -(-len(reply()) // DELTA_CHARS)
    print(f"{ANSWER_CHARS}-char answer, {DELTA_CHARS}-char deltas ({deltas} deltas), {runs} runs")
    for name, make in (
        ("baseline regex (former)", BaselineRegexDecoder),
        ("pydantic_core from_json", AnswerDecoder),
    ):
        print(f"  {name:<24} {median_ms(make, runs):7.2f} ms")


if __name__ == "__main__":
    main()
