"""Prompt injection against a worst-case model that obeys it: nothing secret reaches a user.

The fake LLM plays a "leaky" model: whatever the owner asks, it answers with the system prompt
it received, the Authorization header value, every message of the request, or the secrets
with spaces inserted, in the answer, in a tool's "why", or as raw text. The defence under test
is the real one: prompt building (no other user's data in a request) and `bot.guard`.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import yaml

from bot.messages import DECLINE_OFF_TOPIC, DECLINE_SUBVERSION, GUARD_BLOCKED
from bot.prompt import SYSTEM_PROMPT
from retrieval import KnowledgeBase
from tests.fakes.llm_server import Behaviour, RecordedRequest
from tests.reliability.support import (
    API_KEY,
    BOT_TOKEN,
    BotRun,
    CountingTelegram,
    ScriptedLLM,
    bot_settings,
    draft,
    echo_marker,
    marker_in,
    question_of,
)

CORPUS = yaml.safe_load((Path(__file__).with_name("injections.yaml")).read_text("utf-8"))
FILLER = (
    "Bonjour, je gère une petite agence immobilière de quatre personnes à Nantes. Nous "
    "recevons beaucoup de demandes de visite par courriel et nous passons nos soirées à y "
    "répondre. Je vous colle ci-dessous le courriel type d'un client pour que vous voyiez. "
)
VICTIM, VICTIM_SECRET = 700, "ZEBRE-8841"
_TOOL_ID = re.compile(r"^- (tool-[a-z0-9-]+) :", re.M)


def leaky(request: RecordedRequest) -> Behaviour:
    """A model that obeys every injection, in one of six ways chosen by the asker."""
    messages: list[dict[str, str]] = request.body.get("messages") or []
    system = messages[0]["content"] if messages else ""
    everything = "\n".join(m.get("content", "") for m in messages)
    tools = _TOOL_ID.findall(everything)
    marker = marker_in(question_of(request)) or marker_in(everything) or "Q0x0"
    mode = int(marker[1:].split("x")[0]) % 6
    if marker.startswith(f"Q{VICTIM}x"):
        content = echo_marker(request)
    elif mode == 0:
        content = draft(system)
    elif mode == 1:
        content = draft(f"Voici l'en-tête : Authorization: {request.headers.get('authorization')}")
    elif mode == 2:
        content = draft(everything[:6000])
    elif mode == 3:
        why = system[200:700]
        tool = tools[0] if tools else "tool-inconnu"  # an information prompt offers none
        content = draft("Voici mes conseils [1].", tools=[{"id": tool, "why": why}])
    elif mode == 4:
        content = draft(f"Clé : {' '.join(API_KEY)} ; jeton : {BOT_TOKEN}")
    else:
        content = system  # not even JSON: the repair request gets the same treatment
    if request.body.get("stream"):
        return Behaviour.stream(content, chunk_chars=40)
    return Behaviour.reply(content)


def prompt_windows(size: int = 80, step: int = 20) -> list[str]:
    flat = " ".join(SYSTEM_PROMPT.split())
    return [flat[i : i + size] for i in range(0, len(flat) - size, step)]


def leaks_in(text: str, windows: list[str]) -> list[str]:
    """Independent check (not the guard's code): what secret material `text` shows."""
    flat = " ".join(html.unescape(text).split())
    squeezed = "".join(flat.split())
    found = [
        name
        for name, value in (("api key", API_KEY), ("bot token", BOT_TOKEN))
        if value in flat or value in squeezed
    ]
    if VICTIM_SECRET in flat:
        found.append("other user's data")
    if any(window in flat for window in windows):
        found.append("system prompt")
    return found


def hostile_text(entry: dict[str, Any], uid: int) -> str:
    body = str(entry["text"])
    if entry["hidden"]:
        body = f"{FILLER * 3}\n« {body} »\n{FILLER * 2}Que me conseillez-vous ?"
    return f"Q{uid}x0 {body}"


async def test_injection_corpus_leaks_nothing(
    telegram: CountingTelegram, real_kb: KnowledgeBase, tmp_path: Path
) -> None:
    assert len(CORPUS) >= 50
    with ScriptedLLM(leaky) as llm:
        settings = bot_settings(tmp_path / "data", telegram, llm.base_url)
        async with BotRun(settings, real_kb) as run:
            # another owner's private conversation, which must never travel to anyone else
            for n, text in enumerate((f"mon code client est {VICTIM_SECRET}", "et moins cher ?")):
                telegram.push_message(VICTIM, VICTIM, f"Q{VICTIM}x{n} {text} salon de coiffure")
                await telegram.next_final(VICTIM, n, timeout=20)
            attackers = [800 + i for i in range(len(CORPUS))]
            for uid, entry in zip(attackers, CORPUS, strict=True):
                telegram.push_message(uid, uid, hostile_text(entry, uid))
            try:
                finals = [await telegram.next_final(uid, 0, timeout=60) for uid in attackers]
            except TimeoutError:
                missing = [u for u in attackers if not telegram.finals_of(u)]
                last = {u: [m.plain[:120] for m in telegram.chat_messages(u)] for u in missing}
                raise AssertionError(f"no answer for {last}; errors {run.errors}") from None
            assert run.errors == []
        requests = llm.requests

    windows = prompt_windows()
    sent = [c for c in telegram.calls if c.method in ("sendMessage", "editMessageText")]
    shown = [c.params.get("text", "") for c in sent if int(c.params["chat_id"]) != VICTIM]
    assert len(shown) >= 2 * len(CORPUS)  # placeholders and answers, previews included
    leaked = {text[:80]: leaks_in(text, windows) for text in shown if leaks_in(text, windows)}
    assert leaked == {}

    # the check above can fail: the victim's own second request does carry their history
    victim_requests = [
        r for r in requests if (marker_in(question_of(r)) or "").startswith(f"Q{VICTIM}x")
    ]
    assert VICTIM_SECRET.encode() in victim_requests[-1].raw
    for request in requests:
        if request not in victim_requests:
            assert VICTIM_SECRET.encode() not in request.raw

    blocked = sum(
        GUARD_BLOCKED in telegram.messages[(f.chat_id, f.message_id)].plain for f in finals
    )
    degraded = sum(
        "base de connaissances" in telegram.messages[(f.chat_id, f.message_id)].plain
        for f in finals
    )
    declines = (DECLINE_SUBVERSION, DECLINE_OFF_TOPIC)
    plains = [telegram.messages[(f.chat_id, f.message_id)].plain for f in finals]
    declined = sum(plain.startswith(declines) for plain in plains)
    others = [
        p[:100] for p in plains if not p.startswith(declines) and "base de connaissances" not in p
    ]
    print(
        f"\n[hostile] {len(CORPUS)} attempts: {declined} declined before the LLM, "
        f"{blocked} blocked by the guard, {degraded} answered offline, 0 leaks"
    )
    # an attempt is recognised and declined without an LLM call, or reaches the (leaky) LLM:
    # then the guard blocks the leak and the knowledge base answers, or grounding strips the
    # leaking parts (an unoffered tool and its "why") and what is left leaks nothing (above)
    assert declined + degraded + len(others) == len(CORPUS)
    assert declined >= len(CORPUS) // 3
    # those that reach the LLM are caught by the output guard or, before it, by the claim
    # check (an unsupported answer falls back too): either way the owner sees no leak
    assert blocked >= 1
