"""OpenAI-compatible chat client over httpx: retries, two time limits, streaming, fallback chain.

Every request is streamed, even when nobody displays the text: the first token tells the
prompt was read (time-to-first-token limit), and closing the stream when the bot gives up
tells a local server (llama.cpp, Ollama) to stop generating, instead of keeping its only
slot busy for a reply nobody will read.

The JSON contract is asked for in the strongest form each endpoint accepts: a JSON schema
(constrained decoding on llama.cpp and Ollama), else JSON mode, else plain text. A 400 that
names `response_format` moves that endpoint one step down, for good.

The API key only ever goes into the Authorization header: it is never logged and never
put into an exception message (error bodies are scrubbed before use).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx

from bot.errors import (
    LLMAuthError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMUnavailableError,
)
from bot.llm.presets import ProviderKind, preset_for, provider_kind
from bot.llm.pricing import cost_eur

if TYPE_CHECKING:  # bot.config imports bot.llm.presets: no import cycle at run time
    from bot.config import Settings

log = logging.getLogger(__name__)

Message = Mapping[str, str]
OnDelta = Callable[[str], Awaitable[None]]
Schema = Mapping[str, Any]
ResponseFormat = Literal["json_schema", "json_object", "text"]

FORMATS: tuple[ResponseFormat, ...] = ("json_schema", "json_object", "text")  # strongest first
CHARS_PER_TOKEN = 3.5  # French text, for providers that send no usage (an estimate)


class LLMTimeoutError(LLMUnavailableError):
    """No first token, or no complete answer, within the configured time."""

    def __init__(self, message: str, *, provider: str = "", stage: str = "total") -> None:
        super().__init__(message, provider=provider)
        self.stage = stage  # "first_token" or "total"


@dataclass(frozen=True)
class Endpoint:
    """One provider to call: where, which model, with which key."""

    provider: str
    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The chat completions URL."""
        return self.base_url.rstrip("/") + "/chat/completions"

    @property
    def kind(self) -> ProviderKind:
        """Local (Ollama, llama.cpp, a custom URL on this machine) or hosted."""
        return provider_kind(self.provider, self.base_url)


@dataclass(frozen=True)
class Completion:
    """The text of one chat completion with its token usage and timing."""

    text: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    usage_estimated: bool = False
    finish_reason: str | None = None  # "stop", "length" (cut at max_tokens)...
    response_format: ResponseFormat = "text"  # what the endpoint was actually asked for
    first_token_s: float | None = None  # request sent -> first token
    elapsed_s: float = 0.0  # request sent -> last token
    local: bool = False  # served on this machine (or by Ollama/llama.cpp): no per-token price

    @property
    def cost_eur(self) -> float:
        """Cost of this completion in euros, from the price table (0 for a local model)."""
        if self.local:
            return 0.0
        return cost_eur(self.provider, self.model, self.prompt_tokens, self.completion_tokens)

    @property
    def truncated(self) -> bool:
        """True when the reply was cut at the token limit."""
        return self.finish_reason == "length"

    @property
    def tokens_per_s(self) -> float | None:
        """Generation speed, first token excluded; None when it cannot be measured."""
        if self.first_token_s is None or self.completion_tokens < 2:
            return None
        span = self.elapsed_s - self.first_token_s
        return (self.completion_tokens - 1) / span if span > 0 else None


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth retrying."""

    def __init__(self, error: LLMError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _Unsupported(Exception):
    """Internal: the provider rejected an optional request parameter."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass
class _CallState:
    emitted: bool = False  # some streamed text already reached the caller: no more retries


@dataclass
class _Stream:
    """What one streamed attempt has gathered so far."""

    started: float
    parts: list[str] = field(default_factory=list)
    usage: Any = None
    finish_reason: str | None = None
    first_token_at: float | None = None
    finished: bool = False


def endpoints_from_settings(settings: Settings) -> list[Endpoint]:
    """The primary endpoint then the fallback chain; empty when no provider is set."""
    if settings.llm_provider is None:
        return []
    primary = preset_for(settings.llm_provider)
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    endpoints = [
        Endpoint(
            provider=settings.llm_provider,
            base_url=settings.llm_base_url or primary.base_url,
            model=settings.llm_model or primary.default_model,
            api_key=key,
        )
    ]
    for entry in settings.llm_fallback:
        preset = preset_for(entry.provider)
        if entry.provider == "custom" or (preset.needs_key and entry.api_key is None):
            log.warning("fallback provider %s skipped: no key or URL configured", entry.provider)
            continue
        endpoints.append(
            Endpoint(
                provider=entry.provider,
                base_url=preset.base_url,
                model=entry.model or preset.default_model,
                api_key=entry.api_key.get_secret_value() if entry.api_key else None,
            )
        )
    return endpoints


