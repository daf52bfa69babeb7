"""The Advice schema: what the advisor returns, to Telegram, the CLI and `ask --json`.

The JSON shape is a public contract (see README, "ask --json").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

Intent = Literal["need", "information", "mixed", "follow_up", "out_of_scope", "subversion"]
Mode = Literal["llm", "offline", "degraded"]


class CostRange(BaseModel):
    """Monthly cost range in euros, taken from the catalogue card."""

    min: float = Field(ge=0)
    max: float = Field(ge=0)


class ToolPick(BaseModel):
    """A catalogue tool recommended for the question."""

    name: str
    category: str
    monthly_cost_eur: CostRange | None  # None: the vendor publishes no price
    why: str
    source: str  # fiche id of the catalogue card
    as_of: str | None = None  # date of the price on the card


class PilotStep(BaseModel):
    """One step of the two-week pilot; `day` is 1..14."""

    day: int = Field(ge=1, le=14)
    task: str


class Pilot(BaseModel):
    """Two-week pilot: baseline, KPIs, steps, budget and a go/no-go at the end."""

    goal: str
    kpis: list[str]
    steps: list[PilotStep]
    budget_eur: float = Field(ge=0)


class SourceRef(BaseModel):
    """A fiche the answer relies on."""

    id: str
    title: str


class Usage(BaseModel):
    """LLM usage and its cost in euros for one answer."""

    provider: str
    model: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    cost_eur: float = Field(ge=0)


class AnswerTrace(BaseModel):
    """How an answer was obtained, for the answer-level evaluation and the answer log (not in
    the contract)."""

    structure_valid: bool = True  # the model's first reply parsed as the contract
    local_json_fix: bool = False  # json-repair fixed the reply without another call
    repairs: int = Field(default=0, ge=0)  # repair calls paid for
    length_retries: int = Field(default=0, ge=0)  # replies cut at the token limit, retried
    claims_removed: int = Field(default=0, ge=0)  # unsupported sentences taken out
    retrieved: list[str] = Field(default_factory=list)  # fiche ids of the search, best first
    top_score: float | None = None  # best dense cosine of the search (None: no dense index)
    neighbour_need: bool = False  # offline composer had no need match and fell back
    latency_s: float = Field(default=0.0, ge=0)  # time spent in the advisor


class Advice(BaseModel):
    """A complete answer.

    `intent` is the kind of message it answers; `mode` says who wrote it: the LLM, the
    offline composer, or the offline composer because the LLM failed ("degraded", with a
    short `fallback_reason` such as "timeout" or "invalid_json"). `pilot` is None when the
    message called for no pilot (an information question, a decline).
    """

    model_config = ConfigDict(extra="forbid")

    answer: str
    intent: Intent = "need"
    tools: list[ToolPick]
    pilot: Pilot | None
    sources: list[SourceRef]
    mode: Mode
    fallback_reason: str | None = None
    usage: Usage | None = None
    notice: str | None = Field(default=None, exclude=True)  # French reason shown when degraded
    trace: AnswerTrace = Field(default_factory=AnswerTrace, exclude=True)

    @property
    def degraded(self) -> bool:
        """True when the LLM failed and the offline composer answered instead."""
        return self.mode == "degraded"

    def to_contract(self) -> dict[str, object]:
        """The `ask --json` object, exactly the documented keys."""
        return self.model_dump(mode="json", exclude={"notice", "trace"})


class Profile(BaseModel):
    """What the owner told us about the business (all optional)."""

    sector: str | None = None
    size: str | None = None
    monthly_budget_eur: float | None = Field(default=None, ge=0)
    priority: str | None = None


class Turn(BaseModel):
    """One past exchange, kept so follow-ups ("et moins cher ?") make sense."""

    question: str
    answer: str


class AdvisorLike(Protocol):
    """What the Telegram face and the CLI need from the advisor (see bot/advisor.py)."""

    async def advise(
        self,
        question: str,
        *,
        profile: Profile | None = None,
        history: Sequence[Turn] = (),
        on_text: Callable[[str], Awaitable[None]] | None = None,
    ) -> Advice:
        """Answer one question; `on_text` receives the text so far while it streams."""
        ...

    async def tools_for(self, need: str, *, profile: Profile | None = None) -> list[ToolPick]:
        """Catalogue tools matching a need (for `/outils`), cheapest fitting first."""
        ...

    async def aclose(self) -> None:
        """Release HTTP clients and the knowledge base."""
        ...
