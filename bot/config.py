"""Settings: read once from the environment (and `.env`) at the edge, then passed around."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bot.errors import ConfigError
from bot.llm.presets import KIND_DEFAULTS, PRESETS, ProviderKind, provider_kind
from bot.stt import STT_PROVIDER_CHOICES, resolve_stt
from retrieval.embedding import DEFAULT_INGEST_EMBEDDER, INGEST_EMBEDDERS, PACKAGED_MODEL_NAME

# The names of bot.llm.presets.PRESETS, spelled out for the type checker (a test keeps them equal)
ProviderName = Literal[
    "deepseek", "qwen", "glm", "mistral", "openrouter", "ollama", "llamacpp", "openai", "custom"
]
KEYLESS_PROVIDERS = tuple(name for name, preset in PRESETS.items() if not preset.needs_key)
_SECONDS = "nombre de secondes attendu, entre 1 et 1800 (ex. 60)"
_TOKENS = "nombre de jetons attendu, entre 1024 et 1000000 (ex. 4096)"
# the prefixes of every setting read here: a child process started without them runs on
# defaults (tests, benchmarks)
SETTING_PREFIXES = (
    *("LLM_", "TELEGRAM_", "CHROMA_", "PILOTE_IA_", "EMBEDDING_", "KNOWLEDGE_", "WEBHOOK_"),
    *("DATABASE_", "INBOX_", "INGEST_", "STT_", "ADMIN_", "GAP_", "FEEDBACK_"),
)
DEFAULT_EMBEDDING_MODEL = PACKAGED_MODEL_NAME
DEFAULT_TELEGRAM_BASE_URL = "https://api.telegram.org/bot"
ADMIN_TOKEN_MIN_LENGTH = 12  # the admin page is reachable by anyone who guesses it
_ADMIN_TOKEN = f"au moins {ADMIN_TOKEN_MIN_LENGTH} caractères (ex. openssl rand -hex 16)"
_STT_SECONDS = "nombre de secondes attendu, entre 1 et 600 (ex. 120)"
_STT_TIMEOUT = "nombre de secondes attendu, entre 1 et 600 (ex. 30)"
# Telegram's getFile serves files up to 20 MB
_STT_BYTES = "nombre d'octets attendu, entre 1000 et 20000000 (ex. 5000000 pour 5 Mo)"
_STT_PRICE = "prix en euros par minute d'audio attendu, entre 0 et 1 (ex. 0,006)"
_DATABASE_URL = "URL PostgreSQL attendue : postgresql://utilisateur:motdepasse@hôte:5432/base"


def is_postgres_url(url: str) -> bool:
    """True for a well-formed `postgresql://` (or `postgres://`) URL naming a server (a host,
    or a socket directory in `?host=`)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return False
    server = bool(parts.hostname) or "host=" in parts.query
    return parts.scheme in ("postgresql", "postgres") and server


def default_data_dir(environ: Mapping[str, str]) -> Path:
    """Per-user data directory following the XDG convention."""
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "pilote-ia"


def packaged_knowledge_dir() -> Path:
    """The `knowledge/` directory shipped with the package (works when installed too)."""
    import knowledge

    return Path(knowledge.__file__).resolve().parent


class FallbackProvider(BaseModel):
    """One entry of the LLM fallback chain (`LLM_FALLBACK=mistral:mistral-small-latest`)."""

    model_config = ConfigDict(frozen=True)

    provider: ProviderName
    model: str | None = None
    api_key: SecretStr | None = Field(default=None, repr=False)


