"""Schema of the fiches' front matter (docs/data-formats.md §1-§2) and how to read it.

One pydantic model per fiche type validates shapes, types and closed value lists; the rules
that need the whole base (ids, vocabularies, dates against today) live in `retrieval.kb_check`.
knowledge/vocabulary.yaml has its model beside its loader: `retrieval.vocabulary`.
Custom errors carry a French message and, in their context, a `fix` telling how to correct it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from retrieval.errors import KnowledgeBaseError
from retrieval.text import fold

PILOT_FIRST_DAY, PILOT_LAST_DAY = 1, 14
# Words that betray an estimate where a number read on a pricing page is expected.
HEDGE_WORDS = ("environ", "verifier", "confirmer", "approx", "estim", "~", "≈", "env.")

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SKIPPED_DIRS = ("eval",)
_SKIPPED_NAMES = ("README.md",)


def has_hedge_word(text: str) -> bool:
    """True when `text` holds an approximation word ("environ", "à vérifier", "~"...)."""
    folded = fold(text)
    return any(word in folded for word in HEDGE_WORDS)


def _number(value: Any) -> float:
    """A YAML number; strings (even "environ 15") and booleans are refused with a French hint."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and has_hedge_word(value):
        raise PydanticCustomError(
            "kb_hedge",
            "« {value} » est une approximation, pas un montant",
            {
                "value": value,
                "fix": "écrire le nombre exact relevé à la source (ex. 14.99) ; un "
                "prix inconnu s'écrit price_eur_month: null avec price_unknown",
            },
        )
    raise PydanticCustomError(
        "kb_number",
        "« {value} » n'est pas un nombre",
        {"value": str(value), "fix": "écrire un nombre seul, sans unité ni texte (ex. 14.99)"},
    )


def _iso_date(value: Any) -> dt.date:
    """A date written YYYY-MM-DD (YAML may hand it over as a date or as a string)."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise PydanticCustomError(
        "kb_date",
        "« {value} » n'est pas une date AAAA-MM-JJ",
        {"value": str(value), "fix": "écrire la date sous la forme 2026-11-23"},
    )


Number = Annotated[float, BeforeValidator(_number)]
NonNegative = Annotated[float, BeforeValidator(_number), Field(ge=0)]
IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
WebUrl = Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
SourceUrl = Annotated[str, StringConstraints(pattern=r"^(?:https?://\S+|seed:[\w.-]+)$")]
PilotDay = Annotated[StrictInt, Field(ge=PILOT_FIRST_DAY, le=PILOT_LAST_DAY)]


class _Closed(BaseModel):
    """A small fixed structure: an unknown key is a typo and is reported."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _Open(BaseModel):
    """A structure others may extend: unknown keys are ignored (kb_check warns on fiches)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class Source(_Open):
    """One source of a fiche: a title and a web address (or seed:<file> for a seed article)."""

    title: Text
    url: SourceUrl


class PriceRange(_Closed):
    """Monthly price in euros, min <= max."""

    min: NonNegative
    max: NonNegative

    @model_validator(mode="after")
    def _ordered(self) -> PriceRange:
        if self.min > self.max:
            raise PydanticCustomError(
                "kb_price_order",
                "min ({low}) est plus grand que max ({high})",
                {
                    "low": f"{self.min:g}",
                    "high": f"{self.max:g}",
                    "fix": "mettre le plus petit montant en min",
                },
            )
        return self


class UsdEurRate(_Closed):
    """The dollar-to-euro rate used to convert a vendor's dollar prices, and its date."""

    rate: Annotated[float, BeforeValidator(_number), Field(gt=0)]
    on: IsoDate

    @model_validator(mode="before")
    @classmethod
    def _quoted_on(cls, data: Any) -> Any:
        # YAML 1.1 reads a bare `on:` key as the boolean true.
        if isinstance(data, dict) and True in data and "on" not in data:
            raise PydanticCustomError(
                "kb_yaml_on",
                "la clé on a été lue comme « vrai » par YAML",
                {"fix": "écrire 'on' entre apostrophes : {rate: 0.92, 'on': 2026-11-23}"},
            )
        return data


class Hosting(_Closed):
    """Where the tool processes data."""

    region: Literal["eu", "outside-eu", "self-hostable", "mixed"]
    note: Text


class ModelPriceEntry(_Closed):
    """Token prices of one model, per million tokens, in the vendor's currency."""

    model: Text
    input: NonNegative
    output: NonNegative
    currency: Literal["USD", "EUR"]
    note: str | None = None


class PilotStep(_Closed):
    """One task of a two-week pilot."""

    day: PilotDay
    task: Text


def plan_days_problem(days: list[int]) -> str | None:
    """What is wrong with a plan's days (day 1 first, day 14 last, in order), or None."""
    if days and days[0] != PILOT_FIRST_DAY:
        return f"le plan commence au jour {days[0]}, pas au jour {PILOT_FIRST_DAY}"
    if days and days[-1] != PILOT_LAST_DAY:
        return f"le plan finit au jour {days[-1]}, pas au jour {PILOT_LAST_DAY}"
    if days != sorted(days):
        return f"les jours ne sont pas dans l'ordre ({', '.join(map(str, days))})"
    return None


