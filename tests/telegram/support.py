"""Shared test material: realistic Advice objects and a hand-written fake advisor."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from bot.advice import (
    Advice,
    CostRange,
    Pilot,
    PilotStep,
    Profile,
    SourceRef,
    ToolPick,
    Turn,
    Usage,
)
from bot.errors import LLMUnavailableError


def sample_advice(answer: str = "", *, degraded: bool = False, cost: float = 0.002) -> Advice:
    """A realistic answer for a bakery drowning in WhatsApp orders."""
    return Advice(
        answer=answer
        or "Centralisez les commandes WhatsApp avec des réponses rapides et un assistant.",
        tools=[
            ToolPick(
                name="WhatsApp Business",
                category="messagerie",
                monthly_cost_eur=CostRange(min=0, max=0),
                why="Réponses rapides et catalogue, déjà connu de vos clients.",
                source="tool-whatsapp-business",
                as_of="2026-11-01",
            ),
            ToolPick(
                name="Le Chat Pro",
                category="assistant",
                monthly_cost_eur=CostRange(min=14.99, max=14.99),
                why="Rédige les réponses types en français.",
                source="tool-le-chat",
                as_of="2026-11-01",
            ),
        ],
        pilot=Pilot(
            goal="Répondre aux commandes en moins de 10 minutes",
            kpis=["temps de réponse moyen", "commandes par jour"],
            steps=[PilotStep(day=d, task=f"Étape du jour {d}") for d in (1, 2, 3, 5, 8, 10, 14)],
            budget_eur=15,
        ),
        sources=[
            SourceRef(id="tool-whatsapp-business", title="WhatsApp Business"),
            SourceRef(id="guide-pilote-messages", title="Pilote : messages clients"),
        ],
        mode="degraded" if degraded else "llm",
        usage=None
        if degraded
        else Usage(
            provider="deepseek",
            model="deepseek-chat",
            prompt_tokens=900,
            completion_tokens=300,
            cost_eur=cost,
        ),
    )


class FakeAdvisor:
    """AdvisorLike double: streams its answer through on_text, can be slow or fail."""

    def __init__(
        self,
        *,
        delay: float = 0.0,
        chunks: int = 0,
        answer: str = "",
        fail: Exception | None = None,
        cost: float = 0.002,
    ) -> None:
        self.delay = delay
        self.chunks = chunks
        self.answer = answer
        self.fail = fail
        self.cost = cost
        self.calls: list[tuple[str, Profile | None, list[Turn]]] = []
        self.closed = False

    async def advise(
        self,
        question: str,
        *,
        profile: Profile | None = None,
        history: Sequence[Turn] = (),
        on_text: Callable[[str], Awaitable[None]] | None = None,
    ) -> Advice:
        self.calls.append((question, profile, list(history)))
        advice = sample_advice(self.answer, cost=self.cost)
        text = advice.answer
        for i in range(1, self.chunks + 1):
            await asyncio.sleep(self.delay / max(self.chunks, 1))
            if on_text is not None:
                await on_text(text[: len(text) * i // self.chunks])
        if not self.chunks and self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return advice

    async def tools_for(self, need: str, *, profile: Profile | None = None) -> list[ToolPick]:
        return [] if need == "rien" else sample_advice().tools

    async def aclose(self) -> None:
        self.closed = True


UNAVAILABLE = LLMUnavailableError("timeout", provider="deepseek")
