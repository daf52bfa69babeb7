"""The evaluation set (docs/data-formats.md §4) and retrieval quality on it.

Retrieval is scored at fiche level (one fiche counted once): recall@1/3/5 and MRR for dense,
BM25 and hybrid search, the latter with plain (untuned) and tuned fusion.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from retrieval.errors import KnowledgeBaseError
from retrieval.knowledge_base import PLAIN_FUSION, TUNED_FUSION, KnowledgeBase
from retrieval.models import Hit
from retrieval.vocabulary import load_domain_vocabulary

CUTOFFS = (1, 3, 5)
METHODS = ("dense", "bm25", "hybrid_untuned", "hybrid")  # "hybrid": the search as shipped
DECLINE_INTENTS = ("out_of_scope", "subversion")
_DEPTH = 10
_SHOWN_PROBLEMS = 20

Split = Literal["dev", "test"]
EvalIntent = Literal["need", "information", "mixed", "follow_up", "out_of_scope", "subversion"]
_PROBLEMS = {
    "missing": "champ manquant",
    "extra_forbidden": "champ inconnu",
    "string_too_short": "texte vide",
    "string_pattern_mismatch": "texte vide",
    "string_type": "texte attendu",
    "bool_type": "true ou false attendu",
    "tuple_type": "liste attendue",
    "float_type": "nombre attendu",
    "greater_than_equal": "nombre positif attendu",
    "model_type": "objet {...} attendu",
    "model_attributes_type": "objet {...} attendu",
}
NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=r"\S")]


class EvalProfile(BaseModel):
    """The owner's profile a question is asked with (the fields of the advisor's Profile)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sector: str | None = None
    size: str | None = None
    monthly_budget_eur: float | None = Field(default=None, ge=0)
    priority: str | None = None

    @field_validator("sector")
    @classmethod
    def _known_sector(cls, value: str | None, info: ValidationInfo) -> str | None:
        sectors = (info.context or {}).get("sectors") or _shipped_sectors()
        if value is not None and value not in sectors:
            raise ValueError(f"secteur « {value} » inconnu ({', '.join(sectors)})")
        return value


