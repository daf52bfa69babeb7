"""A small clean knowledge base in tmp_path, and helpers to break it one field at a time."""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from retrieval.kb_check import Problem, check_knowledge
from retrieval.vocabulary import INTENT_CUES

TODAY = dt.date.today()
READ_ON = TODAY - dt.timedelta(days=10)
FOLDERS = {"tool": "tools", "case": "cases", "guide": "guides", "fact": "facts"}
REMOVE = object()  # MiniBase.replace(..., field=REMOVE) drops the field
SOURCES = [{"title": "Page de l'éditeur", "url": "https://example.org/tarifs"}]


def _common(fiche_id: str, fiche_type: str, category: str, use_cases: list[str]) -> dict[str, Any]:
    return {
        "id": fiche_id,
        "title": fiche_id.split("-", 1)[1].capitalize(),
        "type": fiche_type,
        "sectors": ["tous"],
        "category": category,
        "use_cases": use_cases,
        "as_of": READ_ON,
        "sources": copy.deepcopy(SOURCES),
        "related": [],
    }


def _tool(
    fiche_id: str, category: str, use_cases: list[str], low: float, high: float
) -> dict[str, Any]:
    return {
        **_common(fiche_id, "tool", category, use_cases),
        "vendor": "Éditeur",
        "country": "France",
        "open_weights": False,
        "gdpr": "Hébergement UE, accord de traitement disponible",
        "free_tier": "aucune",
        "hosting": {"region": "eu", "note": "UE (France)"},
        "price_eur_month": {"min": low, "max": high},
        "price_source": "https://example.org/tarifs",
        "price_source_kind": "official",
        "price_read_on": READ_ON,
        "price_tax": "TTC",
    }


def clean_fiches() -> dict[str, dict[str, Any]]:
    """The front matter of a base that passes every check, by fiche id."""
    api = _tool("tool-api", "llm-api", ["automatisation"], 0.5, 3)
    api["price_tax"] = "sans objet"
    api["usd_eur_rate"] = {"rate": 0.9, "on": READ_ON}
    api["model_prices"] = [
        {"model": "mini-chat", "input": 0.2, "output": 0.8, "currency": "USD"},
        {"model": "mini-chat-pro", "input": 2, "output": 6, "currency": "EUR", "note": "grand"},
    ]
    case = {
        **_common("case-boulangerie", "case", "etude-de-cas", ["messages-clients"]),
        "source_kind": "press",
        "tools": ["tool-messagerie"],
        "related": ["guide-pilote-messages"],
    }
    guide = {
        **_common("guide-pilote-messages", "guide", "pilote", ["messages-clients"]),
        "related": ["tool-messagerie", "case-boulangerie"],
        "pilot_template": {
            "use_case": "messages-clients",
            "goal": "Répondre en moins de 15 minutes",
            "kpis": ["délai de réponse", "messages par jour", "temps passé"],
            "budget_eur": 30,
            "steps": [
                {"day": 1, "task": "Mesurer la situation de départ"},
                {"day": 7, "task": "Faire le point"},
                {"day": 14, "task": "Décider go/no-go"},
            ],
        },
    }
    fact = {**_common("fact-modele", "fact", "modele", []), "related": ["tool-api"]}
    fiches = [
        _tool("tool-messagerie", "messagerie", ["messages-clients"], 0, 15),
        api,
        case,
        guide,
        fact,
    ]
    return {str(meta["id"]): meta for meta in fiches}


def vocabulary_data() -> dict[str, Any]:
    """A minimal vocabulary.yaml accepted by the advisor's model."""
    return {
        "needs": {
            "messages-clients": {
                "label": "les messages clients",
                "keywords": ["whatsapp"],
                "categories": ["messagerie"],
            },
            "automatisation": {
                "label": "l'automatisation",
                "keywords": ["workflow"],
                "categories": ["llm-api"],
            },
        },
        "categories": {
            "messagerie": {"why": "Centralise les messages.", "technical": False},
            "llm-api": {"why": "Modèle payé à l'usage.", "technical": True},
        },
        "intents": {cue: ["mot"] for cue in INTENT_CUES},
        "topics": {"modeles": {"keywords": ["modele"], "fiches": ["fact-modele"]}},
        "generic_pilot": [
            {"day": 1, "task": "Mesurer la situation de départ"},
            {"day": 14, "task": "Décider go/no-go"},
        ],
    }


def body(title: str) -> str:
    """A fiche body with a Sources section."""
    return f"# {title}\n\n## L'essentiel\n\nUn texte court.\n\n## Sources\n\n- https://example.org/tarifs\n"


class MiniBase:
    """A knowledge dir under tmp_path: write fiches, break them, check them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.fiches = clean_fiches()
        for meta in self.fiches.values():
            self.write(meta)

    def meta(self, fiche_id: str) -> dict[str, Any]:
        """A deep copy of a clean fiche's front matter, to break."""
        return copy.deepcopy(self.fiches[fiche_id])

    def path(self, fiche_id: str) -> Path:
        """Where the clean fiche `fiche_id` lives."""
        folder = FOLDERS[str(self.fiches[fiche_id]["type"])]
        return self.root / folder / f"{fiche_id}.md"

    def write(
        self, meta: dict[str, Any], *, name: str | None = None, folder: str | None = None
    ) -> Path:
        """Write a fiche (file name: its id, folder: its type's) and return its path."""
        fiche_id = str(meta.get("id", "sans-id"))
        directory = self.root / (folder or FOLDERS.get(str(meta.get("type")), "tools"))
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{name or fiche_id}.md"
        header = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False)
        path.write_text(f"---\n{header}---\n{body(str(meta.get('title', '')))}", encoding="utf-8")
        return path

    def replace(self, fiche_id: str, **changes: Any) -> Path:
        """Rewrite a clean fiche with some fields changed (REMOVE: field dropped)."""
        meta = self.meta(fiche_id)
        for key, value in changes.items():
            if value is REMOVE:
                meta.pop(key, None)
            else:
                meta[key] = value
        return self.write(meta)

    def write_vocabulary(self, data: dict[str, Any] | None = None) -> None:
        """Write vocabulary.yaml (the minimal valid one by default)."""
        text = yaml.safe_dump(data or vocabulary_data(), allow_unicode=True, sort_keys=False)
        (self.root / "vocabulary.yaml").write_text(text, encoding="utf-8")

    def check(self, max_age_days: int = 180) -> list[Problem]:
        """Run the checks as of today."""
        return check_knowledge(self.root, today=TODAY, max_age_days=max_age_days)


@pytest.fixture
def base(tmp_path: Path) -> MiniBase:
    """A clean knowledge base of five fiches (no vocabulary.yaml: README lists apply)."""
    return MiniBase(tmp_path / "knowledge")
