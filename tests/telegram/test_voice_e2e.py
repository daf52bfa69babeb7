"""End to end, voice notes: the real PTB Application polls the fake Bot API, fetches the audio
through getFile and the `…/file/bot<token>/` path, and the fake provider transcribes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram.ext import AIORateLimiter

from bot import messages as msg
from bot.advice import AdvisorLike
from bot.storage import SQLiteStore
from bot.telegram.app import ALLOWED_UPDATES, AnyApp, build_application
from bot.wiring import build_transcriber
from tests.fakes.llm_server import DEFAULT_TRANSCRIPT, Behaviour, FakeLLMServer
from tests.fakes.telegram_server import FakeTelegram, SentMessage
from tests.telegram.conftest import BotHarness
from tests.telegram.support import FakeAdvisor

USER = CHAT = 701
AUDIO = b"OggS\x00\x02 a real voice note would be Opus frames \x80\x81"
PRICE_EUR_PER_MIN = 0.06
ADVICE_COST = 0.002  # what FakeAdvisor's answer says it spent


class VoiceHarness(BotHarness):
    """The bot of `BotHarness`, with a transcriber built by bot.wiring over its own client."""

    def __init__(self, fake: FakeTelegram, data_dir: Path, stt: FakeLLMServer) -> None:
        super().__init__(fake, data_dir)
        self.http: httpx.AsyncClient | None = None
        self.overrides.update(
            stt_provider="custom",
            stt_base_url=stt.base_url,
            stt_model="whisper-test",
            stt_price_eur_per_min=PRICE_EUR_PER_MIN,
            stt_timeout_s=2,
        )

    async def start(self, advisor: AdvisorLike | None = None, **overrides: Any) -> AnyApp:
        if advisor is not None:
            self.advisor = advisor
        self.overrides.update(overrides)
        settings = self.settings()
        self.store = SQLiteStore(settings.db_path)
        self.http = httpx.AsyncClient()
        self.app = build_application(
            settings,
            self.advisor,
            self.store,
            offline_advisor=self.offline_advisor,
            rate_limiter=AIORateLimiter(max_retries=3),
            transcriber=build_transcriber(settings, http=self.http),
        )
        await self.app.initialize()
        assert self.app.post_init is not None
        await self.app.post_init(self.app)
        await self.app.start()
        assert self.app.updater is not None
        await self.app.updater.start_polling(
            poll_interval=0, timeout=1, allowed_updates=ALLOWED_UPDATES
        )
        return self.app

    async def stop(self) -> None:
        await super().stop()
        if self.http is not None:
            await self.http.aclose()
            self.http = None


@pytest.fixture
def stt() -> Iterator[FakeLLMServer]:
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def voice(
    fake: FakeTelegram, stt: FakeLLMServer, tmp_path: Path
) -> AsyncIterator[VoiceHarness]:
    bot = VoiceHarness(fake, tmp_path / "data", stt)
    yield bot
    await bot.stop()


def _answers(fake: FakeTelegram) -> list[SentMessage]:
    return [m for m in fake.chat_messages(CHAT) if any(d == "a:ck" for _, d in m.buttons)]


async def _reply_with(fake: FakeTelegram, needle: str) -> SentMessage:
    found = await fake.until(lambda f: [m for m in f.chat_messages(CHAT) if needle in m.plain])
    return found[-1]  # type: ignore[no-any-return]


async def _settled(store: SQLiteStore) -> None:
    """The answered question's pending row is deleted just after its last edit."""
    async with asyncio.timeout(10):
        while store.pending_questions():
            await asyncio.sleep(0.05)


def _start_of(wording: str) -> str:
    """A stretch of a French reply that holds no placeholder."""
    return wording.split("{")[0][:40]


async def _retyped_question_is_answered(fake: FakeTelegram, advisor: FakeAdvisor) -> None:
    """Nothing is lost after a failed voice note: the owner types, the bot answers."""
    before = len(_answers(fake))
    fake.push_message(CHAT, USER, "Quel outil pour répondre aux avis Google ?")
    await fake.until(lambda f: len(_answers(f)) > before)
    assert advisor.calls[-1][0] == "Quel outil pour répondre aux avis Google ?"


# -- the journey ----------------------------------------------------------------------


