"""`pilote-ia kb check [DIR]`: lint the fiches of a knowledge base and say how to fix them."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from functools import partial
from pathlib import Path

from bot import messages as msg
from bot.config import Settings
from retrieval.kb_check import DEFAULT_MAX_AGE_DAYS, Problem, check_knowledge, count_fiches


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `kb` and its `check` subcommand."""
    kb = subparsers.add_parser("kb", help="outils pour la base de connaissances")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="SOUS-COMMANDE")
    kb.set_defaults(handler=partial(_print_help, kb))
    check = kb_sub.add_parser(
        "check",
        help="vérifier les fiches (champs, prix, dates, liens)",
        description="Vérifie chaque fiche et knowledge/vocabulary.yaml ; une ligne par "
        "problème, code de sortie 1 s'il y a des erreurs.",
    )
    check.add_argument(
        "directory",
        nargs="?",
        type=Path,
        metavar="DOSSIER",
        help="base à vérifier (défaut : la base fournie, ou KNOWLEDGE_DIR)",
    )
    check.add_argument(
        "--max-age-days",
        type=_positive_days,
        default=DEFAULT_MAX_AGE_DAYS,
        metavar="N",
        help=f"alerte quand une fiche a plus de N jours (défaut {DEFAULT_MAX_AGE_DAYS})",
    )
    check.add_argument("--json", action="store_true", help="sortie JSON")
    check.set_defaults(handler=run_check)


def _print_help(parser: argparse.ArgumentParser, args: argparse.Namespace, _: Settings) -> int:
    parser.print_help()
    return 0


def _positive_days(value: str) -> int:
    try:
        days = int(value)
    except ValueError:
        days = 0
    if days < 1:
        raise argparse.ArgumentTypeError(msg.KB_CHECK_BAD_AGE.format(value=value))
    return days


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    """Check the knowledge dir; exit code 1 when there is at least one error."""
    directory: Path = args.directory or settings.knowledge_dir
    problems = check_knowledge(directory, today=dt.date.today(), max_age_days=args.max_age_days)
    fiches = count_fiches(directory)
    errors = sum(p.severity == "error" for p in problems)
    if args.json:
        print(json.dumps(_payload(directory, fiches, problems), ensure_ascii=False))
    else:
        for problem in problems:
            print(format_problem(problem))
        print(format_summary(directory, fiches, problems))
    return 1 if errors else 0


def format_problem(problem: Problem) -> str:
    """One line: fichier · champ : ce qui ne va pas → comment corriger."""
    return msg.KB_CHECK_LINE.format(
        label=msg.KB_CHECK_SEVERITY_LABELS[problem.severity],
        file=problem.file,
        field=problem.field,
        message=problem.message,
        fix=problem.fix,
    )


def format_summary(directory: Path, fiches: int, problems: list[Problem]) -> str:
    """The last line: counts, and what to do next when something is wrong."""
    if not problems:
        return msg.KB_CHECK_ALL_GOOD.format(fiches=fiches, directory=directory)
    errors = sum(p.severity == "error" for p in problems)
    summary = msg.KB_CHECK_SUMMARY.format(
        fiches=fiches, directory=directory, errors=errors, warnings=len(problems) - errors
    )
    return f"{summary} {msg.KB_CHECK_FIX_THEN_RERUN}" if errors else summary


def _payload(directory: Path, fiches: int, problems: list[Problem]) -> dict[str, object]:
    errors = sum(p.severity == "error" for p in problems)
    return {
        "directory": str(directory),
        "fiches": fiches,
        "errors": errors,
        "warnings": len(problems) - errors,
        "problems": [
            {
                "file": p.file,
                "field": p.field,
                "severity": p.severity,
                "message": p.message,
                "fix": p.fix,
            }
            for p in problems
        ],
    }
