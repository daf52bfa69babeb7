"""Malformed and odd input: escaped markup, huge messages, control characters, emoji, RTL, and
random updates (hypothesis) processed without any unhandled exception."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retrieval import KnowledgeBase
from tests.fakes.llm_server import Behaviour, RecordedRequest
from tests.reliability.support import (
    BotRun,
    CountingTelegram,
    ScriptedLLM,
    bot_settings,
    draft,
    question_of,
)


def parrot(request: RecordedRequest) -> Behaviour:
    """A model that repeats the owner's question in its answer (markup included)."""
    content = draft(f"Vous avez écrit : {question_of(request)[:500]} [1]")
    return Behaviour.stream(content) if request.body.get("stream") else Behaviour.reply(content)


ODD = {
    "html": "<b>gras</b> <script>alert(1)</script> & <a href='x'>lien</a> devis ?",
    "markdown": "**gras** _italique_ [lien](http://exemple.fr) `code` devis ?",
    "control": "devis\x00\x01\x07\x1b[31m rouge\x7f\u200b\ufeff pour ma boulangerie",
    "zwj-emoji": "👩‍👩‍👧‍👦 famille 👨🏽‍🍳 boulanger 🏳️‍🌈 devis plus vite ?",
    "rtl": "\u202eمرحبا devis שלום\u202c comment gagner du temps ?",
    "huge": "devis " * 20_000,  # 120,000 characters
    "only-control": "\x00\x01\u200b\u200f",
}


async def test_odd_messages_get_a_clean_reply(
    telegram: CountingTelegram, real_kb: KnowledgeBase, tmp_path: Path
) -> None:
    with ScriptedLLM(parrot) as llm:
        async with BotRun(bot_settings(tmp_path / "data", telegram, llm.base_url), real_kb) as run:
            for n, text in enumerate(ODD.values()):
                telegram.push_message(900 + n, 900 + n, text)
            finals = {
                name: await telegram.next_final(900 + n, 0, timeout=20)
                for n, name in enumerate(ODD)
            }
            assert run.errors == []
    shown = {name: telegram.messages[(f.chat_id, f.message_id)].plain for name, f in finals.items()}
    assert "<script>alert(1)</script>" in shown["html"]  # shown as text, not markup
    assert "**gras**" in shown["markdown"]
    assert "\x00" not in shown["control"] and "\x1b" not in shown["control"]
    assert "👩‍👩‍👧‍👦" in shown["zwj-emoji"]
    assert "مرحبا" in shown["rtl"]
    assert "trop long" in shown["huge"]
    assert "vide" in shown["only-control"]


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=300)


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    """A random message or button tap (text, command, odd callback data)."""
    kind = draw(st.sampled_from(["text", "command", "callback"]))
    if kind == "text":
        return {"kind": kind, "text": draw(_TEXT.filter(lambda t: t != ""))}
    if kind == "command":
        name = draw(
            st.sampled_from(
                [
                    "start",
                    "aide",
                    "profil",
                    "pilote",
                    "outils",
                    "reset",
                    "oubli",
                    "usage",
                    "inconnue",
                ]
            )
        )
        return {"kind": kind, "text": f"/{name} {draw(_TEXT)}".strip()}
    data = draw(
        st.one_of(
            st.sampled_from(
                [
                    "p:s:commerce",
                    "p:z:x",
                    "a:ck",
                    "a:co",
                    "a:ot",
                    "c:t:0",
                    "c:t:999",
                    "c:md",
                    "c:ics",
                    "f:yes",
                    "f:no",
                    "p:",
                    "c:t:-1",
                ]
            ),
            st.text(st.characters(codec="ascii"), min_size=1, max_size=64),
        )
    )
    return {"kind": kind, "data": data}


@pytest.mark.slow
def test_random_updates_never_crash(
    telegram: CountingTelegram, real_kb: KnowledgeBase, tmp_path: Path
) -> None:
    loop = asyncio.new_event_loop()
    llm = ScriptedLLM(parrot).start()
    run = BotRun(bot_settings(tmp_path / "data", telegram, llm.base_url), real_kb)
    loop.run_until_complete(run.__aenter__())
    counter = iter(range(10_000, 20_000))

    async def drive(batch: list[dict[str, Any]]) -> None:
        uid = next(counter)
        anchor = telegram.push_message(uid, uid, "/aide")  # a bot message to tap buttons on
        await telegram.until(lambda f: f.chat_messages(uid), timeout=10)
        bot_message = telegram.chat_messages(uid)[-1].message_id
        sent_before = len(telegram.chat_messages(uid))
        texts = 0
        for update in batch:
            if update["kind"] == "callback":
                telegram.push_callback(uid, uid, update["data"], bot_message)
            else:
                telegram.push_message(uid, uid, update["text"])
                texts += 1
        del anchor
        await telegram.until(lambda f: f.pending_updates() == 0, timeout=20)
        await asyncio.sleep(0.2)
        # wait until every pending answer settled (no placeholder left)
        await telegram.until(
            lambda f: all(
                m.plain != "⏳ Je cherche dans ma base de connaissances…"
                for m in f.chat_messages(uid)
            ),
            timeout=20,
        )
        assert run.errors == [], run.errors
        if texts:  # every text got at least an answer, a refusal or a tip
            assert len(telegram.chat_messages(uid)) > sent_before

    # one Application for every example; ~0.25 s each now that the fake wakes the waiters
    # when updates are confirmed (it used to sleep out the 20 s timeout: ~100 s in all)
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(updates(), min_size=1, max_size=4))
    def check(batch: list[dict[str, Any]]) -> None:
        loop.run_until_complete(drive(batch))

    try:
        check()
    finally:
        loop.run_until_complete(run.__aexit__(None, None, None))
        loop.close()
        llm.stop()