async def test_voice_note_is_fetched_transcribed_echoed_and_answered(
    voice: VoiceHarness, fake: FakeTelegram, stt: FakeLLMServer
) -> None:
    advisor = FakeAdvisor()
    await voice.start(advisor)
    fake.push_voice(CHAT, USER, AUDIO, duration=10)
    answer = (await fake.until(_answers))[-1]

    (get_file,) = fake.calls_to("getFile")
    assert fake.downloads == ["voice/file_1.oga"]
    (request,) = stt.transcriptions
    assert request.audio == AUDIO and request.content_type == "audio/ogg"
    assert request.fields["model"] == "whisper-test" and request.fields["language"] == "fr"

    echo = next(m for m in fake.chat_messages(CHAT) if m.plain.startswith("J'ai compris"))
    assert f"« {DEFAULT_TRANSCRIPT} »" in echo.plain and "réécrivez" in echo.plain
    assert echo.message_id < answer.message_id
    assert "WhatsApp Business" in answer.plain
    assert [call[0] for call in advisor.calls] == [DEFAULT_TRANSCRIPT]

    store = voice.store
    assert store is not None
    (turn,) = store.history(CHAT, USER, 5)  # recorded like a typed question
    assert turn.question == DEFAULT_TRANSCRIPT
    await _settled(store)
    assert store.questions_since(USER, 0) == 1
    assert store.cost_today(USER) == pytest.approx(ADVICE_COST + 10 / 60 * PRICE_EUR_PER_MIN)
    stored = b"".join(p.read_bytes() for p in voice.data_dir.iterdir() if p.is_file())
    assert AUDIO not in stored  # the audio itself is not kept


async def test_audio_file_and_audio_document_are_transcribed_too(
    voice: VoiceHarness, fake: FakeTelegram, stt: FakeLLMServer
) -> None:
    await voice.start()
    fake.push_audio(CHAT, USER, b"ID3 an mp3", duration=20)
    await fake.until(lambda f: len(_answers(f)) == 1)
    fake.push_audio(
        CHAT, USER, b"RIFF a wav", duration=None, mime_type="audio/wav", file_name="a.wav"
    )
    await fake.until(lambda f: len(_answers(f)) == 2)
    assert [(r.filename, r.audio) for r in stt.transcriptions] == [
        ("voice.mp3", b"ID3 an mp3"),
        ("voice.wav", b"RIFF a wav"),
    ]
    assert fake.downloads == ["music/file_1.mp3", "music/file_2.wav"]


async def test_a_rate_limited_provider_is_retried_after_retry_after(
    voice: VoiceHarness, fake: FakeTelegram, stt: FakeLLMServer
) -> None:
    stt.enqueue_transcription(Behaviour.status(429, retry_after=0.2))
    await voice.start()
    fake.push_voice(CHAT, USER, AUDIO)
    await fake.until(_answers)
    assert len(stt.transcriptions) == 2


# -- refused before anything is downloaded -------------------------------------------


@pytest.mark.parametrize(
    ("push", "wording"),
    [
        ({"duration": 121}, msg.VOICE_TOO_LONG),
        ({"file_size": 6_000_000}, msg.VOICE_TOO_BIG),
        ({"mime_type": "audio/amr"}, msg.VOICE_BAD_FORMAT),
    ],
    ids=["too-long", "too-big", "unsupported-format"],
)
async def test_caps_and_format_are_checked_before_downloading(
    voice: VoiceHarness, fake: FakeTelegram, stt: FakeLLMServer, push: dict[str, Any], wording: str
) -> None:
    advisor = FakeAdvisor()
    await voice.start(advisor)
    fake.push_voice(CHAT, USER, AUDIO, **push)
    reply = await _reply_with(fake, _start_of(wording))
    assert "écrivez votre question" in reply.plain.lower()
    assert fake.method_counts["getFile"] == 0 and fake.downloads == []
    assert stt.transcriptions == [] and advisor.calls == []
    await _retyped_question_is_answered(fake, advisor)


async def test_too_long_names_the_duration_and_the_limit(
    voice: VoiceHarness, fake: FakeTelegram
) -> None:
    await voice.start(stt_max_seconds=60)
    fake.push_voice(CHAT, USER, AUDIO, duration=95)
    reply = await _reply_with(fake, "95 s")
    assert "60 s" in reply.plain and fake.method_counts["getFile"] == 0


async def test_without_transcription_the_polite_reply_stays(
    harness: BotHarness, fake: FakeTelegram, stt: FakeLLMServer
) -> None:
    await harness.start()  # DeepSeek transcribes nothing, and no STT_* is set
    fake.push_voice(CHAT, USER, AUDIO)
    reply = await _reply_with(fake, "Je ne lis que les messages écrits")
    assert reply.plain == msg.UNSUPPORTED_CONTENT
    assert fake.method_counts["getFile"] == 0 and stt.transcriptions == []


