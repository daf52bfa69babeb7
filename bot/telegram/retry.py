"""A rate limiter that also retries sends that failed on Telegram's side (5xx, lost connection).

PTB's AIORateLimiter only retries 429 (RetryAfter). A 5xx or a connection dropped before any
answer leaves the owner without a reply, so those are retried a few times with a short
backoff. Bad requests and timeouts are not retried: a timed-out send may have been delivered,
and a second one would duplicate it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, NetworkError, TimedOut
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

JSONDict = dict[str, Any]
Result = bool | JSONDict | list[JSONDict]


class RetryingRateLimiter(AIORateLimiter):
    """AIORateLimiter plus bounded retries of transient server and connection failures."""

    def __init__(
        self, *args: Any, network_retries: int = 2, backoff_s: float = 0.5, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.network_retries = network_retries
        self.backoff_s = backoff_s

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        """Run the request through the flood limiter; retry 5xx and dropped connections."""
        attempt = 0
        while True:
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except (BadRequest, TimedOut):
                raise
            except NetworkError as exc:
                if endpoint == "getUpdates" or attempt >= self.network_retries:
                    raise
                attempt += 1
                log.info("%s failed (%s); retry %d", endpoint, type(exc).__name__, attempt)
                await asyncio.sleep(self.backoff_s * attempt)
