"""Issue 11 §2: a new need, and a new sector, are a change of data only.

A copy of the shipped knowledge base gets a new need, tool category and sector in
vocabulary.yaml, a tool fiche and a pilot guide; the unchanged advisor then answers an
owner's message on that need with the new tool and the new guide's pilot, reads the new
sector from a message, filters on it from a profile, shows it in the Telegram profile menu,
and `pilote-ia kb check` accepts the new files.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from bot.advice import Advice, Profile
from bot.advisor import Advisor
from bot.cli import main
from bot.telegram.keyboards import sector_choices
from retrieval import KnowledgeBase
from retrieval.evaluation import load_questions
from retrieval.kb_check import count_fiches
from retrieval.loader import load_fiches
from retrieval.vocabulary import load_domain_vocabulary
from tests.fakes.embedder import hash_indexed_kb

pytestmark = pytest.mark.slow  # indexes the whole shipped base (~100 fiches)

SHIPPED = Path(__file__).resolve().parents[2] / "knowledge"
QUESTION = "je tombe tout le temps en rupture de stock, que faire ?"
NEW_NEED = {
    "label": "la gestion des stocks",
    "keywords": ["stock", "inventaire", "rupture"],
    "categories": ["stock"],
}
NEW_SECTOR = {
    "label": "Agriculture / viticulture",
    "keywords": ["viticulteur", "vigneron", "maraicher", "agriculteur"],
    "needs": ["gestion-stock"],
}
SECTOR_QUESTION = "Je suis vigneron et j'ai 15 € par mois, par où commencer avec l'IA ?"
STOCK_WHY = "Suit les niveaux de stock et prévient avant la rupture."
NEW_CATEGORY = {
    "why": STOCK_WHY,
    "technical": False,
    "keywords": ["logiciel de stock", "gestion de stock"],
}
TOOL_FICHE = """---
id: tool-stock-malin
title: Stock Malin (suivi des stocks)
type: tool
sectors: [commerce, restauration, agriculture]
category: stock
use_cases: [gestion-stock]
as_of: 2026-11-30
sources:
- title: Stock Malin, page des tarifs (outil fictif des tests)
  url: https://example.org/stock-malin/tarifs
related: [guide-pilote-gestion-stock]
vendor: Stock Malin SAS
country: France
open_weights: false
hosting: {region: eu, note: France}
gdpr: Données de stock seulement, hébergées en France
free_tier: Gratuit jusqu'à 100 références
price_eur_month: {min: 0, max: 19}
price_source: https://example.org/stock-malin/tarifs
price_source_kind: official
price_read_on: 2026-11-30
price_tax: HT
---
# Stock Malin (suivi des stocks)

## Ce que l'outil fait pour une petite entreprise

Stock Malin relie la caisse au stock : chaque vente décompte la référence, et un seuil
d'alerte prévient le gérant avant la rupture. Une prévision simple, fondée sur les ventes
des semaines passées, propose la commande fournisseur à passer.

## Prix

Gratuit jusqu'à 100 références, puis 19 € HT par mois (tarif relevé le 30/11/2026).
"""
GUIDE_FICHE = """---
id: guide-pilote-gestion-stock
title: "Pilote : moins de ruptures de stock"
type: guide
sectors: [commerce, restauration]
category: pilote
use_cases: [gestion-stock]
as_of: 2026-11-30
sources:
- title: Guide interne des tests (fiche fictive)
  url: https://example.org/guide-stock
related: [tool-stock-malin, guide-pilote-deux-semaines]
pilot_template:
  use_case: gestion-stock
  goal: "Diviser par deux les ruptures de stock sur les 20 meilleures ventes"
  kpis:
    - "ruptures par semaine"
    - "minutes passées à l'inventaire"
  budget_eur: 19
  steps:
    - {day: 1, task: "Compter les ruptures de la semaine passée sur les 20 meilleures ventes"}
    - {day: 2, task: "Saisir ces 20 références et leur seuil d'alerte dans l'outil"}
    - {day: 7, task: "Comparer les alertes reçues aux ruptures constatées"}
    - {day: 14, task: "Go/no-go : ruptures divisées par deux, sinon arrêter"}
---
# Pilote : moins de ruptures de stock

## Pour qui, pour quoi

Ce plan sert aux commerces qui découvrent une rupture au moment où le client demande le
produit. Le but : être prévenu avant, sur les références qui comptent le plus.

## Les indicateurs

