"""Advisor commands: `pilote-ia ask`, `pilote-ia chat`, `pilote-ia doctor`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, TextIO

from bot.advice import Advice, CostRange, Profile, Turn
from bot.catalogue import format_date, format_eur, format_monthly
from bot.config import Settings
from bot.errors import BotError
from bot.messages import PRICE_NOT_PUBLISHED, provider_name, user_message_for
from retrieval.errors import InvalidQueryError, RetrievalError

if TYPE_CHECKING:
    from bot.advisor import Advisor
    from bot.drafting import ProbeResult

# French wording of these commands (user-facing).
BAD_PROFILE = (
    "Profil invalide « {value} » : utilisez secteur=...,taille=...,budget=...,priorite=... "
    "(budget en euros par mois)."
)
CHAT_WELCOME = (
    "Pilote IA : posez vos questions sur l'IA pour votre entreprise. "
    "/profil secteur=...,budget=... pour préciser, /quitter pour sortir."
)
CHAT_PROMPT = "vous › "
CHAT_BYE = "À bientôt !"
CHAT_PROFILE_SET = "Profil noté : {profile}"
MODE_OFFLINE = "Mode : hors ligne (base de connaissances seule)"
MODE_LLM = "Mode : {provider} · {model} · {prompt} + {completion} jetons · {cost} €"
TOOLS_TITLE = "Outils proposés"
PILOT_TITLE = "Pilote de deux semaines"
SOURCES_TITLE = "Sources"
STREAM_INTERRUPTED = "(réponse interrompue, voici la réponse tirée de la base seule)"
DOCTOR_CONFIG_OK = "✅ Configuration lue (dossier de données : {path})"
DOCTOR_OFFLINE = "✅ Aucun LLM configuré : réponses hors ligne (LLM_PROVIDER pour en ajouter un)"
DOCTOR_KNOWLEDGE_OK = "✅ Base de connaissances : {n} fiches dans {path}"
DOCTOR_KNOWLEDGE_BAD = "❌ Base de connaissances : {n} fiche(s) illisible(s), ex. {first}"
DOCTOR_INDEX_OK = "✅ Index : {n} documents, modèle {model}, recherche en {ms} ms"
DOCTOR_INDEX_EMPTY = "❌ Index vide : lancez « pilote-ia ingest »"
DOCTOR_INDEX_BAD = "❌ Index : {message}"
# `doctor` sends one realistic question (three sources, three tools) in the JSON mode of
# real answers and says whether a full answer fits the time limits.
DOCTOR_LLM_OK = (
    "✅ LLM {provider} ({model}) : réponse complète en {seconds} s, délai {timeout} s "
    "(premier jeton {first} s, {speed} jetons/s, {format})"
)
DOCTOR_LLM_TIGHT = (
    "⚠️ LLM {provider} ({model}) : réponse complète en {seconds} s, trop près du délai de "
    "{timeout} s (premier jeton {first} s, {speed} jetons/s) : augmentez LLM_TIMEOUT_S"
)
DOCTOR_LLM_SLOW = (
    "❌ LLM {provider} ({model}) : pas de réponse complète en {timeout} s (premier jeton "
    "{first} s, {speed} jetons/s) : augmentez LLM_TIMEOUT_S ou prenez un modèle plus rapide"
)
DOCTOR_LLM_NO_FIRST = (
    "❌ LLM {provider} ({model}) : aucun jeton en {first_limit} s, la question n'est pas lue "
    "à temps : augmentez LLM_FIRST_TOKEN_TIMEOUT_S ou réduisez LLM_CONTEXT_TOKENS"
)
DOCTOR_LLM_UNUSABLE = (
    "❌ LLM {provider} ({model}) : réponse reçue en {seconds} s mais inutilisable ({reason}) : "
    "essayez un autre modèle"
)
DOCTOR_LLM_BAD = "❌ LLM {provider} ({model}) : {message}"
DOCTOR_FORMATS = {"json_schema": "schéma JSON", "json_object": "mode JSON", "text": "texte libre"}
DOCTOR_UNKNOWN = "?"
TIGHT_SHARE = 0.75  # a probe answer using more of the time limit leaves no room for a longer one
DOCTOR_ALL_OK = "Tout est prêt."
DOCTOR_BROKEN = "{n} problème(s) à corriger."
_PROFILE_KEYS = {
    "secteur": "sector",
    "sector": "sector",
    "taille": "size",
    "size": "size",
    "budget": "monthly_budget_eur",
    "priorite": "priority",
    "priorité": "priority",
    "priority": "priority",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ask, chat and doctor subcommands."""
    ask = subparsers.add_parser("ask", help="poser une question (ou une par ligne sur stdin)")
    ask.add_argument("question", nargs="*", help="la question ; sans elle, lecture de stdin")
    ask.add_argument("--json", action="store_true", help="un objet JSON par réponse")
    ask.add_argument("--profile", default="", help="secteur=...,taille=...,budget=...,priorite=...")
    ask.set_defaults(handler=run_ask)
    chat = subparsers.add_parser("chat", help="conversation dans le terminal")
    chat.add_argument(
        "--profile", default="", help="secteur=...,taille=...,budget=...,priorite=..."
    )
    chat.set_defaults(handler=run_chat)
    doctor = subparsers.add_parser("doctor", help="vérifier configuration, index et LLM")
    doctor.set_defaults(handler=run_doctor)