class EvalTurn(BaseModel):
    """A previous exchange of the conversation (follow-up questions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: NonBlank
    answer: str


class EvalQuestion(BaseModel):
    """One line of questions.jsonl: the question and what retrieval and the answer must do."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^q\d{3}$")
    split: Split
    question: NonBlank
    relevant: tuple[str, ...]
    intent: EvalIntent
    needs: tuple[str, ...]
    must_have: tuple[str, ...]
    tool_categories: tuple[str, ...]
    must_not: tuple[str, ...]
    decline: StrictBool  # a typo such as "non" must not read as a boolean
    profile: EvalProfile | None = None
    history: tuple[EvalTurn, ...] = ()

    @field_validator("relevant", "needs", "tool_categories", "must_not")
    @classmethod
    def _no_blank_item(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if any(not value.strip() for value in values):
            raise ValueError("élément vide dans la liste")
        return values

    @field_validator("must_have")
    @classmethod
    def _no_blank_alternative(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if any(not part.strip() for value in values for part in value.split("|")):
            raise ValueError("élément ou alternative (a|b) vide")
        return values

    @model_validator(mode="after")
    def _decline_is_consistent(self) -> EvalQuestion:
        if self.decline != (self.intent in DECLINE_INTENTS):
            raise ValueError(
                "« decline » doit être true exactement pour les intentions out_of_scope et "
                f"subversion (intention : {self.intent})"
            )
        if self.decline and self.tool_categories:
            raise ValueError("un refus n'attend aucun outil : « tool_categories » doit être []")
        return self


@cache
def _shipped_sectors() -> tuple[str, ...]:
    """The sectors of the shipped vocabulary: those of a question built outside a file."""
    return load_domain_vocabulary().sector_codes


def load_questions(path: Path) -> list[EvalQuestion]:
    """Every question of a questions.jsonl file; KnowledgeBaseError lists each bad line.

    Profiles name the sectors of the vocabulary of the base holding the file (knowledge/eval/).
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        sectors = load_domain_vocabulary(path.parent.parent).sector_codes
    except OSError as exc:
        raise KnowledgeBaseError(str(path), f"lecture impossible ({exc.strerror})") from exc
    except ValueError as exc:
        raise KnowledgeBaseError(str(path), str(exc)) from exc
    questions: list[EvalQuestion] = []
    problems: list[str] = []
    first_line: dict[str, int] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parsed = _parse_line(line, n, sectors)
        if isinstance(parsed, list):
            problems += parsed
        elif parsed.id in first_line:
            problems.append(
                f"ligne {n} : identifiant « {parsed.id} » déjà pris ligne {first_line[parsed.id]}"
            )
        else:
            first_line[parsed.id] = n
            questions.append(parsed)
    if problems:
        shown = problems[:_SHOWN_PROBLEMS]
        more = len(problems) - len(shown)
        tail = [f"… et {more} autre(s)"] if more else []
        raise KnowledgeBaseError(
            str(path),
            "\n  ".join(
                [f"{len(problems)} problème(s) (format : docs/data-formats.md §4)", *shown, *tail]
            ),
        )
    if not questions:
        raise KnowledgeBaseError(str(path), "aucune question")
    return questions


def _parse_line(line: str, n: int, sectors: tuple[str, ...]) -> EvalQuestion | list[str]:
    """The question on one line, or the French description of what is wrong with it."""
    try:
        raw = json.loads(line)
    except ValueError:
        return [f"ligne {n} : JSON illisible"]
    if not isinstance(raw, dict):
        return [f"ligne {n} : un objet JSON {{...}} est attendu"]
    if "id" not in raw and "intent" not in raw and {"question", "relevant"} <= set(raw):
        return [
            f"ligne {n} : ancien format {{question, relevant}} ; ajoutez id, split, "
            "intent, needs, must_have, tool_categories, must_not et decline"
        ]
    try:
        return EvalQuestion.model_validate_json(line, context={"sectors": sectors})
    except ValidationError as exc:
        return [f"ligne {n}{_french_error(error)}" for error in exc.errors()]


def _french_error(error: Any) -> str:
    """One pydantic error in French: ', champ « x » : problème' or ' : problème'."""
    where = ".".join(str(part) for part in error["loc"])
    kind = str(error["type"])
    if kind == "literal_error":
        allowed = ", ".join(get_args(EvalIntent if where == "intent" else Split))
        problem = f"« {error['input']} » n'est pas permis ({allowed})"
    elif kind == "string_pattern_mismatch" and where == "id":
        problem = f"« {error['input']} » au lieu de q + trois chiffres (ex. q042)"
    elif kind == "value_error":
        problem = str(error["ctx"]["error"])
    else:
        problem = _PROBLEMS.get(kind, f"valeur invalide ({kind})")
    return f", champ « {where} » : {problem}" if where else f" : {problem}"


def select_split(questions: Sequence[EvalQuestion], split: str) -> list[EvalQuestion]:
    """The questions of one split ("dev" or "test"), or all of them ("all")."""
    return [q for q in questions if split == "all" or q.split == split]


def evaluate(kb: KnowledgeBase, questions_path: Path, *, split: str = "all") -> dict[str, Any]:
    """Retrieval scores of one split of a questions.jsonl file (see `score_retrieval`)."""
    chosen = select_split(load_questions(questions_path), split)
    if not any(q.relevant for q in chosen):
        where = "" if split == "all" else f" dans la partie « {split} »"
        raise KnowledgeBaseError(
            str(questions_path), f"aucune question avec des fiches pertinentes{where}"
        )
    return {"split": split, **score_retrieval(kb, chosen)}


def retrieval_methods(kb: KnowledgeBase) -> dict[str, Callable[[str], list[Hit]]]:
    """The compared searches, one fiche per hit, by the names used in the results."""
    return {
        "dense": lambda q: kb.search_dense(q, k=_DEPTH, max_per_fiche=1),
        "bm25": lambda q: kb.search_bm25(q, k=_DEPTH, max_per_fiche=1),
        "hybrid_untuned": lambda q: kb.search(q, k=_DEPTH, max_per_fiche=1, fusion=PLAIN_FUSION),
        "hybrid": lambda q: kb.search(q, k=_DEPTH, max_per_fiche=1, fusion=TUNED_FUSION),
    }


def score_retrieval(kb: KnowledgeBase, questions: Sequence[EvalQuestion]) -> dict[str, Any]:
    """Recall@1/3/5 and MRR per method, and where tuned hybrid ranks worse than another method.

    Questions without relevant fiches (`relevant: []`) are counted in `skipped`, not scored;
    at least one question must have some. A follow-up is searched with the previous question
    before it, as the advisor does.
    """
    scored = [q for q in questions if q.relevant]
    if not scored:
        raise ValueError("no question with relevant fiches to score")
    ranks: dict[str, list[int | None]] = {}
    for name, search in retrieval_methods(kb).items():
        ranks[name] = [
            _first_relevant_rank(search(search_text(q)), set(q.relevant)) for q in scored
        ]
    result: dict[str, Any] = {"questions": len(scored), "skipped": len(questions) - len(scored)}
    for name, method_ranks in ranks.items():
        result[name] = method_scores(method_ranks)
    result["hybrid_losses"] = hybrid_losses([q.id for q in scored], ranks)
    return result


def search_text(question: EvalQuestion) -> str:
    """What retrieval is asked: the question, after the previous one for a follow-up."""
    if question.history:
        return f"{question.history[-1].question} {question.question}"
    return question.question


def method_scores(ranks: Sequence[int | None]) -> dict[str, float]:
    """Recall at each cutoff and MRR, from the rank of each question's first relevant fiche."""
    scores = {f"recall@{c}": _share(ranks, c) for c in CUTOFFS}
    scores["mrr"] = round(sum(1.0 / r for r in ranks if r) / len(ranks), 4)
    return scores


def hybrid_losses(ids: Sequence[str], ranks: dict[str, list[int | None]]) -> list[dict[str, Any]]:
    """Questions where tuned hybrid finds the first relevant fiche later than dense or BM25."""
    losses = []
    for i, question_id in enumerate(ids):
        hybrid = _or_beyond(ranks["hybrid"][i])
        best_single = min(_or_beyond(ranks["dense"][i]), _or_beyond(ranks["bm25"][i]))
        if best_single < hybrid:
            losses.append(
                {
                    "id": question_id,
                    "hybrid": ranks["hybrid"][i],
                    "dense": ranks["dense"][i],
                    "bm25": ranks["bm25"][i],
                }
            )
    return losses


def _or_beyond(rank: int | None) -> int:
    return rank if rank is not None else _DEPTH + 1


def _first_relevant_rank(hits: list[Hit], relevant: set[str]) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if hit.fiche_id in relevant:
            return rank
    return None


def _share(ranks: Sequence[int | None], cutoff: int) -> float:
    return round(sum(1 for r in ranks if r is not None and r <= cutoff) / len(ranks), 4)