Au jour 1, comptez les ruptures d'une semaine ; au jour 14, comparez.
"""


@pytest.fixture(scope="module")
def knowledge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the shipped base with the new need, its tool and its pilot guide."""
    root = tmp_path_factory.mktemp("new-need") / "knowledge"
    shutil.copytree(SHIPPED, root)
    vocabulary_file = root / "vocabulary.yaml"
    vocabulary = yaml.safe_load(vocabulary_file.read_text(encoding="utf-8"))
    # the shipped base knows stock management only as a need it has no tool for ("stocks"):
    # the deployer replaces it with their own, served one
    vocabulary["needs"].pop("stocks", None)
    vocabulary["needs"]["gestion-stock"] = NEW_NEED
    vocabulary["categories"]["stock"] = NEW_CATEGORY
    vocabulary["sectors"]["agriculture"] = NEW_SECTOR
    vocabulary_file.write_text(yaml.safe_dump(vocabulary, allow_unicode=True), encoding="utf-8")
    (root / "tools" / "tool-stock-malin.md").write_text(TOOL_FICHE, encoding="utf-8")
    (root / "guides" / "guide-pilote-gestion-stock.md").write_text(GUIDE_FICHE, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def kb(knowledge_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KnowledgeBase]:
    base = hash_indexed_kb(tmp_path_factory.mktemp("new-need-index"), knowledge_dir)
    yield base
    base.close()


async def _advise(kb: KnowledgeBase) -> Advice:
    advisor = Advisor(kb, None)
    try:
        return await advisor.advise(QUESTION)
    finally:
        await advisor.aclose()


@pytest.fixture(scope="module")
def advice(kb: KnowledgeBase) -> Advice:
    """The offline answer to QUESTION, asked once for the module."""
    return asyncio.run(_advise(kb))


async def test_the_new_need_is_understood(kb: KnowledgeBase) -> None:
    advisor = Advisor(kb, None)
    request = advisor.understanding.read(QUESTION)
    await advisor.aclose()
    assert request.intent == "need"
    assert request.need == "gestion-stock" and request.stated_need


def test_the_new_tool_comes_first(advice: Advice) -> None:
    assert advice.intent == "need" and advice.mode == "offline"
    assert advice.tools, advice.answer
    first = advice.tools[0]
    assert first.source == "tool-stock-malin"
    assert first.category == "stock"
    assert first.why.startswith(STOCK_WHY)  # the category's why, from the data
    assert all(tool.category == "stock" for tool in advice.tools)  # no filler


def test_the_answer_names_the_need_and_the_tool(advice: Advice) -> None:
    assert "la gestion des stocks" in advice.answer
    assert "Stock Malin (0 à 19 €/mois)" in advice.answer


def test_the_pilot_comes_from_the_new_guide(advice: Advice) -> None:
    assert advice.pilot is not None
    assert advice.pilot.goal.startswith("Diviser par deux les ruptures de stock")
    assert "ruptures par semaine" in advice.pilot.kpis
    assert any("seuil d'alerte" in step.task for step in advice.pilot.steps)
    assert "guide-pilote-gestion-stock" in [source.id for source in advice.sources]


def test_kb_check_accepts_the_new_files(
    knowledge_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["--env-file", str(tmp_path / "absent.env"), "kb", "check", str(knowledge_dir)])
    lines = capsys.readouterr().out.splitlines()
    assert f"{count_fiches(SHIPPED) + 2} fiches vérifiées dans" in lines[-1]
    new_files = ("vocabulary.yaml", "tool-stock-malin", "guide-pilote-gestion-stock")
    assert [line for line in lines if any(name in line for name in new_files)] == []


def test_kb_check_passes_on_the_base_with_the_new_need(
    knowledge_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--env-file", str(tmp_path / "absent.env"), "kb", "check", str(knowledge_dir)])
    assert code == 0, capsys.readouterr().out


async def test_the_new_sector_is_read_from_a_message(kb: KnowledgeBase) -> None:
    advisor = Advisor(kb, None)
    try:
        request = advisor.understanding.read(SECTOR_QUESTION)
        advice = await advisor.advise(SECTOR_QUESTION)
    finally:
        await advisor.aclose()
    assert request.sector == "agriculture"
    assert advice.tools and advice.tools[0].source == "tool-stock-malin"  # the sector's need


async def test_a_profile_in_the_new_sector_filters_the_search(kb: KnowledgeBase) -> None:
    advisor = Advisor(kb, None)
    try:
        advice = await advisor.advise(QUESTION, profile=Profile(sector="agriculture"))
    finally:
        await advisor.aclose()
    assert [tool.source for tool in advice.tools] == ["tool-stock-malin"]


def test_the_new_sector_is_a_button_of_the_profile_menu(knowledge_dir: Path) -> None:
    choices = sector_choices(load_domain_vocabulary(knowledge_dir))
    assert ("agriculture", "Agriculture / viticulture") in choices
    assert choices[-1] == ("tous", "Autre")


def test_fiches_and_eval_profiles_may_name_the_new_sector(knowledge_dir: Path) -> None:
    fiches, errors = load_fiches(knowledge_dir)
    assert errors == [] and "tool-stock-malin" in {fiche.id for fiche in fiches}
    shipped = knowledge_dir / "eval" / "questions.jsonl"
    first = json.loads(shipped.read_text(encoding="utf-8").splitlines()[0])
    first["profile"] = {"sector": "agriculture"}
    questions = shipped.with_name("one-question.jsonl")  # beside it: same base, same vocabulary
    questions.write_text(json.dumps(first) + "\n", encoding="utf-8")
    profile = load_questions(questions)[0].profile
    assert profile is not None and profile.sector == "agriculture"


def test_a_sector_the_vocabulary_does_not_declare_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "knowledge"
    (root / "tools").mkdir(parents=True)
    (root / "tools" / "tool-stock-malin.md").write_text(
        TOOL_FICHE.replace("agriculture]", "pisciculture]"), encoding="utf-8"
    )
    fiches, errors = load_fiches(root)  # no vocabulary.yaml: the shipped one applies
    assert fiches == []
    assert "secteur inconnu : pisciculture" in errors[0].problem