def parse_profile(raw: str) -> Profile:
    """`secteur=restauration,budget=50` -> Profile; ValueError on an unknown key or bad budget."""
    values: dict[str, object] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        field = _PROFILE_KEYS.get(key.strip().lower())
        if not sep or field is None or not value.strip():
            raise ValueError(item)
        value = value.strip()
        if field == "monthly_budget_eur":
            values[field] = float(value.replace("€", "").replace(",", ".").strip())
        else:
            values[field] = value
    return Profile.model_validate(values)


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _price(cost: CostRange | None) -> str:
    return format_monthly(cost.min, cost.max) if cost is not None else PRICE_NOT_PUBLISHED


def format_advice(advice: Advice, *, include_answer: bool = True) -> str:
    """The advice as a readable French text block."""
    lines = [advice.answer, ""] if include_answer else [""]
    if advice.notice:
        lines += [advice.notice, ""]
    if advice.tools:
        lines.append(TOOLS_TITLE)
        for tool in advice.tools:
            price = _price(tool.monthly_cost_eur)
            known = tool.monthly_cost_eur is not None
            when = f" (tarif au {format_date(tool.as_of)})" if tool.as_of and known else ""
            lines.append(f"• {tool.name} : {price}{when}")
            lines.append(f"  {tool.why}")
        lines.append("")
    pilot = advice.pilot
    if pilot is not None:
        lines.append(f"{PILOT_TITLE} : {pilot.goal}")
        lines.append(f"  Indicateurs : {' ; '.join(pilot.kpis)}")
        lines += [f"  J{step.day:<3}{step.task}" for step in pilot.steps]
        lines.append(f"  Budget : {format_eur(pilot.budget_eur)} €")
    if advice.sources:
        lines += ["", SOURCES_TITLE]
        lines += [f"[{n}] {s.title} ({s.id})" for n, s in enumerate(advice.sources, start=1)]
    lines.append("")
    if advice.usage is not None and advice.mode == "llm":
        usage = advice.usage
        lines.append(
            MODE_LLM.format(
                provider=provider_name(usage.provider),
                model=usage.model,
                prompt=usage.prompt_tokens,
                completion=usage.completion_tokens,
                cost=f"{usage.cost_eur:.5f}".replace(".", ","),
            )
        )
    else:
        lines.append(MODE_OFFLINE)
    return "\n".join(lines)


def _open_advisor(args: argparse.Namespace, settings: Settings) -> tuple[Advisor, Profile] | str:
    """The advisor and the `--profile` given, or the French message saying what is wrong."""
    from bot.wiring import build_advisor

    try:
        profile = parse_profile(args.profile)
    except ValueError:
        return BAD_PROFILE.format(value=args.profile)
    try:
        return build_advisor(settings), profile
    except (RetrievalError, BotError) as exc:
        return user_message_for(exc)


def _questions(args: argparse.Namespace, stdin: TextIO) -> Iterable[str]:
    if args.question:
        yield " ".join(args.question)
        return
    for line in stdin:
        if line.strip():
            yield line.strip()


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    """Answer the question given, or each line of stdin, with one advisor."""
    opened = _open_advisor(args, settings)
    if isinstance(opened, str):
        return _fail(opened)
    advisor, profile = opened
    return asyncio.run(_ask_all(advisor, _questions(args, sys.stdin), profile, args.json))


async def _ask_all(
    advisor: Advisor, questions: Iterable[str], profile: Profile, as_json: bool
) -> int:
    status = 0
    try:
        for question in questions:
            try:
                advice = await advisor.advise(question, profile=profile)
            except (RetrievalError, BotError) as exc:
                status = 1
                message = user_message_for(exc)
                print(json.dumps({"error": message}, ensure_ascii=False) if as_json else message)
                continue
            if as_json:
                print(json.dumps(advice.to_contract(), ensure_ascii=False), flush=True)
            else:
                print(format_advice(advice), flush=True)
                print()
    finally:
        await advisor.aclose()
    return status


def run_chat(args: argparse.Namespace, settings: Settings) -> int:
    """Interactive French conversation with memory of the session's turns."""
    opened = _open_advisor(args, settings)
    if isinstance(opened, str):
        return _fail(opened)
    advisor, profile = opened
    return asyncio.run(_chat(advisor, profile, settings.history_turns, input))


async def _chat(
    advisor: Advisor, profile: Profile, history_turns: int, read: Callable[[str], str]
) -> int:
    history: list[Turn] = []
    print(CHAT_WELCOME)
    try:
        while True:
            try:
                line = (await asyncio.to_thread(read, CHAT_PROMPT)).strip()
            except EOFError:
                print()
                break
            if line in ("/quitter", "/quit", "/exit"):
                break
            if line.startswith("/profil"):
                try:
                    profile = parse_profile(line.removeprefix("/profil").strip())
                    print(CHAT_PROFILE_SET.format(profile=profile.model_dump(exclude_none=True)))
                except ValueError:
                    print(BAD_PROFILE.format(value=line))
                continue
            if not line:
                continue
            advice = await _chat_turn(advisor, line, profile, history)
            if advice is not None:
                history = [*history, Turn(question=line, answer=advice.answer)][-history_turns:]
    finally:
        await advisor.aclose()
    print(CHAT_BYE)
    return 0


