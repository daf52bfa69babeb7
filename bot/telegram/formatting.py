"""Advice -> Telegram HTML: escaping, phone-sized layout, splitting under 4,096 characters."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot import messages as msg
from bot.advice import Advice, CostRange, Pilot, ToolPick
from bot.catalogue import format_date, format_eur, format_monthly

MAX_MESSAGE = 4096
GLANCE_STEPS = 3  # first steps shown under an answer; the day-14 decision is always shown
GLANCE_KPIS = 3
_CHOP = 64  # longest unbreakable run of text; longer runs may be cut anywhere

_TOKEN_RE = re.compile(
    r"(?P<tag><[^<>]*>)"
    r"|(?P<entity>&(?:#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);)"
    r"|(?P<sep>\n\n|\n| )"
    r"|(?P<text>[^<&\n ]+|[<&])"
)
_TAG_NAME_RE = re.compile(r"<\s*(/?)\s*([a-zA-Z0-9-]+)")
_KNOWN_TAG_RE = re.compile(
    r"</?(?:b|strong|i|em|u|ins|s|strike|del|span|tg-spoiler|a|code|pre|blockquote|tg-emoji)"
    r"(?:\s[^<>]*)?>",
    re.IGNORECASE,
)
_SEP_PRIORITY = {"\n\n": 3, "\n": 2, " ": 1}


def esc(text: str) -> str:
    """Escape a dynamic piece for Telegram HTML."""
    return html.escape(text, quote=False)


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def is_decline(advice: Advice) -> bool:
    """True for an answer with nothing to act on (off-topic or nothing found)."""
    declined = advice.intent in ("out_of_scope", "subversion")
    return declined or (not advice.tools and not advice.sources)


def cost_range(cost: CostRange | None) -> str:
    """ "gratuit", "19 €/mois", "0 à 49 €/mois", or that the price is not published."""
    if cost is None:
        return msg.PRICE_NOT_PUBLISHED
    return format_monthly(cost.min, cost.max)


def _tool_lines(tools: Sequence[ToolPick]) -> list[str]:
    lines = []
    for tool in tools:
        lines.append(f"• <b>{esc(tool.name)}</b> — {esc(cost_range(tool.monthly_cost_eur))}")
        if tool.why:
            lines.append(f"   {esc(tool.why)}")
    return lines


def format_advice(advice: Advice, *, note: str | None = None) -> str:
    """The answer laid out for a phone: summary, tools, pilot at a glance, sources."""
    blocks: list[str] = []
    if advice.degraded:
        blocks.append(f"<i>{esc(advice.notice or msg.DEGRADED_NOTE)}</i>")
    if note:
        blocks.append(f"<i>{esc(note)}</i>")
    blocks.append(esc(advice.answer.strip()))
    if advice.tools:
        blocks.append("\n".join([f"<b>{esc(msg.TOOLS_TITLE)}</b>", *_tool_lines(advice.tools)]))
    if advice.pilot is not None and not is_decline(advice):
        blocks.append(_pilot_glance(advice.pilot))
    if advice.sources:
        numbered = [f"{i}. {esc(s.title)}" for i, s in enumerate(advice.sources, 1)]
        blocks.append("\n".join([f"<b>{esc(msg.SOURCES_TITLE)}</b>", *numbered]))
    return "\n\n".join(blocks)


def _pilot_glance(pilot: Pilot) -> str:
    """Goal, three KPIs, budget, the first steps and the go/no-go day."""
    lines = [f"<b>{esc(msg.PILOT_TITLE)}</b>", f"{esc(msg.PILOT_GOAL)} {esc(pilot.goal)}"]
    if pilot.kpis:
        kpis = ", ".join(pilot.kpis[:GLANCE_KPIS])
        more = "…" if len(pilot.kpis) > GLANCE_KPIS else ""
        lines.append(f"{esc(msg.PILOT_KPIS)} {esc(kpis)}{more}")
    lines.append(f"{esc(msg.PILOT_BUDGET)} {format_eur(pilot.budget_eur)} €")
    steps = sorted(pilot.steps, key=lambda s: s.day)
    shown = steps if len(steps) <= GLANCE_STEPS + 1 else [*steps[:GLANCE_STEPS], steps[-1]]
    for step in shown:
        if step is steps[-1] and len(shown) < len(steps):
            lines.append(esc(msg.PILOT_MORE.format(n=len(steps) - len(shown))))
        lines.append(f"J{step.day} : {esc(step.task)}")
    return "\n".join(lines)


def format_cost_detail(advice: Advice) -> str:
    """Monthly cost of each tool with its price date, the total range and the pilot budget."""
    lines = [f"<b>{esc(msg.COST_TITLE)}</b>"]
    for tool in advice.tools:
        when = format_date(tool.as_of) if tool.as_of else ""
        dated = f" ({esc(msg.PRICE_AS_OF.format(date=when))})" if when else ""
        lines.append(f"• {esc(tool.name)} : {esc(cost_range(tool.monthly_cost_eur))}{dated}")
    priced = [t.monthly_cost_eur for t in advice.tools if t.monthly_cost_eur is not None]
    total = CostRange(min=sum(c.min for c in priced), max=sum(c.max for c in priced))
    unknown = msg.COST_TOTAL_UNKNOWN if len(priced) < len(advice.tools) else ""
    lines.append(f"\n{esc(msg.COST_TOTAL)} {esc(cost_range(total))}{esc(unknown)}")
    if advice.pilot is not None:
        lines.append(f"{esc(msg.PILOT_BUDGET_DETAIL)} {format_eur(advice.pilot.budget_eur)} €")
    return "\n".join(lines)


def format_tools(need: str, tools: Sequence[ToolPick]) -> str:
    """The `/outils` answer."""
    if not tools:
        return esc(msg.NO_TOOLS.format(need=need))
    return "\n".join([f"<b>{esc(msg.TOOLS_FOR.format(need=need))}</b>", *_tool_lines(tools)])


def html_to_plain(text: str) -> str:
    """Drop Telegram's tags and decode entities: the plain-text fallback."""
    return html.unescape(_KNOWN_TAG_RE.sub("", text))


