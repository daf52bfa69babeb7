"""Validate every knowledge fiche and the retrieval eval set.

The front matter is parsed here with yaml.safe_load on purpose: this test checks the
data against knowledge/README.md independently of the retrieval package.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from retrieval import vocabulary

KB_DIR = Path(__file__).resolve().parents[2] / "knowledge"
EVAL_FILE = KB_DIR / "eval" / "questions.jsonl"

# Folder -> (type, id prefix), as in knowledge/README.md.
FOLDERS: dict[str, tuple[str, str]] = {
    "cases": ("case", "case-"),
    "tools": ("tool", "tool-"),
    "guides": ("guide", "guide-"),
    "facts": ("fact", "fact-"),
}

SECTORS = set(vocabulary.SECTORS)
TOOL_CATEGORIES = {
    "assistant",
    "llm-api",
    "image",
    "video",
    "avatar-video",
    "transcription",
    "comptabilite",
    "messagerie",
    "automatisation",
    "site-seo",
    "traduction",
    "reservation",
    "agent",
}
OTHER_CATEGORIES = {
    "etude-de-cas",
    "pilote",
    "choix-fournisseur",
    "reglementation",
    "aides",
    "roi",
    "formation",
    "modele",
    "correction",
}
USE_CASES = {
    "messages-clients",
    "comptabilite",
    "contenu-marketing",
    "visuels-video",
    "reunions-notes",
    "devis-admin",
    "automatisation",
}
REQUIRED_FIELDS = ("id", "title", "type", "sectors", "category", "as_of", "sources")
TOOL_FIELDS = (
    "vendor",
    "country",
    "open_weights",
    "data_hosting",
    "gdpr",
    "free_tier",
    "price_eur_month",
)
# The seed articles have no public address; they are cited as "seed:<file name>".
SOURCE_URL = re.compile(r"^(?:https?://\S+|seed:[\w.-]+)$")
ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
GO_NO_GO = re.compile(r"go\s*/\s*no[- ]?go|décision|décider", re.IGNORECASE)
# The embedding model truncates after about 125 French words (research notes).
MAX_SECTION_WORDS = 130
MAX_TASK_CHARS = 90

MIN_CASES = 15
MIN_TOOLS = 40
MIN_EVAL_QUESTIONS = 60


def fiche_paths() -> list[Path]:
    """Every fiche file, sorted for stable test ids."""
    return sorted(p for folder in FOLDERS for p in (KB_DIR / folder).glob("*.md"))


def split_fiche(path: Path) -> tuple[dict[str, Any], str]:
    """Return (front matter, body) of a fiche; raise ValueError when malformed."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise ValueError("no front matter: the file must start with '---'")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise ValueError("front matter is not closed by '---'")
    meta = yaml.safe_load(text[4:end])
    if not isinstance(meta, dict):
        raise ValueError("front matter is not a mapping")
    return meta, text[end + 5 :]


@cache
def all_meta() -> dict[str, dict[str, Any]]:
    """Front matter of every parseable fiche, keyed by file stem."""
    metas: dict[str, dict[str, Any]] = {}
    for path in fiche_paths():
        try:
            metas[path.stem] = split_fiche(path)[0]
        except (ValueError, yaml.YAMLError):
            continue
    return metas


def known_ids() -> set[str]:
    """Ids declared by parseable fiches."""
    return {str(m.get("id")) for m in all_meta().values() if m.get("id")}


