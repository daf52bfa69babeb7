"""Lint a knowledge dir: every fiche and knowledge/vocabulary.yaml, one Problem per finding.

Pure: reads files, returns problems, prints nothing. Messages and fixes are French because a
deployer reads them as they are (`pilote-ia kb check`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from retrieval.errors import KnowledgeBaseError
from retrieval.faq_section import format_problems
from retrieval.fiche_schema import (
    FICHE_MODELS,
    PLAN_DAYS_FIX,
    CaseFiche,
    FicheBase,
    GuideFiche,
    ToolFiche,
    fiche_files,
    has_hedge_word,
    plan_days_problem,
    read_front_matter,
    read_yaml_file,
)
from retrieval.text import fold
from retrieval.vocabulary import (
    ALL_SECTORS,
    TYPE_PREFIXES,
    VOCABULARY_FILE,
    DomainVocabulary,
    load_domain_vocabulary,
)

Severity = Literal["error", "warning"]
DEFAULT_MAX_AGE_DAYS = 180
HEADER = "en-tête"

# Used when the knowledge dir has no vocabulary.yaml (the lists of knowledge/README.md).
README_TOOL_CATEGORIES = frozenset({
    "assistant", "llm-api", "image", "video", "avatar-video", "transcription", "comptabilite",
    "messagerie", "automatisation", "site-seo", "traduction", "reservation", "agent",
})  # fmt: skip
README_NEEDS = frozenset({
    "messages-clients", "comptabilite", "contenu-marketing", "visuels-video", "reunions-notes",
    "devis-admin", "automatisation",
})  # fmt: skip
# Categories of cases, guides and facts (vocabulary.yaml only lists tool categories).
OTHER_CATEGORIES = frozenset({
    "etude-de-cas", "pilote", "choix-fournisseur", "reglementation", "aides", "roi",
    "formation", "modele", "correction",
})  # fmt: skip
FOLDER_TYPES = {"tools": "tool", "cases": "case", "guides": "guide", "facts": "fact"}
LLM_API = "llm-api"

_ID_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_GO_NO_GO = re.compile(r"go\s*/\s*no[- ]?go|decision|decider", re.IGNORECASE)
_UNCHECKED_WORDS = ("verifier", "confirmer")
_PRICE_PROVENANCE = (
    ("price_source", "l'adresse de la page où il a été lu"),
    ("price_source_kind", "le type de source (official ou third-party)"),
    ("price_read_on", "la date de lecture"),
    ("price_tax", "la mention HT, TTC ou « sans objet »"),
)

# How to write each field, keyed by its path without list indexes (vocabulary keys dropped).
FIELD_HELP = {
    "id": "id: tool-mon-outil (le nom du fichier sans .md)",
    "title": 'title: "Nom affiché"',
    "type": "type: tool, case, guide ou fact",
    "sectors": "sectors: [tous] (une liste de secteurs)",
    "category": "category: une catégorie du vocabulaire",
    "use_cases": "use_cases: [messages-clients] (une liste, vide possible : [])",
    "as_of": "as_of: 2026-11-23 (date de vérification des faits)",
    "sources": 'sources: puis une ligne « - {title: "…", url: https://…} » par source',
    "sources.title": 'title: "Titre de la page"',
    "sources.url": "url: https://… (ou seed:<fichier> pour un article d'origine)",
    "related": "related: [guide-…, tool-…] (ids de fiches existantes)",
    "vendor": 'vendor: "Éditeur"',
    "country": 'country: "France"',
    "open_weights": "open_weights: true ou false",
    "gdpr": 'gdpr: "ce que l\'outil implique pour le RGPD, en une ligne"',
    "free_tier": 'free_tier: "ce que donne l\'offre gratuite" (ou "aucune")',
    "hosting": 'hosting: {region: eu, note: "UE (France)"}',
    "hosting.region": "region: eu, outside-eu, self-hostable ou mixed",
    "hosting.note": 'note: "où les données sont traitées, en une ligne"',
    "price_eur_month": "price_eur_month: {min: 0, max: 15} (euros par mois) ou null",
    "price_eur_month.min": "min: 0 (euros par mois, un nombre)",
    "price_eur_month.max": "max: 15 (euros par mois, un nombre)",
    "price_unknown": 'price_unknown: "sur devis" ou "non publié"',
    "price_note": 'price_note: "par utilisateur, engagement annuel"',
    "price_source": "price_source: https://… (la page de tarifs lue)",
    "price_source_kind": "price_source_kind: official (page de l'éditeur) ou third-party",
    "price_read_on": "price_read_on: 2026-11-23 (jour où la page a été lue)",
    "price_tax": 'price_tax: HT, TTC ou "sans objet"',
    "usd_eur_rate": "usd_eur_rate: {rate: 0.92, on: 2026-11-23}",
    "usd_eur_rate.rate": "rate: 0.92 (euros pour un dollar)",
    "usd_eur_rate.on": "on: 2026-11-23 (date du taux)",
    "unit_prices": "unit_prices: {per_image_usd: 0.03} (des nombres)",
    "model_prices": "model_prices: puis « - {model: …, input: 0.28, output: 0.42, currency: USD} »",
    "model_prices.model": "model: le nom du modèle dans l'API",
    "model_prices.input": "input: prix par million de tokens en entrée (un nombre)",
    "model_prices.output": "output: prix par million de tokens en sortie (un nombre)",
    "model_prices.currency": "currency: USD (avec usd_eur_rate) ou EUR, après conversion",
    "model_prices.note": 'note: "précision sur ce prix"',
    "aliases": "aliases: [autre nom] (noms que les clients emploient)",
    "not_with": "not_with: [automatisation] (catégories d'outils incompatibles)",
    "source_kind": "source_kind: official, press, vendor, marketing ou illustrative",
    "tools": "tools: [tool-…] (ids d'outils du catalogue)",
    "city": 'city: "Bordeaux"',
    "sourced": "sourced: true ou false (source_kind le remplace)",
    "pilot_template": "pilot_template: {use_case, goal, kpis, budget_eur, steps}",
    "pilot_template.use_case": "use_case: un besoin du vocabulaire",
    "pilot_template.goal": 'goal: "objectif mesurable"',
    "pilot_template.kpis": 'kpis: ["indicateur 1", "indicateur 2"]',
    "pilot_template.budget_eur": "budget_eur: 50 (euros, un nombre)",
    "pilot_template.steps": 'steps: « - {day: 1, task: "…"} » … « - {day: 14, task: "…"} »',
    "pilot_template.steps.day": "day: un entier de 1 à 14",
    "pilot_template.steps.task": 'task: "ce qu\'il faut faire ce jour-là"',
    "vocabulary.needs": "needs: {mon-besoin: {label, keywords, categories}}",
    "vocabulary.needs.label": 'label: "les messages clients"',
    "vocabulary.needs.keywords": "keywords: [mot, autre mot]",
    "vocabulary.needs.categories": "categories: [catégorie d'outil, …]",
    "vocabulary.categories": "categories: {ma-categorie: {why, technical}}",
    "vocabulary.categories.why": 'why: "ce que cette catégorie apporte"',
    "vocabulary.categories.technical": "technical: true ou false",
    "vocabulary.topics.keywords": "keywords: [mot, autre mot]",
    "vocabulary.sectors": "sectors: {mon-secteur: {keywords, needs}}",
    "vocabulary.sectors.keywords": "keywords: [mot, autre mot]",
    "vocabulary.sectors.needs": "needs: [besoin, …]",
    "vocabulary.priorities": "priorities: {code: besoin}",
    "vocabulary.topics.fiches": "fiches: [id de fiche, …]",
    "vocabulary.generic_pilot": 'generic_pilot: « - {day: 1, task: "…"} » … jusqu\'au jour 14',
    "vocabulary.generic_pilot.day": "day: un entier de 1 à 14",
    "vocabulary.generic_pilot.task": 'task: "ce qu\'il faut faire ce jour-là"',
}
_KEYED_SECTIONS = ("needs", "categories", "topics", "sectors", "intents", "priorities")

_TYPE_MESSAGES = {
    "missing": "champ obligatoire absent",
    "string_type": "doit être un texte",
    "string_too_short": "ne doit pas être vide",
    "too_short": "ne doit pas être vide",
    "bool_type": "doit valoir true ou false",
    "int_type": "doit être un nombre entier",
    "int_parsing": "doit être un nombre entier",
    "int_from_float": "doit être un nombre entier",
    "float_type": "doit être un nombre",
    "float_parsing": "doit être un nombre",
    "list_type": "doit être une liste [a, b]",
    "dict_type": "doit être un bloc de champs « clé: valeur »",
    "model_type": "doit être un bloc de champs « clé: valeur »",
    "model_attributes_type": "doit être un bloc de champs « clé: valeur »",
    "extra_forbidden": "champ inconnu à cet endroit",
}


@dataclass(frozen=True)
class Problem:
    """One finding: which file and field, how bad, what is wrong and how to fix it (French)."""

    file: str
    field: str
    severity: Severity
    message: str
    fix: str


@dataclass(frozen=True)
class _Vocab:
    needs: frozenset[str]
    tool_categories: frozenset[str]
    origin: str
    sectors: frozenset[str]


@dataclass(frozen=True)
class _Entry:
    rel: str
    path: Path
    meta: dict[str, Any]
    fiche: FicheBase | None


def check_knowledge(
    knowledge_dir: Path, *, today: dt.date, max_age_days: int = DEFAULT_MAX_AGE_DAYS
) -> list[Problem]:
    """Every problem of the fiches and vocabulary under `knowledge_dir`, sorted by file."""
    problems: list[Problem] = []
    vocab, vocabulary = _load_vocabulary(knowledge_dir, problems)
    entries = _read_fiches(knowledge_dir, problems)
    if not entries and not problems:
        problems.append(
            _error(
                ".",
                "fiches",
                "aucune fiche .md trouvée (dossier absent ou vide)",
                "indiquer le dossier de la base, celui qui contient tools/, "
                "cases/, guides/, facts/",
            )
        )
    ids = _known_ids(entries, problems)
    for entry in entries:
        problems += _identity(entry)
        problems += _legacy_fields(entry)
        if entry.fiche is not None:
            problems += _fiche_rules(entry, entry.fiche, vocab, ids, today, max_age_days)
    problems += _unreached_tools(entries)
    if vocabulary is not None:
        problems += _vocabulary_links(vocabulary, ids)
    return sorted(problems, key=lambda p: p.file)


def count_fiches(knowledge_dir: Path) -> int:
    """How many fiche files `check_knowledge` reads."""
    return len(fiche_files(knowledge_dir))


def _error(file: str, field: str, message: str, fix: str) -> Problem:
    return Problem(file, field, "error", message, fix)


def _warning(file: str, field: str, message: str, fix: str) -> Problem:
    return Problem(file, field, "warning", message, fix)


def _load_vocabulary(
    knowledge_dir: Path, problems: list[Problem]
) -> tuple[_Vocab, DomainVocabulary | None]:
    """Validate vocabulary.yaml with the advisor's own model; fall back to README lists."""
    path = knowledge_dir / VOCABULARY_FILE
    # without a file of its own, a base's fiches name the shipped vocabulary's sectors (none
    # when the shipped file is the broken one being checked: its error is reported below)
    try:
        shipped_sectors = frozenset(load_domain_vocabulary().sector_codes)
    except ValueError:
        shipped_sectors = frozenset({ALL_SECTORS})
    fallback = _Vocab(README_NEEDS, README_TOOL_CATEGORIES, "knowledge/README.md", shipped_sectors)
    if not path.is_file():
        return fallback, None
    try:
        raw = read_yaml_file(path)
    except KnowledgeBaseError as exc:
        problems.append(_error(VOCABULARY_FILE, HEADER, exc.problem, _yaml_fix(exc.problem)))
        return fallback, None
    try:
        vocabulary = DomainVocabulary.model_validate(raw)
    except ValidationError as exc:
        problems += _schema_problems(VOCABULARY_FILE, exc, vocabulary_file=True)
        # Keep checking fiches against whatever names the file declares.
        needs, categories = raw.get("needs"), raw.get("categories")
        sectors = raw.get("sectors")
        declared = _Vocab(
            frozenset(needs) if isinstance(needs, dict) else fallback.needs,
            frozenset(categories) if isinstance(categories, dict) else fallback.tool_categories,
            VOCABULARY_FILE,
            frozenset([*sectors, ALL_SECTORS]) if isinstance(sectors, dict) else shipped_sectors,
        )
        return declared, None
    return _Vocab(
        frozenset(vocabulary.needs),
        frozenset(vocabulary.categories),
        VOCABULARY_FILE,
        frozenset(vocabulary.sector_codes),
    ), vocabulary


