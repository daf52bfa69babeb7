"""The Advice schema: what the advisor returns, to Telegram, the CLI and `ask --json`.

The JSON shape is a public contract (see README, "ask --json").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class CostRange(BaseModel):
    """Monthly cost range in euros, taken from the catalogue card."""

    min: float = Field(ge=0)
    max: float = Field(ge=0)


class ToolPick(BaseModel):
    """A catalogue tool recommended for the question."""

    name: str
    category: str
    monthly_cost_eur: CostRange
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


class Advice(BaseModel):
    """A complete answer. `mode` says whether an LLM wrote it or the offline composer did."""

    model_config = ConfigDict(extra="forbid")

    answer: str
    tools: list[ToolPick]
    pilot: Pilot
    sources: list[SourceRef]
    mode: Literal["llm", "offline"]
    usage: Usage | None = None
    degraded: bool = Field(default=False, exclude=True)  # LLM failed, offline fallback
    notice: str | None = Field(default=None, exclude=True)  # French reason shown when degraded

    def to_contract(self) -> dict[str, object]:
        """The `ask --json` object, exactly the documented keys."""
        return self.model_dump(mode="json", exclude={"degraded", "notice"})


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
