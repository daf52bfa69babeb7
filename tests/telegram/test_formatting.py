"""Formatting: escaping, layout, and the HTML splitter checked by the fake's parser."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.catalogue import format_date
from bot.telegram.formatting import (
    esc,
    format_advice,
    format_cost_detail,
    is_decline,
    split_html,
    split_plain,
    utf16_len,
)
from tests.fakes.telegram_server import check_text, parse_telegram_html
from tests.telegram.support import sample_advice


def test_advice_layout_has_tools_prices_pilot_and_sources() -> None:
    text = format_advice(sample_advice())
    plain = parse_telegram_html(text)
    assert "WhatsApp Business — gratuit" in plain
    assert "Le Chat Pro — 14,99 €/mois" in plain
    # the glance: three first steps, how many more, and always the day-14 decision
    steps = [line for line in plain.splitlines() if line.startswith(("J", "…"))]
    assert steps == [
        "J1 : Étape du jour 1",
        "J2 : Étape du jour 2",
        "J3 : Étape du jour 3",
        "… 3 autres étapes : /pilote",
        "J14 : Étape du jour 14",
    ]
    assert "1. WhatsApp Business" in plain and "2. Pilote : messages clients" in plain
    assert "dégradée" not in plain


def test_degraded_answer_says_so() -> None:
    plain = parse_telegram_html(format_advice(sample_advice(degraded=True)))
    assert plain.startswith("Réponse dégradée")


def test_dynamic_pieces_are_escaped() -> None:
    text = format_advice(sample_advice("<script>alert('x')</script> & <b>gras</b>"))
    assert "&lt;script&gt;" in text
    assert "<script>alert('x')</script> & <b>gras</b>" in parse_telegram_html(text)


def test_cost_detail_sums_the_range() -> None:
    plain = parse_telegram_html(format_cost_detail(sample_advice()))
    assert "Total par mois : 14,99 €/mois" in plain and "tarif au 01/11/2026" in plain


def test_long_answer_splits_at_paragraphs_and_reopens_tags() -> None:
    paragraphs = [f"<b>Titre {i}</b>\n" + esc("Phrase & suite. " * 40) for i in range(20)]
    text = "<i>" + "\n\n".join(paragraphs) + "</i>"
    parts = split_html(text)
    assert len(parts) > 1
    for part in parts:
        check_text(part, "HTML")
        assert part.startswith("<i>") and part.endswith("</i>")
    rebuilt = "".join(parse_telegram_html(p) for p in parts)
    assert rebuilt.replace("\n", "") == parse_telegram_html(text).replace("\n", "")


def test_short_text_is_one_part() -> None:
    assert split_html("<b>ok</b>") == ["<b>ok</b>"]


def test_split_plain() -> None:
    parts = split_plain("a<b " * 3000)
    assert len(parts) > 1 and all(utf16_len(p) <= 4096 for p in parts)
    assert "".join(parts).replace(" ", "") == ("a<b" * 3000)


_TAGS = st.sampled_from(["b", "i", "u", "s", "code"])


@st.composite
def telegram_html(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.tuples(st.text(max_size=400), st.none() | _TAGS), max_size=40))
    out = []
    for text, tag in pieces:
        escaped = esc(text)
        out.append(f"<{tag}>{escaped}</{tag}>" if tag else escaped)
    sep = draw(st.sampled_from(["", "\n", "\n\n", " "]))
    return sep.join(out)


@settings(max_examples=150, deadline=None)
@given(telegram_html(), st.sampled_from([200, 1000, 4096]))
def test_splitter_parts_always_valid(text: str, limit: int) -> None:
    for part in split_html(text, limit):
        plain = parse_telegram_html(part)  # balanced tags, valid entities
        assert 0 < utf16_len(plain) <= limit and plain.strip()


def test_glance_keeps_three_kpis_and_short_lines() -> None:
    advice = sample_advice()
    advice.pilot.kpis = [f"indicateur numéro {i} assez long à lire" for i in range(6)]
    plain = parse_telegram_html(format_advice(advice))
    kpi_line = next(line for line in plain.splitlines() if line.startswith("Indicateurs"))
    assert kpi_line.count(",") == 2 and kpi_line.endswith("…")
    # apart from the summary paragraph, every line fits a phone screen in a few rows
    assert all(len(line) <= 140 for line in plain.splitlines()[1:])


def test_a_decline_shows_no_plan() -> None:
    advice = sample_advice("Je ne peux pas vous aider sur ce sujet. Tapez /aide.")
    advice.tools, advice.sources = [], []
    assert is_decline(advice)
    plain = parse_telegram_html(format_advice(advice))
    assert plain == "Je ne peux pas vous aider sur ce sujet. Tapez /aide."
    assert not is_decline(sample_advice())


def test_cost_detail_dates_are_french() -> None:
    plain = parse_telegram_html(format_cost_detail(sample_advice()))
    assert "(tarif au 01/11/2026)" in plain and "2026-11-01" not in plain
    assert format_date("2026-11-23") == "23/11/2026" and format_date("bientôt") == "bientôt"