def _yaml_fix(problem: str) -> str:
    if "YAML illisible" in problem:
        return (
            "corriger la syntaxe YAML à la ligne indiquée (mettre entre guillemets un texte "
            "qui contient « : » ou commence par un caractère spécial)"
        )
    return (
        "commencer le fichier par une ligne ---, puis les champs « clé: valeur », puis une "
        "ligne --- (voir knowledge/README.md)"
    )


def _read_fiches(knowledge_dir: Path, problems: list[Problem]) -> list[_Entry]:
    entries = []
    for path in fiche_files(knowledge_dir):
        rel = path.relative_to(knowledge_dir).as_posix()
        try:
            meta = read_front_matter(path)
        except KnowledgeBaseError as exc:
            problems.append(_error(rel, HEADER, exc.problem, _yaml_fix(exc.problem)))
            continue
        model = FICHE_MODELS.get(meta["type"]) if isinstance(meta.get("type"), str) else None
        fiche = None
        if model is not None:
            try:
                fiche = model.model_validate(meta)
            except ValidationError as exc:
                problems += _schema_problems(rel, exc)
        entries.append(_Entry(rel, path, meta, fiche))
    return entries


def _schema_problems(
    rel: str, exc: ValidationError, *, vocabulary_file: bool = False
) -> list[Problem]:
    """French lines for pydantic's errors."""
    problems = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        field = _field_name(loc)
        help_text = FIELD_HELP.get(_help_key(loc, vocabulary_file))
        value = error.get("input")
        kind = error["type"]
        ctx = error.get("ctx") or {}
        if kind.startswith("kb_"):
            message, fix = error["msg"], str(ctx.get("fix", ""))
        elif kind == "value_error":  # a consistency rule of the vocabulary model
            message = f"incohérence : {error['msg'].removeprefix('Value error, ')}"
            fix = "corriger le nom cité, ou le déclarer dans sa section (docs/data-formats.md §3)"
        elif isinstance(value, str) and has_hedge_word(value):
            message = f"« {value} » est une approximation, pas une valeur"
            fix = f"écrire « {help_text} »" if help_text else "écrire la valeur exacte"
        else:
            message = _type_message(kind, value, ctx, error["msg"])
            fix = _type_fix(kind, help_text)
        problems.append(_error(rel, field, message, fix))
    return problems


