"""Knowledge-base commands: `pilote-ia ingest`, `pilote-ia search`, `pilote-ia eval`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import BotError
from bot.messages import user_message_for
from bot.wiring import open_knowledge
from retrieval import IngestReport, SearchFilters, evaluate
from retrieval.errors import (
    EmbeddingError,
    IndexNotReadyError,
    InvalidQueryError,
    KnowledgeBaseError,
    ModelMismatchError,
    RetrievalError,
    StoreUnavailableError,
)
from retrieval.evaluation import load_questions, select_split
from retrieval.ingest import EmbedderMismatchError
from retrieval.vocabulary import ALL_TYPES, load_domain_vocabulary

# French wording of these commands (user-facing).
INGEST_DONE = (
    "Indexation terminée en {seconds} s : {documents} documents, {chunks} passages "
    "({added} ajoutés, {updated} mis à jour, {removed} supprimés, {skipped} inchangés)."
)
INGEST_ERRORS = "{n} fichier(s) ignoré(s) :"
NO_HITS = "Aucun résultat."
EMPTY_QUERY = 'La recherche est vide : écrivez quelques mots (ex. pilote-ia search "devis").'
BAD_TYPE = "Type inconnu « {value} » (--type) : choisissez parmi {choices}."
BAD_SECTOR = "Secteur inconnu « {value} » (--sector) : choisissez parmi {choices}."
BAD_COST = "Budget invalide « {value} » (--max-cost) : un nombre d'euros positif est attendu."
BAD_K = "Nombre de résultats invalide (-k) : un entier d'au moins 1 est attendu."
BAD_QUERY = "Recherche refusée : reformulez-la avec quelques mots."
MISMATCH = (
    "L'index de {where} a été construit avec un autre modèle d'embeddings que "
    "EMBEDDING_MODEL={model} : relancez « pilote-ia ingest --rebuild »."
)
EMBEDDER_MISMATCH = (
    "L'index de {where} a été calculé avec INGEST_EMBEDDER={stored}, pas {configured} : "
    "relancez « pilote-ia ingest --rebuild » ou remettez INGEST_EMBEDDER={stored}."
)
STORE_SERVER_DOWN = (
    "Serveur Chroma injoignable (CHROMA_HOST={host}, CHROMA_PORT={port}) : vérifiez qu'il "
    "tourne (chroma run --path DOSSIER --port {port})."
)
STORE_LOCAL_BROKEN = "Base Chroma locale illisible dans {path} (PILOTE_IA_DATA_DIR)."
EMBEDDING_BROKEN = "Modèle d'embeddings impossible à charger (EMBEDDING_MODEL={model})."
NOT_READY = "La base de connaissances est vide : lancez « pilote-ia ingest »."
NO_EVAL_SET = "Jeu d'évaluation introuvable : {path}."
EVAL_HEADER = (
    "{questions} questions (partie : {split} ; {skipped} sans fiche attendue, ignorées) · "
    "rappel@k et MRR au niveau des fiches"
)
EVAL_SPLITS = {"all": "toutes", "dev": "dev", "test": "test"}
EVAL_LOSSES = "L'hybride réglé classe moins bien que dense ou BM25 sur {n} question(s) : {ids}."
EVAL_NO_LOSS = "L'hybride réglé ne classe jamais moins bien que dense ou BM25."
BAD_SPLIT = "Partie inconnue « {value} » (--split) : choisissez dev, test ou all."
ANSWERS_ONLY = "--llm et --worst ne servent qu'avec --answers."
BAD_WORST = "Nombre invalide (--worst) : un entier positif est attendu."
NO_LLM = "Aucun LLM configuré : renseignez LLM_PROVIDER (et LLM_API_KEY) pour évaluer avec --llm."
EMPTY_SPLIT = "Aucune question dans la partie « {split} » du jeu d'évaluation."


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ingest, search and eval subcommands."""
    ingest = subparsers.add_parser(
        "ingest", help="indexer la base de connaissances ou vos documents"
    )
    ingest.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="CHEMIN",
        help="fichiers ou dossiers (md, txt, html, pdf) ; défaut : la base fournie",
    )
    ingest.add_argument("--rebuild", action="store_true", help="tout réindexer depuis zéro")
    ingest.set_defaults(handler=run_ingest)

    search = subparsers.add_parser("search", help="chercher dans la base de connaissances")
    search.add_argument("query", metavar="QUESTION")
    search.add_argument("-k", type=int, default=5, help="nombre de résultats (défaut 5)")
    search.add_argument(
        "--type",
        dest="types",
        action="append",
        metavar="TYPE",
        help=f"type de fiche ({', '.join(ALL_TYPES)}), répétable",
    )
    search.add_argument("--sector", metavar="SECTEUR", help="secteur d'activité (ex. commerce)")
    search.add_argument(
        "--max-cost", type=float, metavar="EUR", help="coût mensuel maximal des outils, en euros"
    )
    search.add_argument("--json", action="store_true", help="sortie JSON")
    search.set_defaults(handler=run_search)

    ev = subparsers.add_parser("eval", help="mesurer la qualité de la recherche ou des réponses")
    ev.add_argument(
        "--questions",
        type=Path,
        metavar="FICHIER",
        help="jeu de questions JSONL (défaut : knowledge/eval/questions.jsonl)",
    )
    ev.add_argument(
        "--split",
        default="all",
        metavar="PARTIE",
        help="partie du jeu évaluée : dev, test ou all (défaut)",
    )
    ev.add_argument(
        "--answers",
        action="store_true",
        help="noter les réponses du conseiller au lieu de la recherche",
    )
    ev.add_argument(
        "--llm",
        action="store_true",
        help="avec --answers : utiliser le LLM configuré (défaut : hors ligne)",
    )
    ev.add_argument(
        "--worst",
        type=int,
        default=0,
        metavar="N",
        help="avec --answers : afficher les N pires réponses",
    )
    ev.add_argument("--json", action="store_true", help="sortie JSON")
    ev.set_defaults(handler=run_eval)


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _explain(exc: RetrievalError, settings: Settings) -> str:
    """French message for a retrieval failure, naming the file or setting involved."""
    if isinstance(exc, KnowledgeBaseError):
        return f"{exc.path} : {exc.problem}"
    if isinstance(exc, ModelMismatchError):
        where = (
            f"{settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else str(settings.index_dir)
        )
        if isinstance(exc, EmbedderMismatchError):
            return EMBEDDER_MISMATCH.format(
                where=where, stored=exc.stored, configured=exc.configured
            )
        return MISMATCH.format(where=where, model=settings.embedding_model)
    if isinstance(exc, StoreUnavailableError):
        if settings.chroma_host:
            return STORE_SERVER_DOWN.format(host=settings.chroma_host, port=settings.chroma_port)
        return STORE_LOCAL_BROKEN.format(path=settings.index_dir)
    if isinstance(exc, EmbeddingError):
        return EMBEDDING_BROKEN.format(model=settings.embedding_model)
    if isinstance(exc, IndexNotReadyError):
        return NOT_READY
    return BAD_QUERY


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    """Index the given paths (default: the knowledge dir) and print the summary."""
    paths = list(args.paths) or [settings.knowledge_dir]
    try:
        kb = open_knowledge(settings, build_if_empty=False, check_model=not args.rebuild)
        try:
            report = kb.ingest(paths, rebuild=args.rebuild, progress=True)
        finally:
            kb.close()
    except RetrievalError as exc:
        return _fail(_explain(exc, settings))
    print(_summary(report))
    if report.errors:
        print(INGEST_ERRORS.format(n=len(report.errors)), file=sys.stderr)
        for error in report.errors:
            print(f"  {error}", file=sys.stderr)
        return 1
    return 0