async def _chat_turn(
    advisor: Advisor, question: str, profile: Profile, history: list[Turn]
) -> Advice | None:
    shown = ""

    async def on_text(text: str) -> None:
        nonlocal shown
        if text.startswith(shown):
            sys.stdout.write(text[len(shown) :])
            sys.stdout.flush()
            shown = text

    try:
        advice = await advisor.advise(question, profile=profile, history=history, on_text=on_text)
    except InvalidQueryError as exc:
        print(user_message_for(exc))
        return None
    except (RetrievalError, BotError) as exc:
        print(user_message_for(exc))
        return None
    if shown and advice.mode == "llm":
        print(format_advice(advice, include_answer=False))
    else:
        if shown:
            print("\n" + STREAM_INTERRUPTED)
        print(format_advice(advice))
    print()
    return advice


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    """Check settings, knowledge, index and LLM; exit 1 when something is broken."""
    lines = [DOCTOR_CONFIG_OK.format(path=settings.pilote_ia_data_dir)]
    lines += _check_knowledge(settings)
    lines += _check_index(settings)
    lines += asyncio.run(_check_llm(settings))
    broken = sum(1 for line in lines if line.startswith("❌"))
    print("\n".join(lines))
    print(DOCTOR_BROKEN.format(n=broken) if broken else DOCTOR_ALL_OK)
    return 1 if broken else 0


def _check_knowledge(settings: Settings) -> list[str]:
    from retrieval import load_fiches

    fiches, errors = load_fiches(settings.knowledge_dir)
    lines = [DOCTOR_KNOWLEDGE_OK.format(n=len(fiches), path=settings.knowledge_dir)]
    if errors:
        lines.append(DOCTOR_KNOWLEDGE_BAD.format(n=len(errors), first=errors[0]))
    return lines


def _check_index(settings: Settings) -> list[str]:
    from bot.wiring import open_knowledge

    try:
        kb = open_knowledge(settings, build_if_empty=False, progress=False)
    except (RetrievalError, BotError) as exc:
        return [DOCTOR_INDEX_BAD.format(message=user_message_for(exc))]
    try:
        if kb.is_empty():
            return [DOCTOR_INDEX_EMPTY]
        started = time.perf_counter()
        kb.search("pilote de deux semaines", k=1)
        ms = round((time.perf_counter() - started) * 1000)
        model = kb.query_embedder().model_name
        return [DOCTOR_INDEX_OK.format(n=len(kb.fiches()), model=model, ms=ms)]
    except (RetrievalError, BotError) as exc:
        return [DOCTOR_INDEX_BAD.format(message=user_message_for(exc))]
    finally:
        kb.close()


async def _check_llm(settings: Settings) -> list[str]:
    from bot.drafting import probe
    from bot.wiring import build_llm_client

    client = build_llm_client(settings)
    if client is None:
        return [DOCTOR_OFFLINE]
    try:
        results = await probe(client)
    finally:
        await client.aclose()
    return [_probe_line(result, client.first_token_timeout_s) for result in results]


def _seconds(value: float | None) -> str:
    return DOCTOR_UNKNOWN if value is None else f"{value:.1f}".removesuffix(".0").replace(".", ",")


def _probe_line(result: ProbeResult, first_limit: float) -> str:
    """One French line saying whether a realistic answer fits the time limits."""
    from bot.llm.client import LLMTimeoutError

    endpoint, completion = result.endpoint, result.completion
    speed = completion.tokens_per_s if completion else None
    values = {
        "provider": provider_name(endpoint.provider),
        "model": endpoint.model,
        "seconds": _seconds(result.seconds),
        "timeout": _seconds(result.timeout_s),
        "first": _seconds(completion.first_token_s if completion else None),
        "first_limit": _seconds(first_limit),
        "speed": DOCTOR_UNKNOWN if speed is None else f"{speed:.0f}",
        "format": DOCTOR_FORMATS[completion.response_format] if completion else DOCTOR_UNKNOWN,
        "reason": result.reason,
    }
    if result.reason is None:
        tight = result.seconds > TIGHT_SHARE * result.timeout_s
        return (DOCTOR_LLM_TIGHT if tight else DOCTOR_LLM_OK).format(**values)
    if isinstance(result.error, LLMTimeoutError):
        slow = result.error.stage == "total"
        return (DOCTOR_LLM_SLOW if slow else DOCTOR_LLM_NO_FIRST).format(**values)
    if isinstance(result.error, BotError):
        message = user_message_for(result.error).split(".")[0]
        return DOCTOR_LLM_BAD.format(message=message, **values)
    return DOCTOR_LLM_UNUSABLE.format(**values)
