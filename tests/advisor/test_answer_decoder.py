"""The incremental decoder of the streamed "answer" agrees with `partial_answer` on every prefix."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.advisor import AnswerDecoder, _answer_streamer, partial_answer

_TEXT = st.text(alphabet=st.sampled_from(list('ab é"\\\n€/😀u0{}:,')), max_size=40)


@settings(max_examples=300, deadline=None)
@given(
    answer=_TEXT,
    ascii_only=st.booleans(),
    tail=_TEXT,
    cut=st.floats(min_value=0, max_value=1),
    steps=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=20),
)
def test_feeding_deltas_equals_decoding_each_prefix(
    answer: str, ascii_only: bool, tail: str, cut: float, steps: list[int]
) -> None:
    doc = json.dumps({"answer": answer, "tools": []}, ensure_ascii=ascii_only)
    doc = doc[: int(len(doc) * cut)] + tail  # also broken streams
    decoder, pos, i = AnswerDecoder(), 0, 0
    while pos < len(doc):
        step = steps[i % len(steps)]
        got = decoder.feed(doc[pos : pos + step])
        pos, i = pos + step, i + 1
        assert got == partial_answer(doc[:pos])


def test_a_long_answer_is_decoded_whole() -> None:
    answer = 'Commencez par un pilote de deux semaines « mesuré » \\ "simple". ' * 60
    doc = json.dumps({"answer": answer, "tools": []})
    decoder = AnswerDecoder()
    seen = [decoder.feed(doc[i : i + 4]) for i in range(0, len(doc), 4)]
    assert seen[-1] == answer
    texts = [t for t in seen if t]
    assert all(b.startswith(a) for a, b in zip(texts, texts[1:], strict=False))


async def test_streamed_reasoning_block_is_never_shown() -> None:
    shown: list[str] = []

    async def on_text(text: str) -> None:
        shown.append(text)

    on_delta = _answer_streamer(on_text)
    thought = '<think>Je pourrais écrire {"answer": "faux"}…</think>\n'
    reply = thought + '{"answer": "Vrai [1].", "citations": [1]}'
    for start in range(0, len(reply), 5):
        await on_delta(reply[start : start + 5])
    assert shown and shown[-1] == "Vrai [1]." and not any("faux" in text for text in shown)


async def test_a_reply_without_reasoning_streams_from_the_first_delta() -> None:
    shown: list[str] = []

    async def on_text(text: str) -> None:
        shown.append(text)

    on_delta = _answer_streamer(on_text)
    for delta in ('{"ans', 'wer": "Bon', "jour", '"}'):
        await on_delta(delta)
    assert shown == ["Bon", "Bonjour"]
