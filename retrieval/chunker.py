"""Split fiches into chunks the embedding model reads whole (MiniLM keeps ~120 French words)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrieval.models import Chunk, Fiche

MAX_WORDS = 120
_SECTOR_CODE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MIN_BODY_WORDS = 40
_SECTION = re.compile(r"^##(?!#)[ \t]*(.*?)[ \t]*#*[ \t]*$", re.MULTILINE)
_H1_LINE = re.compile(r"^#[ \t]+.*$", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?…;:])\s+")
# Sources are kept in the fiche metadata; their URLs only add noise to the index. The
# curated questions restate the body's facts: they are matched whole (bot/faq.py), and
# indexed they would make any question look close to the base.
_SKIPPED_SECTIONS = ("sources", "source", "questions fréquentes", "questions frequentes")

Metadata = dict[str, str | int | float | bool]


def embedded_text(title: str, heading: str, text: str) -> str:
    """The text given to the embedder and to BM25: title and heading give the chunk context."""
    context = f"{title} — {heading}" if heading and heading != title else title
    return f"{context}\n{text}"


def chunk_fiche(fiche: Fiche) -> list[Chunk]:
    """Chunks of a fiche in reading order, ids "<fiche id>#<n>", metadata attached."""
    metadata = chunk_metadata(fiche)
    chunks = []
    for n, (heading, text) in enumerate(_pieces(fiche)):
        chunks.append(
            Chunk(
                id=f"{fiche.id}#{n}",
                fiche_id=fiche.id,
                title=fiche.title,
                heading=heading,
                text=text,
                metadata={**metadata, "heading": heading, "ordinal": n},
            )
        )
    return chunks


def _pieces(fiche: Fiche) -> Iterator[tuple[str, str]]:
    for heading, section in _sections(fiche.body):
        if heading.strip().lower() in _SKIPPED_SECTIONS:
            continue
        context_words = len(embedded_text(fiche.title, heading, "").split())
        budget = max(_MIN_BODY_WORDS, MAX_WORDS - context_words)
        for text in _pack(_units(section, budget), budget):
            yield heading, text


def _sections(body: str) -> Iterator[tuple[str, str]]:
    """(heading, text) pairs split on `##`; text before the first `##` has an empty heading."""
    body = _H1_LINE.sub("", body)
    matches = list(_SECTION.finditer(body))
    intro = body[: matches[0].start()] if matches else body
    if intro.strip():
        yield "", intro.strip()
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        text = body[match.end() : end].strip()
        if text:
            yield match.group(1).strip(), text


def _words(text: str) -> int:
    return len(text.split())


def _units(section: str, budget: int) -> Iterator[str]:
    """Paragraphs, broken into lines, sentences, then word windows while over budget."""
    for paragraph in re.split(r"\n[ \t]*\n", section):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if _words(paragraph) <= budget:
            yield paragraph
            continue
        for line in paragraph.splitlines():
            yield from _split_line(line.strip(), budget)


def _split_line(line: str, budget: int) -> Iterator[str]:
    if not line:
        return
    if _words(line) <= budget:
        yield line
        return
    for sentence in _SENTENCE_END.split(line):
        words = sentence.split()
        for start in range(0, len(words), budget):
            yield " ".join(words[start : start + budget])


def _pack(units: Iterator[str], budget: int) -> Iterator[str]:
    """Greedily join consecutive units while the total stays within the budget."""
    current: list[str] = []
    size = 0
    for unit in units:
        n = _words(unit)
        if current and size + n > budget:
            yield "\n\n".join(current)
            current, size = [], 0
        current.append(unit)
        size += n
    if current:
        yield "\n\n".join(current)


def chunk_metadata(fiche: Fiche) -> Metadata:
    """Scalar metadata shared by every chunk of a fiche (Chroma accepts scalars only)."""
    meta = fiche.meta
    sectors = [str(s) for s in (meta.get("sectors") or ["tous"])]
    data: Metadata = {
        "fiche_id": fiche.id,
        "title": fiche.title,
        "type": fiche.type,
        "sectors": "|" + "|".join(sectors) + "|",
        "doc_hash": fiche.content_hash,
        "path": fiche.path,
    }
    for sector in sectors:
        if _SECTOR_CODE.fullmatch(sector):  # a key of its own, for Chroma's `where`
            data[f"sector_{sector}"] = True
    for key in ("category", "as_of"):
        if meta.get(key) is not None:
            data[key] = str(meta[key])
    use_cases = meta.get("use_cases")
    if isinstance(use_cases, list) and use_cases:
        data["use_cases"] = "|" + "|".join(str(u) for u in use_cases) + "|"
    price = meta.get("price_eur_month")
    if fiche.type == "tool" and isinstance(price, dict):
        data["price_min_eur"] = float(price["min"])
        data["price_max_eur"] = float(price["max"])
    return data
