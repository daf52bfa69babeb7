"""Turn an LLM draft into a grounded Advice: catalogue tools only, catalogue prices,
citations that point at retrieved fiches, and a complete two-week pilot.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator

from bot.advice import Advice, Pilot, PilotStep, Profile, SourceRef, ToolPick, Usage
from bot.catalogue import Catalogue, CatalogueTool, PilotTemplate
from bot.prompt import PromptSource

MAX_TOOLS = 4
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


class DraftError(ValueError):
    """The LLM reply is not a usable draft; the message is sent back for repair."""


class DraftTool(BaseModel):
    """A tool as the LLM named it."""

    id: str | None = None
    name: str | None = None
    why: str = ""


class DraftStep(BaseModel):
    """A pilot step as the LLM wrote it."""

    day: int
    task: str


class DraftPilot(BaseModel):
    """The pilot as the LLM wrote it (everything may be missing)."""

    goal: str = ""
    kpis: list[str] = Field(default_factory=list)
    steps: list[DraftStep] = Field(default_factory=list)
    budget_eur: float | None = None


class Draft(BaseModel):
    """The JSON object the system prompt asks for."""

    answer: str = Field(min_length=1)
    tools: list[DraftTool] = Field(default_factory=list)
    pilot: DraftPilot | None = None
    citations: list[int] = Field(default_factory=list)

    @field_validator("citations", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> list[int]:
        if not isinstance(value, list):
            return []
        numbers = []
        for item in value:
            match = re.search(r"\d+", str(item))
            if match:
                numbers.append(int(match.group()))
        return numbers


def parse_draft(text: str) -> Draft:
    """Parse and validate the LLM reply; DraftError says what is wrong, briefly."""
    raw = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", raw, re.DOTALL)
    if fenced:
        raw = fenced.group(1)
    start, end = raw.find("{"), raw.rfind("}")
    if start < 0 or end <= start:
        raise DraftError("aucun objet JSON trouvé")
    try:
        payload = json.loads(raw[start : end + 1])
    except ValueError as exc:
        raise DraftError(f"JSON invalide : {exc}") from exc
    try:
        draft = Draft.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DraftError(f"champ {where} : {first['msg']}") from exc
    if not draft.answer.strip():
        raise DraftError("champ answer vide")
    return draft


def resolve_tool(catalogue: Catalogue, tool: DraftTool) -> CatalogueTool | None:
    """The catalogue card the LLM meant, by id then by name; None when it is not ours."""
    for key in (tool.id, tool.name):
        if key:
            found = catalogue.get(key) or catalogue.find(key)
            if found is not None:
                return found
    return None


def ground_tools(catalogue: Catalogue, tools: Sequence[DraftTool]) -> list[ToolPick]:
    """Catalogue tools only, each once, with the card's price and date."""
    picks: list[ToolPick] = []
    seen: set[str] = set()
    for tool in tools:
        card = resolve_tool(catalogue, tool)
        if card is None or card.id in seen:
            continue
        seen.add(card.id)
        picks.append(card.to_pick(tool.why.strip() or DEFAULT_WHY))
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
    if budget_eur is None or budget_eur < 0:
        budget_eur = sum(tool.monthly_cost_eur.max for tool in tools) if tools else None
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
    draft: Draft,
    *,
    sources: Sequence[PromptSource],
    catalogue: Catalogue,
    template: PilotTemplate | None,
    profile: Profile | None,
    usage: Usage | None,
) -> Advice:
    """The Advice an LLM draft is allowed to become."""
    tools = ground_tools(catalogue, draft.tools)
    answer, refs = ground_citations(draft.answer, draft.citations, sources)
    pilot_draft = draft.pilot or DraftPilot()
    pilot = normalise_pilot(
        goal=pilot_draft.goal,
        kpis=pilot_draft.kpis,
        steps=[(step.day, step.task) for step in pilot_draft.steps],
        budget_eur=pilot_draft.budget_eur,
        template=template,
        tools=tools,
        profile=profile,
    )
    return Advice(answer=answer, tools=tools, pilot=pilot, sources=refs, mode="llm", usage=usage)
