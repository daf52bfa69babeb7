"""Speech to text for voice notes: provider presets, the settings they resolve to, and an
OpenAI-compatible `/audio/transcriptions` client over httpx.

One time limit covers the whole transcription, its single retry (on 429, 5xx or a dropped
connection, after the server's Retry-After when it fits) included, so the owner always hears
back within `STT_TIMEOUT_S`. The API key only goes into the Authorization header.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.errors import (
    SttBadReplyError,
    SttEmptyError,
    SttError,
    SttFormatError,
    SttTimeoutError,
    SttUnavailableError,
)
from bot.llm.presets import LOCAL_HOSTS, preset_for

if TYPE_CHECKING:  # bot.config imports this module: no import cycle at run time
    from bot.config import Settings

log = logging.getLogger(__name__)

# The knowledge base converts dollar prices at one fixed rate (usd_eur_rate of
# knowledge/tools/tool-whisper.md, read on 2026-11-23): transcription costs use it too.
USD_TO_EUR = 0.92
LANGUAGE = "fr"
MAX_TRANSCRIPT_CHARS = 3000  # two minutes of fast speech is about 2,000 characters
RETRY_BACKOFF_S = 0.5  # before the one retry when the server names no delay
OFF = "off"


@dataclass(frozen=True)
class SttPreset:
    """Where a provider transcribes, its default model and that model's price."""

    name: str
    base_url: str
    default_model: str  # "" = no default: transcription stays off unless STT_MODEL is set
    usd_per_min: float = 0.0  # price of `default_model` per minute of audio
    needs_key: bool = True
    sends_response_format: bool = True  # Mistral's API does not list response_format
    max_seconds: int | None = None  # the provider's own limit on one file


STT_PRESETS: dict[str, SttPreset] = {
    preset.name: preset
    for preset in (
        # whisper-1, $0.006 per minute of audio:
        # https://developers.openai.com/api/docs/models/whisper-1 (knowledge/tools/tool-whisper.md)
        SttPreset("openai", "https://api.openai.com/v1", "whisper-1", 0.006),
        # Voxtral Mini Transcribe 3 answers to "voxtral-mini-transcribe-latest":
        # https://docs.mistral.ai/studio/audio/migrate-from-voxtral-2 ; request fields (file,
        # model, language; no response_format): https://docs.mistral.ai/studio/audio/speech-to-text/transcribe-files
        # $0.00005834 per second = $0.0035 per minute:
        # https://vercel.com/ai-gateway/models/voxtral-mini-transcribe-3 (third-party gateway)
        SttPreset(
            "mistral",
            "https://api.mistral.ai/v1",
            "voxtral-mini-transcribe-latest",
            0.0035,
            sends_response_format=False,
        ),
        # whisper-large-v3-turbo, $0.04 per hour of audio:
        # https://console.groq.com/docs/model/whisper-large-v3-turbo
        SttPreset("groq", "https://api.groq.com/openai/v1", "whisper-large-v3-turbo", 0.04 / 60),
        # Z.ai transcribes with glm-asr-2512 at this base URL, 30 s per file at most
        # (https://docs.z.ai/guides/audio/glm-asr-2512), but publishes no per-minute price in
        # our sources: no default model, set STT_MODEL and STT_PRICE_EUR_PER_MIN to use it.
        SttPreset("glm", "https://api.z.ai/api/paas/v4", "", max_seconds=30),
        # any OpenAI-compatible server (a local faster-whisper server, a gateway...)
        SttPreset("custom", "", "", needs_key=False),
    )
}
STT_PROVIDER_CHOICES = (*STT_PRESETS, OFF)

# Audio types the OpenAI-compatible endpoints read, and the file name extension they go by
# (OpenAI reads the format from the extension: a voice note's ".oga" is sent as ".ogg").
AUDIO_EXTENSIONS = {
    "audio/ogg": "ogg",
    "audio/opus": "ogg",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/webm": "webm",
    "audio/flac": "flac",
    "audio/x-flac": "flac",
}


