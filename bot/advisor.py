"""The advisor: question + profile + recent turns -> retrieval -> LLM or offline composer -> Advice.

Streaming: the LLM is asked for one JSON object whose first key is "answer"; while it
streams, the "answer" string is decoded progressively from the partial JSON and passed to
`on_text` (accumulated text). One JSON reply means one request, one parse and one
validation, instead of a plain-text pass followed by a second JSON call.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from pydantic_core import from_json

from bot.advice import Advice, Profile, ToolPick, Turn, Usage
from bot.answer_text import why as tool_why
from bot.catalogue import Catalogue, CatalogueTool, PilotTemplates
from bot.claims import ClaimChecker
from bot.drafting import DraftFailure, fallback_reason, request_draft
from bot.errors import LLMError
from bot.faq import Faq
from bot.grounding import DraftError, ground
from bot.guard import Leak, OutputGuard
from bot.keywords import fold_words
from bot.llm.client import Completion, LLMClient
from bot.messages import GUARD_BLOCKED, LLM_BAD_RESPONSE, provider_name, user_message_for
from bot.offline import Composer
from bot.prompt import PromptRequest, PromptSource
from bot.request import Request
from bot.tool_choice import choose_tools
from bot.understanding import Understanding
from retrieval.embed_cache import PackagedVectors, packaged_path, text_key
from retrieval.errors import InvalidQueryError
from retrieval.models import Fiche, Hit, SearchFilters
from retrieval.text import has_words
from retrieval.vocabulary import DomainVocabulary, load_domain_vocabulary

log = logging.getLogger(__name__)

OnText = Callable[[str], Awaitable[None]]
_ELLIPTIC = re.compile(
    r"^(et|ok|alors|mais|sinon|plutot|moins|plus|aussi|pareil|idem|ca|combien|pourquoi|autre)\b"
)
SEARCH_THREADS = 2
MAX_OFFERED_TOOLS = 5


class KnowledgeLike(Protocol):
    """The retrieval API the advisor consumes (retrieval.KnowledgeBase implements it)."""

    def search(
        self,
        query: str,
        *,
        k: int = 5,
        filters: SearchFilters | None = None,
        max_per_fiche: int = 2,
    ) -> list[Hit]:
        """Hybrid search over chunks."""
        ...

    def fiche(self, fiche_id: str) -> Fiche | None:
        """One fiche by id."""
        ...

    def fiches(self, type: str | None = None) -> list[Fiche]:
        """All fiches, or those of one type."""
        ...


def retrieval_query(question: str, history: Sequence[Turn]) -> str:
    """The search query: the question, plus the previous one when it is elliptic."""
    if not history:
        return question
    short = len(question.split()) <= 5
    if short or _ELLIPTIC.match(fold_words(question)):
        return f"{history[-1].question} {question}"
    return question


@dataclass
class _Spend:
    """Usage of every LLM call made for one answer."""

    provider: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_eur: float = 0.0

    def add(self, completion: Completion) -> None:
        self.provider, self.model = completion.provider, completion.model
        self.prompt_tokens += completion.prompt_tokens
        self.completion_tokens += completion.completion_tokens
        self.cost_eur += completion.cost_eur

    def extend(self, completions: Sequence[Completion]) -> None:
        for completion in completions:
            self.add(completion)

    def usage(self) -> Usage | None:
        if not self.provider:
            return None
        return Usage(
            provider=self.provider,
            model=self.model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost_eur=round(self.cost_eur, 6),
        )


class Advisor:
    """Grounded advice from the knowledge base, written by an LLM when one is configured."""

    def __init__(
        self,
        kb: KnowledgeLike,
        llm: LLMClient | None,
        catalogue: Catalogue | None = None,
        *,
        templates: PilotTemplates | None = None,
        history_turns: int = 4,
        k: int = 6,
        tool_k: int = 4,
        max_sources: int = 8,
        owns_kb: bool = False,
        guard: OutputGuard | None = None,
        vocabulary: DomainVocabulary | None = None,
    ) -> None:
        self.kb = kb
        self.llm = llm
        keys = [e.api_key for e in llm.endpoints if e.api_key] if llm is not None else []
        self.guard = (guard or OutputGuard.default()).with_secrets(keys)
        self.catalogue = catalogue if catalogue is not None else Catalogue.from_kb(kb)
        self.templates = templates if templates is not None else PilotTemplates.from_kb(kb)
        self.history_turns = history_turns
        self.k = k
        self.tool_k = tool_k
        self.max_sources = max_sources
        self._owns_kb = owns_kb
        self.vocabulary = vocabulary or load_domain_vocabulary(getattr(kb, "knowledge_dir", None))
        self.understanding = Understanding(self.vocabulary, self.catalogue)
        embed = _embedder_of(kb)
        self.composer = Composer(
            catalogue=self.catalogue,
            templates=self.templates,
            vocabulary=self.vocabulary,
            lookup=kb.fiche,
            cases=kb.fiches("case"),
            guides=kb.fiches("guide"),
            embed=embed,
            faq=Faq.of(kb.fiches(), embed, _shipped_vectors(kb)),
        )
        # searches run in worker threads, two at a time: the index is only read (its caches
        # lock themselves) and numpy, Chroma and the tokenizer release the GIL, but more
        # threads would only fight the event loop for it on a 2-core machine
        self._search_slots = asyncio.Semaphore(SEARCH_THREADS)

    # -- public API --------------------------------------------------------------------

    async def advise(
        self,
        question: str,
        *,
        profile: Profile | None = None,
        history: Sequence[Turn] = (),
        on_text: OnText | None = None,
    ) -> Advice:
        """Answer one question; `on_text` receives the answer text so far while it streams."""
        started = time.perf_counter()
        if not isinstance(question, str) or not has_words(question):
            raise InvalidQueryError("the question is empty")
        hits, top_score = await self._retrieve(retrieval_query(question, history), profile)
        advice = await self._answer(question, hits, top_score, profile, history, on_text)
        trace = advice.trace.model_copy(
            update={
                "retrieved": list(dict.fromkeys(hit.fiche_id for hit in hits)),
                "top_score": top_score,
                "latency_s": time.perf_counter() - started,
            }
        )
        return advice.model_copy(update={"trace": trace})

    async def _answer(
        self,
        question: str,
        hits: list[Hit],
        top_score: float | None,
        profile: Profile | None,
        history: Sequence[Turn],
        on_text: OnText | None,
    ) -> Advice:
        """The advice on these hits: written by the LLM, else by the offline composer."""
        request = self.understanding.read(
            question,
            profile=profile,
            history=history,
            similarity=1.0 if top_score is None else top_score,
            retrieved=self._fiches_of(hits),
        )
        if self.llm is None or request.declines:
            return self.composer.compose(request, hits, profile=profile)
        spend = _Spend()
        try:
            return await self._with_llm(request, hits, profile, history, on_text, spend)
        except (LLMError, DraftError) as exc:
            reason = fallback_reason(exc)
            log.warning("LLM answer unusable (%s): offline composer used", reason)
            advice = self.composer.compose(request, hits, profile=profile, mode="degraded")
            update = {
                "usage": spend.usage(),
                "fallback_reason": reason,
                "notice": _notice(exc, self.llm.provider),
            }
            return advice.model_copy(update=update)

    async def tools_for(self, need: str, *, profile: Profile | None = None) -> list[ToolPick]:
        """Catalogue tools matching a need, cheapest fitting first (EU hosting on ties)."""
        if not isinstance(need, str) or not has_words(need):
            raise InvalidQueryError("the need is empty")
        profile = profile or Profile()
        filters = SearchFilters(types=("tool",), max_monthly_cost_eur=profile.monthly_budget_eur)
        async with self._search_slots:
            hits = await asyncio.to_thread(self.kb.search, need, k=8, filters=filters)
        request = self.understanding.read(need, profile=profile)
        pool: list[CatalogueTool] = self.catalogue.for_use_case(request.need or "")
        for hit in hits:
            card = self.catalogue.get(hit.fiche_id)
            if card is not None and card not in pool:
                pool.append(card)
        fitting = [t for t in pool if t.fits(budget=profile.monthly_budget_eur)]
        fitting.sort(key=lambda t: (t.price or (float("inf"),) * 2, not t.eu_hosted, t.name))
        return [tool.to_pick(self._why(tool)) for tool in fitting[:6]]

    def _why(self, tool: CatalogueTool) -> str:
        category = self.vocabulary.categories.get(tool.category)
        return tool_why(tool, category.why if category else "")

    async def aclose(self) -> None:
        """Close the LLM client and, when owned, the knowledge base."""
        if self.llm is not None:
            await self.llm.aclose()
        close = getattr(self.kb, "close", None)
        if self._owns_kb and callable(close):
            close()

    # -- retrieval ---------------------------------------------------------------------

    async def _retrieve(
        self, query: str, profile: Profile | None
    ) -> tuple[list[Hit], float | None]:
        """The hits, and the cosine of the closest passage (how in-domain the query is; None
        without a dense index)."""
        async with self._search_slots:
            return await asyncio.to_thread(self._search_scored, query, profile or Profile())

    def _fiches_of(self, hits: Sequence[Hit]) -> list[Fiche]:
        ids = dict.fromkeys(hit.fiche_id for hit in hits)
        return [f for f in map(self.kb.fiche, ids) if f is not None]

    def _search_scored(self, query: str, profile: Profile) -> tuple[list[Hit], float | None]:
        hits = self._search(query, profile)
        dense = getattr(self.kb, "search_dense", None)
        closest = dense(query, k=1) if callable(dense) else []
        return hits, float(closest[0].score) if closest else None

    def _search(self, query: str, profile: Profile) -> list[Hit]:
        sector = profile.sector if profile.sector in self.vocabulary.sector_codes else None
        general = self.kb.search(query, k=self.k, filters=SearchFilters(sector=sector))
        if len(general) < 2 and sector is not None:
            general = self.kb.search(query, k=self.k)
        tool_filters = SearchFilters(
            types=("tool",), sector=sector, max_monthly_cost_eur=profile.monthly_budget_eur
        )
        tools = self.kb.search(query, k=self.tool_k, filters=tool_filters)
        seen = {hit.chunk_id for hit in general}
        return general + [hit for hit in tools if hit.chunk_id not in seen]

    def _prompt_sources(self, hits: Sequence[Hit]) -> list[PromptSource]:
        grouped: dict[str, list[Hit]] = {}
        for hit in hits:
            grouped.setdefault(hit.fiche_id, []).append(hit)
        sources = []
        for number, (fiche_id, group) in enumerate(grouped.items(), start=1):
            if number > self.max_sources:
                break
            card = self.catalogue.get(fiche_id)
            sources.append(
                PromptSource(
                    number=number,
                    fiche_id=fiche_id,
                    title=group[0].title or fiche_id,
                    type=group[0].type,
                    excerpt=" … ".join(hit.text for hit in group),
                    price=_price_label(card) if card else None,
                )
            )
        return sources

    def _allowed_tools(
        self, request: Request, sources: Sequence[PromptSource]
    ) -> list[CatalogueTool]:
        """The tools the LLM may recommend: the offline choice for this request, the tools
        the owner named, then retrieved cards that serve the same need."""
        retrieved = [source.fiche_id for source in sources if source.type == "tool"]
        allowed = choose_tools(
            request, retrieved=retrieved, catalogue=self.catalogue, vocabulary=self.vocabulary
        )
        for tool_id in (*request.tools_named, *retrieved):
            card = self.catalogue.get(tool_id)
            serves = card is not None and (
                request.need in card.use_cases or tool_id in request.tools_named
            )
            if card is not None and serves and card not in allowed:
                allowed.append(card)
        return allowed[:MAX_OFFERED_TOOLS]

    # -- answering ---------------------------------------------------------------------

    async def _with_llm(
        self,
        request: Request,
        hits: Sequence[Hit],
        profile: Profile | None,
        history: Sequence[Turn],
        on_text: OnText | None,
        spend: _Spend,
    ) -> Advice:
        assert self.llm is not None
        sources = self._prompt_sources(hits)
        offered = self._allowed_tools(request, sources) if request.wants_pilot else []
        prompt = PromptRequest(
            question=request.text,
            intent=request.intent,
            sources=sources,
            allowed_tools=[(tool.id, f"{tool.name} ({_price_label(tool)})") for tool in offered],
            profile=profile,
            history=history,
            history_turns=self.history_turns,
            context_tokens=self.llm.context_tokens,
        )
        watch = _StreamWatch(self.guard, on_text) if on_text is not None else None
        on_delta = _answer_streamer(watch.forward) if watch is not None else None
        try:
            outcome = await request_draft(self.llm, prompt, on_delta=on_delta)
        except DraftFailure as exc:
            spend.extend(exc.completions)
            raise
        spend.extend(outcome.completions)
        checker = ClaimChecker(
            evidence=outcome.prompt.evidence,
            offered_tool_names=_names(offered),
            known_tool_names=_names(self.catalogue),
        )
        claims = checker.check(outcome.draft.answer)
        kinds = ", ".join(claims.reasons)
        if claims.removed:
            log.info("LLM answer: %d unsupported sentence(s) removed (%s)", claims.removed, kinds)
        if claims.too_much_removed:
            total = claims.removed + claims.kept
            raise ClaimsError(f"{claims.removed} of {total} sentences unsupported ({kinds})")
        advice = ground(
            outcome.draft.model_copy(update={"answer": claims.text}),
            intent=request.intent,
            sources=outcome.prompt.sources,
            catalogue=self.catalogue,
            offered_tool_ids=[tool.id for tool in offered],
            template=self.templates.for_use_case(request.need),
            profile=profile,
            usage=spend.usage(),
            vet=checker.supported,
        )
        leak = (watch.leak if watch is not None else None) or self.guard.check_advice(advice)
        if leak is not None:
            log.warning("LLM answer blocked by the output guard (%s)", leak.kind)
            raise GuardError(leak.kind)
        trace = outcome.trace.model_copy(update={"claims_removed": claims.removed})
        return advice.model_copy(update={"trace": trace})


class GuardError(DraftError):
    """The LLM answer leaked something (system prompt, secret): it must not be shown."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"output guard: {kind}", reason="guard")