def estimate_tokens(text: str) -> int:
    """Rough token count (3.5 characters per token, French) for what usage does not say."""
    return max(1, round(len(text) / CHARS_PER_TOKEN)) if text else 0


def response_format_body(kind: ResponseFormat, schema: Schema | None) -> dict[str, Any] | None:
    """The `response_format` request field for `kind` (None for plain text)."""
    if kind == "json_schema" and schema is not None:
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": dict(schema)}}
    if kind in ("json_schema", "json_object"):
        return {"type": "json_object"}
    return None


class LLMClient:
    """Chat completions against a primary provider and an optional fallback chain."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        http: httpx.AsyncClient,
        timeout_s: float = 30.0,
        first_token_timeout_s: float | None = None,
        context_tokens: int = 8192,
        max_retries: int = 2,
        temperature: float = 0.2,
        max_tokens: int = 1200,
        backoff_s: float = 0.5,
        max_retry_after_s: float = 10.0,
        owns_http: bool = False,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is required")
        self.endpoints = tuple(endpoints)
        self._http = http
        self._owns_http = owns_http
        self.timeout_s = timeout_s
        self.first_token_timeout_s = min(first_token_timeout_s or timeout_s, timeout_s)
        self.context_tokens = context_tokens
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s
        # what each endpoint refused, remembered for the life of the client
        self._best_format: dict[str, ResponseFormat] = {}
        self._dropped: dict[str, set[str]] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, http: httpx.AsyncClient, owns_http: bool = False
    ) -> LLMClient | None:
        """A client for the configured provider over `http` (built in bot.wiring), or None offline.

        `aclose` closes `http` only when `owns_http` hands it over.
        """
        endpoints = endpoints_from_settings(settings)
        if not endpoints:
            return None
        first_token_s, timeout_s = settings.llm_timeouts
        return cls(
            endpoints,
            http=http,
            timeout_s=timeout_s,
            first_token_timeout_s=first_token_s,
            context_tokens=settings.llm_context,
            max_retries=settings.llm_max_retries,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            owns_http=owns_http,
        )

    @property
    def provider(self) -> str:
        """Name of the primary provider."""
        return self.endpoints[0].provider

    @property
    def model(self) -> str:
        """Model of the primary provider."""
        return self.endpoints[0].model

    def single(self, endpoint: Endpoint) -> LLMClient:
        """A client for one endpoint with the same limits and no retries (for probes)."""
        return LLMClient(
            [endpoint],
            http=self._http,
            timeout_s=self.timeout_s,
            first_token_timeout_s=self.first_token_timeout_s,
            context_tokens=self.context_tokens,
            max_retries=0,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        schema: Schema | None = None,
        json_mode: bool = False,
        max_tokens: int | None = None,
        on_delta: OnDelta | None = None,
        deadline: float | None = None,
    ) -> Completion:
        """One chat completion, streamed; the text goes to `on_delta` as it arrives.

        `schema` asks for that JSON schema (falling back to JSON mode, then plain text, on
        endpoints that refuse it); `json_mode` asks for any JSON object. Tries each endpoint
        in turn while they fail with Unavailable or RateLimit errors. The whole chain shares
        one budget of `timeout_s` seconds (or ends at `deadline`, a time of the running
        loop's clock, when that comes first); each request must also stream its first token
        within `first_token_timeout_s`.
        """
        wanted: ResponseFormat = "json_schema" if schema else "json_object" if json_mode else "text"
        state = _CallState()
        last: LLMError | None = None
        end = asyncio.get_running_loop().time() + self.timeout_s
        end = min(end, deadline) if deadline is not None else end
        for endpoint in self.endpoints:
            try:
                return await self._complete_with(
                    endpoint,
                    messages,
                    wanted,
                    schema,
                    max_tokens or self.max_tokens,
                    on_delta,
                    state,
                    end,
                )
            except (LLMUnavailableError, LLMRateLimitError) as exc:
                if state.emitted:
                    raise
                log.warning("LLM provider %s failed: %s", endpoint.provider, exc)
                last = exc
        assert last is not None
        raise last

    def _format_for(self, endpoint: Endpoint, wanted: ResponseFormat) -> ResponseFormat:
        best = self._best_format.get(endpoint.url + endpoint.model, "json_schema")
        return max(wanted, best, key=FORMATS.index)  # the weaker of the two

    def _downgrade(self, endpoint: Endpoint, used: ResponseFormat) -> None:
        weaker = FORMATS[min(FORMATS.index(used) + 1, len(FORMATS) - 1)]
        self._best_format[endpoint.url + endpoint.model] = weaker
        log.info("%s refused response_format %s; using %s", endpoint.provider, used, weaker)

    async def _complete_with(
        self,
        endpoint: Endpoint,
        messages: Sequence[Message],
        wanted: ResponseFormat,
        schema: Schema | None,
        max_tokens: int,
        on_delta: OnDelta | None,
        state: _CallState,
        deadline: float,
    ) -> Completion:
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            used = self._format_for(endpoint, wanted)
            body = self._body(endpoint, messages, used, schema, max_tokens)
            if deadline - loop.time() <= 0:
                raise LLMTimeoutError(
                    f"{endpoint.provider}: no answer within {self.timeout_s:g} s",
                    provider=endpoint.provider,
                )
            try:
                completion = await self._attempt(
                    endpoint, body, messages, on_delta, state, deadline
                )
                return replace(completion, response_format=used)
            except _Unsupported as exc:
                if exc.name == "response_format":
                    self._downgrade(endpoint, used)
                else:
                    log.info("%s rejected %s; retrying without it", endpoint.provider, exc.name)
                    self._dropped.setdefault(endpoint.url, set()).add(exc.name)
            except _Retryable as exc:
                attempt += 1
                delay = self._delay(attempt, exc.retry_after)
                if state.emitted or attempt > self.max_retries:
                    raise exc.error from exc
                if delay >= deadline - loop.time():
                    raise exc.error from exc
                log.info(
                    "%s attempt %d failed (%s); retrying in %.2f s",
                    endpoint.provider,
                    attempt,
                    exc.error,
                    delay,
                )
                await asyncio.sleep(delay)

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_after_s)
        base: float = self.backoff_s * 2.0 ** (attempt - 1)
        return base * (0.5 + random.random())  # jitter spreads retries of concurrent users

    def _body(
        self,
        endpoint: Endpoint,
        messages: Sequence[Message],
        kind: ResponseFormat,
        schema: Schema | None,
        max_tokens: int,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": endpoint.model,
            "messages": [dict(message) for message in messages],
            "temperature": self.temperature,
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        response_format = response_format_body(kind, schema)
        if response_format is not None:
            body["response_format"] = response_format
        for name in self._dropped.get(endpoint.url, ()):
            body.pop(name, None)
        return body

    def _headers(self, endpoint: Endpoint) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if endpoint.api_key:
            headers["Authorization"] = f"Bearer {endpoint.api_key}"
        return headers

    async def _attempt(
        self,
        endpoint: Endpoint,
        body: dict[str, Any],
        messages: Sequence[Message],
        on_delta: OnDelta | None,
        state: _CallState,
        deadline: float,
    ) -> Completion:
        loop = asyncio.get_running_loop()
        stream = _Stream(started=loop.time())
        first_limit = min(stream.started + self.first_token_timeout_s, deadline)
        timeout = httpx.Timeout(None, connect=max(0.1, min(10.0, deadline - stream.started)))
        try:
            async with asyncio.timeout_at(first_limit) as limit:
                # leaving this block closes the response: the server sees the disconnect
                async with self._http.stream(
                    "POST",
                    endpoint.url,
                    json=body,
                    headers=self._headers(endpoint),
                    timeout=timeout,
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        self._raise_for_status(endpoint, response, body)
                    if "event-stream" not in response.headers.get("content-type", ""):
                        limit.reschedule(deadline)  # a server that ignores `stream`
                        raw = await response.aread()
                        completion = self._parse_body(endpoint, raw, messages)
                        return replace(completion, elapsed_s=loop.time() - stream.started)
                    await self._read_stream(
                        endpoint, response, on_delta, state, stream, limit, deadline
                    )
        except TimeoutError as exc:
            raise self._timeout(endpoint, stream) from exc
        except httpx.TransportError as exc:
            error = LLMUnavailableError(
                f"{endpoint.provider}: network error ({type(exc).__name__})",
                provider=endpoint.provider,
            )
            raise _Retryable(error) from exc
        return self._streamed(endpoint, stream, messages, loop.time())

    def _timeout(self, endpoint: Endpoint, stream: _Stream) -> LLMTimeoutError:
        name = endpoint.provider
        if stream.first_token_at is None:
            return LLMTimeoutError(
                f"{name}: no first token within {self.first_token_timeout_s:g} s",
                provider=name,
                stage="first_token",
            )
        return LLMTimeoutError(
            f"{name}: no complete answer within {self.timeout_s:g} s", provider=name, stage="total"
        )

    def _scrub(self, endpoint: Endpoint, text: str) -> str:
        if endpoint.api_key:
            text = text.replace(endpoint.api_key, "***")
        return " ".join(text.split())[:200]

    def _raise_for_status(
        self, endpoint: Endpoint, response: httpx.Response, body: dict[str, Any]
    ) -> None:
        status = response.status_code
        detail = self._scrub(endpoint, response.text)
        name = endpoint.provider
        if status == 429:
            raise _Retryable(
                LLMRateLimitError(f"{name}: rate limited (HTTP 429)", provider=name),
                _retry_after(response),
            )
        if status >= 500 or status == 408:
            raise _Retryable(
                LLMUnavailableError(f"{name}: server error (HTTP {status})", provider=name),
                _retry_after(response) if status == 503 else None,
            )
        if status in (401, 403):
            raise LLMAuthError(f"{name} refused the API key (HTTP {status})", provider=name)
        lowered = detail.lower()
        if status in (400, 422):
            # "response_format", "json_schema", a grammar built from the schema...: step down
            if "response_format" in body and ("response_format" in lowered or "json" in lowered):
                raise _Unsupported("response_format")
            if "stream_options" in body and "stream_options" in lowered:
                raise _Unsupported("stream_options")
        log.warning("%s answered HTTP %d: %s", name, status, detail)
        raise LLMResponseError(f"{name}: request rejected (HTTP {status}): {detail}", provider=name)

    def _parse_body(
        self, endpoint: Endpoint, raw: bytes, messages: Sequence[Message]
    ) -> Completion:
        name = endpoint.provider
        try:
            payload = json.loads(raw)
            choice = payload["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMResponseError(f"{name}: unreadable response body", provider=name) from exc
        if not isinstance(text, str):
            raise LLMResponseError(f"{name}: response content is not text", provider=name)
        finish = choice.get("finish_reason") if isinstance(choice, dict) else None
        finish = finish if isinstance(finish, str) else None
        return self._completion(
            endpoint, text, payload.get("usage"), messages, finish_reason=finish
        )

    async def _read_stream(
        self,
        endpoint: Endpoint,
        response: httpx.Response,
        on_delta: OnDelta | None,
        state: _CallState,
        stream: _Stream,
        limit: asyncio.Timeout,
        deadline: float,
    ) -> None:
        loop = asyncio.get_running_loop()
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                stream.finished = True
                break
            chunk = self._chunk(endpoint, data, state)
            stream.usage = chunk.get("usage") or stream.usage
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if stream.first_token_at is None and (text or delta.get("reasoning_content")):
                    stream.first_token_at = loop.time()
                    limit.reschedule(deadline)  # the prompt is read: now only the total counts
                if text:
                    stream.parts.append(text)
                    state.emitted = True
                    if on_delta is not None:
                        await on_delta(text)
                if choice.get("finish_reason"):
                    stream.finish_reason = str(choice["finish_reason"])
                    stream.finished = True
        if not stream.finished:
            name = endpoint.provider
            raise LLMUnavailableError(f"{name}: the stream was cut before its end", provider=name)

    def _chunk(self, endpoint: Endpoint, data: str, state: _CallState) -> dict[str, Any]:
        name = endpoint.provider
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise LLMResponseError(f"{name}: unreadable stream event", provider=name) from exc
        if not isinstance(chunk, dict):
            return {}
        if chunk.get("error"):
            error = LLMUnavailableError(f"{name}: error inside the stream", provider=name)
            if state.emitted:
                raise error
            raise _Retryable(error)
        return chunk

    def _streamed(
        self, endpoint: Endpoint, stream: _Stream, messages: Sequence[Message], now: float
    ) -> Completion:
        text = "".join(stream.parts)
        completion = self._completion(
            endpoint, text, stream.usage, messages, finish_reason=stream.finish_reason
        )
        first = stream.first_token_at - stream.started if stream.first_token_at else None
        return replace(completion, first_token_s=first, elapsed_s=now - stream.started)

    def _completion(
        self,
        endpoint: Endpoint,
        text: str,
        usage: Any,
        messages: Sequence[Message],
        *,
        finish_reason: str | None,
    ) -> Completion:
        known = isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int)
        return Completion(
            text=text,
            provider=endpoint.provider,
            model=endpoint.model,
            prompt_tokens=usage["prompt_tokens"] if known else estimate_prompt_tokens(messages),
            completion_tokens=(
                int(usage.get("completion_tokens") or 0) if known else estimate_tokens(text)
            ),
            usage_estimated=not known,
            finish_reason=finish_reason,
            local=endpoint.kind == "local",
        )


def estimate_prompt_tokens(messages: Sequence[Message]) -> int:
    """Estimated tokens of a prompt: its text plus a few per message for the chat template."""
    return estimate_tokens("".join(m.get("content", "") for m in messages)) + 4 * len(messages)


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait, from `Retry-After` in seconds or as an HTTP date."""
    raw = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None  # absent or unreadable: fall back to exponential backoff
    if when.tzinfo is None:  # "-0000": UTC by RFC 5322
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