def _summary(report: IngestReport) -> str:
    return INGEST_DONE.format(
        seconds=f"{report.seconds:.1f}".replace(".", ","),
        documents=report.documents,
        chunks=report.chunks,
        added=report.added,
        updated=report.updated,
        removed=report.removed,
        skipped=report.skipped,
    )


def _filters(args: argparse.Namespace, sectors: tuple[str, ...]) -> SearchFilters | str:
    """Validated filters, or the French message naming the faulty option."""
    for value in args.types or ():
        if value not in ALL_TYPES:
            return BAD_TYPE.format(value=value, choices=", ".join(ALL_TYPES))
    if args.sector is not None and args.sector not in sectors:
        return BAD_SECTOR.format(value=args.sector, choices=", ".join(sectors))
    if args.max_cost is not None and not args.max_cost >= 0:
        return BAD_COST.format(value=args.max_cost)
    return SearchFilters(
        types=tuple(args.types) if args.types else None,
        sector=args.sector,
        max_monthly_cost_eur=args.max_cost,
    )


def run_search(args: argparse.Namespace, settings: Settings) -> int:
    """Hybrid search from the terminal."""
    try:
        sectors = load_domain_vocabulary(settings.knowledge_dir).sector_codes
    except ValueError as exc:
        return _fail(str(exc))
    filters = _filters(args, sectors)
    if isinstance(filters, str):
        return _fail(filters)
    if not args.query.strip():
        return _fail(EMPTY_QUERY)
    if args.k < 1:
        return _fail(BAD_K)
    try:
        kb = open_knowledge(settings, progress=True)
        try:
            hits = kb.search(args.query, k=args.k, filters=filters)
        finally:
            kb.close()
    except InvalidQueryError:
        return _fail(EMPTY_QUERY)
    except RetrievalError as exc:
        return _fail(_explain(exc, settings))
    if args.json:
        payload = {
            "query": args.query,
            "hits": [
                {
                    "fiche_id": h.fiche_id,
                    "chunk_id": h.chunk_id,
                    "title": h.title,
                    "type": h.type,
                    "heading": h.heading,
                    "score": round(h.score, 6),
                    "text": h.text,
                }
                for h in hits
            ],
        }
        print(json.dumps(payload, ensure_ascii=False))
        return 0
    if not hits:
        print(NO_HITS)
    for rank, hit in enumerate(hits, start=1):
        heading = f" › {hit.heading}" if hit.heading else ""
        print(f"{rank}. {hit.title}{heading}  [{hit.fiche_id}, {hit.type}, {hit.score:.4f}]")
        snippet = " ".join(hit.text.split())
        print(f"   {snippet[:240]}{'…' if len(snippet) > 240 else ''}")
    return 0


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    """Retrieval scores (dense, BM25, hybrid) or, with --answers, the advisor's answers."""
    path = args.questions or settings.knowledge_dir / "eval" / "questions.jsonl"
    if not path.is_file():
        return _fail(NO_EVAL_SET.format(path=path))
    if args.split not in EVAL_SPLITS:
        return _fail(BAD_SPLIT.format(value=args.split))
    if (args.llm or args.worst) and not args.answers:
        return _fail(ANSWERS_ONLY)
    if args.worst < 0:
        return _fail(BAD_WORST)
    if args.answers:
        return _run_answer_eval(args, settings, path)
    try:
        kb = open_knowledge(settings, progress=True)
        try:
            result = evaluate(kb, path, split=args.split)
        finally:
            kb.close()
    except RetrievalError as exc:
        return _fail(_explain(exc, settings))
    if args.json:
        print(json.dumps(result))
        return 0
    print(format_table(result) + "\n")
    # the same split answered by the offline advisor: first tool fit, declines (issue 12)
    return _run_answer_eval(args, settings, path)


