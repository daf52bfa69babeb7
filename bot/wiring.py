"""The one place that builds long-lived clients from Settings (knowledge base, HTTP, LLM, ...)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from retrieval import KnowledgeBase, open_knowledge_base

if TYPE_CHECKING:
    import httpx

    from bot.advisor import Advisor
    from bot.llm import LLMClient
    from bot.storage import Store
    from bot.stt import Transcriber

logger = logging.getLogger(__name__)

# One connection per answer in flight: a small pool would queue users behind each other
# (PTB runs up to 256 updates at once).
LLM_POOL_CONNECTIONS = 256


def open_store(settings: Settings) -> Store:
    """The bot's state: PostgreSQL when DATABASE_URL is set (migrated at start), else the
    SQLite file in the data directory."""
    if settings.database_url is not None:
        from bot.postgres_store import PostgresStore

        return PostgresStore(settings.database_url.get_secret_value())
    from bot.storage import SQLiteStore

    return SQLiteStore(settings.db_path)


def open_knowledge(
    settings: Settings,
    *,
    build_if_empty: bool = True,
    progress: bool = True,
    check_model: bool = True,
) -> KnowledgeBase:
    """Open the knowledge base; when its index is empty, build it from the knowledge dir.

    `check_model=False` only for a rebuild with another embedding model.
    """
    kb = open_knowledge_base(
        index_dir=settings.index_dir,
        knowledge_dir=settings.knowledge_dir,
        embedding_model=settings.embedding_model,
        chroma_host=settings.chroma_host,
        chroma_port=settings.chroma_port,
        check_model=check_model,
        ingest_embedder=settings.ingest_embedder,
        onnx_cache_dir=settings.pilote_ia_data_dir / "onnx",
    )
    if build_if_empty and kb.is_empty():
        logger.info("empty index: building it from %s", settings.knowledge_dir)
        report = kb.ingest([settings.knowledge_dir], progress=progress)
        logger.info(
            "index built: %d documents, %d chunks in %.1f s",
            report.documents,
            report.chunks,
            report.seconds,
        )
        for error in report.errors:
            logger.warning("document skipped: %s", error)
    return kb


def llm_http_client() -> httpx.AsyncClient:
    """The pooled HTTP client LLM requests go through; whoever builds it closes it."""
    import httpx

    limits = httpx.Limits(max_connections=LLM_POOL_CONNECTIONS, max_keepalive_connections=32)
    return httpx.AsyncClient(limits=limits)


def build_llm_client(
    settings: Settings, *, http: httpx.AsyncClient | None = None
) -> LLMClient | None:
    """The LLM client (None in offline mode); without `http`, it owns and closes its own."""
    from bot.llm import LLMClient, endpoints_from_settings

    if not endpoints_from_settings(settings):
        return None
    if http is not None:
        return LLMClient.from_settings(settings, http=http)
    return LLMClient.from_settings(settings, http=llm_http_client(), owns_http=True)


def build_advisor(
    settings: Settings,
    *,
    kb: KnowledgeBase | None = None,
    http: httpx.AsyncClient | None = None,
) -> Advisor:
    """The advisor with its LLM client (None in offline mode); opens the KB when not given.

    A shared `http` client stays open when the advisor closes: its builder closes it.
    """
    from bot.advisor import Advisor
    from bot.guard import OutputGuard, settings_secrets

    owns_kb = kb is None
    knowledge = kb if kb is not None else open_knowledge(settings)
    return Advisor(
        knowledge,
        build_llm_client(settings, http=http),
        history_turns=settings.history_turns,
        owns_kb=owns_kb,
        guard=OutputGuard.default(settings_secrets(settings)),
    )


def build_transcriber(settings: Settings, *, http: httpx.AsyncClient) -> Transcriber | None:
    """The voice-note transcriber over the shared `http` client; None when STT is off."""
    from bot.stt import Transcriber, is_local_url

    transcriber = Transcriber.from_settings(settings, http=http)
    if transcriber is not None:
        endpoint = transcriber.endpoint
        logger.info("voice notes: %s %s", endpoint.provider, endpoint.model)
        if not endpoint.eur_per_min and not is_local_url(endpoint.base_url):
            logger.warning("voice notes cost nothing in the budget: set STT_PRICE_EUR_PER_MIN")
    return transcriber


def build_telegram_app(settings: Settings) -> Any:
    """The Telegram Application with its store, knowledge base and advisors, closed on shutdown.

    When an LLM is configured, a second, offline advisor sharing the same knowledge base
    answers users whose daily LLM budget is spent.
    """
    from bot.telegram.app import build_application

    store = open_store(settings)
    kb = open_knowledge(settings)
    http = llm_http_client()
    advisor = build_advisor(settings, kb=kb, http=http)
    offline = (
        advisor
        if settings.offline
        else build_advisor(settings.model_copy(update={"llm_provider": None}), kb=kb)
    )
    transcriber = build_transcriber(settings, http=http)  # http is closed below
    app = build_application(
        settings, advisor, store, offline_advisor=offline, transcriber=transcriber
    )

    async def close_clients(_app: Any) -> None:
        await advisor.aclose()
        if offline is not advisor:
            await offline.aclose()
        await http.aclose()
        kb.close()
        store.close()

    app.post_shutdown = close_clients
    return app


def build_admin_app(settings: Settings, token: str) -> Any:
    """The admin web app over the bot's store and knowledge base, both closed on shutdown.

    It reads what is there: an empty index is not built (the fiches still come from the
    knowledge dir), and the gap topics embed with the base's query embedder.
    """
    from bot.admin.app import create_app
    from bot.admin.auth import Sessions
    from bot.admin.dashboard import PAGE_TZ, Sources
    from bot.admin.stats import FicheInfo
    from bot.admin.topics import page_topics

    store = open_store(settings)
    kb = open_knowledge(settings, build_if_empty=False, progress=False)
    topics = page_topics(store, kb.query_embedder, weak_score=settings.gap_weak_score)

    def close() -> None:
        topics.close()
        kb.close()
        store.close()

    try:
        fiches = [FicheInfo(f.id, f.title, f.type) for f in kb.fiches()]
    except BaseException:
        close()
        raise
    sources = Sources(store=store, fiches=fiches, topics=topics, tz=PAGE_TZ)
    return create_app(sources, Sessions(token), on_close=close)
