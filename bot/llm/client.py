"""OpenAI-compatible chat client over httpx: retries, deadline, streaming, fallback chain.

The API key only ever goes into the Authorization header: it is never logged and never
put into an exception message (error bodies are scrubbed before use).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.config import Settings
from bot.errors import (
    LLMAuthError,
    LLMError,
    LLMRateLimitError,
    LLMResponseError,
    LLMUnavailableError,
)
from bot.llm.presets import preset_for
from bot.llm.pricing import cost_eur

log = logging.getLogger(__name__)

Message = Mapping[str, str]
OnDelta = Callable[[str], Awaitable[None]]

_OPTIONAL_PARAMS = ("response_format", "stream_options")  # dropped if a provider rejects them
# One connection per answer in flight: a small pool would queue users behind each other
# (PTB runs up to 256 updates at once).
POOL_CONNECTIONS = 256


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


@dataclass(frozen=True)
class Completion:
    """The text of one chat completion with its token usage."""

    text: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    usage_estimated: bool = False

    @property
    def cost_eur(self) -> float:
        """Cost of this completion in euros, from the price table."""
        return cost_eur(self.provider, self.model, self.prompt_tokens, self.completion_tokens)


class _Retryable(Exception):
    """Internal: an attempt failed in a way worth retrying."""

    def __init__(self, error: LLMError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class _UnsupportedParam(Exception):
    """Internal: the provider rejected an optional request parameter."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass
