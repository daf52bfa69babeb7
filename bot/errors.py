"""Exceptions raised by the bot package (messages are for developers, not users).

BotError
 ├── ConfigError            a setting is missing or invalid (startup only)
 ├── LLMError
 │    ├── LLMUnavailableError   timeout, connection failure, 5xx after retries
 │    ├── LLMAuthError          401/403: key refused
 │    ├── LLMRateLimitError     429 after retries
 │    └── LLMResponseError      2xx with an unusable body
 ├── SttError               a voice note could not be transcribed
 │    ├── SttUnavailableError   network failure, refused key, 429/5xx after the retry
 │    │    └── SttTimeoutError      no transcription within STT_TIMEOUT_S
 │    ├── SttFormatError        the provider cannot read this audio format
 │    ├── SttBadReplyError      2xx with an unusable body
 │    └── SttEmptyError         silence, noise or words that mean nothing
 └── StorageError           the state store failed (SQLite or PostgreSQL)
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


class SttError(BotError):
    """A voice note could not be turned into text."""

    def __init__(self, message: str, *, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider


class SttUnavailableError(SttError):
    """Network failure, refused key, or 429/5xx that survived the one retry."""


class SttTimeoutError(SttUnavailableError):
    """No transcription within the configured time."""


class SttFormatError(SttError):
    """The provider cannot read the audio (unsupported or damaged file)."""


class SttBadReplyError(SttError):
    """The provider answered 2xx but the body is not a transcription."""


class SttEmptyError(SttError):
    """The transcription holds no usable words (silence, noise, a known hallucination)."""


class StorageError(BotError):
    """The state store failed."""