class Settings(BaseModel):
    """Every setting of the application; field names map to UPPER_CASE env names."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Storage and knowledge
    pilote_ia_data_dir: Path
    # postgresql://user:password@host:5432/base: the store shared by workers on several
    # machines (bot/postgres_store.py); empty = the SQLite file in the data directory
    database_url: SecretStr | None = Field(default=None, repr=False)
    knowledge_dir: Path = Field(default_factory=packaged_knowledge_dir)
    embedding_model: str = DEFAULT_EMBEDDING_MODEL
    # how ingest computes document vectors: onnx (ONNX Runtime, same vectors, ~3-4x faster),
    # onnx-int8 (faster still, approximate vectors), sentence-transformers (torch)
    ingest_embedder: str = DEFAULT_INGEST_EMBEDDER
    chroma_host: str | None = None
    chroma_port: int = Field(default=8000, ge=1, le=65535)

    # LLM (no provider = offline advisor)
    llm_provider: ProviderName | None = None
    llm_api_key: SecretStr | None = Field(default=None, repr=False)
    llm_base_url: str | None = None
    llm_model: str | None = None
    # None = the default of the provider's kind, local or hosted (bot/llm/presets.py)
    llm_timeout_s: float | None = None  # the whole answer, retries included
    llm_first_token_timeout_s: float | None = None  # request sent -> first token
    llm_context_tokens: int | None = None  # the model's window: prompt + answer
    llm_temperature: float = Field(default=0.2, ge=0, le=2)
    llm_max_tokens: int = Field(default=1200, ge=64, le=32000)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_fallback: tuple[FallbackProvider, ...] = ()

    # Telegram
    telegram_bot_token: SecretStr | None = Field(default=None, repr=False)
    telegram_api_base_url: str = DEFAULT_TELEGRAM_BASE_URL
    telegram_webhook_secret: SecretStr | None = Field(default=None, repr=False)
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8443, ge=1, le=65535)
    # a received update's lease in the inbox (bot/telegram/inbox.py): renewed every third of
    # it while its worker lives; another worker takes the update over once it expired
    inbox_lease_s: float = Field(default=15.0, ge=1, le=600)
    # Bot API requests per second of this worker (Telegram allows about 30 per bot in all):
    # with N workers, give each 30 / N
    telegram_rate_per_s: float = Field(default=30.0, gt=0, le=30)
    admin_ids: frozenset[int] = frozenset()
    allowed_user_ids: frozenset[int] = frozenset()  # empty = everyone

    # Limits and retention
    questions_per_hour: int = Field(default=20, ge=1, le=10000)
    daily_budget_eur: float = Field(default=0.20, ge=0)
    history_retention_days: int = Field(default=90, ge=1, le=3650)
    # answer log and votes (feedback, gap report, admin page): same question text as the
    # history, so kept no longer by default; a quarter shows whether a fix changed the votes
    feedback_retention_days: int = Field(default=90, ge=1, le=3650)
    history_turns: int = Field(default=4, ge=0, le=20)

    # Admin web page (`pilote-ia admin`): the token its login form asks for
    admin_token: SecretStr | None = Field(default=None, repr=False)

    # Gap report (`pilote-ia gaps`, bot/gaps.py): an answer whose best dense cosine is under
    # this is "weak retrieval". `python benchmarks/calibrate_gaps.py` on the 208 eval questions
    # (subversion left out): best F1 at 0.56, precision 0.51, recall 0.64 (89% of out-of-scope
    # and 46% of missed questions flagged); well-answered median 0.645, missed median 0.563.
    gap_weak_score: float = Field(default=0.56, ge=0, le=1)

    # Voice notes (speech to text, bot/stt.py): empty = the LLM provider's, when it has one
    stt_provider: str | None = None  # a name of bot.stt.STT_PRESETS, or "off"
    stt_model: str | None = None
    stt_base_url: str | None = None
    stt_api_key: SecretStr | None = Field(default=None, repr=False)
    stt_max_seconds: int = 120  # checked on the message's metadata, before any download
    stt_max_bytes: int = 5_000_000
    stt_timeout_s: float = 30.0  # the whole transcription, its one retry included
    stt_price_eur_per_min: float | None = None  # None = the preset's price, 0 on this machine

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("llm_base_url", "telegram_api_base_url", "stt_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("doit commencer par http:// ou https://")
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_url(cls, value: SecretStr | None) -> SecretStr | None:
        # the message never repeats the URL: it holds a password
        if value is not None and not is_postgres_url(value.get_secret_value()):
            raise ValueError(_DATABASE_URL)
        return value

    @field_validator("admin_token")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < ADMIN_TOKEN_MIN_LENGTH:
            raise ValueError(_ADMIN_TOKEN)
        return value

    @field_validator("llm_timeout_s", "llm_first_token_timeout_s", mode="before")
    @classmethod
    def _seconds(cls, value: Any) -> float | None:
        return _bounded(value, float, 1, 1800, _SECONDS)

    @field_validator("stt_provider", mode="before")
    @classmethod
    def _stt_provider(cls, value: Any) -> str | None:
        if value is None:
            return None
        name = str(value).strip().lower()
        if name not in STT_PROVIDER_CHOICES:
            raise ValueError("fournisseur inconnu : " + ", ".join(STT_PROVIDER_CHOICES))
        return name

    @field_validator("ingest_embedder", mode="before")
    @classmethod
    def _ingest_embedder(cls, value: Any) -> str:
        name = str(value).strip().lower()
        if name not in INGEST_EMBEDDERS:
            raise ValueError("calcul des vecteurs inconnu : " + ", ".join(INGEST_EMBEDDERS))
        return name

    @field_validator("stt_max_seconds", mode="before")
    @classmethod
    def _stt_seconds(cls, value: Any) -> int:
        return _whole(_bounded(value, float, 1, 600, _STT_SECONDS), _STT_SECONDS)

    @field_validator("stt_max_bytes", mode="before")
    @classmethod
    def _stt_bytes(cls, value: Any) -> int:
        return _whole(_bounded(value, float, 1000, 20_000_000, _STT_BYTES), _STT_BYTES)

    @field_validator("stt_timeout_s", mode="before")
    @classmethod
    def _stt_timeout(cls, value: Any) -> float | None:
        return _bounded(value, float, 1, 600, _STT_TIMEOUT)

    @field_validator("stt_price_eur_per_min", mode="before")
    @classmethod
    def _stt_price(cls, value: Any) -> float | None:
        return _bounded(value, float, 0, 1, _STT_PRICE)

    @field_validator("llm_context_tokens", mode="before")
    @classmethod
    def _tokens(cls, value: Any) -> int | None:
        number = _bounded(value, float, 1024, 1_000_000, _TOKENS)
        if number is not None and number != int(number):
            raise ValueError(_TOKENS)
        return int(number) if number is not None else None

    @property
    def llm_kind(self) -> ProviderKind:
        """The provider's kind: local (Ollama, llama.cpp, a custom URL on this machine) or
        hosted; it sets the default time limits and context window."""
        return provider_kind(self.llm_provider or "", self.llm_base_url)

    @property
    def llm_timeouts(self) -> tuple[float, float]:
        """(time to first token, total time) of one answer, in seconds."""
        defaults = KIND_DEFAULTS[self.llm_kind]
        total = self.llm_timeout_s or defaults.timeout_s
        first = self.llm_first_token_timeout_s or min(defaults.first_token_timeout_s, total)
        return first, total

    @property
    def llm_context(self) -> int:
        """Context window assumed for the model, in tokens."""
        return self.llm_context_tokens or KIND_DEFAULTS[self.llm_kind].context_tokens

    @property
    def telegram_file_base_url(self) -> str:
        """Where files are downloaded from: the `…/bot` API URL's sibling `…/file/bot`
        (as on api.telegram.org and the self-hosted Bot API server)."""
        base = self.telegram_api_base_url.rstrip("/")
        return f"{base.removesuffix('/bot')}/file/bot"

    @property
    def db_path(self) -> Path:
        """SQLite file holding profiles, history, checklists and usage."""
        return self.pilote_ia_data_dir / "pilote-ia.sqlite3"

    @property
    def database_password(self) -> SecretStr | None:
        """The password inside DATABASE_URL, if any (kept out of the logs)."""
        if self.database_url is None:
            return None
        password = urlsplit(self.database_url.get_secret_value()).password
        return SecretStr(unquote(password)) if password else None

    @property
    def index_dir(self) -> Path:
        """Directory of the embedded Chroma database and the BM25 index."""
        return self.pilote_ia_data_dir / "index"

    @property
    def offline(self) -> bool:
        """True when no LLM provider is configured."""
        return self.llm_provider is None


_LIST_FIELDS = {"admin_ids", "allowed_user_ids"}


def _bounded(value: Any, kind: type[float], low: float, high: float, message: str) -> float | None:
    """A number within [low, high] (French `message` otherwise); None stays None."""
    if value is None:
        return None
    try:
        number = kind(str(value).replace(",", ".")) if isinstance(value, str) else kind(value)
    except (TypeError, ValueError):
        raise ValueError(message) from None
    if not low <= number <= high:
        raise ValueError(message)
    return number


def _whole(number: float | None, message: str) -> int:
    """`number` as an int; ValueError(`message`) for a fraction or a missing value."""
    if number is None or number != int(number):
        raise ValueError(message)
    return int(number)


def _split_ints(raw: str) -> frozenset[int]:
    return frozenset(int(part) for part in raw.replace(";", ",").split(",") if part.strip())


def _parse_fallback(raw: str, environ: Mapping[str, str]) -> tuple[dict[str, Any], ...]:
    entries = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        provider, _, model = item.partition(":")
        key = environ.get(f"{provider.upper()}_API_KEY") or None
        entries.append({"provider": provider, "model": model or None, "api_key": key})
    return tuple(entries)


def _raw_values(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for name in Settings.model_fields:
        raw = environ.get(name.upper(), "").strip()
        if not raw:
            continue
        try:
            if name in _LIST_FIELDS:
                values[name] = _split_ints(raw)
            elif name == "llm_fallback":
                values[name] = _parse_fallback(raw, environ)
            elif name == "llm_provider":
                values[name] = raw.lower()
            else:
                values[name] = raw
        except ValueError:
            problems[name.upper()] = "liste d'identifiants numériques attendue (ex. 123,456)"
    values.setdefault("pilote_ia_data_dir", default_data_dir(environ))
    return values, problems


def _explain(exc: ValidationError) -> dict[str, str]:
    problems = {}
    for error in exc.errors():
        name = str(error["loc"][0]).upper() if error["loc"] else "?"
        problems[name] = str(error["msg"]).removeprefix("Value error, ")
    return problems


def _cross_checks(settings: Settings) -> dict[str, str]:
    problems = {}
    needs_key = settings.llm_provider not in (None, *KEYLESS_PROVIDERS)
    if needs_key and settings.llm_api_key is None:
        problems["LLM_API_KEY"] = f"obligatoire avec LLM_PROVIDER={settings.llm_provider}"
    if settings.llm_provider == "custom" and not settings.llm_base_url:
        problems["LLM_BASE_URL"] = "obligatoire avec LLM_PROVIDER=custom"
    if settings.llm_provider == "custom" and not settings.llm_model:
        problems["LLM_MODEL"] = "obligatoire avec LLM_PROVIDER=custom"
    first, total = settings.llm_timeouts
    if settings.llm_provider is not None and first > total:
        name = "LLM_FIRST_TOKEN_TIMEOUT_S"
        problems[name] = f"ne peut pas dépasser LLM_TIMEOUT_S ({total:g} s)"
    problems.update(resolve_stt(settings)[1])
    return problems


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = None
) -> Settings:
    """Build Settings from `environ` (default os.environ) plus an optional `.env` file.

    Variables already in the environment win over the file. Every problem is
    collected into one ConfigError that names each faulty setting.
    """
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    values, problems = _raw_values(merged)
    if problems:
        raise ConfigError(problems)
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from exc
    problems = _cross_checks(settings)
    if problems:
        raise ConfigError(problems)
    return settings
