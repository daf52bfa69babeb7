"""Tests marked `llm_real` start a real llama.cpp server: they run only when selected
(`make test-llm`, i.e. `pytest -m llm_real`), never in the default run."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `llm_real` tests unless the marker expression asks for them."""
    if "llm_real" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="real llama.cpp model: run `make test-llm`")
    for item in items:
        if "llm_real" in item.keywords:
            item.add_marker(skip)
