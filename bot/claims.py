"""A guard on the free text an LLM wrote: every checkable claim must rest on what it was given.

A claim is a price (an amount in € or $), a percentage, a law article ("article 50"), another
figure (a number of two digits or more, a decimal, or a number with "millions"/"milliards")
or a catalogue tool's name. It is supported when the same value appears, in the same role,
in the evidence: the source excerpts sent, the catalogue lines of the tools offered, the
owner's question and profile. A tool name is supported when that tool was offered or its
name appears in the evidence. A sentence holding an unsupported claim is removed whole.

Small bare numbers ("2 outils", "jour 1") are not claims; neither are numbers in words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from retrieval.text import fold

_NUMBER = r"\d+(?:[ \u00a0\u202f]\d{3})*(?:[.,]\d+)?"
_CURRENCY = r"(?:€|euros?\b|eur\b|\$|usd\b|dollars?\b)"
_MONEY = re.compile(
    rf"(?P<a>{_NUMBER})\s*(?:(?:à|-|–)\s*(?P<b>{_NUMBER})\s*)?{_CURRENCY}"
    rf"|(?:\$|€)\s*(?P<c>{_NUMBER})",
    re.IGNORECASE,
)
_PERCENT = re.compile(rf"(?P<a>{_NUMBER})\s*(?:%|pour ?cent\b)", re.IGNORECASE)
_ARTICLE = re.compile(r"\b(?:art\.?|articles?)\s*(?P<a>\d+)", re.IGNORECASE)
_ALL_NUMBERS = re.compile(rf"(?P<a>{_NUMBER})")
_FIGURE = re.compile(
    rf"(?<![\w.,])(?P<a>{_NUMBER})(?P<scale>\s*(?:millions?|milliards?|md|[kmb])\b)?",
    re.IGNORECASE,
)
_CITATION = re.compile(r"\[\d{1,3}\]")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"(\-•*A-ZÀ-Ý0-9])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
SMALL_NUMBER = 10  # bare integers below this are counts ("2 outils", "jour 1"), not claims
ECHO_WORDS = 3  # runs of this many words shared with the instructions or the question


def echo_share(text: str, originals: Sequence[str], size: int = ECHO_WORDS) -> float:
    """Share of `text`'s words inside runs of `size` words copied from `originals` (a small
    model repeating its instructions or the question instead of answering)."""
    words = _fold(text).split()
    if len(words) < size:
        return 0.0
    runs = {
        tuple(ws[i : i + size])
        for ws in (_fold(o).split() for o in originals)
        for i in range(len(ws) - size + 1)
    }
    copied = [False] * len(words)
    for i in range(len(words) - size + 1):
        if tuple(words[i : i + size]) in runs:
            copied[i : i + size] = [True] * size
    return sum(copied) / len(words)


@dataclass(frozen=True)
class ClaimCheck:
    """The text with unsupported sentences removed, and what was removed."""

    text: str
    kept: int
    removed: int
    reasons: tuple[str, ...] = field(default=())  # kind of each removal: price, tool...

    @property
    def too_much_removed(self) -> bool:
        """True when the text lost more than half of its sentences, or everything."""
        return not self.text.strip() or self.removed > self.kept


@dataclass(frozen=True)
class _Evidence:
    money: frozenset[str]
    percents: frozenset[str]
    articles: frozenset[str]
    numbers: frozenset[str]
    folded: str


def canonical_number(raw: str) -> str:
    """One spelling per value: "1 500,00" -> "1500", "0,28" -> "0.28"."""
    digits = re.sub(r"[ \u00a0\u202f]", "", raw).replace(",", ".")
    try:
        value = float(digits)
    except ValueError:
        return digits
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _money(text: str) -> set[str]:
    found: set[str] = set()
    for match in _MONEY.finditer(text):
        found.update(canonical_number(g) for g in match.group("a", "b", "c") if g)
    return found


def _numbers(pattern: re.Pattern[str], text: str) -> set[str]:
    return {canonical_number(m.group("a")) for m in pattern.finditer(text)}


def _figures(text: str) -> set[str]:
    """Numbers that count as claims: two digits or more, decimals, or with a scale word."""
    found: set[str] = set()
    for match in _FIGURE.finditer(text):
        value = canonical_number(match.group("a"))
        if match.group("scale") or not (value.isdigit() and int(value) < SMALL_NUMBER):
            found.add(value)
    return found


def _fold(text: str) -> str:
    return " " + " ".join(_NON_WORD.sub(" ", fold(text)).split()) + " "


def _evidence(texts: Iterable[str]) -> _Evidence:
    joined = "\n".join(texts)
    return _Evidence(
        money=frozenset(_money(joined)),
        percents=frozenset(_numbers(_PERCENT, joined)),
        articles=frozenset(_numbers(_ARTICLE, joined)),
        numbers=frozenset(_numbers(_ALL_NUMBERS, joined)),
        folded=_fold(joined),
    )


@dataclass(frozen=True)
class _ToolName:
    """A catalogue tool name and how to find it in a text."""

    folded: str
    pattern: re.Pattern[str]
    proper: bool  # "Make", "Notion": only a capitalised mention names the tool

    @classmethod
    def of(cls, name: str) -> _ToolName | None:
        words = _NON_WORD.split(fold(name))
        words = [w for w in words if w]
        if not words:
            return None
        pattern = re.compile(r"(?<![a-z0-9])" + r"[^a-z0-9]+".join(words) + r"(?![a-z0-9])")
        return cls(" ".join(words), pattern, name[:1].isupper())

    def named_in(self, text: str) -> bool:
        """True when `text` mentions the tool (accents folded, case kept for proper names)."""
        bare = _strip_accents(text)
        for match in self.pattern.finditer(bare.lower()):
            if not self.proper or bare[match.start()].isupper():
                return True
        return False


def _strip_accents(text: str) -> str:
    """Accents removed, case and length kept (so positions match the lowercased text)."""
    return "".join(unicodedata.normalize("NFKD", ch)[:1] or ch for ch in text)


def unsupported_claim(
    sentence: str,
    evidence: _Evidence,
    offered: frozenset[str],
    known: Sequence[_ToolName],
) -> str | None:
    """The kind of the first unsupported claim in `sentence`, or None when all are supported."""
    text = _CITATION.sub(" ", sentence)
    checks = (
        ("price", _money(text), evidence.money),
        ("percent", _numbers(_PERCENT, text), evidence.percents),
        ("article", _numbers(_ARTICLE, text), evidence.articles),
        ("figure", _figures(text), evidence.numbers),
    )
    for kind, claimed, supported in checks:
        if not claimed <= supported:
            return kind
    for tool in known:
        in_evidence = f" {tool.folded} " in evidence.folded
        if tool.folded not in offered and not in_evidence and tool.named_in(text):
            return "tool"
    return None


def split_sentences(text: str) -> list[list[str]]:
    """The text as lines of sentences (a line break is kept between lines)."""
    return [
        [part for part in _SENTENCE_END.split(line.strip()) if part] for line in text.splitlines()
    ]


class ClaimChecker:
    """The evidence and tool names of one answer, read once, to check several texts."""

    def __init__(
        self,
        *,
        evidence: Sequence[str],
        offered_tool_names: Collection[str],
        known_tool_names: Collection[str],
    ) -> None:
        self._proof = _evidence(evidence)
        self._offered = frozenset(_fold(name).strip() for name in offered_tool_names) - {""}
        names = map(_ToolName.of, set(known_tool_names))
        self._known = [tool for tool in names if tool is not None]

    def unsupported(self, sentence: str) -> str | None:
        """The kind of the first unsupported claim of `sentence`, None when there is none."""
        return unsupported_claim(sentence, self._proof, self._offered, self._known)

    def supported(self, text: str) -> bool:
        """True when nothing in `text` lacks evidence (for short fields: why, goal, task)."""
        return all(self.unsupported(s) is None for line in split_sentences(text) for s in line)

    def check(self, text: str) -> ClaimCheck:
        """`text` without the sentences whose claims the evidence does not support."""
        kept_lines, kept, reasons = [], 0, []
        for line in split_sentences(text):
            kept_here = []
            for sentence in line:
                reason = self.unsupported(sentence)
                if reason is None:
                    kept_here.append(sentence)
                else:
                    reasons.append(reason)
            kept += len(kept_here)
            if kept_here or not line:
                kept_lines.append(" ".join(kept_here))
        cleaned = re.sub(r"\n{3,}", "\n\n", "\n".join(kept_lines)).strip()
        return ClaimCheck(text=cleaned, kept=kept, removed=len(reasons), reasons=tuple(reasons))


def check_claims(
    text: str,
    *,
    evidence: Sequence[str],
    offered_tool_names: Collection[str],
    known_tool_names: Collection[str],
) -> ClaimCheck:
    """`text` without the sentences whose claims the evidence does not support."""
    checker = ClaimChecker(
        evidence=evidence,
        offered_tool_names=offered_tool_names,
        known_tool_names=known_tool_names,
    )
    return checker.check(text)
