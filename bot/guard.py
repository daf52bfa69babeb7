"""Output guard: an LLM answer that leaks the system prompt or a secret never reaches a user.

The prompt tells the model never to reveal its instructions or keys, but a model that obeys an
injected instruction would do so anyway. This guard does not trust the model: it looks at what
the model wrote (while it streams and once it is final) for

- long verbatim runs of the protected texts (the system prompt): any `shingle_words`
  consecutive words of it, after folding case, accents and punctuation;
- the configured secrets (LLM keys, bot token, webhook secret), even with spaces inserted;
- strings shaped like credentials (`sk-...`, bot tokens, `Bearer ...`, long mixed-case keys).

The advisor replaces a flagged answer by the offline one. `RedactingFilter` applies the
secret part to log records.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from bot.advice import Advice
from bot.config import Settings

SHINGLE_WORDS = 8
MIN_SECRET_CHARS = 8
REDACTED = "***"

CREDENTIAL_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI, DeepSeek, OpenRouter (sk-or-...)
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}"),  # Telegram bot token
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{12,}"),
    re.compile(r"\b[0-9a-f]{32}\.[A-Za-z0-9]{10,}\b"),  # Zhipu / Z.ai keys
    # long runs mixing digits, lower and upper case letters: no French word looks like that
    re.compile(r"\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[a-z])(?=[A-Za-z0-9]*[A-Z])[A-Za-z0-9]{32,}\b"),
    re.compile(r"(?i)(?:api[_ -]?key|token|secret|password|mot de passe)\s*[:=]\s*\S{8,}"),
)
_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return _WORD.findall("".join(c for c in folded if not unicodedata.combining(c)))


def _shingles(words: list[str], size: int) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


def settings_secrets(settings: Settings) -> list[str]:
    """Every secret value held by the settings (keys, token, webhook secret)."""
    values = [
        settings.llm_api_key,
        settings.stt_api_key,
        settings.admin_token,
        settings.telegram_bot_token,
        settings.telegram_webhook_secret,
        settings.database_password,
    ]
    values += [entry.api_key for entry in settings.llm_fallback]
    return [value.get_secret_value() for value in values if value is not None]


@dataclass(frozen=True)
class Leak:
    """Why a text was refused: `kind` is system_prompt, secret or credential."""

    kind: str


class OutputGuard:
    """Flags texts that contain the protected prompt, a configured secret or a credential."""

    def __init__(
        self,
        *,
        protected: Iterable[str] = (),
        secrets: Iterable[str] = (),
        shingle_words: int = SHINGLE_WORDS,
    ) -> None:
        self.shingle_words = shingle_words
        self._shingles: set[tuple[str, ...]] = set()
        for text in protected:
            self._shingles |= _shingles(_words(text), shingle_words)
        self._secrets = tuple(sorted({s for s in secrets if len(s) >= MIN_SECRET_CHARS}))

    @classmethod
    def default(cls, secrets: Iterable[str] = ()) -> OutputGuard:
        """A guard protecting the advisor's system prompt and the given secrets."""
        from bot.prompt import SYSTEM_PROMPT, SYSTEM_PROMPT_INFORMATION

        return cls(protected=[SYSTEM_PROMPT, SYSTEM_PROMPT_INFORMATION], secrets=secrets)

    def with_secrets(self, secrets: Iterable[str]) -> OutputGuard:
        """A copy that also protects `secrets`."""
        copy = OutputGuard(shingle_words=self.shingle_words)
        copy._shingles = self._shingles
        copy._secrets = tuple(
            sorted(set(self._secrets) | {s for s in secrets if len(s) >= MIN_SECRET_CHARS})
        )
        return copy

    def leak(self, text: str) -> Leak | None:
        """What `text` leaks, or None when it is safe to show."""
        if not text:
            return None
        squeezed = "".join(text.split())
        if any(secret in text or secret in squeezed for secret in self._secrets):
            return Leak("secret")
        if any(pattern.search(text) for pattern in CREDENTIAL_PATTERNS):
            return Leak("credential")
        if self._shingles and not self._shingles.isdisjoint(
            _shingles(_words(text), self.shingle_words)
        ):
            return Leak("system_prompt")
        return None

    def check_advice(self, advice: Advice) -> Leak | None:
        """The first leak in any text of the advice the model wrote, or None."""
        texts = [advice.answer]
        if advice.pilot is not None:
            texts += [advice.pilot.goal, *advice.pilot.kpis]
            texts += [step.task for step in advice.pilot.steps]
        texts += [tool.why for tool in advice.tools]
        for text in texts:
            found = self.leak(text)
            if found is not None:
                return found
        return self.leak("\n".join(texts))  # a run split across two fields

    def redact(self, text: str) -> str:
        """`text` with configured secrets and credential-shaped strings masked."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        for pattern in CREDENTIAL_PATTERNS[:4]:
            text = pattern.sub(REDACTED, text)
        return text


class RedactingFilter(logging.Filter):
    """A handler filter that masks secrets in the final text of every log record."""

    def __init__(self, guard: OutputGuard) -> None:
        super().__init__()
        self.guard = guard

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self.guard.redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            redacted = self.guard.redact(text)
            if redacted != text:
                record.exc_text, record.exc_info = redacted, None
        return True


def install_log_redaction(secrets: Iterable[str]) -> RedactingFilter:
    """Mask `secrets` in everything the root logger's handlers write."""
    redactor = RedactingFilter(OutputGuard(secrets=secrets))
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    return redactor