def is_number(value: object) -> bool:
    """True for int/float but not bool (YAML `yes` must not pass as a price)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def sections(body: str) -> list[tuple[str, str]]:
    """Split a body on `##` headings: [(heading, text)], the intro under heading ''."""
    result: list[tuple[str, str]] = []
    heading, lines = "", []
    for line in body.splitlines():
        if line.startswith("## "):
            result.append((heading, "\n".join(lines)))
            heading, lines = line[3:].strip(), []
        else:
            lines.append(line)
    result.append((heading, "\n".join(lines)))
    return result


PATHS = fiche_paths()
PATH_IDS = [f"{p.parent.name}/{p.name}" for p in PATHS]


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
def test_front_matter(path: Path) -> None:
    """Required fields, id rules, vocabularies, date and sources."""
    meta, _ = split_fiche(path)
    problems: list[str] = []
    missing = [f for f in REQUIRED_FIELDS if meta.get(f) in (None, "", [])]
    assert not missing, f"missing fields: {missing}"

    fiche_type, prefix = FOLDERS[path.parent.name]
    fiche_id = meta["id"]
    if fiche_id != path.stem:
        problems.append(f"id {fiche_id!r} does not match file name {path.stem!r}")
    if not (isinstance(fiche_id, str) and ID_PATTERN.match(fiche_id)):
        problems.append(f"id {fiche_id!r} is not lowercase [a-z0-9-]")
    elif not fiche_id.startswith(prefix):
        problems.append(f"id {fiche_id!r} lacks prefix {prefix!r}")
    if meta["type"] != fiche_type:
        problems.append(f"type {meta['type']!r} should be {fiche_type!r} in {path.parent.name}/")

    categories = TOOL_CATEGORIES if fiche_type == "tool" else OTHER_CATEGORIES
    if meta["category"] not in categories:
        problems.append(f"category {meta['category']!r} not in vocabulary")
    sectors = meta["sectors"]
    if not isinstance(sectors, list) or not set(sectors) <= SECTORS:
        problems.append(f"sectors {sectors!r} not a list within vocabulary")
    use_cases = meta.get("use_cases") or []
    if not isinstance(use_cases, list) or not set(use_cases) <= USE_CASES:
        problems.append(f"use_cases {use_cases!r} not a list within vocabulary")
    if not isinstance(meta["as_of"], dt.date):
        problems.append(f"as_of {meta['as_of']!r} is not a YYYY-MM-DD date")

    sources = meta["sources"]
    if not isinstance(sources, list):
        problems.append("sources is not a list")
    else:
        for source in sources:
            if not (isinstance(source, dict) and source.get("title") and source.get("url")):
                problems.append(f"source without title or url: {source!r}")
            elif not SOURCE_URL.match(str(source["url"])):
                problems.append(f"source url is not http(s) or seed:<name>: {source['url']!r}")
    assert not problems, "\n".join(problems)


def test_ids_unique() -> None:
    """No two fiches share an id."""
    ids = Counter(str(m.get("id")) for m in all_meta().values())
    assert not [i for i, n in ids.items() if n > 1]


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
def test_links_resolve(path: Path) -> None:
    """Every `related:` id and every case `tools:` id names an existing fiche."""
    meta, _ = split_fiche(path)
    ids = known_ids()
    related = meta.get("related") or []
    assert isinstance(related, list), "related must be a list"
    dangling = [r for r in related if r not in ids]
    if meta.get("type") == "case":
        tools = meta.get("tools") or []
        assert isinstance(tools, list), "tools must be a list"
        dangling += [t for t in tools if t not in ids or not str(t).startswith("tool-")]
    assert not dangling, f"unknown ids: {list(dict.fromkeys(dangling))}"


@pytest.mark.parametrize(
    "path",
    [p for p in PATHS if p.parent.name == "tools"],
    ids=[i for i in PATH_IDS if i.startswith("tools/")],
)
def test_tool_fields(path: Path) -> None:
    """Catalogue cards carry vendor, hosting, GDPR and numeric prices."""
    meta, _ = split_fiche(path)
    missing = [f for f in TOOL_FIELDS if f not in meta or meta[f] in (None, "")]
    assert not missing, f"missing tool fields: {missing}"
    assert isinstance(meta["open_weights"], bool), "open_weights must be true/false"
    price = meta["price_eur_month"]
    assert isinstance(price, dict), "price_eur_month must be {min, max}"
    low, high = price.get("min"), price.get("max")
    assert is_number(low) and is_number(high), f"prices must be numbers: {price!r}"
    assert 0 <= low <= high, f"need 0 <= min <= max: {price!r}"
    unit_prices = meta.get("unit_prices")
    if unit_prices is not None:
        assert isinstance(unit_prices, dict), "unit_prices must be a mapping"
        bad = {k: v for k, v in unit_prices.items() if not is_number(v) or v < 0}
        assert not bad, f"unit_prices must be non-negative numbers: {bad}"


@pytest.mark.parametrize(
    "path",
    [p for p in PATHS if p.parent.name == "cases"],
    ids=[i for i in PATH_IDS if i.startswith("cases/")],
)
def test_case_fields(path: Path) -> None:
    """Cases say whether they are sourced and list catalogue tools."""
    meta, _ = split_fiche(path)
    assert isinstance(meta.get("sourced"), bool), "sourced must be true/false"
    assert isinstance(meta.get("tools", []), list), "tools must be a list"


PILOT_PATHS = [p for p in PATHS if "pilot_template" in all_meta().get(p.stem, {})]


def _pilot_problems(template: object) -> list[str]:
    if not isinstance(template, dict):
        return ["pilot_template is not a mapping"]
    problems: list[str] = []
    if template.get("use_case") not in USE_CASES:
        problems.append(f"use_case {template.get('use_case')!r} not in vocabulary")
    if not (isinstance(template.get("goal"), str) and template["goal"].strip()):
        problems.append("goal missing")
    kpis = template.get("kpis")
    if not (isinstance(kpis, list) and 3 <= len(kpis) <= 5):
        problems.append(f"kpis must be a list of 3 to 5 items: {kpis!r}")
    budget = template.get("budget_eur")
    if not (is_number(budget) and budget >= 0):
        problems.append(f"budget_eur must be a number >= 0: {budget!r}")
    steps = template.get("steps")
    if not (isinstance(steps, list) and steps):
        return [*problems, "steps missing"]
    days: list[int] = []
    for step in steps:
        if not isinstance(step, dict):
            problems.append(f"step is not a mapping: {step!r}")
            continue
        day, task = step.get("day"), step.get("task")
        if not (isinstance(day, int) and not isinstance(day, bool) and 1 <= day <= 14):
            problems.append(f"day must be 1..14: {step!r}")
        else:
            days.append(day)
        if not (isinstance(task, str) and task.strip()):
            problems.append(f"task missing: {step!r}")
        elif len(task) >= MAX_TASK_CHARS:
            problems.append(f"task longer than {MAX_TASK_CHARS} chars: {task!r}")
    if days != sorted(days):
        problems.append(f"steps are not in day order: {days}")
    if days and days[0] != 1:
        problems.append("the first step must be on day 1 (baseline)")
    last = steps[-1]
    if isinstance(last, dict) and not GO_NO_GO.search(str(last.get("task", ""))):
        problems.append("the last step must be the go/no-go decision")
    return problems


@pytest.mark.parametrize("path", PILOT_PATHS, ids=[p.name for p in PILOT_PATHS])
def test_pilot_template(path: Path) -> None:
    """Pilot plans span days 1..14, start with a baseline and end with go/no-go."""
    meta, _ = split_fiche(path)
    problems = _pilot_problems(meta["pilot_template"])
    assert not problems, "\n".join(problems)


def test_pilot_checker_rejects_bad_plans() -> None:
    """The pilot checker itself catches the mistakes it exists for."""
    good = {
        "use_case": "comptabilite",
        "goal": "g",
        "kpis": ["a", "b", "c"],
        "budget_eur": 10,
        "steps": [{"day": 1, "task": "Mesurer"}, {"day": 14, "task": "Go/no-go : oui ?"}],
    }
    assert _pilot_problems(good) == []
    late_start = {**good, "steps": [{"day": 2, "task": "x"}, {"day": 14, "task": "Décider"}]}
    assert _pilot_problems(late_start)
    no_decision = {**good, "steps": [{"day": 1, "task": "x"}, {"day": 14, "task": "Fêter"}]}
    assert _pilot_problems(no_decision)
    day_15 = {**good, "steps": [{"day": 1, "task": "x"}, {"day": 15, "task": "Décider"}]}
    assert _pilot_problems(day_15)


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
def test_body_shape(path: Path) -> None:
    """Title line, short `##` sections and a Sources section listing every source url."""
    meta, body = split_fiche(path)
    stripped = body.strip()
    assert stripped.startswith("# "), "the body must start with '# Title'"
    parts = sections(stripped)
    headings = [h for h, _ in parts]
    assert "Sources" in headings, "missing '## Sources' section"
    assert headings[-1] == "Sources", "'## Sources' must be the last section"
    long_ones = [
        f"{h or '(intro)'}: {n} words"
        for h, text in parts
        if (n := len(f"{h} {text}".split())) > MAX_SECTION_WORDS and h != "Sources"
    ]
    assert not long_ones, f"sections over {MAX_SECTION_WORDS} words: {long_ones}"
    sources_text = parts[-1][1]
    unlisted = [s["url"] for s in meta.get("sources") or [] if s["url"] not in sources_text]
    assert not unlisted, f"front-matter sources missing from '## Sources': {unlisted}"


def load_eval() -> list[dict[str, Any]]:
    """The eval questions, one JSON object per line (blank lines ignored)."""
    if not EVAL_FILE.exists():
        return []
    lines = EVAL_FILE.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_eval_set_is_well_formed() -> None:
    """Each question is a string with 1-3 relevant fiche ids that exist."""
    ids = known_ids()
    problems: list[str] = []
    for n, item in enumerate(load_eval(), start=1):
        question, relevant = item.get("question"), item.get("relevant")
        if not (isinstance(question, str) and question.strip()):
            problems.append(f"line {n}: empty question")
        if not (isinstance(relevant, list) and 1 <= len(relevant) <= 3):
            problems.append(f"line {n}: relevant must list 1 to 3 ids")
            continue
        unknown = [r for r in relevant if r not in ids]
        if unknown:
            problems.append(f"line {n}: unknown ids {unknown}")
        if len(set(relevant)) != len(relevant):
            problems.append(f"line {n}: duplicate ids")
    questions = Counter(str(item.get("question", "")).strip().lower() for item in load_eval())
    problems += [f"duplicate question: {q!r}" for q, c in questions.items() if c > 1]
    assert not problems, "\n".join(problems)


def test_knowledge_base_size() -> None:
    """The knowledge base reaches its target size."""
    counts = Counter(p.parent.name for p in PATHS)
    assert counts["cases"] >= MIN_CASES, f"{counts['cases']} cases < {MIN_CASES}"
    assert counts["tools"] >= MIN_TOOLS, f"{counts['tools']} tools < {MIN_TOOLS}"
    n_questions = len(load_eval())
    assert n_questions >= MIN_EVAL_QUESTIONS, f"{n_questions} questions < {MIN_EVAL_QUESTIONS}"
