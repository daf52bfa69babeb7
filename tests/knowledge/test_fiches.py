"""The shipped knowledge base: it passes `kb check`, bodies are well shaped, the eval set fits.

The front-matter rules live in retrieval.kb_check (each one is shown to fire on small broken
bases in test_kb_check.py); here they run on the real knowledge/, fiche by fiche, and the
rules kb check does not cover are added: body shape, pilot task length, sizes, the eval set.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from bot.cli.kb_check import format_problem
from retrieval.evaluation import load_questions
from retrieval.faq_section import format_problems
from retrieval.fiche_schema import fiche_files, read_front_matter
from retrieval.kb_check import Problem, check_knowledge

KB_DIR = Path(__file__).resolve().parents[2] / "knowledge"
EVAL_FILE = KB_DIR / "eval" / "questions.jsonl"

# The embedding model truncates after about 125 French words (research notes).
MAX_SECTION_WORDS = 130
# A pilot task is one tickable line of the Telegram checklist.
MAX_TASK_CHARS = 90

MIN_CASES = 15
MIN_TOOLS = 40
MIN_EVAL_QUESTIONS = 150
MIN_NO_ANSWER_QUESTIONS = 20

PATHS = fiche_files(KB_DIR)
PATH_IDS = [path.relative_to(KB_DIR).as_posix() for path in PATHS]


@cache
def shipped_problems() -> tuple[Problem, ...]:
    """What `pilote-ia kb check` finds in knowledge/ today."""
    return tuple(check_knowledge(KB_DIR, today=dt.date.today()))


def _is_stale(problem: Problem) -> bool:
    # Age is a reminder to re-check sources, not a defect of the data.
    return problem.field == "as_of" and problem.severity == "warning"


@pytest.mark.parametrize("rel", PATH_IDS)
def test_fiche_passes_kb_check(rel: str) -> None:
    """No error and no warning (except age) on any fiche."""
    problems = [p for p in shipped_problems() if p.file == rel and not _is_stale(p)]
    assert not problems, "\n".join(format_problem(p) for p in problems)


def test_vocabulary_and_base_pass_kb_check() -> None:
    """vocabulary.yaml is valid and its names resolve; the base is not empty."""
    problems = [p for p in shipped_problems() if p.file not in PATH_IDS]
    assert not problems, "\n".join(format_problem(p) for p in problems)


def split_body(path: Path) -> str:
    """The Markdown body after the front matter."""
    text = path.read_text(encoding="utf-8")
    return text[text.index("\n---", 3) + 4 :].lstrip("\r\n")


def sections(body: str) -> list[tuple[str, str]]:
    """Split a body on `##` headings: [(heading, text)], the intro under heading ''."""
    result: list[tuple[str, str]] = []
    heading, lines = "", list[str]()
    for line in body.splitlines():
        if line.startswith("## "):
            result.append((heading, "\n".join(lines)))
            heading, lines = line[3:].strip(), []
        else:
            lines.append(line)
    result.append((heading, "\n".join(lines)))
    return result


@pytest.mark.parametrize("path", PATHS, ids=PATH_IDS)
def test_body_shape(path: Path) -> None:
    """Title line, short `##` sections and a Sources section listing every source url."""
    meta = read_front_matter(path)
    stripped = split_body(path).strip()
    assert stripped.startswith("# "), "the body must start with '# Title'"
    parts = sections(stripped)
    headings = [h for h, _ in parts]
    assert "Sources" in headings, "missing '## Sources' section"
    assert headings[-1] == "Sources", "'## Sources' must be the last section"
    long_ones = [
        f"{h or '(intro)'}: {n} words"
        for h, text in parts
        if (n := len(f"{h} {text}".split())) > MAX_SECTION_WORDS
        and h not in ("Sources", "Questions fréquentes")  # short entries, checked below
    ]
    assert not long_ones, f"sections over {MAX_SECTION_WORDS} words: {long_ones}"
    assert format_problems(stripped) == []
    sources_text = parts[-1][1]
    unlisted = [s["url"] for s in meta.get("sources") or [] if s["url"] not in sources_text]
    assert not unlisted, f"front-matter sources missing from '## Sources': {unlisted}"


def _pilot_tasks() -> list[tuple[str, str]]:
    tasks = []
    for path in PATHS:
        template: Any = read_front_matter(path).get("pilot_template") or {}
        tasks += [(path.stem, str(step.get("task"))) for step in template.get("steps") or []]
    return tasks


def test_pilot_tasks_fit_one_checklist_line() -> None:
    """Every pilot task reads on one line of the phone checklist."""
    tasks = _pilot_tasks()
    assert tasks, "no pilot_template found in knowledge/guides"
    too_long = [f"{fiche}: {task}" for fiche, task in tasks if len(task) >= MAX_TASK_CHARS]
    assert not too_long, "\n".join(too_long)


def test_knowledge_base_size() -> None:
    """The catalogue and the case studies reach their target size."""
    counts = Counter(path.parent.name for path in PATHS)
    assert counts["cases"] >= MIN_CASES, f"{counts['cases']} cases < {MIN_CASES}"
    assert counts["tools"] >= MIN_TOOLS, f"{counts['tools']} tools < {MIN_TOOLS}"


def test_eval_set_names_existing_fiches_and_is_large_enough() -> None:
    """The eval set loads (docs/data-formats.md §4), cites real fiches, has both splits."""
    questions = load_questions(EVAL_FILE)
    ids = {read_front_matter(path).get("id") for path in PATHS}
    unknown = sorted({r for q in questions for r in q.relevant if r not in ids})
    assert not unknown, f"relevant ids that are not fiches: {unknown}"
    assert len(questions) >= MIN_EVAL_QUESTIONS
    assert {q.split for q in questions} == {"dev", "test"}
    no_answer = [q for q in questions if q.decline or not q.relevant]
    assert len(no_answer) >= MIN_NO_ANSWER_QUESTIONS
    duplicates = Counter(q.question.strip().lower() for q in questions)
    assert not [q for q, n in duplicates.items() if n > 1], "duplicate questions"
