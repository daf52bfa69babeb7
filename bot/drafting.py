"""Getting one usable draft from the LLM: request, parse, retry with room, repair.

The loop, inside one time budget (the client's `timeout_s`):
1. ask for the draft in the strongest JSON form the endpoint accepts (a schema whose tool
   ids are those the prompt offers), streaming the answer text to `on_delta`;
2. a reply cut at the token limit (`finish_reason: "length"`, or an answer string that
   never closes) is asked again once, with 1.5 times the room and half the sources;
3. a reply that does not parse is first fixed locally with json-repair; only when that
   fails is a repair call paid for, once, with the reason it failed.
Every failure is logged with its reason (never the owner's message, the reply or a key) and
ends in a DraftFailure that carries the completions already paid for.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from bot.advice import AnswerTrace
from bot.claims import echo_share
from bot.errors import LLMAuthError, LLMError, LLMRateLimitError
from bot.grounding import DraftError, InformationDraft, ParsedDraft, parse_draft, response_schema
from bot.llm.client import (
    Completion,
    Endpoint,
    LLMClient,
    LLMTimeoutError,
    estimate_prompt_tokens,
    estimate_tokens,
)
from bot.prompt import Prompt, PromptRequest, PromptSource, build_prompt, repair_messages

log = logging.getLogger(__name__)

OnDelta = Callable[[str], Awaitable[None]]
INFORMATION_MAX_TOKENS = 500  # a fact in at most 900 characters, its citations and the JSON
LENGTH_RETRY_FACTOR = 1.5
MAX_ECHO_SHARE = 0.6  # an answer made mostly of the instructions' words
MAX_RESTATED = 0.85  # "Oui, vous devez mettre une mention…" restates the question: allowed


class DraftFailure(DraftError):
    """No usable draft: `reason` is the short code shown in `ask --json`."""

    def __init__(
        self, message: str, *, reason: str, completions: Sequence[Completion] = ()
    ) -> None:
        super().__init__(message, reason=reason)
        self.completions = tuple(completions)


@dataclass(frozen=True)
class DraftOutcome:
    """A parsed draft, the prompt it answers (sources and evidence) and what it cost."""

    draft: InformationDraft
    prompt: Prompt
    completions: tuple[Completion, ...]
    trace: AnswerTrace


def fallback_reason(exc: BaseException) -> str:
    """The short code of a failure: timeout, auth, rate_limited, unavailable, invalid_json..."""
    if isinstance(exc, DraftError):
        return exc.reason
    cases: tuple[tuple[type[LLMError], str], ...] = (
        (LLMTimeoutError, "timeout"),
        (LLMAuthError, "auth"),
        (LLMRateLimitError, "rate_limited"),
    )
    return next((code for kind, code in cases if isinstance(exc, kind)), "unavailable")


@dataclass
class _Attempts:
    """The completions of one answer, and the text streamed by the call in flight."""

    llm: LLMClient
    deadline: float
    completions: list[Completion] = field(default_factory=list)
    streamed: list[str] = field(default_factory=list)

    async def call(
        self, messages: list[dict[str, str]], prompt: Prompt, on_delta: OnDelta | None
    ) -> Completion:
        schema = response_schema(
            prompt.kind,
            offered_tool_ids=[tool_id for tool_id, _ in prompt.tools],
            source_count=len(prompt.sources),
        )
        self.streamed = []

        async def tally(delta: str) -> None:
            self.streamed.append(delta)
            if on_delta is not None:
                await on_delta(delta)

        completion = await self.llm.complete(
            messages,
            schema=schema,
            max_tokens=prompt.max_tokens,
            on_delta=tally,
            deadline=self.deadline,
        )
        self.completions.append(completion)
        return completion

    def spent_on_failure(self, exc: LLMError, messages: list[dict[str, str]]) -> None:
        """Count a call cut after it produced text: the prompt was read, tokens were spent."""
        if not self.streamed:
            return
        endpoint = _endpoint_of(self.llm.endpoints, exc.provider)
        self.completions.append(
            Completion(
                text="",
                provider=endpoint.provider,
                model=endpoint.model,
                prompt_tokens=estimate_prompt_tokens(messages),
                completion_tokens=estimate_tokens("".join(self.streamed)),
                usage_estimated=True,
                local=endpoint.kind == "local",
            )
        )


def _endpoint_of(endpoints: Sequence[Endpoint], provider: str) -> Endpoint:
    return next((e for e in endpoints if e.provider == provider), endpoints[0])


def first_max_tokens(llm: LLMClient, request: PromptRequest) -> int:
    """Room for the answer: the configured maximum, less for an information question."""
    if request.kind == "information":
        return min(llm.max_tokens, INFORMATION_MAX_TOKENS)
    return llm.max_tokens


def _parse(
    completion: Completion, request: PromptRequest, prompt: Prompt
) -> ParsedDraft | DraftError:
    if completion.truncated:
        return DraftError("réponse coupée à la limite de jetons", reason="truncated")
    try:
        parsed = parse_draft(completion.text, request.kind)
    except DraftError as exc:
        return exc
    answer = parsed.draft.answer
    instructions = echo_share(answer, [prompt.messages[0]["content"]])
    if instructions >= MAX_ECHO_SHARE or echo_share(answer, [request.question]) >= MAX_RESTATED:
        return DraftError("champ answer : recopie la consigne ou la question sans y répondre")
    return parsed


async def request_draft(
    llm: LLMClient,
    request: PromptRequest,
    *,
    on_delta: OnDelta | None = None,
    deadline: float | None = None,
) -> DraftOutcome:
    """One usable draft for `request`; DraftFailure (with the completions spent) otherwise."""
    loop = asyncio.get_running_loop()
    end = loop.time() + llm.timeout_s
    attempts = _Attempts(llm, min(end, deadline) if deadline is not None else end)
    prompt = build_prompt(request, max_tokens=first_max_tokens(llm, request))
    messages = prompt.messages
    try:
        completion = await attempts.call(messages, prompt, on_delta)
        result = _parse(completion, request, prompt)
        valid = isinstance(result, ParsedDraft) and not result.locally_fixed
        trace = AnswerTrace(structure_valid=valid)
        if isinstance(result, DraftError) and result.reason == "truncated":
            log.info("LLM reply cut short (%s); asking again with more room", result)
            room = int(prompt.max_tokens * LENGTH_RETRY_FACTOR)
            fewer = max(1, len(prompt.sources) // 2)
            prompt = build_prompt(request, max_tokens=room, max_sources=fewer)
            messages = prompt.messages
            trace.length_retries += 1
            result = _parse(await attempts.call(messages, prompt, None), request, prompt)
        if isinstance(result, DraftError) and result.reason != "truncated":
            log.info("LLM reply unusable (%s); asking for a repair", result)
            bad = attempts.completions[-1].text
            messages = repair_messages(prompt.messages, bad, str(result), kind=request.kind)
            trace.repairs += 1
            result = _parse(await attempts.call(messages, prompt, None), request, prompt)
    except LLMError as exc:
        attempts.spent_on_failure(exc, messages)
        log.warning("LLM call failed (%s): %s", fallback_reason(exc), exc)
        reason = fallback_reason(exc)
        raise DraftFailure(str(exc), reason=reason, completions=attempts.completions) from exc
    if isinstance(result, DraftError):
        log.warning("LLM draft rejected (%s): %s", result.reason, result)
        spent = attempts.completions
        raise DraftFailure(str(result), reason=result.reason, completions=spent) from result
    trace.local_json_fix = result.locally_fixed
    return DraftOutcome(result.draft, prompt, tuple(attempts.completions), trace)


# -- doctor: one realistic answer, timed --------------------------------------------------

PROBE_QUESTION = (
    "Je tiens une boulangerie avec deux salariés et je perds une heure par jour à répondre "
    "aux commandes WhatsApp. Que me conseillez-vous, pour moins de 50 € par mois ?"
)
PROBE_SOURCES = (
    PromptSource(
        1,
        "case-exemple-boulangerie",
        "Une boulangerie centralise ses commandes",
        "case",
        "Une boulangerie de quartier recevait ses commandes par WhatsApp, par téléphone et "
        "au comptoir. Elle a regroupé les messages dans l'application WhatsApp Business, "
        "avec des réponses rapides pour les horaires, les tarifs et les délais, et un "
        "catalogue des produits de la semaine. Les commandes du samedi sont confirmées par "
        "un message type. Après un mois, la gérante estime passer moitié moins de temps sur "
        "les messages ; les erreurs de commande ont baissé. Le coût est resté nul : "
        "l'application est gratuite pour un seul téléphone.",
    ),
    PromptSource(
        2,
        "guide-exemple-messages",
        "Pilote : répondre plus vite aux clients",
        "guide",
        "Mesurer d'abord : combien de messages par jour, le délai moyen de réponse, le temps "
        "passé. Préparer dix réponses types pour les questions qui reviennent. Tester une "
        "semaine, puis ajouter une réponse automatique hors des heures d'ouverture. Au bout "
        "de deux semaines, comparer le délai et le temps passé au point de départ, puis "
        "décider de continuer, d'ajuster ou d'arrêter. Garder une personne qui relit les "
        "réponses sensibles (réclamations, allergènes).",
    ),
    PromptSource(
        3,
        "tool-exemple-messagerie",
        "Messagerie professionnelle",
        "tool",
        "Application de messagerie pour les commerces : profil d'entreprise, catalogue, "
        "réponses rapides, étiquettes pour suivre les commandes, message d'absence. "
        "Gratuite sur un téléphone ; une offre payante ajoute plusieurs postes.",
        price="0 à 15 €/mois (tarif au 2026-11-23)",
    ),
)
PROBE_TOOLS = (
    ("tool-exemple-messagerie", "Messagerie professionnelle (0 à 15 €/mois)"),
    ("tool-exemple-automatisation", "Automatisation sans code (0 à 9 €/mois)"),
    ("tool-exemple-assistant", "Assistant conversationnel (0 à 18 €/mois)"),
)


@dataclass(frozen=True)
class ProbeResult:
    """What one realistic answer from one endpoint showed."""

    endpoint: Endpoint
    seconds: float
    timeout_s: float
    completion: Completion | None = None  # the first reply (speed figures)
    reason: str | None = None  # the fallback reason when no usable draft came back
    error: BaseException | None = None

    @property
    def fits(self) -> bool:
        """True when a usable answer came back within the time limit."""
        return self.reason is None and self.seconds <= self.timeout_s


def probe_request(context_tokens: int) -> PromptRequest:
    """The realistic request the doctor sends: a real question, three sources, three tools."""
    return PromptRequest(
        question=PROBE_QUESTION,
        intent="need",
        sources=PROBE_SOURCES,
        allowed_tools=PROBE_TOOLS,
        context_tokens=context_tokens,
    )


async def probe(llm: LLMClient) -> list[ProbeResult]:
    """One full answer per endpoint, in the same JSON mode as real answers, timed."""
    results = []
    for endpoint in llm.endpoints:
        single = llm.single(endpoint)
        started = time.perf_counter()
        try:
            outcome = await request_draft(single, probe_request(single.context_tokens))
        except DraftFailure as exc:
            seconds = time.perf_counter() - started
            first = exc.completions[0] if exc.completions else None
            cause = exc.__cause__ or exc
            results.append(
                ProbeResult(endpoint, seconds, single.timeout_s, first, exc.reason, cause)
            )
            continue
        seconds = time.perf_counter() - started
        results.append(ProbeResult(endpoint, seconds, single.timeout_s, outcome.completions[0]))
    return results