@dataclass(frozen=True)
class SttEndpoint:
    """The transcription service the settings resolve to."""

    provider: str
    base_url: str
    model: str
    api_key: str | None = field(repr=False)
    eur_per_min: float
    max_seconds: int
    sends_response_format: bool = True

    @property
    def url(self) -> str:
        """The transcription URL."""
        return f"{self.base_url.rstrip('/')}/audio/transcriptions"


def is_local_url(url: str) -> bool:
    """True for a server on this machine (its transcriptions cost nothing per minute)."""
    host = (urlsplit(url).hostname or "").lower()
    return host in LOCAL_HOSTS or host.startswith("127.")


def resolve_stt(settings: Settings) -> tuple[SttEndpoint | None, dict[str, str]]:
    """The transcription endpoint of the settings (None: off) and the problems that stop it.

    STT_* default to the LLM provider's when it transcribes: same URL, and its key as long
    as the URL is the LLM's own. A provider without transcription (DeepSeek...) leaves
    voice notes off unless STT_* name another service.
    """
    explicit = settings.stt_provider
    if explicit == OFF:
        return None, {}
    provider = explicit or settings.llm_provider
    wanted = explicit is not None or bool(settings.stt_model or settings.stt_base_url)
    if provider is None:
        problem = "obligatoire avec STT_MODEL ou STT_BASE_URL (ex. openai, mistral, groq, custom)"
        return None, ({"STT_PROVIDER": problem} if wanted else {})
    preset = STT_PRESETS.get(provider)
    same_as_llm = provider == settings.llm_provider
    if preset is None and not settings.stt_base_url:
        problem = f"obligatoire : {provider} ne transcrit pas l'audio (ou STT_PROVIDER=openai, …)"
        return None, ({"STT_BASE_URL": problem} if wanted else {})
    base_url = (
        settings.stt_base_url
        or (settings.llm_base_url if same_as_llm else None)
        or (preset.base_url if preset else "")
    )
    model = settings.stt_model or (preset.default_model if preset else "")
    if not model or not base_url:
        name = "STT_MODEL" if not model else "STT_BASE_URL"
        problem = f"obligatoire avec STT_PROVIDER={provider} (pas de valeur par défaut)"
        return None, ({name: problem} if wanted else {})
    key = _key_for(settings, same_as_llm, base_url)
    if key is None and preset is not None and preset.needs_key:
        problem = f"obligatoire avec STT_PROVIDER={provider} (LLM_API_KEY ne vaut que pour son URL)"
        return None, {"STT_API_KEY": problem}
    limit = preset.max_seconds if preset and preset.max_seconds else settings.stt_max_seconds
    return (
        SttEndpoint(
            provider=provider,
            base_url=base_url,
            model=model,
            api_key=key,
            eur_per_min=_price(settings, preset, model, base_url),
            max_seconds=min(settings.stt_max_seconds, limit),
            sends_response_format=preset.sends_response_format if preset else True,
        ),
        {},
    )


def _key_for(settings: Settings, same_as_llm: bool, base_url: str) -> str | None:
    """STT_API_KEY, else the LLM's key when the audio goes to the LLM's own URL."""
    if settings.stt_api_key is not None:
        return settings.stt_api_key.get_secret_value()
    if not same_as_llm or settings.llm_api_key is None or settings.llm_provider is None:
        return None
    llm_url = settings.llm_base_url or preset_for(settings.llm_provider).base_url
    if base_url.rstrip("/") != llm_url.rstrip("/"):
        return None  # never hand the LLM key to another server
    return settings.llm_api_key.get_secret_value()


def _price(settings: Settings, preset: SttPreset | None, model: str, base_url: str) -> float:
    """Euros per minute: the setting, else 0 on this machine, else the preset's price."""
    if settings.stt_price_eur_per_min is not None:
        return settings.stt_price_eur_per_min
    if is_local_url(base_url) or preset is None or not preset.usd_per_min:
        return 0.0
    if model != preset.default_model:  # another model of the same vendor: an estimate
        log.info("no price known for STT model %r: counted at %s's", model, preset.default_model)
    return preset.usd_per_min * USD_TO_EUR