def _run_answer_eval(args: argparse.Namespace, settings: Settings, path: Path) -> int:
    """Ask every question of the split to the offline (or LLM) advisor and score the answers."""
    from bot import answer_eval
    from bot.wiring import build_advisor

    if args.llm and settings.offline:
        return _fail(NO_LLM)
    chosen = settings if args.llm else settings.model_copy(update={"llm_provider": None})
    try:
        questions = select_split(load_questions(path), args.split)
        if not questions:
            return _fail(EMPTY_SPLIT.format(split=args.split))
        advisor = build_advisor(chosen)
    except RetrievalError as exc:
        return _fail(_explain(exc, settings))
    except BotError as exc:
        return _fail(user_message_for(exc))

    async def run() -> list[answer_eval.AnswerResult]:
        try:
            return await answer_eval.answer_all(advisor, questions)
        finally:
            await advisor.aclose()

    started = time.perf_counter()
    results = asyncio.run(run())
    report = answer_eval.report(
        results,
        split=args.split,
        mode="llm" if args.llm else "offline",
        seconds=time.perf_counter() - started,
    )
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(answer_eval.format_report(report, results, args.worst))
    return 0


_COLUMNS = {"dense": "dense", "bm25": "BM25", "hybrid_untuned": "hyb. brut", "hybrid": "hyb. réglé"}
_METRICS = {"recall@1": "rappel@1", "recall@3": "rappel@3", "recall@5": "rappel@5", "mrr": "MRR"}


def format_table(result: dict[str, Any]) -> str:
    """The eval scores of the four searches side by side, then where hybrid loses."""
    lines = [
        EVAL_HEADER.format(
            questions=result["questions"],
            skipped=result["skipped"],
            split=EVAL_SPLITS.get(result["split"], result["split"]),
        ),
        "",
    ]
    lines.append(f"{'':<10}" + "".join(f"{label:>12}" for label in _COLUMNS.values()))
    for metric, label in _METRICS.items():
        lines.append(f"{label:<10}" + "".join(f"{result[m][metric]:>12.3f}" for m in _COLUMNS))
    losses = result["hybrid_losses"]
    lines.append("")
    if losses:
        ids = ", ".join(loss["id"] for loss in losses)
        lines.append(EVAL_LOSSES.format(n=len(losses), ids=ids))
    else:
        lines.append(EVAL_NO_LOSS)
    return "\n".join(lines)