PLAN_DAYS_FIX = "ordonner les étapes du jour 1 (mesure de départ) au jour 14 (décision go/no-go)"


def check_plan_days(steps: list[PilotStep]) -> list[PilotStep]:
    """Pydantic hook: a plan starts on day 1 (baseline) and ends on day 14 (go/no-go)."""
    problem = plan_days_problem([step.day for step in steps])
    if problem is not None:
        raise PydanticCustomError("kb_plan", problem, {"fix": PLAN_DAYS_FIX})
    return steps


class PilotTemplate(_Closed):
    """The two-week plan of a pilot guide."""

    use_case: Text
    goal: Text
    kpis: Annotated[list[Text], Field(min_length=1)]
    budget_eur: NonNegative
    steps: Annotated[list[PilotStep], Field(min_length=1), AfterValidator(check_plan_days)]


class FicheBase(_Open):
    """Fields every fiche carries."""

    id: Text
    title: Text
    type: str
    sectors: Annotated[list[str], Field(min_length=1)]
    category: Text
    use_cases: list[str] = []
    as_of: IsoDate
    sources: Annotated[list[Source], Field(min_length=1)]
    related: list[str] = []


class ToolFiche(FicheBase):
    """A catalogue card: vendor, hosting, price and where the price was read."""

    type: Literal["tool"]
    vendor: Text
    country: Text
    open_weights: StrictBool
    gdpr: Text
    free_tier: Text
    hosting: Hosting
    price_eur_month: PriceRange | None
    price_unknown: Text | None = None
    price_note: str | None = None
    price_source: WebUrl | None = None
    price_source_kind: Literal["official", "third-party"] | None = None
    price_read_on: IsoDate | None = None
    price_tax: Literal["HT", "TTC", "sans objet"] | None = None
    usd_eur_rate: UsdEurRate | None = None
    unit_prices: dict[str, NonNegative] = {}
    model_prices: list[ModelPriceEntry] = []
    aliases: list[Text] = []  # other names owners use ("copilot")
    not_with: list[str] = []  # tool categories it cannot be combined with
    for_developers: StrictBool = False  # an API to build on, not a tool an owner opens


class CaseFiche(FicheBase):
    """A case study and the kind of evidence it rests on."""

    type: Literal["case"]
    source_kind: Literal["official", "press", "vendor", "marketing", "illustrative"]
    tools: list[str] = []
    city: str | None = None
    sourced: StrictBool | None = None


class GuideFiche(FicheBase):
    """A how-to; pilot guides carry their two-week plan."""

    type: Literal["guide"]
    pilot_template: PilotTemplate | None = None


class FactFiche(FicheBase):
    """A model or product fact, or a correction of a source article."""

    type: Literal["fact"]


FICHE_MODELS: dict[str, type[FicheBase]] = {
    "tool": ToolFiche,
    "case": CaseFiche,
    "guide": GuideFiche,
    "fact": FactFiche,
}


def fiche_files(knowledge_dir: Path) -> list[Path]:
    """Fiche files under a knowledge dir: *.md, README.md, eval/ and hidden paths skipped."""
    paths = []
    for path in sorted(knowledge_dir.rglob("*.md")):
        parts = path.relative_to(knowledge_dir).parts
        if path.name in _SKIPPED_NAMES or any(p.startswith(".") for p in parts):
            continue
        if any(p in _SKIPPED_DIRS for p in parts[:-1]):
            continue
        paths.append(path)
    return paths


def read_front_matter(path: Path) -> dict[str, Any]:
    """The YAML front matter of a fiche; KnowledgeBaseError (French) when absent or malformed."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeBaseError(str(path), "fichier illisible (UTF-8 attendu)") from exc
    match = _FRONT_MATTER.match(text)
    if match is None:
        problem = (
            "en-tête YAML non fermé (--- final manquant)"
            if text.lstrip().startswith("---")
            else "en-tête YAML absent (le fichier doit commencer par ---)"
        )
        raise KnowledgeBaseError(str(path), problem)
    return parse_yaml_mapping(path, match.group(1), line_offset=1)


def read_yaml_file(path: Path) -> dict[str, Any]:
    """A YAML file holding a mapping (knowledge/vocabulary.yaml); KnowledgeBaseError otherwise."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeBaseError(str(path), "fichier illisible (UTF-8 attendu)") from exc
    return parse_yaml_mapping(path, text, line_offset=0)


def parse_yaml_mapping(path: Path, text: str, *, line_offset: int) -> dict[str, Any]:
    """Parse YAML text that must be a mapping; errors name the line in the file."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (ligne {mark.line + 1 + line_offset})" if mark is not None else ""
        raise KnowledgeBaseError(str(path), f"YAML illisible{where}") from exc
    except ValueError as exc:  # e.g. an impossible date such as 2026-13-45
        raise KnowledgeBaseError(str(path), f"YAML illisible : valeur impossible ({exc})") from exc
    if not isinstance(data, dict):
        raise KnowledgeBaseError(str(path), "le YAML doit être une suite de champs « clé: valeur »")
    return {str(key): value for key, value in data.items()}