def audio_extension(mime_type: str | None) -> str | None:
    """The file extension a provider expects for this audio type; None when unsupported."""
    if not mime_type:
        return None
    return AUDIO_EXTENSIONS.get(mime_type.split(";")[0].strip().lower())


# -- cleaning -------------------------------------------------------------------------

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b\u200e\u200f\u2028-\u202e\ufeff]")
# Whisper marks non-speech in brackets ([Musique], [BLANK_AUDIO]) or with notes (♪)
_NON_SPEECH_RE = re.compile(
    r"\[[^\]]{0,40}\]|\((?:musique|rires?|applaudissements|silence|inaudible|bruits?)\)|[♪♫]",
    re.IGNORECASE,
)
# What Whisper writes over silence in French: the credits of the subtitles it learnt from
_SILENCE_PHRASES = (
    "amara.org",
    "sous-titres réalisés par",
    "sous-titrage st'",
    "sous-titrage société radio-canada",
    "merci d'avoir regardé",
)
_WORD_RE = re.compile(r"[^\W\d_]{2,}")
_LOOP_MIN_WORDS = 12  # below this, repeating a word is still speech ("allô allô")


def clean_transcript(text: str, *, max_chars: int = MAX_TRANSCRIPT_CHARS) -> str:
    """The transcript as a question: non-speech marks removed, spaces collapsed, capped.

    SttEmptyError when nothing is left that an owner could have said: no words, a known
    silence hallucination, or one word looping.
    """
    cleaned = " ".join(_NON_SPEECH_RE.sub(" ", _CONTROL_RE.sub("", text)).split())
    words = [w.lower() for w in _WORD_RE.findall(cleaned)]
    lowered = cleaned.lower()
    if not words:
        raise SttEmptyError("the transcription holds no words")
    if any(phrase in lowered for phrase in _SILENCE_PHRASES) and len(words) <= 12:
        raise SttEmptyError("the transcription is a known silence hallucination")
    if len(words) >= _LOOP_MIN_WORDS and len(set(words)) * 6 <= len(words):
        raise SttEmptyError("the transcription loops on a few words")
    if len(cleaned) <= max_chars:
        return cleaned
    cut = cleaned[: max_chars - 1]
    return cut[: cut.rfind(" ")].rstrip(" ,;:") + "…" if " " in cut else cut + "…"


# -- the client -----------------------------------------------------------------------


class _Reply(BaseModel):
    """The part of a transcription reply we use (OpenAI, Groq and Mistral all send `text`)."""

    model_config = ConfigDict(extra="ignore")

    text: str


