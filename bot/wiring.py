"""The one place that builds long-lived clients from Settings (knowledge base, ...)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from retrieval import KnowledgeBase, open_knowledge_base

if TYPE_CHECKING:
    from bot.advisor import Advisor

logger = logging.getLogger(__name__)


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


def build_advisor(settings: Settings, *, kb: KnowledgeBase | None = None) -> Advisor:
    """The advisor with its LLM client (None in offline mode); opens the KB when not given."""
    from bot.advisor import Advisor
    from bot.guard import OutputGuard, settings_secrets
    from bot.llm import LLMClient

    owns_kb = kb is None
    knowledge = kb if kb is not None else open_knowledge(settings)
    return Advisor(
        knowledge,
        LLMClient.from_settings(settings),
        history_turns=settings.history_turns,
        owns_kb=owns_kb,
        guard=OutputGuard.default(settings_secrets(settings)),
    )


def build_telegram_app(settings: Settings) -> Any:
    """The Telegram Application with its store, knowledge base and advisors, closed on shutdown.

    When an LLM is configured, a second, offline advisor sharing the same knowledge base
    answers users whose daily LLM budget is spent.
    """
    from bot.storage import SQLiteStore
    from bot.telegram.app import build_application

    store = SQLiteStore(settings.db_path)
    kb = open_knowledge(settings)
    advisor = build_advisor(settings, kb=kb)
    offline = (
        advisor
        if settings.offline
        else build_advisor(settings.model_copy(update={"llm_provider": None}), kb=kb)
    )
    app = build_application(settings, advisor, store, offline_advisor=offline)

    async def close_clients(_app: Any) -> None:
        await advisor.aclose()
        if offline is not advisor:
            await offline.aclose()
        kb.close()
        store.close()

    app.post_shutdown = close_clients
    return app