def visible_length(text: str) -> int:
    """Length of the HTML once Telegram has parsed the entities."""
    return utf16_len(html_to_plain(text))


@dataclass(frozen=True)
class _Token:
    raw: str
    visible: int
    priority: int  # 0: plain token; 1-3: a separator where a cut reads naturally
    tag: str = ""  # tag name, "" for text
    closing: bool = False


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    for match in _TOKEN_RE.finditer(text):
        kind, raw = match.lastgroup, match.group()
        if kind == "tag":
            name = _TAG_NAME_RE.match(raw)
            tag, closing = (name.group(2).lower(), bool(name.group(1))) if name else ("?", False)
            tokens.append(_Token(raw, 0, 0, tag, closing))
        elif kind == "entity":
            tokens.append(_Token(raw, 1, 0))
        elif kind == "sep":
            tokens.append(_Token(raw, utf16_len(raw), _SEP_PRIORITY[raw]))
        else:
            for start in range(0, len(raw), _CHOP):
                piece = raw[start : start + _CHOP]
                tokens.append(_Token(piece, utf16_len(piece), 0))
    return tokens


def _cut(tokens: Sequence[_Token], start: int, limit: int) -> tuple[int, int]:
    """(end of this part, start of the next) for the part beginning at `start`."""
    visible, j = 0, start
    late: dict[int, int] = {}  # priority -> last separator index past half the limit
    early: dict[int, int] = {}
    while j < len(tokens) and visible + tokens[j].visible <= limit:
        if tokens[j].priority:
            (late if visible >= limit // 2 else early)[tokens[j].priority] = j
        visible += tokens[j].visible
        j += 1
    if j == len(tokens):
        return j, j
    best = late or early
    if best:
        sep = best[max(best)]
        return sep, sep + 1
    return max(j, start + 1), max(j, start + 1)


def split_html(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split Telegram HTML into parts of at most `limit` visible characters.

    Cuts prefer paragraph, then line, then word boundaries; tags open at a cut are
    closed at the end of the part and reopened at the start of the next one.
    """
    tokens = _tokens(text)
    parts: list[str] = []
    stack: list[_Token] = []
    start = 0
    while start < len(tokens):
        end, nxt = _cut(tokens, start, limit)
        prefix = "".join(t.raw for t in stack)
        for token in tokens[start:end]:
            if token.tag and token.closing:
                if stack and stack[-1].tag == token.tag:
                    stack.pop()
            elif token.tag:
                stack.append(token)
        body = "".join(t.raw for t in tokens[start:end])
        suffix = "".join(f"</{t.tag}>" for t in reversed(stack))
        part = prefix + body + suffix
        if html_to_plain(part).strip():
            parts.append(part)
        start = nxt
    return parts


def split_plain(text: str, limit: int = MAX_MESSAGE) -> list[str]:
    """Split plain text the same way (for the parse-error fallback)."""
    return [html_to_plain(part) for part in split_html(esc(text), limit)]