class _Retryable(Exception):
    """A failure worth one more try, with the delay the server asked for."""

    def __init__(self, error: SttError, retry_after: float | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class Transcriber:
    """Turns a voice note into French text through one OpenAI-compatible endpoint."""

    def __init__(
        self,
        endpoint: SttEndpoint,
        *,
        http: httpx.AsyncClient,
        timeout_s: float,
        max_chars: int = MAX_TRANSCRIPT_CHARS,
        owns_http: bool = False,
    ) -> None:
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.max_chars = max_chars
        self._http = http
        self._owns_http = owns_http

    @classmethod
    def from_settings(
        cls, settings: Settings, *, http: httpx.AsyncClient, owns_http: bool = False
    ) -> Transcriber | None:
        """The transcriber of the settings over `http` (built in bot.wiring), None when off."""
        endpoint, _ = resolve_stt(settings)
        if endpoint is None:
            return None
        return cls(endpoint, http=http, timeout_s=settings.stt_timeout_s, owns_http=owns_http)

    @property
    def max_seconds(self) -> int:
        """Longest audio accepted, in seconds."""
        return self.endpoint.max_seconds

    def cost_eur(self, seconds: float) -> float:
        """What transcribing `seconds` of audio costs, in euros."""
        return max(0.0, seconds) / 60 * self.endpoint.eur_per_min

    async def aclose(self) -> None:
        """Close the HTTP client when this transcriber owns it."""
        if self._owns_http:
            await self._http.aclose()

    async def transcribe(self, audio: bytes, *, mime_type: str) -> str:
        """The cleaned French text of `audio`; an SttError subclass when there is none."""
        extension = audio_extension(mime_type)
        if extension is None:
            raise SttFormatError(f"unsupported audio type {mime_type!r}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                text = await self._with_retry(audio, extension, mime_type, deadline)
        except TimeoutError as exc:
            name = self.endpoint.provider
            raise SttTimeoutError(
                f"{name}: no transcription within {self.timeout_s:g} s", provider=name
            ) from exc
        return clean_transcript(text, max_chars=self.max_chars)

    async def _with_retry(self, audio: bytes, extension: str, mime: str, deadline: float) -> str:
        loop = asyncio.get_running_loop()
        try:
            return await self._post(audio, extension, mime, deadline)
        except _Retryable as first:
            delay = RETRY_BACKOFF_S if first.retry_after is None else first.retry_after
            if loop.time() + delay >= deadline:  # waiting would break the promise of a reply
                raise first.error from first
            log.info("%s: %s, one retry in %.1f s", self.endpoint.provider, first, delay)
            await asyncio.sleep(delay)
        try:
            return await self._post(audio, extension, mime, deadline)
        except _Retryable as second:
            raise second.error from second

    async def _post(self, audio: bytes, extension: str, mime: str, deadline: float) -> str:
        endpoint, name = self.endpoint, self.endpoint.provider
        fields = {"model": endpoint.model, "language": LANGUAGE}
        if endpoint.sends_response_format:
            fields["response_format"] = "json"
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        left = max(0.1, deadline - asyncio.get_running_loop().time())
        try:
            response = await self._http.post(
                endpoint.url,
                data=fields,
                files={"file": (f"voice.{extension}", audio, mime)},
                headers=headers,
                timeout=httpx.Timeout(left, connect=min(10.0, left)),
            )
        except httpx.TimeoutException as exc:
            raise TimeoutError from exc  # the deadline, as httpx saw it first
        except httpx.TransportError as exc:
            error = SttUnavailableError(
                f"{name}: network error ({type(exc).__name__})", provider=name
            )
            raise _Retryable(error) from exc
        self._raise_for_status(response)
        return self._text_of(response)

    def _raise_for_status(self, response: httpx.Response) -> None:
        status, name = response.status_code, self.endpoint.provider
        if status == 200:
            return
        if status == 429 or status >= 500 or status == 408:
            error = SttUnavailableError(f"{name}: HTTP {status}", provider=name)
            raise _Retryable(error, _retry_after(response))
        detail = self._scrub(response.text)
        if status in (401, 403):
            log.warning("%s refused the STT key (HTTP %d): check STT_API_KEY", name, status)
        elif status == 415 or (status in (400, 422) and _about_audio(detail)):
            raise SttFormatError(f"{name}: audio refused (HTTP {status}): {detail}", provider=name)
        else:
            log.warning("%s answered HTTP %d to a transcription: %s", name, status, detail)
        raise SttUnavailableError(f"{name}: request rejected (HTTP {status})", provider=name)

    def _text_of(self, response: httpx.Response) -> str:
        name = self.endpoint.provider
        try:
            return _Reply.model_validate(json.loads(response.content)).text
        except (ValueError, ValidationError) as exc:
            raise SttBadReplyError(f"{name}: unreadable transcription body", provider=name) from exc

    def _scrub(self, text: str) -> str:
        key = self.endpoint.api_key
        if key:
            text = text.replace(key, "***")
        return " ".join(text.split())[:200]


def _about_audio(detail: str) -> bool:
    """True when a 400 is about the file itself (format, decoding), not the request."""
    lowered = detail.lower()
    return any(word in lowered for word in ("format", "decode", "audio", "file"))


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait, from `Retry-After` in seconds or as an HTTP date."""
    raw = response.headers.get("Retry-After", "").strip()
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
