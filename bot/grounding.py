"""An LLM reply made into a grounded Advice: the draft is parsed leniently, then only the
tools the prompt offered, the catalogue's prices, citations of sources actually sent and a
complete two-week pilot survive.

Two draft shapes: an information question gets {"answer", "citations"}; every other kind
gets {"answer", "tools", "pilot", "citations"}. The JSON schema sent to the provider comes
from these models. Parsing is strict on the answer text and lenient on everything else: a
tool given as a string, a budget of "50 €", a day "J1" or KPIs in one string are coerced,
and what cannot be coerced is dropped, so one bad optional field never loses a good answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

import json_repair
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.json_schema import SkipJsonSchema

from bot.advice import Advice, Intent, Pilot, PilotStep, Profile, SourceRef, ToolPick, Usage
from bot.catalogue import Catalogue, CatalogueTool, PilotTemplate
from bot.prompt import DraftKind, PromptSource, draft_kind

MAX_TOOLS = 4
MAX_ANSWER_CHARS = 900  # ~120 French words: the schema caps the answer so a small model stops
MIN_ANSWER_CHARS = 40  # one real sentence: "1" or "…" is not an answer
MIN_ANSWER_WORDS = 3  # "Essayez Messagerie Pro [1]." is terse but an answer; "Oui [1]." is not
MIN_DISTINCT_WORDS = 0.4  # "je ne sais pas, je ne sais pas…": a model stuck in a loop
TOP_SOURCES_WHEN_UNCITED = 3
BASELINE_TASK = (
    "Mesurer la situation de départ (temps passé, volumes, délais) avant tout changement"
)
GO_NO_GO_TASK = (
    "Bilan : comparer les indicateurs au jour 1 et décider de continuer, d'ajuster ou d'arrêter"
)
DEFAULT_GOAL = "Tester l'outil sur une tâche précise et mesurer le temps gagné en deux semaines"
DEFAULT_KPIS = ("temps passé par tâche", "volume traité par semaine", "part du travail à reprendre")
DEFAULT_WHY = "Présent dans le catalogue pour ce besoin."
_BASELINE = re.compile(r"mesur|situation de d[ée]part|[ée]tat des lieux|r[ée]f[ée]rence|baseline")
_DECISION = re.compile(r"d[ée]cid|d[ée]cision|go ?/ ?no|bilan|poursuiv|arr[êe]t|continuer")
_CITATION = re.compile(r"\[(\d{1,3})\]")
_NUMBER = re.compile(r"-?\d+(?:[ \u00a0\u202f]\d{3})*(?:[.,]\d+)?")
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_ANSWER_KEY = re.compile(r'"answer"\s*:\s*"')
_STRING_BODY = re.compile(r'(?:[^"\\]|\\.)*', re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?…)\]»]\s*$")
Vet = Callable[[str], bool]


class DraftError(ValueError):
    """The LLM reply is not a usable draft; `reason` is a short code, the message says why."""

    def __init__(self, message: str, *, reason: str = "invalid_json") -> None:
        super().__init__(message)
        self.reason = reason


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def first_number(value: Any) -> float | None:
    """50 -> 50.0, "50 €" -> 50.0, "1 200,5" -> 1200.5, "J3" -> 3.0; None when there is none."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    match = _NUMBER.search(value) if isinstance(value, str) else None
    if match is None:
        return None
    return float(re.sub(r"[ \u00a0\u202f]", "", match.group()).replace(",", "."))


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[;\n]", value) if part.strip()]
    if isinstance(value, list):
        return [item.strip() for item in value if isinstance(item, str) and item.strip()]
    return []


def check_prose(text: str) -> None:
    """ValueError when `text` is too short or repeats itself to be an answer."""
    words = [w.lower() for w in re.findall(r"[^\W_]+", text)]
    if sum(1 for w in words if len(w) > 1 and not w.isdigit()) < MIN_ANSWER_WORDS:
        raise ValueError("réponse trop courte")
    if len(words) >= 8 and len(set(words)) < MIN_DISTINCT_WORDS * len(words):
        raise ValueError("réponse qui se répète")


class DraftTool(BaseModel):
    """A tool as the LLM named it: by id (asked for), or by name (tolerated)."""

    model_config = ConfigDict(extra="ignore")

    id: str | SkipJsonSchema[None] = None
    name: SkipJsonSchema[str | None] = None
    why: str = Field(default="", json_schema_extra={"maxLength": 200})

    @classmethod
    def lenient(cls, value: Any) -> DraftTool | None:
        """A tool from a string or a dict; None when nothing names a tool."""
        if isinstance(value, str) and value.strip():
            key = value.strip()
            return cls(id=key) if key.startswith("tool-") else cls(name=key)
        if not isinstance(value, dict):
            return None
        tool_id, name = _text(value.get("id")), _text(value.get("name"))
        if not (tool_id or name):
            return None
        return cls(id=tool_id or None, name=name or None, why=_text(value.get("why")))