class _CallState:
    emitted: bool = False  # some streamed text already reached the caller: no more retries


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
    """Rough token count (~4 characters per token) for providers that omit usage."""
    return max(1, len(text) // 4) if text else 0


class LLMClient:
    """Chat completions against a primary provider and an optional fallback chain."""

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        *,
        http: httpx.AsyncClient,
        timeout_s: float = 30.0,
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
        self.max_retries = max_retries
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.backoff_s = backoff_s
        self.max_retry_after_s = max_retry_after_s

    @classmethod
    def from_settings(
        cls, settings: Settings, *, http: httpx.AsyncClient | None = None
    ) -> LLMClient | None:
        """A client for the configured provider, or None in offline mode."""
        endpoints = endpoints_from_settings(settings)
        if not endpoints:
            return None
        owns = http is None
        client = http or httpx.AsyncClient(
            limits=httpx.Limits(max_connections=POOL_CONNECTIONS, max_keepalive_connections=32)
        )
        return cls(
            endpoints,
            http=client,
            timeout_s=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            temperature=settings.llm_temperature,
            max_tokens=settings.llm_max_tokens,
            owns_http=owns,
        )

    @property
    def provider(self) -> str:
        """Name of the primary provider."""
        return self.endpoints[0].provider

    @property
    def model(self) -> str:
        """Model of the primary provider."""
        return self.endpoints[0].model

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it."""
        if self._owns_http:
            await self._http.aclose()

    async def probe(self) -> list[tuple[Endpoint, LLMError | None, float]]:
        """One tiny call per endpoint, without retries: (endpoint, error or None, seconds)."""
        results: list[tuple[Endpoint, LLMError | None, float]] = []
        probe = [{"role": "user", "content": "Réponds OK."}]
        for endpoint in self.endpoints:
            single = LLMClient(
                [endpoint], http=self._http, timeout_s=min(self.timeout_s, 20.0), max_retries=0
            )
            started = asyncio.get_running_loop().time()
            error: LLMError | None = None
            try:
                await single.complete(probe, max_tokens=8)
            except LLMError as exc:
                error = exc
            results.append((endpoint, error, asyncio.get_running_loop().time() - started))
        return results

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        json_mode: bool = False,
        max_tokens: int | None = None,
        on_delta: OnDelta | None = None,
        deadline: float | None = None,
    ) -> Completion:
        """One chat completion; streams through `on_delta` when given.

        Tries each endpoint in turn while they fail with Unavailable or RateLimit errors.
        The whole chain shares one budget of `timeout_s` seconds (or ends at `deadline`, a
        time of the running loop's clock, when that comes first): a fallback provider only
        gets the time the previous ones left.
        """
        state = _CallState()
        last: LLMError | None = None
        end = asyncio.get_running_loop().time() + self.timeout_s
        end = min(end, deadline) if deadline is not None else end
        for endpoint in self.endpoints:
            try:
                return await self._complete_with(
                    endpoint, messages, json_mode, max_tokens or self.max_tokens, on_delta,
                    state, end,
                )  # fmt: skip
            except (LLMUnavailableError, LLMRateLimitError) as exc:
                if state.emitted:
                    raise
                log.warning("LLM provider %s failed: %s", endpoint.provider, exc)
                last = exc
        assert last is not None
        raise last

    async def _complete_with(
        self,
        endpoint: Endpoint,
        messages: Sequence[Message],
        json_mode: bool,
        max_tokens: int,
        on_delta: OnDelta | None,
        state: _CallState,
        deadline: float,
    ) -> Completion:
        body = self._body(endpoint, messages, json_mode, max_tokens, stream=on_delta is not None)
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise LLMUnavailableError(
                    f"{endpoint.provider}: no answer within {self.timeout_s:g} s",
                    provider=endpoint.provider,
                )
            try:
                async with asyncio.timeout(remaining):
                    return await self._attempt(endpoint, body, messages, on_delta, state, remaining)
            except TimeoutError as exc:
                raise LLMUnavailableError(
                    f"{endpoint.provider}: no answer within {self.timeout_s:g} s",
                    provider=endpoint.provider,
                ) from exc
            except _UnsupportedParam as exc:
                log.info("%s rejected %s; retrying without it", endpoint.provider, exc.name)
                body.pop(exc.name, None)
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
        json_mode: bool,
        max_tokens: int,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": endpoint.model,
            "messages": [dict(message) for message in messages],
            "temperature": self.temperature,
            "max_tokens": max_tokens,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        return body

    def _headers(self, endpoint: Endpoint) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
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
        remaining: float,
    ) -> Completion:
        timeout = httpx.Timeout(remaining, connect=min(10.0, remaining))
        try:
            async with self._http.stream(
                "POST", endpoint.url, json=body, headers=self._headers(endpoint), timeout=timeout
            ) as response:
                if response.status_code != 200:
                    await response.aread()
                    self._raise_for_status(endpoint, response, body)
                if body["stream"] and on_delta is not None:
                    return await self._read_stream(endpoint, response, messages, on_delta, state)
                raw = await response.aread()
        except httpx.TransportError as exc:
            error = LLMUnavailableError(
                f"{endpoint.provider}: network error ({type(exc).__name__})",
                provider=endpoint.provider,
            )
            raise _Retryable(error) from exc
        return self._parse_body(endpoint, raw, messages)

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
        for param in _OPTIONAL_PARAMS:
            if param in body and status in (400, 422) and param in lowered:
                raise _UnsupportedParam(param)
        if "response_format" in body and status == 400 and "json" in lowered:
            raise _UnsupportedParam("response_format")
        log.debug("%s answered HTTP %d: %s", name, status, detail)
        raise LLMResponseError(f"{name}: request rejected (HTTP {status}): {detail}", provider=name)

    def _parse_body(
        self, endpoint: Endpoint, raw: bytes, messages: Sequence[Message]
    ) -> Completion:
        name = endpoint.provider
        try:
            payload = json.loads(raw)
            text = payload["choices"][0]["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMResponseError(f"{name}: unreadable response body", provider=name) from exc
        if not isinstance(text, str):
            raise LLMResponseError(f"{name}: response content is not text", provider=name)
        return self._completion(endpoint, text, payload.get("usage"), messages)

    async def _read_stream(
        self,
        endpoint: Endpoint,
        response: httpx.Response,
        messages: Sequence[Message],
        on_delta: OnDelta,
        state: _CallState,
    ) -> Completion:
        name = endpoint.provider
        parts: list[str] = []
        usage: Any = None
        finished = False
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                finished = True
                break
            try:
                chunk = json.loads(data)
            except ValueError as exc:
                raise LLMResponseError(f"{name}: unreadable stream event", provider=name) from exc
            if not isinstance(chunk, dict):
                continue
            if chunk.get("error"):
                error = LLMUnavailableError(f"{name}: error inside the stream", provider=name)
                if state.emitted:
                    raise error
                raise _Retryable(error)
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or ():
                delta = (choice.get("delta") or {}).get("content")
                if delta:
                    parts.append(delta)
                    state.emitted = True
                    await on_delta(delta)
                if choice.get("finish_reason"):
                    finished = True
        if not finished:
            raise LLMUnavailableError(f"{name}: the stream was cut before its end", provider=name)
        return self._completion(endpoint, "".join(parts), usage, messages)

    def _completion(
        self, endpoint: Endpoint, text: str, usage: Any, messages: Sequence[Message]
    ) -> Completion:
        if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
            return Completion(
                text=text,
                provider=endpoint.provider,
                model=endpoint.model,
                prompt_tokens=usage["prompt_tokens"],
                completion_tokens=int(usage.get("completion_tokens") or 0),
            )
        prompt_chars = "".join(message.get("content", "") for message in messages)
        return Completion(
            text=text,
            provider=endpoint.provider,
            model=endpoint.model,
            prompt_tokens=estimate_tokens(prompt_chars) + 4 * len(messages),
            completion_tokens=estimate_tokens(text),
            usage_estimated=True,
        )


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None  # HTTP-date form: fall back to exponential backoff
