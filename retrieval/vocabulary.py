"""Controlled vocabularies of the knowledge base (see knowledge/README.md)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FICHE_TYPES = ("case", "tool", "guide", "fact")
USER_DOC_TYPE = "doc"
ALL_TYPES = (*FICHE_TYPES, USER_DOC_TYPE)

# the sector of fiches that fit every trade; the trades themselves are data (vocabulary.yaml)
ALL_SECTORS = "tous"

TYPE_PREFIXES = {"case": "case-", "tool": "tool-", "guide": "guide-", "fact": "fact-"}


# --- The domain vocabulary file (knowledge/vocabulary.yaml, docs/data-formats.md §3) ------

VOCABULARY_FILE = "vocabulary.yaml"
SHIPPED_KNOWLEDGE_DIR = Path(__file__).resolve().parent.parent / "knowledge"


class NeedWords(BaseModel):
    """A use-case family: how owners name it and which tool categories serve it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1)
    keywords: tuple[str, ...] = Field(min_length=1)
    categories: tuple[str, ...] = Field(min_length=1)
    # how many of the first categories are proposed when the owner names no kind of tool
    # (1: two tools of that kind to compare, rather than a second kind that may not fit)
    default_kinds: int = Field(default=2, ge=1)
    # what a kind of tool does for this need, when the category's own sentence does not fit
    why: dict[str, str] = Field(default_factory=dict)
    # the topic that answers "c'est légal ?" about this task when no data is named (posts
    # written with AI: the AI Act's labelling, not where data goes)
    permission_topic: str | None = None


class CategoryWords(BaseModel):
    """A tool category: what such a tool brings, and whether it is for developers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    why: str = Field(min_length=1)
    technical: bool = False
    keywords: tuple[str, ...] = ()


class SectorWords(BaseModel):
    """A sector: its menu label, the words that reveal it and the needs owners start with."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    label: str = Field(min_length=1, max_length=40)  # a button of the Telegram profile menu
    keywords: tuple[str, ...] = Field(min_length=1)
    needs: tuple[str, ...] = ()
    # the trade's own name, which also names the owner's adviser: it counts unless a
    # possessive or an article says it is someone else's ("mon comptable me dit")
    trade_words: tuple[str, ...] = ()
    # its owners keep data under a secrecy duty (health, law): asked about their data, they
    # get only tools that keep it in the EU or on their own machines
    sensitive_data: bool = False


class TopicWords(BaseModel):
    """An information topic and the fiches that answer it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keywords: tuple[str, ...] = Field(min_length=1)
    fiches: tuple[str, ...] = ()
    # how owners name the topic itself ("ai act"): every sentence on it may hold the name,
    # so the name does not tell which sentence answers
    names: tuple[str, ...] = ()


class PlanStep(BaseModel):
    """One step of the generic two-week plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: int = Field(ge=1, le=14)
    task: str = Field(min_length=1)


INTENT_CUES = (
    "information",
    "need",
    "follow_up",
    "cheaper",
    "another",
    "out_of_scope",
    "subversion",
    "domain",
)


class DomainVocabulary(BaseModel):
    """Everything the offline advisor knows about words, loaded from vocabulary.yaml."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    needs: dict[str, NeedWords]
    categories: dict[str, CategoryWords]
    sectors: dict[str, SectorWords] = Field(default_factory=dict)
    priorities: dict[str, str] = Field(default_factory=dict)
    intents: dict[str, tuple[str, ...]]
    topics: dict[str, TopicWords] = Field(default_factory=dict)
    # SMS spellings read as the words they stand for ("msg" -> "messages"), on folded words
    abbreviations: dict[str, str] = Field(default_factory=dict)
    # the channels owners write on: a tool named after one is proposed for that channel only
    # when the owner names it, or when no other tool of its kind serves
    channels: tuple[str, ...] = ()
    # products owners name that the catalogue has no card for -> the kind of tool they are
    other_products: dict[str, str] = Field(default_factory=dict)
    generic_pilot: tuple[PlanStep, ...] = Field(min_length=2)

    @property
    def sector_codes(self) -> tuple[str, ...]:
        """Every sector a fiche or a profile may name: the trades, then "tous"."""
        return (*self.sectors, ALL_SECTORS)

    @model_validator(mode="after")
    def _consistent(self) -> DomainVocabulary:
        missing = [cue for cue in INTENT_CUES if cue not in self.intents]
        if missing:
            raise ValueError(f"intents: missing cue lists {', '.join(missing)}")
        for need_id, need in self.needs.items():
            unknown = [c for c in need.categories if c not in self.categories]
            if unknown:
                raise ValueError(f"needs.{need_id}.categories: unknown {', '.join(unknown)}")
        wrong = [n for n, w in self.needs.items() if w.permission_topic not in (None, *self.topics)]
        if wrong:
            raise ValueError(f"needs.{wrong[0]}.permission_topic: unknown topic")
        unknown_kinds = sorted(
            {c for c in self.other_products.values() if c not in self.categories}
        )
        if unknown_kinds:
            raise ValueError(f"other_products: unknown categories {', '.join(unknown_kinds)}")
        if ALL_SECTORS in self.sectors:
            raise ValueError(f"sectors: « {ALL_SECTORS} » is implied, do not declare it")
        named = [*self.priorities.values(), *(n for s in self.sectors.values() for n in s.needs)]
        unknown_needs = sorted({need for need in named if need not in self.needs})
        if unknown_needs:
            raise ValueError(f"priorities/sectors: unknown needs {', '.join(unknown_needs)}")
        return self


def load_domain_vocabulary(knowledge_dir: Path | None = None) -> DomainVocabulary:
    """The vocabulary of a knowledge directory, else the shipped one; ValueError if invalid."""
    path = (knowledge_dir or SHIPPED_KNOWLEDGE_DIR) / VOCABULARY_FILE
    if not path.is_file():
        path = SHIPPED_KNOWLEDGE_DIR / VOCABULARY_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return DomainVocabulary.model_validate(raw)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