class ClaimsError(DraftError):
    """Too much of the LLM answer rested on nothing it was given: the offline text is safer."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="unsupported_claims")


def _names(tools: Iterable[CatalogueTool]) -> list[str]:
    return [name for tool in tools for name in (tool.name, tool.short_name)]


def _notice(exc: BaseException, provider: str) -> str:
    """The French line shown above a degraded answer."""
    if isinstance(exc, GuardError):
        return GUARD_BLOCKED
    cause = exc.__cause__ if isinstance(exc, DraftFailure) else exc
    if isinstance(cause, LLMError):
        return user_message_for(cause)
    return LLM_BAD_RESPONSE.format(provider=provider_name(provider))


class _StreamWatch:
    """Forwards streamed text to `on_text` until the guard sees a leak, then stays silent."""

    def __init__(self, guard: OutputGuard, on_text: OnText) -> None:
        self._guard = guard
        self._on_text = on_text
        self.leak: Leak | None = None

    async def forward(self, text: str) -> None:
        if self.leak is None:
            self.leak = self._guard.leak(text)
        if self.leak is None:
            await self._on_text(text)


def _price_label(tool: CatalogueTool) -> str:
    when = f", tarif au {tool.as_of}" if tool.as_of and tool.price is not None else ""
    return f"{tool.price_text()}{when}"


class AnswerDecoder:
    """The "answer" string of a JSON object still being streamed, decoded by pydantic_core.

    The growing buffer is parsed from its first "{" (where the final parse starts too) with
    `allow_partial="trailing-strings"`, so an unfinished answer string is returned as far as
    it goes (never half an escape). Once another key follows it, the answer is final and
    the rest of the stream is no longer parsed.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._final: str | None = None

    def feed(self, delta: str) -> str | None:
        """Add streamed text; returns the answer decoded so far (None until it begins)."""
        self._buffer += delta
        if self._final is not None:
            return self._final
        start = self._buffer.find("{")
        if start < 0:
            return None
        try:
            partial = from_json(self._buffer[start:], allow_partial="trailing-strings")
        except ValueError:
            return None
        if not isinstance(partial, dict):
            return None
        answer = partial.get("answer")
        if not isinstance(answer, str):
            return None
        if next(reversed(partial)) != "answer":  # a later key began: the answer is closed
            self._final = answer
        return answer


