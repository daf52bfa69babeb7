"""The streamed "answer" decoder: known partial buffers, and agreement with the final parse."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.advisor import AnswerDecoder, _answer_streamer
from bot.grounding import parse_draft

_TEXT = st.text(alphabet=st.sampled_from(list('ab é"\\\n€/😀u0{}:,')), min_size=1, max_size=40)


def decode(buffer: str) -> str | None:
    """What a fresh decoder shows for `buffer` received in one delta."""
    return AnswerDecoder().feed(buffer)


@pytest.mark.parametrize(
    ("buffer", "expected"),
    [
        ('{"ans', None),  # no answer key yet
        ('{"answer"', None),
        ('{"answer": ', None),
        ('{"citations": [1], "tools": []', None),
        ("Voici la réponse", None),
        ('{"answer": "Bonj', "Bonj"),
        ('{"answer": "a \\"b\\" \\u00e9t\\u00', 'a "b" ét'),  # ends inside a \u escape
        ('{"answer": "fin \\', "fin "),  # ends on a lone backslash
        ('{"answer": "ligne\\n', "ligne\n"),
        ('{"answer": "fin", "tools": [', "fin"),  # closed, other keys follow
        ('{"answer": "fin", "citations": [1', "fin"),
        ('```json\n{"answer": "Bonjour', "Bonjour"),  # a fence before the object, as parsed
        ('{"answer": "\\ud83d', ""),  # half a surrogate pair is not shown
        ('{"answer": "\\ud83d\\ude00 ok', "😀 ok"),
    ],
)
def test_known_partial_buffers(buffer: str, expected: str | None) -> None:
    assert decode(buffer) == expected


def test_an_answer_that_is_not_a_string_is_not_shown() -> None:
    assert decode('{"answer": 3, "tools": []') is None


def test_once_closed_the_answer_stays_whatever_follows() -> None:
    decoder = AnswerDecoder()
    assert decoder.feed('{"answer": "Bonjour", "tools": [') == "Bonjour"
    assert decoder.feed("}}}} not json") == "Bonjour"


@settings(max_examples=200, deadline=None)
@given(answer=_TEXT, ascii_only=st.booleans(), step=st.integers(min_value=1, max_value=9))
def test_every_prefix_shows_a_prefix_of_the_final_answer(
    answer: str, ascii_only: bool, step: int
) -> None:
    reply = json.dumps({"answer": answer, "citations": [1]}, ensure_ascii=ascii_only)
    final = json.loads(reply)["answer"]
    decoder = AnswerDecoder()
    seen = [decoder.feed(reply[i : i + step]) for i in range(0, len(reply), step)]
    shown = [text for text in seen if text is not None]
    assert shown and shown[-1] == final
    assert all(final.startswith(text) for text in shown)


def test_a_long_answer_ends_as_the_final_parse_reads_it() -> None:
    answer = (
        "Commencez par un pilote « mesuré » de deux semaines sur les devis [1]. Choisissez un "
        'outil "simple", notez le temps gagné chaque jour, puis comparez au coût \\ mensuel. '
        "Si l'équipe adopte l'usage, étendez-le ensuite aux relances clients et aux factures."
    )
    reply = json.dumps({"answer": answer, "citations": [1], "tools": []})
    decoder = AnswerDecoder()
    seen = [decoder.feed(reply[i : i + 4]) for i in range(0, len(reply), 4)]
    assert seen[-1] == parse_draft(reply).draft.answer == answer


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
