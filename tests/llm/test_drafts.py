"""Drafts: lenient parsing, reasoning blocks, truncation, json-repair, the schema, grounding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.catalogue import Catalogue
from bot.grounding import (
    Draft,
    DraftError,
    InformationDraft,
    ground,
    parse_draft,
    response_schema,
    strip_reasoning,
)
from bot.prompt import PromptSource
from retrieval import load_fiches

ANSWER = "Centralisez les commandes dans une messagerie [1]."
FIXTURES = Path(__file__).resolve().parents[1] / "advisor" / "fixtures" / "knowledge"
SOURCES = [
    PromptSource(1, "case-boulangerie-test", "Boulangerie", "case", "Une boulangerie…"),
    PromptSource(2, "tool-messagerie-pro", "Messagerie Pro", "tool", "Messagerie…"),
]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    fiches, errors = load_fiches(FIXTURES)
    assert not errors
    return Catalogue.from_fiches(fiches)


def grounded(catalogue: Catalogue, draft: InformationDraft, intent: str, offered: list[str]) -> Any:
    return ground(
        draft,
        intent=intent,
        sources=SOURCES,
        catalogue=catalogue,  # type: ignore[arg-type]
        offered_tool_ids=offered,
        template=None,
        profile=None,
        usage=None,
    )


def reply(**fields: Any) -> str:
    payload: dict[str, Any] = {"answer": ANSWER, "citations": [1]}
    payload.update(fields)
    return json.dumps(payload, ensure_ascii=False)


def test_badly_typed_optional_fields_are_coerced_or_dropped() -> None:
    text = reply(
        tools=["tool-messagerie-pro", "Robot Flux", 42, {"why": "sans nom"}, None],
        pilot={
            "goal": 3,
            "kpis": "délai de réponse; commandes par jour",
            "steps": [{"day": "J1", "task": "Mesurer"}, "J5 : tester", {"day": "x"}, 7],
            "budget_eur": "50 €",
        },
        citations="[1], [2]",
    )
    draft = parse_draft(text).draft
    assert isinstance(draft, Draft)
    assert [(t.id, t.name) for t in draft.tools] == [
        ("tool-messagerie-pro", None),
        (None, "Robot Flux"),
    ]
    assert draft.pilot is not None
    assert draft.pilot.goal == "" and draft.pilot.budget_eur == 50
    assert draft.pilot.kpis == ["délai de réponse", "commandes par jour"]
    assert [(s.day, s.task) for s in draft.pilot.steps] == [(1, "Mesurer"), (5, "tester")]
    assert draft.citations == [1, 2]


@pytest.mark.parametrize(
    "fields",
    [
        {"tools": "tool-messagerie-pro, Robot Flux"},
        {"tools": {"id": "x"}, "pilot": "deux semaines"},
        {"pilot": {"budget_eur": "sur devis", "steps": "J1 mesurer"}},
        {"citations": None},
    ],
)
def test_a_good_answer_survives_any_bad_optional_field(fields: dict[str, Any]) -> None:
    assert parse_draft(reply(**fields)).draft.answer == ANSWER


@pytest.mark.parametrize("bad", [{"answer": ""}, {"answer": {"texte": "x"}}, {"tools": []}])
def test_the_answer_itself_is_required(bad: dict[str, Any]) -> None:
    payload = {"answer": "x", **bad} if "answer" in bad else bad
    with pytest.raises(DraftError) as info:
        parse_draft(json.dumps(payload))
    assert info.value.reason == "invalid_json" and "answer" in str(info.value)


def test_reasoning_blocks_are_stripped() -> None:
    thought = '<think>Le JSON serait {"answer": "brouillon"}…</think>\n' + reply()
    assert parse_draft(thought).draft.answer == "Centralisez les commandes dans une messagerie [1]."
    # the chat template opened the block: only its end is in the reply
    assert strip_reasoning("je réfléchis…</think>{}") == "{}"
    # an unclosed block runs to the end: nothing usable
    assert strip_reasoning("<think>je réfléchis encore") == ""
    with pytest.raises(DraftError):
        parse_draft("<think>je réfléchis encore")


def test_an_answer_string_that_never_ends_is_a_truncation() -> None:
    with pytest.raises(DraftError) as info:
        parse_draft('{"answer": "Commencez par mesurer le temps pass')
    assert info.value.reason == "truncated"


def test_json_repair_fixes_what_it_can_without_a_call() -> None:
    parsed = parse_draft('Voici : {"answer": "Bien reçu, voici la réponse [1]", "tools": [],}')
    assert parsed.locally_fixed and parsed.draft.answer == "Bien reçu, voici la réponse [1]"
    clean = parse_draft(reply())
    assert not clean.locally_fixed
    with pytest.raises(DraftError):
        parse_draft("Je ne réponds pas en JSON.")


def test_information_draft_ignores_tools_and_pilot() -> None:
    draft = parse_draft(reply(tools=["tool-x"], pilot={}), "information").draft
    assert type(draft) is InformationDraft and draft.model_dump() == {
        "answer": "Centralisez les commandes dans une messagerie [1].",
        "citations": [1],
    }


def test_schema_offers_only_the_tools_of_the_prompt() -> None:
    full = response_schema("full", offered_tool_ids=["tool-a", "tool-b"], source_count=3)
    assert list(full["properties"]) == ["answer", "citations", "tools", "pilot"]
    assert full["required"] == list(full["properties"]) and not full["additionalProperties"]
    tool = full["properties"]["tools"]["items"]
    assert tool["properties"]["id"]["enum"] == ["tool-a", "tool-b"]
    assert set(tool["properties"]) == {"id", "why"}  # "name" is tolerated, not asked for
    assert full["properties"]["citations"]["items"]["maximum"] == 3
    step = full["properties"]["pilot"]["properties"]["steps"]["items"]
    assert (step["properties"]["day"]["minimum"], step["properties"]["day"]["maximum"]) == (1, 14)
    assert "$defs" not in json.dumps(full) and "$ref" not in json.dumps(full)
    info = response_schema("information", source_count=2)
    assert list(info["properties"]) == ["answer", "citations"]
    none_offered = response_schema("full", offered_tool_ids=[], source_count=1)
    assert none_offered["properties"]["tools"]["maxItems"] == 0


def test_ground_keeps_offered_tools_only_with_catalogue_prices(catalogue: Catalogue) -> None:
    draft = parse_draft(
        reply(
            tools=[{"id": "tool-messagerie-pro"}, {"id": "tool-assistant-luxe"}],
            pilot={"steps": [{"day": 3, "task": "tester"}]},
        )
    ).draft
    advice = ground(
        draft,
        intent="need",
        sources=SOURCES,
        catalogue=catalogue,
        offered_tool_ids=["tool-messagerie-pro"],
        template=None,
        profile=None,
        usage=None,
    )
    assert [t.source for t in advice.tools] == ["tool-messagerie-pro"]  # luxe was not offered
    assert advice.pilot is not None and advice.pilot.steps[0].day == 1
    assert advice.pilot.steps[-1].day == 14 and advice.intent == "need"


def test_ground_information_has_no_tools_and_no_pilot(catalogue: Catalogue) -> None:
    text = reply(answer="L'article 50 impose la transparence [2].", citations=[2])
    draft = parse_draft(text, "information")
    advice = grounded(catalogue, draft.draft, "information", [])
    assert advice.tools == [] and advice.pilot is None and advice.mode == "llm"
    assert advice.answer == "L'article 50 impose la transparence [1]."
    assert [s.id for s in advice.sources] == ["tool-messagerie-pro"]


def test_an_answer_stopped_by_the_length_cap_loses_its_unfinished_sentence(
    catalogue: Catalogue,
) -> None:
    words = " ".join(f"mot{n}" for n in range(200))
    answer = (f"Une phrase complète sur {words[:860]}. Une autre phrase coupée au milieu")[:900]
    draft = parse_draft(reply(answer=answer), "information").draft
    advice = grounded(catalogue, draft, "information", [])
    assert advice.answer.endswith(".") and "coupée" not in advice.answer
