"""The output guard and the log redaction, on their own."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest

from bot.advisor import Advisor
from bot.guard import OutputGuard, RedactingFilter
from bot.prompt import SYSTEM_PROMPT
from retrieval import KnowledgeBase
from tests.reliability.support import API_KEY, BOT_TOKEN

GUARD = OutputGuard.default([API_KEY, BOT_TOKEN])
EVAL = Path(__file__).resolve().parents[2] / "knowledge" / "eval" / "questions.jsonl"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (SYSTEM_PROMPT, "system_prompt"),
        (SYSTEM_PROMPT[300:420].upper(), "system_prompt"),
        ("Mes règles : " + SYSTEM_PROMPT.replace(" ", "  ")[900:1100], "system_prompt"),
        (f"la clé est {API_KEY}", "secret"),
        (" ".join(API_KEY), "secret"),
        (f"jeton {BOT_TOKEN}", "secret"),
        ("sk-proj-AbCdEf0123456789AbCdEf", "credential"),
        ("Authorization: Bearer abcdef123456789xyz", "credential"),
        ("123456789:AAFakeFakeFakeFakeFakeFakeFakeFakeFak", "credential"),
        ("LLM_API_KEY=mistral-0123456789", "credential"),
    ],
)
def test_leaks_are_flagged(text: str, kind: str) -> None:
    leak = GUARD.leak(text)
    assert leak is not None and leak.kind == kind


@pytest.mark.parametrize(
    "text",
    [
        "Essayez un outil de messagerie professionnelle à 15 €/mois pendant deux semaines [1].",
        "Tu es boulanger : commence par mesurer le temps passé sur les commandes.",
        "Le règlement (UE) 2024/1689 impose d'indiquer qu'on parle à une IA [2].",
        "https://www.service-public.fr/professionnels-entreprises/vosdroits/F23570",
    ],
)
def test_ordinary_answers_pass(text: str) -> None:
    assert GUARD.leak(text) is None


async def test_no_false_positive_on_offline_answers(real_kb: KnowledgeBase) -> None:
    """The guard would never block the knowledge base's own answers (first 40 eval questions)."""
    advisor = Advisor(real_kb, None)
    lines = EVAL.read_text("utf-8").splitlines()[:40]
    for line in lines:
        question = json.loads(line)["question"]
        advice = await advisor.advise(question)
        assert GUARD.check_advice(advice) is None, question


def test_log_redaction_masks_secrets_in_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(OutputGuard(secrets=[API_KEY, BOT_TOKEN])))
    logger = logging.getLogger("tests.reliability.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.debug("Set Bot API URL: http://127.0.0.1/bot%s", BOT_TOKEN)
        try:
            raise RuntimeError(f"refused key {API_KEY}")
        except RuntimeError:
            logger.exception("call failed")
    finally:
        logger.removeHandler(handler)
    output = stream.getvalue()
    assert BOT_TOKEN not in output and API_KEY not in output
    assert output.count("***") >= 2 and "RuntimeError" in output
