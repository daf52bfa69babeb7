"""Knowledge-base commands: `pilote-ia ingest`, `pilote-ia search`, `pilote-ia eval`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings
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
from retrieval.vocabulary import ALL_TYPES, SECTORS

# French wording of these commands (user-facing).
INGEST_DONE = (
    "Indexation terminée en {seconds} s : {documents} documents, {chunks} passages "
    "({added} ajoutés, {updated} mis à jour, {removed} supprimés, {skipped} inchangés)."
)
INGEST_ERRORS = "{n} fichier(s) ignoré(s) :"
NO_HITS = "Aucun résultat."
EMPTY_QUERY = "La recherche est vide : écrivez quelques mots (ex. pilote-ia search \"devis\")."
BAD_TYPE = "Type inconnu « {value} » (--type) : choisissez parmi {choices}."
BAD_SECTOR = "Secteur inconnu « {value} » (--sector) : choisissez parmi {choices}."
BAD_COST = "Budget invalide « {value} » (--max-cost) : un nombre d'euros positif est attendu."
BAD_K = "Nombre de résultats invalide (-k) : un entier d'au moins 1 est attendu."
BAD_QUERY = "Recherche refusée : reformulez-la avec quelques mots."
MISMATCH = (
    "L'index de {where} a été construit avec un autre modèle d'embeddings que "
    "EMBEDDING_MODEL={model} : relancez « pilote-ia ingest --rebuild »."
)
STORE_SERVER_DOWN = (
    "Serveur Chroma injoignable (CHROMA_HOST={host}, CHROMA_PORT={port}) : vérifiez qu'il "
    "tourne (chroma run --path DOSSIER --port {port})."
)
STORE_LOCAL_BROKEN = "Base Chroma locale illisible dans {path} (PILOTE_IA_DATA_DIR)."
EMBEDDING_BROKEN = "Modèle d'embeddings impossible à charger (EMBEDDING_MODEL={model})."
NOT_READY = "La base de connaissances est vide : lancez « pilote-ia ingest »."
NO_EVAL_SET = "Jeu d'évaluation introuvable : {path}."
EVAL_HEADER = "{questions} questions · rappel@k et MRR au niveau des fiches"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ingest, search and eval subcommands."""
    ingest = subparsers.add_parser(
        "ingest", help="indexer la base de connaissances ou vos documents"
    )
    ingest.add_argument("paths", nargs="*", type=Path, metavar="CHEMIN",
                        help="fichiers ou dossiers (md, txt, html, pdf) ; défaut : la base fournie")
    ingest.add_argument("--rebuild", action="store_true", help="tout réindexer depuis zéro")
    ingest.set_defaults(handler=run_ingest)

    search = subparsers.add_parser("search", help="chercher dans la base de connaissances")
    search.add_argument("query", metavar="QUESTION")
    search.add_argument("-k", type=int, default=5, help="nombre de résultats (défaut 5)")
    search.add_argument("--type", dest="types", action="append", metavar="TYPE",
                        help=f"type de fiche ({', '.join(ALL_TYPES)}), répétable")
    search.add_argument("--sector", metavar="SECTEUR", help="secteur d'activité (ex. commerce)")
    search.add_argument("--max-cost", type=float, metavar="EUR",
                        help="coût mensuel maximal des outils, en euros")
    search.add_argument("--json", action="store_true", help="sortie JSON")
    search.set_defaults(handler=run_search)

    ev = subparsers.add_parser("eval", help="mesurer la qualité de la recherche")
    ev.add_argument("--questions", type=Path, metavar="FICHIER",
                    help="jeu de questions JSONL (défaut : knowledge/eval/questions.jsonl)")
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
        where = (f"{settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host
                 else str(settings.index_dir))
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


def _filters(args: argparse.Namespace) -> SearchFilters | str:
    """Validated filters, or the French message naming the faulty option."""
    for value in args.types or ():
        if value not in ALL_TYPES:
            return BAD_TYPE.format(value=value, choices=", ".join(ALL_TYPES))
    if args.sector is not None and args.sector not in SECTORS:
        return BAD_SECTOR.format(value=args.sector, choices=", ".join(SECTORS))
    if args.max_cost is not None and not args.max_cost >= 0:
        return BAD_COST.format(value=args.max_cost)
    return SearchFilters(
        types=tuple(args.types) if args.types else None,
        sector=args.sector,
        max_monthly_cost_eur=args.max_cost,
    )


def run_search(args: argparse.Namespace, settings: Settings) -> int:
    """Hybrid search from the terminal."""
    filters = _filters(args)
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
                {"fiche_id": h.fiche_id, "chunk_id": h.chunk_id, "title": h.title,
                 "type": h.type, "heading": h.heading, "score": round(h.score, 6),
                 "text": h.text}
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
    """Recall@1/3/5 and MRR of dense, BM25 and hybrid search on the eval set."""
    path = args.questions or settings.knowledge_dir / "eval" / "questions.jsonl"
    if not path.is_file():
        return _fail(NO_EVAL_SET.format(path=path))
    try:
        kb = open_knowledge(settings, progress=True)
        try:
            result = evaluate(kb, path)
        finally:
            kb.close()
    except RetrievalError as exc:
        return _fail(_explain(exc, settings))
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
    return 0


def format_table(result: dict[str, Any]) -> str:
    """The eval scores of the three methods side by side."""
    methods = ("dense", "bm25", "hybrid")
    metrics = ("recall@1", "recall@3", "recall@5", "mrr")
    lines = [EVAL_HEADER.format(questions=result["questions"]), ""]
    lines.append(f"{'':<10}" + "".join(f"{m:>10}" for m in methods))
    for metric in metrics:
        lines.append(f"{metric:<10}" + "".join(f"{result[m][metric]:>10.3f}" for m in methods))
    return "\n".join(lines)