class DraftStep(BaseModel):
    """A pilot step as the LLM wrote it."""

    day: int = Field(json_schema_extra={"minimum": 1, "maximum": 14})
    task: str = Field(json_schema_extra={"maxLength": 160})

    @classmethod
    def lenient(cls, value: Any) -> DraftStep | None:
        """A step from {"day": "J1", "task": ...} or "J1 : task"; None when unusable."""
        if isinstance(value, str):
            match = re.match(r"\s*(?:j(?:our)?\s*)?(\d{1,2})\s*[:.)-]\s*(.+)", value, re.I)
            return cls(day=int(match.group(1)), task=match.group(2).strip()) if match else None
        if not isinstance(value, dict):
            return None
        day, task = first_number(value.get("day")), _text(value.get("task"))
        return cls(day=int(day), task=task) if day is not None and task else None


class DraftPilot(BaseModel):
    """The pilot as the LLM wrote it (everything may be missing)."""

    goal: str = Field(default="", json_schema_extra={"maxLength": 200})
    kpis: list[str] = Field(default_factory=list, json_schema_extra={"maxItems": 3})
    steps: list[DraftStep] = Field(default_factory=list, json_schema_extra={"maxItems": 6})
    budget_eur: float | SkipJsonSchema[None] = Field(default=None, json_schema_extra={"minimum": 0})

    @field_validator("goal", mode="before")
    @classmethod
    def _goal(cls, value: Any) -> str:
        return _text(value)

    @field_validator("kpis", mode="before")
    @classmethod
    def _kpis(cls, value: Any) -> list[str]:
        return _strings(value)

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, value: Any) -> list[DraftStep]:
        items = value if isinstance(value, list) else []
        return [step for step in map(DraftStep.lenient, items) if step is not None]

    @field_validator("budget_eur", mode="before")
    @classmethod
    def _budget(cls, value: Any) -> float | None:
        number = first_number(value)
        return number if number is not None and number >= 0 else None


