"""Exceptions raised by the bot package (messages are for developers, not users).

BotError
 ├── ConfigError            a setting is missing or invalid (startup only)
 ├── LLMError
 │    ├── LLMUnavailableError   timeout, connection failure, 5xx after retries
 │    ├── LLMAuthError          401/403: key refused
 │    ├── LLMRateLimitError     429 after retries
 │    └── LLMResponseError      2xx with an unusable body
 └── StorageError           SQLite failure
"""

from __future__ import annotations


class BotError(Exception):
    """Base class of every bot failure."""


class ConfigError(BotError):
    """One or more settings are invalid; `problems` maps setting name to reason."""

    def __init__(self, problems: dict[str, str]) -> None:
        self.problems = dict(problems)
        lines = [f"{name}: {reason}" for name, reason in self.problems.items()]
        super().__init__("Configuration invalide :\n  " + "\n  ".join(lines))


class LLMError(BotError):
    """The LLM could not give a usable answer."""

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider


class LLMUnavailableError(LLMError):
    """Timeout, network failure or server error that survived the retries."""


class LLMAuthError(LLMError):
    """The provider refused the API key (401/403)."""


class LLMRateLimitError(LLMError):
    """The provider kept answering 429."""


class LLMResponseError(LLMError):
    """The provider answered 2xx but the body is not usable."""


class StorageError(BotError):
    """The state store failed."""
