"""The two-week checklist: items from an answer, its message, Markdown and .ics exports."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from bot import messages as msg
from bot.advice import Advice
from bot.storage import Checklist
from bot.telegram.formatting import esc

PILOT_DAYS = 14
_DAY_RE = re.compile(r"^J(\d+)\b")


def items_from_advice(advice: Advice) -> list[str]:
    """One item per pilot step, in day order: "J3 · task"."""
    if advice.pilot is None:
        return []
    return [f"J{s.day} · {s.task}" for s in sorted(advice.pilot.steps, key=lambda s: s.day)]


def checklist_html(checklist: Checklist) -> str:
    """The `/pilote` message: title with progress and the hint."""
    title = esc(msg.CHECKLIST_TITLE.format(progress=checklist.progress))
    return f"<b>{title}</b>\n{esc(msg.CHECKLIST_HINT)}"


def item_day(item: str) -> int | None:
    """Pilot day of an item, from its "J3 · ..." prefix."""
    match = _DAY_RE.match(item)
    return int(match.group(1)) if match else None


def pilot_day(checklist: Checklist, today: date) -> int:
    """Day number of the pilot today (1 on the start date)."""
    return (today - date.fromisoformat(checklist.start_date)).days + 1


def to_markdown(checklist: Checklist) -> str:
    """The checklist as a Markdown task list."""
    lines = [f"# {msg.PILOT_TITLE} ({checklist.progress})", ""]
    lines += [
        f"- [{'x' if i in checklist.ticked else ' '}] {item}"
        for i, item in enumerate(checklist.items)
    ]
    return "\n".join(lines) + "\n"


def _ics_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> list[str]:
    """RFC 5545 folding: lines of at most 75 octets, continuation lines start with a space."""
    out: list[str] = []
    current = ""
    for char in line:
        limit = 75 if not out else 74
        if len((current + char).encode()) > limit:
            out.append(current)
            current = ""
        current += char
    out.append(current)
    return [out[0], *(" " + rest for rest in out[1:])]


def to_ics(checklist: Checklist, *, uid_prefix: str, now: datetime | None = None) -> str:
    """Fourteen all-day events, day 1 on the checklist start date."""
    start = date.fromisoformat(checklist.start_date)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    by_day: dict[int, list[str]] = {}
    for item in checklist.items:
        day = item_day(item)
        if day is not None:
            by_day.setdefault(day, []).append(_DAY_RE.sub("", item).lstrip(" ·"))
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//pilote-ia//checklist//FR",
        "CALSCALE:GREGORIAN",
    ]
    for day in range(1, PILOT_DAYS + 1):
        when = start + timedelta(days=day - 1)
        tasks = by_day.get(day)
        summary = f"Pilote IA J{day} : " + (" ; ".join(tasks) if tasks else "suivi des indicateurs")
        lines += [
            "BEGIN:VEVENT",
            f"UID:{uid_prefix}-{checklist.start_date}-j{day}@pilote-ia",
            f"DTSTAMP:{stamp}",
            f"DTSTART;VALUE=DATE:{when:%Y%m%d}",
            f"DTEND;VALUE=DATE:{when + timedelta(days=1):%Y%m%d}",
            f"SUMMARY:{_ics_text(summary)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(folded for line in lines for folded in _fold(line)) + "\r\n"


def reminder_text(checklist: Checklist, today: date) -> str | None:
    """Today's reminder, the end-of-pilot message after day 14, None before the start."""
    day = pilot_day(checklist, today)
    if day < 1:
        return None
    if day > PILOT_DAYS:
        return msg.REMINDER_DONE.format(progress=checklist.progress)
    pending = [(i, it) for i, it in enumerate(checklist.items) if i not in checklist.ticked]
    due = [it for _, it in pending if (item_day(it) or 0) <= day] or [it for _, it in pending]
    task = due[0] if due else msg.REMINDER_ALL_DONE
    return msg.REMINDER_TEXT.format(day=day, task=task, progress=checklist.progress)