async def test_with_transcription_a_photo_is_told_voice_notes_are_read(
    voice: VoiceHarness, fake: FakeTelegram
) -> None:
    await voice.start(FakeAdvisor())
    fake.push_photo(CHAT, USER)
    reply = await _reply_with(fake, "notes vocales")
    assert reply.plain == msg.UNSUPPORTED_WITH_VOICE


# -- provider failures: a French reply, no crash, nothing lost ------------------------


@pytest.mark.parametrize(
    ("behaviours", "wording"),
    [
        ((Behaviour.status(500), Behaviour.status(500)), msg.VOICE_UNAVAILABLE),
        ((Behaviour.status(429, retry_after=60),), msg.VOICE_UNAVAILABLE),
        ((Behaviour.stall(30),), msg.VOICE_SLOW),
        ((Behaviour.malformed(),), msg.VOICE_UNAVAILABLE),
        ((Behaviour.transcript(""),), msg.VOICE_EMPTY),
        ((Behaviour.transcript("[Musique] ♪♪"),), msg.VOICE_EMPTY),
    ],
    ids=["down", "rate-limited-too-long", "slow", "garbage-body", "empty", "noise"],
)
async def test_each_provider_failure_gets_its_french_reply(
    voice: VoiceHarness,
    fake: FakeTelegram,
    stt: FakeLLMServer,
    behaviours: tuple[Behaviour, ...],
    wording: str,
) -> None:
    advisor = FakeAdvisor()
    stt.enqueue_transcription(*behaviours)
    await voice.start(advisor)
    fake.push_voice(CHAT, USER, AUDIO)
    reply = await _reply_with(fake, _start_of(wording))
    assert reply.plain == wording and "écrivez votre question" in reply.plain.lower()
    assert fake.downloads == ["voice/file_1.oga"] and advisor.calls == []
    assert not [m for m in fake.chat_messages(CHAT) if m.plain.startswith("J'ai compris")]
    assert voice.store is not None and voice.store.pending_questions() == []
    await _retyped_question_is_answered(fake, advisor)


async def test_a_failed_download_is_told_and_not_transcribed(
    voice: VoiceHarness, fake: FakeTelegram, stt: FakeLLMServer
) -> None:
    await voice.start()
    fake.fail_next("getFile", status=400, description="Bad Request: file is too big")
    fake.push_voice(CHAT, USER, AUDIO)
    reply = await _reply_with(fake, _start_of(msg.VOICE_DOWNLOAD_FAILED))
    assert reply.plain == msg.VOICE_DOWNLOAD_FAILED and stt.transcriptions == []


# -- cost -----------------------------------------------------------------------------


async def test_transcription_minutes_count_in_the_daily_budget(
    voice: VoiceHarness, fake: FakeTelegram, stt: FakeLLMServer
) -> None:
    voice.offline_advisor = FakeAdvisor()
    await voice.start(stt_price_eur_per_min=0.5, daily_budget_eur=0.2)
    fake.push_voice(CHAT, USER, AUDIO, duration=30)  # 0.25 € of audio: the budget is spent
    await fake.until(_answers)
    assert voice.store is not None
    assert voice.store.cost_today(USER) == pytest.approx(0.25 + ADVICE_COST)
    await _settled(voice.store)
    logged = voice.store.answers_since(0)
    assert [a.cost_eur for a in logged] == [pytest.approx(0.25 + ADVICE_COST)]  # audio included
    fake.push_voice(CHAT, USER, AUDIO, duration=5)
    reply = await _reply_with(fake, _start_of(msg.VOICE_BUDGET_SPENT))
    assert reply.plain == msg.VOICE_BUDGET_SPENT
    assert len(stt.transcriptions) == 1 and fake.method_counts["getFile"] == 1


async def test_an_empty_transcription_is_still_billed(
    voice: VoiceHarness, fake: FakeTelegram, stt: FakeLLMServer
) -> None:
    stt.enqueue_transcription(Behaviour.transcript("…"))
    await voice.start()
    fake.push_voice(CHAT, USER, AUDIO, duration=20)
    await _reply_with(fake, _start_of(msg.VOICE_EMPTY))
    assert voice.store is not None
    assert voice.store.cost_today(USER) == pytest.approx(20 / 60 * PRICE_EUR_PER_MIN)
