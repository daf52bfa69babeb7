"""retrieval.kb_check on small broken bases: each check fires with a clear French line."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from retrieval.kb_check import Problem, check_knowledge
from tests.knowledge.conftest import REMOVE, TODAY, MiniBase, vocabulary_data

FUTURE = TODAY + dt.timedelta(days=3)


def find(problems: list[Problem], file: str, field: str) -> Problem:
    """The one problem about `field` of `file`; fails with every problem listed otherwise."""
    matches = [p for p in problems if p.file == file and p.field == field]
    assert len(matches) == 1, f"expected one problem on {file} · {field}, got {problems}"
    return matches[0]


def errors(problems: list[Problem]) -> list[Problem]:
    """Only the errors."""
    return [p for p in problems if p.severity == "error"]


TOOL = "tools/tool-messagerie.md"
API = "tools/tool-api.md"
CASE = "cases/case-boulangerie.md"
GUIDE = "guides/guide-pilote-messages.md"


def test_clean_base_has_no_problem(base: MiniBase) -> None:
    assert base.check() == []


def test_clean_base_with_a_vocabulary_file_has_no_problem(base: MiniBase) -> None:
    base.write_vocabulary()
    assert base.check() == []


# --- Front matter --------------------------------------------------------------------------


def test_missing_front_matter(base: MiniBase) -> None:
    base.path("fact-modele").write_text("# Modèle\n\nPas d'en-tête.\n", encoding="utf-8")
    problem = find(base.check(), "facts/fact-modele.md", "en-tête")
    assert problem.severity == "error"
    assert "en-tête YAML absent" in problem.message and "---" in problem.fix


def test_unclosed_and_unreadable_front_matter(base: MiniBase) -> None:
    base.path("fact-modele").write_text("---\nid: fact-modele\n# Modèle\n", encoding="utf-8")
    base.path("tool-api").write_text("---\nid: tool-api\ntitle: [oups\n---\n# Api\n", "utf-8")
    problems = base.check()
    assert "non fermé" in find(problems, "facts/fact-modele.md", "en-tête").message
    unreadable = find(problems, API, "en-tête")
    assert "YAML illisible (ligne" in unreadable.message and "guillemets" in unreadable.fix


def test_missing_required_field_per_type(base: MiniBase) -> None:
    base.replace("tool-messagerie", vendor=REMOVE)
    base.replace("case-boulangerie", sources=REMOVE)
    problems = base.check()
    vendor = find(problems, TOOL, "vendor")
    assert (vendor.severity, vendor.message) == ("error", "champ obligatoire absent")
    assert vendor.fix == 'ajouter « vendor: "Éditeur" »'
    assert find(problems, CASE, "sources").message == "champ obligatoire absent"


def test_wrong_types(base: MiniBase) -> None:
    base.replace("tool-messagerie", open_weights="oui", sectors="tous")
    problems = base.check()
    assert find(problems, TOOL, "open_weights").message == "doit valoir true ou false"
    assert find(problems, TOOL, "sectors").message == "doit être une liste [a, b]"


def test_source_url_must_be_a_web_address(base: MiniBase) -> None:
    base.replace("fact-modele", sources=[{"title": "Blog", "url": "www.exemple.fr"}])
    problem = find(base.check(), "facts/fact-modele.md", "sources[1].url")
    assert "www.exemple.fr" in problem.message and "https://" in problem.fix


def test_unknown_type_and_type_in_the_wrong_folder(base: MiniBase) -> None:
    base.write({**base.meta("fact-modele"), "type": "note"}, folder="facts")
    base.write({**base.meta("tool-api"), "type": "fact", "id": "fact-api"}, folder="tools")
    problems = base.check()
    assert "type « note » inconnu" in find(problems, "facts/fact-modele.md", "type").message
    folder = [p for p in problems if p.file == "tools/fact-api.md" and p.field == "type"]
    assert folder and "dans le dossier tools/" in folder[0].message


# --- Ids and links -------------------------------------------------------------------------


def test_id_must_match_file_name_and_prefix(base: MiniBase) -> None:
    base.write({**base.meta("tool-api"), "id": "tool-autre"}, name="tool-api")
    base.write({**base.meta("fact-modele"), "id": "modele"}, name="modele")
    base.write({**base.meta("fact-modele"), "id": "fact-Modèle"}, name="fact-modele")
    problems = base.check()
    mismatch = find(problems, API, "id")
    assert "ne correspond pas au nom du fichier « tool-api.md »" in mismatch.message
    assert "renommer le fichier en tool-autre.md" in mismatch.fix
    prefix = find(problems, "facts/modele.md", "id")
    assert "ne commence pas par « fact- »" in prefix.message and "fact-modele" in prefix.fix
    pattern = [p for p in problems if p.file == "facts/fact-modele.md" and p.field == "id"]
    assert "minuscules" in pattern[0].message and "fact-modele" in pattern[0].fix


def test_duplicate_id(base: MiniBase) -> None:
    base.write(base.meta("fact-modele"), name="fact-modele-bis")
    problems = base.check()
    duplicate = [p for p in problems if "déjà l'id de" in p.message]
    assert len(duplicate) == 1 and duplicate[0].field == "id"
    files = {duplicate[0].file, duplicate[0].message.rsplit(" ", 1)[-1]}
    assert files == {"facts/fact-modele.md", "facts/fact-modele-bis.md"}


def test_related_and_case_tools_must_exist(base: MiniBase) -> None:
    base.replace("case-boulangerie", related=["guide-absent"], tools=["tool-absent", "fact-modele"])
    problems = base.check()
    assert find(problems, CASE, "related").message == "id inexistant : guide-absent"
    tools = find(problems, CASE, "tools")
    assert tools.message == "pas un outil du catalogue : tool-absent, fact-modele"


def test_tool_no_guide_or_need_reaches_is_a_warning(base: MiniBase) -> None:
    base.replace("tool-api", use_cases=[])
    problem = find(base.check(), API, "use_cases")
    assert problem.severity == "warning"
    assert "ne le proposera jamais" in problem.message and "related d'un guide" in problem.fix
    base.replace("fact-modele", related=[])  # a fact citing it does not count either
    base.replace("guide-pilote-messages", related=["tool-api"])
    assert base.check() == []


# --- Vocabularies --------------------------------------------------------------------------


def test_sector_category_and_use_case_from_readme_lists(base: MiniBase) -> None:
    base.replace(
        "tool-messagerie", sectors=["boulangerie"], category="chatbot", use_cases=["rendez-vous"]
    )
    base.replace("fact-modele", category="messagerie")  # a tool category, not a fact one
    problems = base.check()
    assert find(problems, TOOL, "sectors").message == "secteur inconnu : boulangerie"
    category = find(problems, TOOL, "category")
    assert category.message == "catégorie inconnue : chatbot"
    assert "knowledge/README.md" in category.fix
    assert "messagerie" in category.fix
    use_case = find(problems, TOOL, "use_cases")
    assert use_case.message == "besoin inconnu : rendez-vous"
    assert "facts/fact-modele.md" in {p.file for p in problems if p.field == "category"}


def test_not_with_names_tool_categories_and_aliases_are_texts(base: MiniBase) -> None:
    base.replace("tool-messagerie", not_with=["automatisation", "robots"], aliases=["chat"])
    not_with = find(base.check(), TOOL, "not_with")
    assert not_with.message == "catégorie inconnue : robots" and "llm-api" in not_with.fix
    base.replace("tool-messagerie", aliases=[3])
    assert find(base.check(), TOOL, "aliases[1]").message == "doit être un texte"


def test_needs_and_categories_come_from_vocabulary_file(base: MiniBase) -> None:
    data = vocabulary_data()
    data["needs"]["rendez-vous"] = {
        "label": "les rendez-vous",
        "keywords": ["lapin"],
        "categories": ["messagerie"],
    }
    base.write_vocabulary(data)
    base.replace("tool-messagerie", use_cases=["rendez-vous"])
    base.replace("tool-api", category="image")  # in README's list, not in this vocabulary
    problems = base.check()
    assert not [p for p in problems if p.file == TOOL]
    category = find(problems, API, "category")
    assert "(vocabulary.yaml)" in category.fix and "llm-api" in category.fix


def test_vocabulary_file_problems(base: MiniBase) -> None:
    data = vocabulary_data()
    data["topics"]["modeles"]["fiches"] = ["fact-absente"]
    data["generic_pilot"] = [{"day": 1, "task": "Mesurer"}, {"day": 10, "task": "Fêter"}]
    base.write_vocabulary(data)
    problems = base.check()
    topic = find(problems, "vocabulary.yaml", "topics.modeles.fiches")
    assert topic.message == "id inexistant : fact-absente"
    plan = [p for p in problems if p.field == "generic_pilot"]
    assert [p.message for p in plan] == [
        "le plan finit au jour 10, pas au jour 14",
        "la dernière étape (jour 14) n'est pas la décision go/no-go",
    ]


def test_vocabulary_file_broken_model_is_reported_in_french(base: MiniBase) -> None:
    data = vocabulary_data()
    data["needs"]["automatisation"]["categories"] = ["robotique"]
    del data["categories"]["llm-api"]["why"]
    base.write_vocabulary(data)
    problems = base.check()
    why = find(problems, "vocabulary.yaml", "categories.llm-api.why")
    assert why.message == "champ obligatoire absent" and "why:" in why.fix
    # Fiches are still checked against the needs and categories the file declares.
    assert not [p for p in problems if p.file.startswith(("tools/", "cases/", "guides/"))]


# --- Prices --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "field", "expected"),
    [
        ({"min": 20, "max": 5}, "price_eur_month", "min (20) est plus grand que max (5)"),
        ({"min": -1, "max": 5}, "price_eur_month.min", "-1 est trop petit (minimum 0)"),
        (
            {"min": 0, "max": "environ 15"},
            "price_eur_month.max",
            "« environ 15 » est une approximation, pas un montant",
        ),
        (
            {"min": "~10", "max": 15},
            "price_eur_month.min",
            "« ~10 » est une approximation, pas un montant",
        ),
        ({"min": 0, "max": "15 €"}, "price_eur_month.max", "« 15 € » n'est pas un nombre"),
        ("à vérifier", "price_eur_month", "« à vérifier » est une approximation, pas une valeur"),
    ],
)
def test_bad_prices(base: MiniBase, price: object, field: str, expected: str) -> None:
    base.replace("tool-messagerie", price_eur_month=price)
    problem = find(base.check(), TOOL, field)
    assert problem.severity == "error" and problem.message == expected
    assert problem.fix


def test_null_price_needs_a_reason(base: MiniBase) -> None:
    base.replace("tool-messagerie", price_eur_month=None, price_source=REMOVE)
    problem = find(base.check(), TOOL, "price_unknown")
    assert problem.message == "prix null sans raison" and "sur devis" in problem.fix
    base.replace("tool-messagerie", price_eur_month=None, price_unknown="sur devis")
    assert base.check() == []
    base.replace("tool-messagerie", price_eur_month=None, price_unknown="à vérifier")
    assert "n'est pas une raison" in find(base.check(), TOOL, "price_unknown").message


def test_price_needs_source_date_and_tax(base: MiniBase) -> None:
    base.replace(
        "tool-messagerie",
        price_source=REMOVE,
        price_read_on=REMOVE,
        price_tax=REMOVE,
        price_source_kind=REMOVE,
    )
    problems = base.check()
    assert find(problems, TOOL, "price_source").message == (
        "prix donné sans l'adresse de la page où il a été lu"
    )
    assert find(problems, TOOL, "price_read_on").message == "prix donné sans la date de lecture"
    assert "HT, TTC" in find(problems, TOOL, "price_tax").message
    assert "official ou third-party" in find(problems, TOOL, "price_source_kind").message


def test_price_source_kind_and_tax_values(base: MiniBase) -> None:
    base.replace("tool-messagerie", price_source_kind="vendor", price_tax="hors taxes")
    problems = base.check()
    kind = find(problems, TOOL, "price_source_kind")
    assert kind.message == "valeur « vendor » non admise" and "third-party" in kind.fix
    assert find(problems, TOOL, "price_tax").message == "valeur « hors taxes » non admise"


def test_unverified_price_note_is_a_warning(base: MiniBase) -> None:
    base.replace("tool-messagerie", price_note="fourchette à vérifier")
    problem = find(base.check(), TOOL, "price_note")
    assert problem.severity == "warning" and "non vérifié" in problem.message


# --- Dates ---------------------------------------------------------------------------------


def test_dates_in_the_future_or_malformed(base: MiniBase) -> None:
    base.replace(
        "tool-api", as_of=FUTURE, price_read_on=FUTURE, usd_eur_rate={"rate": 0.9, "on": FUTURE}
    )
    base.replace("fact-modele", as_of="23/11/2026")
    problems = base.check()
    for field in ("as_of", "price_read_on", "usd_eur_rate.on"):
        assert find(problems, API, field).message == f"date dans le futur ({FUTURE.isoformat()})"
    malformed = find(problems, "facts/fact-modele.md", "as_of")
    assert malformed.message == "« 23/11/2026 » n'est pas une date AAAA-MM-JJ"


def test_stale_fiche_is_a_warning_with_configurable_age(base: MiniBase) -> None:
    assert base.check(max_age_days=10) == []
    problems = base.check(max_age_days=9)
    stale = find(problems, "facts/fact-modele.md", "as_of")
    assert stale.severity == "warning"
    assert stale.message == "fiche périmée : vérifiée il y a 10 jours (plus de 9)"
    assert not errors(problems)


# --- Hosting, legacy fields, cases ---------------------------------------------------------


def test_hosting_region_and_legacy_data_hosting(base: MiniBase) -> None:
    base.replace("tool-messagerie", hosting={"region": "France", "note": "Paris"})
    base.replace("tool-api", hosting=REMOVE, data_hosting="UE (France)")
    problems = base.check()
    region = find(problems, TOOL, "hosting.region")
    assert region.message == "valeur « France » non admise"
    assert region.fix == "écrire « region: eu, outside-eu, self-hostable ou mixed »"
    legacy = find(problems, API, "data_hosting")
    assert legacy.severity == "error" and "remplacé par hosting" in legacy.message
    assert "supprimer data_hosting" in legacy.fix
    assert find(problems, API, "hosting").message == "champ obligatoire absent"


def test_case_needs_source_kind(base: MiniBase) -> None:
    base.replace("case-boulangerie", source_kind=REMOVE)
    problem = find(base.check(), CASE, "source_kind")
    assert problem.severity == "error" and "illustrative" in problem.fix
    base.replace("case-boulangerie", source_kind="blog")
    assert find(base.check(), CASE, "source_kind").message == "valeur « blog » non admise"


def test_unknown_field_is_a_warning(base: MiniBase) -> None:
    base.replace("tool-messagerie", prix_source="https://example.org")
    problem = find(base.check(), TOOL, "prix_source")
    assert problem.severity == "warning" and "orthographe" in problem.fix


# --- Pilot plans ---------------------------------------------------------------------------


def _steps(*days: int, last: str = "Décider go/no-go") -> list[dict[str, object]]:
    steps: list[dict[str, object]] = [{"day": day, "task": f"Tâche {day}"} for day in days]
    steps[-1]["task"] = last
    return steps


@pytest.mark.parametrize(
    ("steps", "field", "message"),
    [
        (_steps(2, 14), "pilot_template.steps", "le plan commence au jour 2, pas au jour 1"),
        (_steps(1, 12), "pilot_template.steps", "le plan finit au jour 12, pas au jour 14"),
        (
            _steps(1, 9, 5, 14),
            "pilot_template.steps",
            "les jours ne sont pas dans l'ordre (1, 9, 5, 14)",
        ),
        (_steps(1, 15), "pilot_template.steps[2].day", "15 est trop grand (maximum 14)"),
        (_steps(0, 14), "pilot_template.steps[1].day", "0 est trop petit (minimum 1)"),
    ],
)
def test_pilot_plan_days(
    base: MiniBase, steps: list[dict[str, object]], field: str, message: str
) -> None:
    meta = base.meta("guide-pilote-messages")
    meta["pilot_template"]["steps"] = steps
    base.write(meta)
    problem = find(base.check(), GUIDE, field)
    assert problem.severity == "error" and problem.message == message


def test_pilot_plan_ending_without_decision_is_a_warning(base: MiniBase) -> None:
    meta = base.meta("guide-pilote-messages")
    meta["pilot_template"]["steps"] = _steps(1, 14, last="Fêter la fin du test")
    base.write(meta)
    problem = find(base.check(), GUIDE, "pilot_template.steps")
    assert problem.severity == "warning" and "go/no-go" in problem.message


# --- Token prices of LLM APIs --------------------------------------------------------------


def test_model_prices_entries_malformed(base: MiniBase) -> None:
    base.replace(
        "tool-api",
        model_prices=[
            {"model": "mini-chat", "input": "cher", "output": 0.8, "currency": "USD"},
            {"model": "mini-chat-pro", "input": 2, "output": 6, "currency": "CNY"},
            {"model": "mini-chat-max", "input": 2, "output": 6},
        ],
    )
    problems = base.check()
    assert find(problems, API, "model_prices[1].input").message == "« cher » n'est pas un nombre"
    currency = find(problems, API, "model_prices[2].currency")
    assert currency.message == "valeur « CNY » non admise" and "USD" in currency.fix
    assert find(problems, API, "model_prices[3].currency").message == "champ obligatoire absent"


def test_model_prices_duplicates_and_dollars_without_rate(base: MiniBase) -> None:
    meta = base.meta("tool-api")
    meta["model_prices"].append({"model": "Mini-Chat", "input": 1, "output": 1, "currency": "USD"})
    del meta["usd_eur_rate"]
    base.write(meta)
    problems = base.check()
    assert find(problems, API, "model_prices").message == "modèle listé deux fois : mini-chat"
    rate = find(problems, API, "usd_eur_rate")
    assert rate.message == "prix en dollars sans taux de conversion" and "rate:" in rate.fix


def test_unquoted_on_key_of_the_rate_is_explained(base: MiniBase) -> None:
    path = base.path("tool-api")
    text = path.read_text(encoding="utf-8").replace("'on':", "on:")
    path.write_text(text, encoding="utf-8")
    problem = find(base.check(), API, "usd_eur_rate")
    assert "'on'" in problem.fix


def test_model_prices_outside_llm_api_and_missing_on_paid_api(base: MiniBase) -> None:
    base.replace(
        "tool-messagerie",
        model_prices=[
            {"model": "x", "input": 1, "output": 1, "currency": "EUR"},
        ],
    )
    base.replace("tool-api", model_prices=REMOVE)
    problems = base.check()
    assert find(problems, TOOL, "model_prices").severity == "warning"
    missing = find(problems, API, "model_prices")
    assert missing.severity == "warning" and "compté 0" in missing.message
    assert not errors(problems)


def test_empty_dir_is_an_error(tmp_path: Path) -> None:
    problems = check_knowledge(tmp_path / "absent", today=TODAY)
    assert [(p.file, p.severity) for p in problems] == [(".", "error")]
    assert "aucune fiche" in problems[0].message
