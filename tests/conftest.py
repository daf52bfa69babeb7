"""Root fixtures: every test runs offline with its own data directory."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.config import SETTING_PREFIXES

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks from the developer's shell; data goes to a temporary directory."""
    for name in list(os.environ):
        if name.startswith(SETTING_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))


# --- Shared retrieval fixtures (built once per session; the real model loads once) --------

REPO_KNOWLEDGE_DIR = Path(__file__).resolve().parents[1] / "knowledge"


@pytest.fixture(scope="session")
def embedder() -> Any:
    """The real packaged sentence-transformers model (slow to import: ~10 s)."""
    from retrieval.embedding import PACKAGED_MODEL_NAME, SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(PACKAGED_MODEL_NAME)


@pytest.fixture(scope="session")
def kb_index(embedder: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A KnowledgeBase indexed once per session from the real `knowledge/` folder."""
    from retrieval import open_knowledge_base

    index_dir = tmp_path_factory.mktemp("kb-index")
    kb = open_knowledge_base(
        index_dir=index_dir,
        knowledge_dir=REPO_KNOWLEDGE_DIR,
        embedding_model=embedder.model_name,
        embedder=embedder,
    )
    kb.ingest([REPO_KNOWLEDGE_DIR], progress=False)
    yield kb
    kb.close()