def _field_name(loc: tuple[int | str, ...]) -> str:
    """('sources', 0, 'url') -> 'sources[1].url' (positions counted from 1 for people)."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part + 1}]"
        else:
            name += f".{part}" if name else str(part)
    return name or HEADER


def _help_key(loc: tuple[int | str, ...], vocabulary_file: bool) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if not vocabulary_file:
        return ".".join(parts)
    if len(parts) > 2 and parts[0] in _KEYED_SECTIONS:
        del parts[1]  # needs.<name>.label -> needs.label
    return "vocabulary." + ".".join(parts)


def _shown(value: object) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "…"


def _type_message(kind: str, value: object, ctx: dict[str, Any], raw: str) -> str:
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind == "literal_error":
        return f"valeur « {_shown(value)} » non admise"
    if kind == "string_pattern_mismatch":
        return f"« {_shown(value)} » n'a pas la forme attendue"
    if kind == "greater_than_equal":
        return f"{_shown(value)} est trop petit (minimum {ctx.get('ge')})"
    if kind == "greater_than":
        return f"{_shown(value)} doit être supérieur à {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"{_shown(value)} est trop grand (maximum {ctx.get('le')})"
    return f"valeur invalide ({raw})"


def _type_fix(kind: str, help_text: str | None) -> str:
    if kind == "extra_forbidden":
        return "vérifier l'orthographe (voir knowledge/README.md) ou supprimer ce champ"
    if help_text is None:
        return "voir le format dans knowledge/README.md"
    return f"ajouter « {help_text} »" if kind == "missing" else f"écrire « {help_text} »"


def _known_ids(entries: list[_Entry], problems: list[Problem]) -> dict[str, str]:
    """Fiche id -> type, from every readable front matter; duplicates reported."""
    ids: dict[str, str] = {}
    owners: dict[str, str] = {}
    for entry in entries:
        fiche_id = entry.meta.get("id")
        if not isinstance(fiche_id, str):
            continue
        if fiche_id in owners:
            problems.append(
                _error(
                    entry.rel,
                    "id",
                    f"« {fiche_id} » est déjà l'id de {owners[fiche_id]}",
                    "choisir un id unique et renommer le fichier en conséquence",
                )
            )
            continue
        owners[fiche_id] = entry.rel
        ids[fiche_id] = str(entry.meta.get("type", ""))
    return ids


def _identity(entry: _Entry) -> list[Problem]:
    """Type known and matching the folder; id well formed, prefixed and equal to the file name."""
    return _type_problems(entry) + _id_problems(entry)


def _type_problems(entry: _Entry) -> list[Problem]:
    rel, fiche_type = entry.rel, entry.meta.get("type")
    problems = []
    if fiche_type is None:
        problems.append(
            _error(rel, "type", "champ obligatoire absent", f"ajouter « {FIELD_HELP['type']} »")
        )
    elif fiche_type not in FICHE_MODELS:
        problems.append(
            _error(
                rel,
                "type",
                f"type « {_shown(fiche_type)} » inconnu",
                f"écrire « {FIELD_HELP['type']} »",
            )
        )
    folder_type = FOLDER_TYPES.get(entry.path.parent.name)
    if fiche_type in FICHE_MODELS and folder_type and fiche_type != folder_type:
        problems.append(
            _error(
                rel,
                "type",
                f"une fiche « {fiche_type} » dans le dossier {entry.path.parent.name}/",
                f"écrire type: {folder_type}, ou déplacer le fichier dans le bon dossier",
            )
        )
    return problems


def _id_problems(entry: _Entry) -> list[Problem]:
    rel, fiche_type, fiche_id = entry.rel, entry.meta.get("type"), entry.meta.get("id")
    if not isinstance(fiche_id, str):
        return []  # the schema already says the id is missing or not a text
    problems = []
    stem = entry.path.stem
    if not _ID_PATTERN.match(fiche_id):
        problems.append(
            _error(
                rel,
                "id",
                f"« {fiche_id} » : seulement minuscules sans accent, chiffres et tirets",
                f"écrire id: {_slug(fiche_id)}",
            )
        )
    elif fiche_type in TYPE_PREFIXES and not fiche_id.startswith(TYPE_PREFIXES[fiche_type]):
        problems.append(
            _error(
                rel,
                "id",
                f"« {fiche_id} » ne commence pas par "
                f"« {TYPE_PREFIXES[fiche_type]} » (type {fiche_type})",
                f"écrire id: {TYPE_PREFIXES[fiche_type]}{fiche_id} et renommer le fichier pareil",
            )
        )
    if fiche_id != stem:
        problems.append(
            _error(
                rel,
                "id",
                f"« {fiche_id} » ne correspond pas au nom du fichier « {entry.path.name} »",
                f"renommer le fichier en {fiche_id}.md, ou écrire id: {stem}",
            )
        )
    return problems


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", fold(text)).strip("-") or "mon-id"


def _legacy_fields(entry: _Entry) -> list[Problem]:
    if "data_hosting" not in entry.meta:
        return []
    return [
        _error(
            entry.rel,
            "data_hosting",
            "ancien champ en texte libre, remplacé par hosting",
            "supprimer data_hosting et écrire hosting: {region: eu | outside-eu | "
            'self-hostable | mixed, note: "…"}',
        )
    ]


def _fiche_rules(
    entry: _Entry,
    fiche: FicheBase,
    vocab: _Vocab,
    ids: dict[str, str],
    today: dt.date,
    max_age_days: int,
) -> list[Problem]:
    problems = _vocabulary_terms(entry.rel, fiche, vocab)
    problems += _dates(entry.rel, fiche, today, max_age_days)
    problems += _links(entry.rel, fiche, ids)
    problems += _unknown_fields(entry.rel, entry.meta, type(fiche))
    problems += _faq_problems(entry)
    if isinstance(fiche, ToolFiche):
        problems += _price_rules(entry.rel, fiche)
        problems += _model_price_rules(entry.rel, fiche)
    if isinstance(fiche, GuideFiche) and fiche.pilot_template is not None:
        template = fiche.pilot_template
        if template.use_case not in vocab.needs:
            problems.append(
                _error(
                    entry.rel,
                    "pilot_template.use_case",
                    f"besoin « {template.use_case} » inconnu",
                    f"choisir parmi : {_choices(vocab.needs)} ({vocab.origin})",
                )
            )
        problems += _decision_step(entry.rel, "pilot_template.steps", template.steps[-1].task)
    return problems


def _faq_problems(entry: _Entry) -> list[Problem]:
    """The "Questions fréquentes" section must parse into questions and short answers."""
    body = entry.path.read_text(encoding="utf-8")
    return [
        _error(
            entry.rel,
            "Questions fréquentes",
            problem,
            "un ou plusieurs titres « ### question ? » suivis d'un paragraphe de réponse "
            "(docs/data-formats.md)",
        )
        for problem in format_problems(body)
    ]


def _choices(values: Iterable[str]) -> str:
    return ", ".join(sorted(values))


def _vocabulary_terms(rel: str, fiche: FicheBase, vocab: _Vocab) -> list[Problem]:
    """Sectors, category, use cases (and a tool's not_with) are names the vocabularies know."""
    is_tool = isinstance(fiche, ToolFiche)
    categories = vocab.tool_categories if is_tool else OTHER_CATEGORIES
    origin = vocab.origin if is_tool else "knowledge/README.md"
    checks = [
        ("sectors", fiche.sectors, vocab.sectors, VOCABULARY_FILE, "secteur"),
        ("category", [fiche.category], categories, origin, "catégorie"),
        ("use_cases", fiche.use_cases, vocab.needs, vocab.origin, "besoin"),
    ]
    if isinstance(fiche, ToolFiche):
        checks.append(
            ("not_with", fiche.not_with, vocab.tool_categories, vocab.origin, "catégorie")
        )
    problems = []
    for field, names, allowed, where, kind in checks:
        unknown = [name for name in names if name not in allowed]
        if unknown:
            message = f"{kind} inconnu{'e' if kind == 'catégorie' else ''} : {', '.join(unknown)}"
            fix = f"choisir parmi : {_choices(allowed)} ({where})"
            problems.append(_error(rel, field, message, fix))
    return problems


def _dates(rel: str, fiche: FicheBase, today: dt.date, max_age_days: int) -> list[Problem]:
    dated: list[tuple[str, dt.date | None]] = [("as_of", fiche.as_of)]
    if isinstance(fiche, ToolFiche):
        dated.append(("price_read_on", fiche.price_read_on))
        dated.append(("usd_eur_rate.on", fiche.usd_eur_rate.on if fiche.usd_eur_rate else None))
    problems = [
        _error(
            rel,
            field,
            f"date dans le futur ({day.isoformat()})",
            "écrire le jour où l'information a réellement été vérifiée",
        )
        for field, day in dated
        if day is not None and day > today
    ]
    age = (today - fiche.as_of).days
    if age > max_age_days:
        problems.append(
            _warning(
                rel,
                "as_of",
                f"fiche périmée : vérifiée il y a {age} jours (plus de {max_age_days})",
                "revérifier faits et prix à la source, puis mettre la date du jour dans as_of",
            )
        )
    return problems


def _links(rel: str, fiche: FicheBase, ids: dict[str, str]) -> list[Problem]:
    problems = []
    dangling = [r for r in fiche.related if r not in ids]
    if dangling:
        problems.append(
            _error(
                rel,
                "related",
                f"id inexistant : {', '.join(dangling)}",
                "corriger l'id (nom du fichier sans .md) ou créer la fiche",
            )
        )
    if isinstance(fiche, CaseFiche):
        not_tools = [t for t in fiche.tools if ids.get(t) != "tool"]
        if not_tools:
            problems.append(
                _error(
                    rel,
                    "tools",
                    f"pas un outil du catalogue : {', '.join(not_tools)}",
                    "citer des ids de fiches tools/ (tool-…) existantes",
                )
            )
    return problems


def _unknown_fields(rel: str, meta: dict[str, Any], model: type[FicheBase]) -> list[Problem]:
    known = set(model.model_fields) | {"data_hosting"}
    return [
        _warning(
            rel,
            key,
            "champ inconnu, ignoré par pilote-ia",
            "vérifier l'orthographe (voir knowledge/README.md) ou supprimer ce champ",
        )
        for key in meta
        if key not in known
    ]


def _price_rules(rel: str, tool: ToolFiche) -> list[Problem]:
    """A price is either sourced (page, kind, date, tax) or null with the reason."""
    problems = []
    if tool.price_eur_month is None:
        if tool.price_unknown is None:
            problems.append(
                _error(
                    rel,
                    "price_unknown",
                    "prix null sans raison",
                    f"ajouter « {FIELD_HELP['price_unknown']} »",
                )
            )
    else:
        problems += [
            _error(rel, field, f"prix donné sans {what}", f"ajouter « {FIELD_HELP[field]} »")
            for field, what in _PRICE_PROVENANCE
            if getattr(tool, field) is None
        ]
        if tool.price_unknown is not None:
            problems.append(
                _warning(
                    rel,
                    "price_unknown",
                    "présent alors qu'un prix est donné",
                    "supprimer price_unknown, ou écrire price_eur_month: null si "
                    "le prix n'est pas publié",
                )
            )
    if tool.price_unknown is not None and _unchecked(tool.price_unknown):
        problems.append(
            _error(
                rel,
                "price_unknown",
                f"« {tool.price_unknown} » n'est pas une raison",
                f"écrire « {FIELD_HELP['price_unknown']} »",
            )
        )
    if tool.price_note is not None and _unchecked(tool.price_note):
        problems.append(
            _warning(
                rel,
                "price_note",
                "prix présenté comme non vérifié",
                "relever le prix sur la page de l'éditeur, ou écrire "
                "price_eur_month: null avec price_unknown",
            )
        )
    return problems


def _unchecked(text: str) -> bool:
    folded = fold(text)
    return any(word in folded for word in _UNCHECKED_WORDS)


def _model_price_rules(rel: str, tool: ToolFiche) -> list[Problem]:
    """Token prices: only on llm-api cards, one line per model, dollars need a rate."""
    problems = []
    if tool.model_prices and tool.category != LLM_API:
        problems.append(
            _warning(
                rel,
                "model_prices",
                "ignoré hors de la catégorie llm-api",
                "supprimer model_prices, ou écrire category: llm-api",
            )
        )
    elif (
        tool.category == LLM_API
        and not tool.model_prices
        and tool.price_eur_month is not None
        and tool.price_eur_month.max > 0
    ):
        problems.append(
            _warning(
                rel,
                "model_prices",
                "aucun prix par modèle : le coût des appels à cette API sera compté 0",
                f"ajouter « {FIELD_HELP['model_prices']} »",
            )
        )
    models = [fold(entry.model) for entry in tool.model_prices]
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        problems.append(
            _error(
                rel,
                "model_prices",
                f"modèle listé deux fois : {', '.join(repeated)}",
                "garder une seule ligne par modèle",
            )
        )
    in_dollars = any(entry.currency == "USD" for entry in tool.model_prices)
    if in_dollars and tool.usd_eur_rate is None:
        problems.append(
            _error(
                rel,
                "usd_eur_rate",
                "prix en dollars sans taux de conversion",
                f"ajouter « {FIELD_HELP['usd_eur_rate']} »",
            )
        )
    elif tool.usd_eur_rate is None and any("usd" in key for key in tool.unit_prices):
        problems.append(
            _warning(
                rel,
                "usd_eur_rate",
                "unit_prices en dollars sans taux de conversion",
                f"ajouter « {FIELD_HELP['usd_eur_rate']} »",
            )
        )
    return problems


def _decision_step(rel: str, field: str, last_task: str) -> list[Problem]:
    if _GO_NO_GO.search(fold(last_task)):
        return []
    return [
        _warning(
            rel,
            field,
            "la dernière étape (jour 14) n'est pas la décision go/no-go",
            'finir par « {day: 14, task: "Décider go/no-go : …"} »',
        )
    ]


def _str_list(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _unreached_tools(entries: list[_Entry]) -> list[Problem]:
    """Tools with no use case that no guide or case cites: the advisor never proposes them."""
    reached: set[str] = set()
    for entry in entries:
        if entry.meta.get("type") in ("guide", "case"):
            reached.update(_str_list(entry.meta.get("related")))
            reached.update(_str_list(entry.meta.get("tools")))
    return [
        _warning(
            entry.rel,
            "use_cases",
            "aucun besoin ni guide ne mène à cet outil : le conseiller ne le proposera jamais",
            "ajouter un besoin dans use_cases, ou "
            "citer l'outil dans related d'un guide ou tools d'un cas",
        )
        for entry in entries
        if isinstance(entry.fiche, ToolFiche)
        and not entry.fiche.use_cases
        and entry.fiche.id not in reached
    ]


def _vocabulary_links(vocabulary: DomainVocabulary, ids: dict[str, str]) -> list[Problem]:
    """Topics name fiches that exist; the generic plan runs from day 1 to day 14."""
    problems = []
    for name, topic in vocabulary.topics.items():
        dangling = [f for f in topic.fiches if f not in ids]
        if dangling:
            problems.append(
                _error(
                    VOCABULARY_FILE,
                    f"topics.{name}.fiches",
                    f"id inexistant : {', '.join(dangling)}",
                    "corriger l'id (nom du fichier sans .md) ou créer la fiche",
                )
            )
    steps = vocabulary.generic_pilot
    days_problem = plan_days_problem([step.day for step in steps])
    if days_problem is not None:
        problems.append(_error(VOCABULARY_FILE, "generic_pilot", days_problem, PLAN_DAYS_FIX))
    if steps:
        problems += _decision_step(VOCABULARY_FILE, "generic_pilot", steps[-1].task)
    return problems