class _ReasoningSkipper:
    """Holds back a leading `<think>...</think>` block of a stream (a model thinking aloud)."""

    def __init__(self) -> None:
        self._head = ""
        self._open = True  # still deciding, or inside the block

    def feed(self, delta: str) -> str:
        """The part of `delta` that follows the reasoning block (all of it when there is none)."""
        if not self._open:
            return delta
        self._head += delta
        stripped = self._head.lstrip()
        if "<think>".startswith(stripped[:7]) and len(stripped) < 7:
            return ""  # too early to tell
        if not stripped.startswith("<think>"):
            self._open = False
            return self._head
        end = self._head.find("</think>")
        if end < 0:
            return ""
        self._open = False
        return self._head[end + len("</think>") :]


def _answer_streamer(on_text: OnText) -> Callable[[str], Awaitable[None]]:
    """An on_delta callback that forwards the growing "answer" text to `on_text`."""
    decoder = AnswerDecoder()
    skipper = _ReasoningSkipper()
    state = {"sent": "", "broken": False}

    async def on_delta(delta: str) -> None:
        visible = skipper.feed(delta)
        text = decoder.feed(visible) if visible else None
        if state["broken"] or not text or text == state["sent"]:
            return
        state["sent"] = text
        try:
            await on_text(text)
        except Exception:  # a failing display must not lose the answer
            log.warning("on_text callback failed; streaming display stopped", exc_info=True)
            state["broken"] = True

    return on_delta


def _shipped_vectors(kb: object) -> Callable[[Sequence[str]], dict[str, Any]] | None:
    """The vectors shipped with the knowledge base (its chunks and curated questions), by
    text, when the base has them for its model."""
    knowledge_dir, model = getattr(kb, "knowledge_dir", None), getattr(kb, "model_name", None)
    if not isinstance(knowledge_dir, Path) or not isinstance(model, str):
        return None
    shipped = PackagedVectors.load(packaged_path(knowledge_dir, model), model)
    if shipped is None:
        return None

    def known(texts: Sequence[str]) -> dict[str, Any]:
        by_key = {text_key(text): text for text in texts}
        return {by_key[key]: vector for key, vector in shipped.get_many(list(by_key)).items()}

    return known


def _embedder_of(kb: object) -> Callable[[Sequence[str]], Any] | None:
    """The knowledge base's query embedder as a function, when it has one."""
    query_embedder = getattr(kb, "query_embedder", None)
    if not callable(query_embedder):
        return None

    def embed(texts: Sequence[str]) -> Any:
        return query_embedder().encode(texts)

    return embed
