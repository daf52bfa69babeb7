"""bot/stt.py against the fake OpenAI-compatible server: the multipart request, the one retry,
the time limit, the error tree, the cleaning of transcripts, and what the settings resolve to."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from bot.config import Settings, load_settings
from bot.errors import (
    ConfigError,
    SttBadReplyError,
    SttEmptyError,
    SttFormatError,
    SttTimeoutError,
    SttUnavailableError,
)
from bot.stt import USD_TO_EUR, SttEndpoint, Transcriber, clean_transcript, resolve_stt
from tests.fakes.llm_server import Behaviour, FakeLLMServer

AUDIO = b"OggS\x00\x02 fake opus frames \xff\xfe"
KEY = "sk-stt-secret-123"


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def _transcriber(
    server: FakeLLMServer, http: httpx.AsyncClient, *, timeout_s: float = 5.0, **endpoint: Any
) -> Transcriber:
    values: dict[str, Any] = {
        "provider": "openai",
        "base_url": server.base_url,
        "model": "whisper-1",
        "api_key": KEY,
        "eur_per_min": 0.006,
        "max_seconds": 120,
    }
    values.update(endpoint)
    return Transcriber(SttEndpoint(**values), http=http, timeout_s=timeout_s)


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(pilote_ia_data_dir=tmp_path, **values)


# -- the request ----------------------------------------------------------------------


async def test_posts_the_audio_as_multipart_with_model_and_french(
    server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    server.enqueue_transcription(Behaviour.transcript("  Je perds mes soirées sur les devis.  "))
    text = await _transcriber(server, http).transcribe(AUDIO, mime_type="audio/ogg")
    assert text == "Je perds mes soirées sur les devis."
    (request,) = server.transcriptions
    assert request.path == "/v1/audio/transcriptions"
    assert request.audio == AUDIO
    assert request.filename == "voice.ogg" and request.content_type == "audio/ogg"
    assert request.fields == {"model": "whisper-1", "language": "fr", "response_format": "json"}
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert server.requests == []  # no chat completion was asked for


async def test_mistral_gets_no_response_format_field(
    server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    stt = _transcriber(server, http, provider="mistral", sends_response_format=False)
    await stt.transcribe(AUDIO, mime_type="audio/mpeg; codecs=mp3")
    (request,) = server.transcriptions
    assert request.fields == {"model": "whisper-1", "language": "fr"}
    assert request.filename == "voice.mp3"


async def test_unsupported_audio_type_is_refused_without_a_request(
    server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    with pytest.raises(SttFormatError):
        await _transcriber(server, http).transcribe(AUDIO, mime_type="audio/amr")
    assert server.transcriptions == []


# -- failures, retry and time limit --------------------------------------------------


async def test_one_retry_after_a_server_error(
    server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    server.enqueue_transcription(Behaviour.status(500), Behaviour.transcript("Bonjour le devis"))
    assert await _transcriber(server, http).transcribe(AUDIO, mime_type="audio/ogg") == (
        "Bonjour le devis"
    )
    assert len(server.transcriptions) == 2


async def test_two_server_errors_mean_unavailable(
    server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    server.enqueue_transcription(Behaviour.status(500), Behaviour.status(503))
    with pytest.raises(SttUnavailableError) as caught:
        await _transcriber(server, http).transcribe(AUDIO, mime_type="audio/ogg")
    assert not isinstance(caught.value, SttTimeoutError)
    assert len(server.transcriptions) == 2  # one retry, not more


async def test_rate_limit_waits_for_retry_after_then_succeeds(
    server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    server.enqueue_transcription(
        Behaviour.status(429, retry_after=0.2), Behaviour.transcript("Quel outil pour mes devis ?")
    )
    text = await _transcriber(server, http).transcribe(AUDIO, mime_type="audio/ogg")
    assert text == "Quel outil pour mes devis ?"
    first, second = server.transcriptions
    assert second.received_at - first.received_at >= 0.2


async def test_retry_after_beyond_the_time_limit_fails_at_once(
    server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    server.enqueue_transcription(Behaviour.status(429, retry_after=60))
    with pytest.raises(SttUnavailableError):
        await _transcriber(server, http, timeout_s=3).transcribe(AUDIO, mime_type="audio/ogg")
    assert len(server.transcriptions) == 1


async def test_a_stalled_provider_times_out(server: FakeLLMServer, http: httpx.AsyncClient) -> None:
    server.enqueue_transcription(Behaviour.stall(30))
    with pytest.raises(SttTimeoutError):
        await _transcriber(server, http, timeout_s=1).transcribe(AUDIO, mime_type="audio/ogg")
    assert len(server.transcriptions) == 1


@pytest.mark.parametrize(
    "behaviour",
    [
        Behaviour.malformed(),
        Behaviour.status(200, body='{"transcript": "pas le bon champ"}'),
        Behaviour.status(200, body='{"text": 42}'),
    ],
    ids=["not-json", "no-text", "text-not-a-string"],
)
async def test_an_unusable_body_is_a_bad_reply(
    server: FakeLLMServer, http: httpx.AsyncClient, behaviour: Behaviour
) -> None:
    server.enqueue_transcription(behaviour)
    with pytest.raises(SttBadReplyError):
        await _transcriber(server, http).transcribe(AUDIO, mime_type="audio/ogg")


async def test_a_format_refusal_and_a_refused_key_are_told_apart(
    server: FakeLLMServer, http: httpx.AsyncClient
) -> None:
    format_error = '{"error": {"message": "Invalid file format. Supported formats: ogg, mp3"}}'
    server.enqueue_transcription(
        Behaviour.status(400, body=format_error),
        Behaviour.status(401, body=f'{{"error": {{"message": "bad key {KEY}"}}}}'),
    )
    stt = _transcriber(server, http)
    with pytest.raises(SttFormatError):
        await stt.transcribe(AUDIO, mime_type="audio/ogg")
    with pytest.raises(SttUnavailableError) as refused:
        await stt.transcribe(AUDIO, mime_type="audio/ogg")
    assert KEY not in str(refused.value)
    assert len(server.transcriptions) == 2  # neither is retried


@pytest.mark.parametrize(
    "text",
    ["", "   ", "[Musique]", "♪ ♪ ♪", "...", "Sous-titres réalisés par la communauté d'Amara.org"],
)
async def test_empty_or_garbage_transcripts_are_their_own_error(
    server: FakeLLMServer, http: httpx.AsyncClient, text: str
) -> None:
    server.enqueue_transcription(Behaviour.transcript(text))
    with pytest.raises(SttEmptyError):
        await _transcriber(server, http).transcribe(AUDIO, mime_type="audio/ogg")


# -- cleaning -------------------------------------------------------------------------


def test_cleaning_keeps_speech_and_drops_non_speech_marks() -> None:
    raw = "[Musique] Bonjour,\u200b je tiens une\n\nboulangerie (rires) ♪ que faire ?"
    assert clean_transcript(raw) == "Bonjour, je tiens une boulangerie que faire ?"
    assert clean_transcript("allô allô, vous m'entendez ?") == "allô allô, vous m'entendez ?"


def test_a_looping_transcript_is_garbage() -> None:
    with pytest.raises(SttEmptyError):
        clean_transcript(" ".join(["merci"] * 30))


def test_a_long_transcript_is_cut_at_a_word() -> None:
    said = "je suis plombier à Lyon et je passe mes soirées à rédiger des devis pour mes clients "
    text = clean_transcript(said * 3, max_chars=60)
    assert len(text) <= 60 and text.endswith("…")
    kept = text.removesuffix("…")
    assert said.startswith(kept) and said[len(kept)] == " "  # cut between two words


def test_cost_is_minutes_times_the_price() -> None:
    endpoint = SttEndpoint("openai", "http://x/v1", "whisper-1", None, 0.006, 120)
    stt = Transcriber(endpoint, http=httpx.AsyncClient(), timeout_s=5)
    assert stt.cost_eur(30) == pytest.approx(0.003)
    assert stt.cost_eur(0) == 0


# -- settings -------------------------------------------------------------------------


def test_defaults_follow_the_llm_provider_when_it_transcribes(tmp_path: Path) -> None:
    settings = _settings(tmp_path, llm_provider="mistral", llm_api_key=KEY)
    endpoint, problems = resolve_stt(settings)
    assert problems == {} and endpoint is not None
    assert endpoint.url == "https://api.mistral.ai/v1/audio/transcriptions"
    assert endpoint.model == "voxtral-mini-transcribe-latest"
    assert endpoint.api_key == KEY and not endpoint.sends_response_format
    assert endpoint.eur_per_min == pytest.approx(0.0035 * USD_TO_EUR)
    openai, _ = resolve_stt(_settings(tmp_path, llm_provider="openai", llm_api_key=KEY))
    assert openai is not None and openai.model == "whisper-1"
    assert openai.eur_per_min == pytest.approx(0.006 * USD_TO_EUR)


def test_a_provider_without_transcription_leaves_voice_off(tmp_path: Path) -> None:
    for provider in ("deepseek", "qwen", "ollama"):
        settings = _settings(tmp_path, llm_provider=provider, llm_api_key=KEY)
        assert resolve_stt(settings) == (None, {})
    assert resolve_stt(_settings(tmp_path)) == (None, {})  # offline advisor, no STT
    off = _settings(tmp_path, llm_provider="openai", llm_api_key=KEY, stt_provider="off")
    assert resolve_stt(off) == (None, {})


def test_another_provider_gets_its_own_key_never_the_llm_one(tmp_path: Path) -> None:
    settings = _settings(tmp_path, llm_provider="deepseek", llm_api_key=KEY, stt_provider="groq")
    endpoint, problems = resolve_stt(settings)
    assert endpoint is None and list(problems) == ["STT_API_KEY"]
    proxy = _settings(
        tmp_path, llm_provider="openai", llm_api_key=KEY, stt_base_url="https://stt.example/v1"
    )
    assert list(resolve_stt(proxy)[1]) == ["STT_API_KEY"]  # another URL: not the LLM key
    own = proxy.model_copy(update={"stt_api_key": SecretStr("sk-own")})
    endpoint, _ = resolve_stt(own)
    assert endpoint is not None and endpoint.api_key == "sk-own"


def test_local_server_costs_nothing_and_needs_no_key(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path, stt_provider="custom", stt_base_url="http://127.0.0.1:8000/v1", stt_model="small"
    )
    endpoint, problems = resolve_stt(settings)
    assert problems == {} and endpoint is not None
    assert endpoint.api_key is None and endpoint.eur_per_min == 0
    priced = settings.model_copy(update={"stt_price_eur_per_min": 0.002})
    assert resolve_stt(priced)[0] == replace(endpoint, eur_per_min=0.002)


def test_glm_caps_audio_at_its_thirty_seconds(tmp_path: Path) -> None:
    settings = _settings(tmp_path, llm_provider="glm", llm_api_key=KEY, stt_model="glm-asr-2512")
    endpoint, _ = resolve_stt(settings)
    assert endpoint is not None and endpoint.max_seconds == 30
    assert endpoint.url == "https://api.z.ai/api/paas/v4/audio/transcriptions"
    assert resolve_stt(_settings(tmp_path, llm_provider="glm", llm_api_key=KEY)) == (None, {})


def test_bad_stt_settings_are_named_in_french(tmp_path: Path) -> None:
    env = {
        "PILOTE_IA_DATA_DIR": str(tmp_path),
        "STT_PROVIDER": "whisperx",
        "STT_MAX_SECONDS": "beaucoup",
        "STT_MAX_BYTES": "30000000",
        "STT_TIMEOUT_S": "0",
        "STT_PRICE_EUR_PER_MIN": "-1",
        "STT_BASE_URL": "ftp://audio",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(env)
    problems = caught.value.problems
    assert set(problems) == {
        "STT_PROVIDER",
        "STT_MAX_SECONDS",
        "STT_MAX_BYTES",
        "STT_TIMEOUT_S",
        "STT_PRICE_EUR_PER_MIN",
        "STT_BASE_URL",
    }
    assert "fournisseur inconnu" in problems["STT_PROVIDER"]
    assert "20000000" in problems["STT_MAX_BYTES"]


def test_missing_stt_pieces_are_named(tmp_path: Path) -> None:
    base = {"PILOTE_IA_DATA_DIR": str(tmp_path)}
    cases = {
        "STT_API_KEY": {"STT_PROVIDER": "groq"},
        "STT_MODEL": {"STT_PROVIDER": "custom", "STT_BASE_URL": "http://127.0.0.1:9/v1"},
        "STT_BASE_URL": {"LLM_PROVIDER": "deepseek", "LLM_API_KEY": KEY, "STT_MODEL": "w"},
        "STT_PROVIDER": {"STT_MODEL": "whisper-1"},
    }
    for name, env in cases.items():
        with pytest.raises(ConfigError) as caught:
            load_settings({**base, **env})
        assert list(caught.value.problems) == [name], env
    settings = load_settings({**base, "STT_PROVIDER": "Groq", "STT_API_KEY": KEY})
    assert settings.stt_provider == "groq" and settings.stt_api_key is not None
    assert KEY not in repr(settings) and KEY not in repr(resolve_stt(settings)[0])


def test_files_come_from_the_api_servers_file_path(tmp_path: Path) -> None:
    assert _settings(tmp_path).telegram_file_base_url == "https://api.telegram.org/file/bot"
    local = _settings(tmp_path, telegram_api_base_url="http://127.0.0.1:8081/bot")
    assert local.telegram_file_base_url == "http://127.0.0.1:8081/file/bot"