class InformationDraft(BaseModel):
    """The JSON object asked for an information question: the fact and its sources."""

    model_config = ConfigDict(extra="ignore")

    answer: str = Field(
        min_length=1,
        json_schema_extra={"minLength": MIN_ANSWER_CHARS, "maxLength": MAX_ANSWER_CHARS},
    )
    citations: list[int] = Field(default_factory=list, json_schema_extra={"maxItems": 5})

    @field_validator("answer", mode="before")
    @classmethod
    def _answer(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = " ".join(value)
        if isinstance(value, str):
            check_prose(value)
        return value.strip() if isinstance(value, str) else value

    @field_validator("citations", mode="before")
    @classmethod
    def _citations(cls, value: Any) -> list[int]:
        items = value if isinstance(value, list) else [value]
        texts = [str(item) for item in items if isinstance(item, str | int)]
        return [int(number) for text in texts for number in re.findall(r"\d+", text)]


class Draft(InformationDraft):
    """The JSON object asked for the other kinds: answer, citations, tools offered, pilot."""

    tools: list[DraftTool] = Field(default_factory=list, json_schema_extra={"maxItems": MAX_TOOLS})
    pilot: DraftPilot | SkipJsonSchema[None] = None

    @field_validator("tools", mode="before")
    @classmethod
    def _tools(cls, value: Any) -> list[DraftTool]:
        items = value.split(",") if isinstance(value, str) else value
        items = items if isinstance(items, list) else []
        return [tool for tool in map(DraftTool.lenient, items) if tool is not None]

    @field_validator("pilot", mode="before")
    @classmethod
    def _pilot(cls, value: Any) -> Any:
        return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class ParsedDraft:
    """A validated draft and whether json-repair had to fix its JSON."""

    draft: InformationDraft
    locally_fixed: bool = False


def strip_reasoning(text: str) -> str:
    """The reply without `<think>` blocks (an unclosed one runs to the end, a lone close too)."""
    text = _THINK.sub("", text)
    lowered = text.lower()
    if "</think>" in lowered:  # the template opened the block: only its end is in the reply
        text = text[lowered.rindex("</think>") + len("</think>") :]
    start = text.lower().find("<think>")
    return (text[:start] if start >= 0 else text).strip()


def answer_cut(text: str) -> bool:
    """True when the reply's "answer" string starts but never ends (a reply cut short)."""
    match = _ANSWER_KEY.search(text)
    if match is None:
        return False
    body = _STRING_BODY.match(text, match.end())
    end = body.end() if body is not None else match.end()
    return end >= len(text) or text[end] != '"'


def _json_object(raw: str) -> Any:
    fenced = re.search(r"```(?:json)?\s*(.*?)\s*```", raw, re.DOTALL)
    if fenced:
        raw = fenced.group(1)
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("aucun objet JSON trouvé")
    return json.loads(raw[start : end + 1])


def parse_draft(text: str, kind: DraftKind = "full") -> ParsedDraft:
    """Parse and validate the LLM reply; DraftError says what is wrong, briefly."""
    model: type[InformationDraft] = Draft if kind == "full" else InformationDraft
    raw = strip_reasoning(text)
    fixed = False
    try:
        payload = _json_object(raw)
    except ValueError as exc:
        if answer_cut(raw):
            raise DraftError("réponse coupée avant la fin", reason="truncated") from exc
        payload = json_repair.loads(raw) if "{" in raw else None
        if not isinstance(payload, dict):
            raise DraftError(f"JSON invalide : {exc}") from exc
        fixed = True
    if not isinstance(payload, dict):
        raise DraftError("la réponse n'est pas un objet JSON")
    try:
        draft = model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        why = str(first["msg"]).removeprefix("Value error, ")
        raise DraftError(f"champ {where} : {why}") from exc
    return ParsedDraft(draft=draft, locally_fixed=fixed)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        return {
            key: _inline(value, defs)
            for key, value in node.items()
            if key not in ("title", "default", "$defs", "description")
        }
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def _closed(node: Any) -> Any:
    """Every object closed and fully required (what strict JSON-schema modes demand)."""
    if isinstance(node, dict):
        node = {key: _closed(value) for key, value in node.items()}
        if node.get("type") == "object" and "properties" in node:
            node["required"] = list(node["properties"])
            node["additionalProperties"] = False
    elif isinstance(node, list):
        node = [_closed(item) for item in node]
    return node


def response_schema(
    kind: DraftKind, *, offered_tool_ids: Sequence[str] = (), source_count: int = 0
) -> dict[str, Any]:
    """The JSON schema sent with the request: the draft model, tools limited to those offered."""
    model: type[InformationDraft] = Draft if kind == "full" else InformationDraft
    raw = model.model_json_schema()
    schema: dict[str, Any] = _closed(_inline(raw, raw.get("$defs", {})))
    cites = schema["properties"]["citations"]
    cites["items"] = {"type": "integer", "minimum": 1, "maximum": max(1, source_count)}
    if kind == "full":
        tools = schema["properties"]["tools"]
        if offered_tool_ids:
            tools["items"]["properties"]["id"] = {"type": "string", "enum": list(offered_tool_ids)}
        else:
            tools["maxItems"] = 0
    return schema


def resolve_tool(catalogue: Catalogue, tool: DraftTool) -> CatalogueTool | None:
    """The catalogue card the LLM meant, by id then by name; None when it is not ours."""
    for key in (tool.id, tool.name):
        if key:
            found = catalogue.get(key) or catalogue.find(key)
            if found is not None:
                return found
    return None


def _trust_all(_text: str) -> bool:
    return True


def ground_tools(
    catalogue: Catalogue,
    tools: Sequence[DraftTool],
    offered: Collection[str],
    vet: Vet = _trust_all,
) -> list[ToolPick]:
    """Offered catalogue tools only, each once, with the card's price and date; a "why"
    that `vet` rejects (an unsupported figure, another tool's name) is replaced."""
    picks: list[ToolPick] = []
    seen: set[str] = set()
    for tool in tools:
        card = resolve_tool(catalogue, tool)
        if card is None or card.id in seen or card.id not in offered:
            continue
        seen.add(card.id)
        why = tool.why.strip()
        picks.append(card.to_pick(why if why and vet(why) else DEFAULT_WHY))
    return picks[:MAX_TOOLS]


def ground_citations(
    answer: str, citations: Sequence[int], sources: Sequence[PromptSource]
) -> tuple[str, list[SourceRef]]:
    """Keep citations to given sources only, renumber them 1..m in the text, list them."""
    valid = {source.number: source for source in sources}
    cited: list[int] = []
    for number in [*citations, *(int(m) for m in _CITATION.findall(answer))]:
        if number in valid and number not in cited:
            cited.append(number)
    cited.sort()
    renumber = {old: new for new, old in enumerate(cited, start=1)}

    def replace(match: re.Match[str]) -> str:
        new = renumber.get(int(match.group(1)))
        return f"[{new}]" if new else ""

    text = re.sub(r"\s+([.,;:!?])", r"\1", _CITATION.sub(replace, answer))
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    if cited:
        refs = [SourceRef(id=valid[n].fiche_id, title=valid[n].title) for n in cited]
    else:
        refs = [SourceRef(id=s.fiche_id, title=s.title) for s in sources[:TOP_SOURCES_WHEN_UNCITED]]
    return text, refs


def drop_cut_sentence(answer: str, limit: int = MAX_ANSWER_CHARS) -> str:
    """An answer stopped by the schema's length cap loses its unfinished last sentence."""
    if len(answer) < limit - 5 or _SENTENCE_END.search(answer):
        return answer
    end = max(answer.rfind(mark) for mark in (". ", "! ", "? ", "…", ".\n"))
    return answer[: end + 1].strip() if end > 0 else answer


def normalise_pilot(
    *,
    goal: str = "",
    kpis: Sequence[str] = (),
    steps: Sequence[tuple[int, str]] = (),
    budget_eur: float | None = None,
    template: PilotTemplate | None = None,
    tools: Sequence[ToolPick] = (),
    profile: Profile | None = None,
) -> Pilot:
    """A two-week pilot with a day-1 baseline, KPIs, a budget and a day-14 go/no-go."""
    if not steps and template is not None:
        steps = template.steps
    clean = sorted(
        (
            (min(14, max(1, int(day))), " ".join(task.split()))
            for day, task in steps
            if task.strip()
        ),
        key=lambda step: step[0],
    )
    if not any(day == 1 and _BASELINE.search(task.lower()) for day, task in clean):
        clean.insert(0, (1, BASELINE_TASK))
    if not any(day == 14 and _DECISION.search(task.lower()) for day, task in clean):
        clean.append((14, GO_NO_GO_TASK))
    kpi_list = [k.strip() for k in kpis if k.strip()]
    if not kpi_list:
        kpi_list = list(template.kpis if template and template.kpis else DEFAULT_KPIS)
    priced = [tool.monthly_cost_eur.max for tool in tools if tool.monthly_cost_eur]
    if budget_eur is None or budget_eur < 0:
        budget_eur = sum(priced) if priced else None
    elif priced:  # never more than the catalogue prices of the tools tested
        budget_eur = min(budget_eur, sum(priced))
    if budget_eur is None:
        budget_eur = template.budget_eur if template and template.budget_eur is not None else 0.0
    if profile is not None and profile.monthly_budget_eur is not None:
        budget_eur = min(budget_eur, profile.monthly_budget_eur)
    return Pilot(
        goal=goal.strip() or (template.goal if template and template.goal else DEFAULT_GOAL),
        kpis=kpi_list,
        steps=[PilotStep(day=day, task=task) for day, task in clean],
        budget_eur=round(float(budget_eur), 2),
    )


def ground(
    draft: InformationDraft,
    *,
    intent: Intent,
    sources: Sequence[PromptSource],
    catalogue: Catalogue,
    offered_tool_ids: Collection[str],
    template: PilotTemplate | None,
    profile: Profile | None,
    usage: Usage | None,
    vet: Vet = _trust_all,
) -> Advice:
    """The Advice an LLM draft is allowed to become; `vet` says whether a short text (a
    tool's why, the pilot's goal, a KPI, a step) rests on the evidence, else it is dropped."""
    answer, refs = ground_citations(drop_cut_sentence(draft.answer), draft.citations, sources)
    if draft_kind(intent) == "information" or not isinstance(draft, Draft):
        return Advice(
            answer=answer,
            intent=intent,
            tools=[],
            pilot=None,
            sources=refs,
            mode="llm",
            usage=usage,
        )
    tools = ground_tools(catalogue, draft.tools, offered_tool_ids, vet)
    pilot_draft = draft.pilot or DraftPilot()
    pilot = normalise_pilot(
        goal=pilot_draft.goal if vet(pilot_draft.goal) else "",
        kpis=[kpi for kpi in pilot_draft.kpis if vet(kpi)],
        steps=[(step.day, step.task) for step in pilot_draft.steps if vet(step.task)],
        budget_eur=pilot_draft.budget_eur,
        template=template,
        tools=tools,
        profile=profile,
    )
    return Advice(
        answer=answer,
        intent=intent,
        tools=tools,
        pilot=pilot,
        sources=refs,
        mode="llm",
        usage=usage,
    )
