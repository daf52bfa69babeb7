"""French notation of the page's numbers, amounts, durations and dates."""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from bot.catalogue import format_eur


def euros(value: float) -> str:
    """0,0123 -> "0,012 €"; 1234.5 -> "1 234,5 €"."""
    return f"{format_eur(value)} €"


def count(value: float) -> str:
    """1234 -> "1 234" (narrow no-break space, as French typography wants)."""
    return f"{round(value):,}".replace(",", "\u202f")


def percent(share: float | None) -> str:
    """0.625 -> "63 %"; None -> "–"."""
    return "–" if share is None else f"{round(100 * share)} %"


def seconds(value: float | None) -> str:
    """1.234 -> "1,2 s"; None -> "–"."""
    if value is None:
        return "–"
    return f"{value:.1f} s".replace(".", ",") if value < 100 else f"{round(value)} s"


def short_day(day: date) -> str:
    """2026-05-12 -> "12/05"."""
    return day.strftime("%d/%m")


def long_day(day: date) -> str:
    """2026-05-12 -> "12/05/2026"."""
    return day.strftime("%d/%m/%Y")


def moment(at: float, tz: tzinfo) -> str:
    """A unix time as "12/05 14:32" in `tz`."""
    return datetime.fromtimestamp(at, tz).strftime("%d/%m %H:%M")


def clock_time(at: float, tz: tzinfo) -> str:
    """A unix time as "14:32" in `tz`."""
    return datetime.fromtimestamp(at, tz).strftime("%H:%M")
