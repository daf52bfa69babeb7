"""bot/llm/pricing.py reads token prices from the llm-api fiches, and only from there."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.llm.pricing import (
    PriceBook,
    cost_eur,
    load_price_book,
    price_for,
    shipped_price_book,
)
from retrieval.fiche_schema import fiche_files, read_front_matter
from tests.knowledge.conftest import READ_ON, REMOVE, MiniBase

KB_DIR = Path(__file__).resolve().parents[2] / "knowledge"


def test_prices_are_converted_with_the_fiche_rate(base: MiniBase) -> None:
    book = load_price_book(base.root)
    price = book.price_for("mini-chat")
    assert price is not None
    assert price.input_eur_per_mtok == pytest.approx(0.2 * 0.9)
    assert price.output_eur_per_mtok == pytest.approx(0.8 * 0.9)
    assert (price.fiche_id, price.as_of) == ("tool-api", READ_ON.isoformat())
    euro = book.price_for("mini-chat-pro")
    assert euro is not None and (euro.input_eur_per_mtok, euro.note) == (2, "grand")
    # 1M tokens in and 1M out at 0.2 and 0.8 USD, 0.9 EUR per USD.
    assert book.cost_eur("custom", "mini-chat", 10**6, 10**6) == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("asked", "priced"),
    [
        ("mini-chat", "mini-chat"),
        ("Mini-Chat-latest", "mini-chat"),
        ("vendeur/mini-chat:free", "mini-chat"),
        ("mini-chat-2025-01-01", "mini-chat"),
        ("mini-chat-pro-2", "mini-chat-pro"),
        ("mini-chatx", None),
        ("mini", None),
    ],
)
def test_model_names_match_exactly_then_by_prefix(
    base: MiniBase, asked: str, priced: str | None
) -> None:
    price = load_price_book(base.root).price_for(asked)
    assert (price.model if price else None) == priced


def fiche_of(book: PriceBook, model: str, provider: str | None = None) -> str | None:
    """The fiche whose price `book` uses for `model`."""
    price = book.price_for(model, provider)
    return price.fiche_id if price else None


def test_the_provider_fiche_wins_then_official_sources(base: MiniBase) -> None:
    other = base.meta("tool-api")
    other.update(id="tool-autre-api", title="Autre")
    other["model_prices"] = [{"model": "mini-chat", "input": 1, "output": 1, "currency": "EUR"}]
    base.write(other)
    book = load_price_book(base.root)
    assert fiche_of(book, "mini-chat", "autre") == "tool-autre-api"
    assert fiche_of(book, "mini-chat", "api") == "tool-api"
    assert fiche_of(book, "mini-chat") == "tool-api"  # both official: first fiche id
    base.replace("tool-api", price_source_kind="third-party")
    assert fiche_of(load_price_book(base.root), "mini-chat") == "tool-autre-api"


def test_malformed_entries_and_other_categories_are_skipped(
    base: MiniBase, caplog: pytest.LogCaptureFixture
) -> None:
    base.replace(
        "tool-api",
        usd_eur_rate=REMOVE,
        model_prices=[
            {"model": "mini-chat", "input": 0.2, "output": 0.8, "currency": "USD"},
            {"model": "mini-chat-pro", "input": "cher", "output": 6, "currency": "EUR"},
            {"model": "mini-chat-eur", "input": 1, "output": 2, "currency": "EUR"},
        ],
    )
    base.replace(
        "tool-messagerie",
        model_prices=[
            {"model": "messagerie-bot", "input": 1, "output": 1, "currency": "EUR"},
        ],
    )
    caplog.set_level(logging.WARNING, logger="bot.llm.pricing")
    book = load_price_book(base.root)
    assert sorted(book.prices) == ["mini-chat-eur"]
    assert "priced in USD without usd_eur_rate" in caplog.text
    assert "malformed" in caplog.text


def test_local_models_are_free_and_unknown_ones_cost_zero_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    book = PriceBook({})
    caplog.set_level(logging.WARNING, logger="bot.llm.pricing")
    assert book.cost_eur("ollama", "qwen3:8b", 10**6, 10**6) == 0.0
    assert book.cost_eur("custom", "modele-mystere", 1000, 1000) == 0.0
    assert book.cost_eur("custom", "modele-mystere", 1000, 1000) == 0.0
    assert caplog.text.count("modele-mystere") == 1
    assert "qwen3" not in caplog.text


def _shipped_entries() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(fiche id, entry, front matter) for every model price of the shipped llm-api fiches."""
    rows = []
    for path in fiche_files(KB_DIR):
        meta = read_front_matter(path)
        if meta.get("category") == "llm-api":
            rows += [(path.stem, entry, meta) for entry in meta.get("model_prices") or []]
    return rows


def test_shipped_costs_are_the_catalogue_prices() -> None:
    """One source of truth: each shipped model price is what cost accounting uses."""
    rows = [row for row in _shipped_entries() if row[1].get("currency") in ("USD", "EUR")]
    assert rows, "no llm-api fiche of knowledge/ carries model_prices"
    for fiche_id, entry, meta in rows:
        rate = meta["usd_eur_rate"]["rate"] if entry["currency"] == "USD" else 1.0
        provider = fiche_id.removeprefix("tool-").removesuffix("-api")
        price = shipped_price_book().price_for(entry["model"], provider)
        assert price is not None and price.fiche_id == fiche_id, entry
        assert price.input_eur_per_mtok == pytest.approx(entry["input"] * rate)
        assert price.output_eur_per_mtok == pytest.approx(entry["output"] * rate)
    fiche_id, entry, _ = rows[0]
    assert price_for(entry["model"]) is not None
    expected = shipped_price_book().price_for(entry["model"], "x")
    assert expected is not None
    assert cost_eur("x", entry["model"], 10**6, 0) == pytest.approx(expected.input_eur_per_mtok)


def test_pricing_does_not_load_the_embedding_stack() -> None:
    code = (
        "import sys, bot.llm.pricing as p; p.cost_eur('deepseek', 'deepseek-chat', 10, 10); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'sentence_transformers', 'chromadb')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"
