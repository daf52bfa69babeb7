"""Writing the offline answer in French: short sentences for a phone screen.

Every function here is given what to say (tools, sentences, numbers) and only words it;
the choices are made in bot/tool_choice.py and bot/offline.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot import messages as msg
from bot.advice import PilotStep
from bot.catalogue import CatalogueTool, format_date, format_eur, format_monthly
from bot.keywords import fold_words
from bot.sentences import Sentence

ILLUSTRATIVE_KINDS = frozenset({"marketing", "illustrative"})
MAX_MODEL_ROWS = 6
COMPARED = 2  # tools whose prices are weighed against each other
START_STEPS = 3  # the first days of the plan, for "je commence comment ?"


def names(tools: Sequence[CatalogueTool]) -> str:
    """ "A", "A et B", "A, B et C"."""
    short = [t.short_name for t in tools]
    return short[0] if len(short) == 1 else f"{', '.join(short[:-1])} et {short[-1]}"


def with_price(tool: CatalogueTool) -> str:
    """ "Make (0 à 18 €/mois)"."""
    return f"{tool.short_name} ({tool.price_text()})"


def need_sentence(label: str, tools: Sequence[CatalogueTool]) -> str:
    """What to try first for the need, the rest as options."""
    first, rest = tools[0], list(tools[1:])
    text = msg.NEED_OPENING.format(label=label, first=with_price(first))
    if rest:
        text += msg.NEED_THEN.format(rest=names(rest))
    return text + msg.NEED_CLOSING


def second_need_sentence(label: str, tools: Sequence[CatalogueTool]) -> str:
    """The tools for the other need the message states ("et poster sur Insta")."""
    return msg.SECOND_NEED.format(label=label, tools=", ".join(map(with_price, tools)))


def cheaper_sentence(tools: Sequence[CatalogueTool], before_max: float | None) -> str:
    """The cheapest combination, its monthly total and the previous one's."""
    priced = [t for t in tools if t.price is not None]
    low = sum(t.price[0] for t in priced if t.price)
    high = sum(t.price[1] for t in priced if t.price)
    text = msg.CHEAPER.format(tools=", ".join(with_price(t) for t in tools))
    if len(priced) >= 2:  # one tool's price is already its total
        text += msg.CHEAPER_TOTAL.format(total=format_monthly(low, high))
    if before_max is not None and len(priced) == len(tools) and before_max > high:
        text += msg.CHEAPER_BEFORE.format(before=format_monthly(before_max, before_max))
    free = [t.short_name for t in tools if t.free_start]
    # "start with the free offers" only when there is one
    return text + "." + (_start_free(free) if free else msg.PAY_MONTHLY)


def fits_budget_sentence(tools: Sequence[CatalogueTool], budget: float) -> str:
    """The proposal already fits the budget the owner gives."""
    text = msg.FITS_BUDGET.format(
        budget=format_eur(budget), tools=", ".join(with_price(t) for t in tools)
    )
    free = [t.short_name for t in tools if t.free_start]
    return text + (_start_free(free) if free else "")


def nothing_cheaper_sentence(tools: Sequence[CatalogueTool], *, free_asked: bool = False) -> str:
    """The proposal is already the cheapest the catalogue offers for this need (and, when
    the owner asked for free, none of it is)."""
    free = [t.short_name for t in tools if t.free_start]
    said = msg.NOTHING_FREE if free_asked and not free else msg.NOTHING_CHEAPER
    text = said.format(tools=", ".join(with_price(t) for t in tools))
    return text + (_start_free(free) if free else "")


def price_verdict(tools: Sequence[CatalogueTool]) -> str:
    """Which of the tools compared costs least, or that they cost the same ("" when a price
    is not published)."""
    prices = [t.price for t in tools if t.price is not None]
    if len(prices) < COMPARED or len(prices) != len(tools):
        return ""
    if len(set(prices)) == 1:
        return msg.SAME_PRICE.format(price=format_monthly(*prices[0]))
    _, cheapest = min(zip(prices, tools, strict=True), key=lambda pair: pair[0][::-1])
    return msg.CHEAPEST_OF.format(tool=cheapest.short_name)


def start_sentence(tool: CatalogueTool, steps: Sequence[PilotStep]) -> str:
    """The first days of the plan, for "ok et je commence comment ?"."""
    days: dict[int, list[str]] = {}
    for step in steps[:START_STEPS]:
        days.setdefault(step.day, []).append(_lower_first(step.task.rstrip(".")))
    first = " ; ".join(msg.START_STEP.format(day=d, tasks=", ".join(t)) for d, t in days.items())
    return msg.START_WITH.format(tool=tool.short_name, steps=first)


def simpler_sentence(tool: CatalogueTool, label: str) -> str:
    """One tool alone, for "plus simple ?"."""
    return msg.SIMPLER.format(tool=with_price(tool), label=label)


def _lower_first(text: str) -> str:
    """ "Mesurer la situation" -> "mesurer la situation" (not "WhatsApp" -> "whatsApp")."""
    head = text.split(" ", 1)[0]
    return text[:1].lower() + text[1:] if head[1:] == head[1:].lower() else text


def cost_sentence(tools: Sequence[CatalogueTool]) -> str:
    """The monthly cost of each tool of the previous proposal and the total."""
    priced = [t.price for t in tools if t.price is not None]
    listed = ", ".join(with_price(t) for t in tools)
    if not priced:  # no total to add up: "soit gratuit" would be false
        return msg.COST_UNPUBLISHED.format(tools=listed) + "."
    total = format_monthly(sum(p[0] for p in priced), sum(p[1] for p in priced))
    unknown = msg.COST_TOTAL_UNKNOWN if len(priced) < len(tools) else ""
    return msg.COST_OF_PROPOSAL.format(tools=listed, total=total) + unknown + "."


def no_card_sentence(name: str, same_kind: Sequence[CatalogueTool]) -> str:
    """A product the catalogue has no card for, and the tools of its kind it has."""
    text = msg.NO_CARD.format(name=name)
    if same_kind:
        text += " " + msg.NO_CARD_SAME_KIND.format(tools=", ".join(map(with_price, same_kind)))
    return text


def another_sentence(tools: Sequence[CatalogueTool]) -> str:
    """Other tools than those already proposed."""
    if not tools:
        return msg.NO_OTHER
    return msg.ANOTHER.format(tools=", ".join(with_price(t) for t in tools))


def case_sentence(title: str, source_kind: str, number: int) -> str:
    """The closest case, said to be an example when it proves nothing."""
    template = msg.CASE_ILLUSTRATIVE if source_kind in ILLUSTRATIVE_KINDS else msg.CASE_REAL
    return template.format(title=title, n=number)


def cited(sentences: Sequence[Sentence], numbers: dict[str, int]) -> str:
    """The sentences, each group from one fiche followed by its citation marker."""
    parts: list[str] = []
    for i, sentence in enumerate(sentences):
        text = sentence.text[:1].upper() + sentence.text[1:]  # list items start in lowercase
        last_of_fiche = i + 1 == len(sentences) or sentences[i + 1].fiche_id != sentence.fiche_id
        if last_of_fiche and sentence.fiche_id in numbers:
            ending = "…" if text.endswith("…") else "."
            text = f"{text.rstrip('.…;: ')} [{numbers[sentence.fiche_id]}]{ending}"
        elif text[-1:] not in ".…!?":
            text = text.rstrip(";: ") + "."  # a list item ends without a full stop
        parts.append(text)
    return " ".join(parts)


def tool_price_sentence(tool: CatalogueTool) -> str:
    """ "ChatGPT : 0 à 23 €/mois (TTC, tarif relevé le 2026-11-23)."."""
    text = msg.TOOL_PRICE.format(name=tool.name, price=tool.price_text())
    if tool.price is not None and tool.price[1] > 0 and tool.price_tax in ("HT", "TTC"):
        text += msg.PRICE_DETAIL.format(tax=tool.price_tax, date=format_date(tool.as_of or "?"))
    return text + "."


def tool_hosting_sentence(tool: CatalogueTool) -> str:
    """ "Calendly : données traitées hors de l'UE (États-Unis). Prestataire américain…"."""
    where = msg.HOSTING_REGIONS.get(tool.hosting_region)
    if where is None:
        return ""
    text = msg.TOOL_HOSTING.format(name=tool.short_name, where=where)
    note = tool.hosting_note.strip()
    if note:
        text += f", {note}" if "(" in note else f" ({note})"
    gdpr = tool.gdpr.strip().rstrip(".")
    parts = re.split(r"[,;]", gdpr, maxsplit=1)
    if len(parts) == 2 and fold_words(parts[0]) in fold_words(text):  # "Éditeur français" twice
        gdpr = parts[1].strip()
    return f"{text}. {gdpr[:1].upper()}{gdpr[1:]}." if gdpr else text + "."


def why(tool: CatalogueTool, category_why: str) -> str:
    """One sentence on what the tool brings, with its free start and EU hosting."""
    perks = []
    if tool.price is not None and tool.price[1] == 0:
        perks.append("gratuit")
    elif tool.free_start:
        perks.append("offre gratuite pour commencer")
    if tool.eu_hosted:
        perks.append("données dans l'UE")
    if not perks:
        return category_why
    text = ", ".join(perks)
    return f"{category_why} {text[0].upper()}{text[1:]}."


def model_price_table(rows: Sequence[tuple[CatalogueTool, str, float, float]]) -> str:
    """Token prices of several models, one line each, with the oldest date read."""
    shown = list(rows)[:MAX_MODEL_ROWS]
    dates = sorted(filter(None, (tool.as_of for tool, *_ in shown)))
    lines = [msg.MODEL_PRICES_TITLE.format(date=format_date(dates[0]) if dates else "?")]
    for tool, model, input_eur, output_eur in shown:
        vendor = tool.short_name
        prices = {
            "input": format_eur(round(input_eur, 3)),
            "output": format_eur(round(output_eur, 3)),
        }
        lines.append(msg.MODEL_PRICE_LINE.format(model=model, vendor=vendor, **prices))
    lines.append(msg.MODEL_PRICES_NOTE)
    return "\n".join(lines)


def _start_free(names: Sequence[str]) -> str:
    """ "Commencez par l'offre gratuite de Canva et d'Asana…" (elided before a vowel)."""
    of = [f"d'{n}" if fold_words(n[:1]) in _VOWELS else f"de {n}" for n in names]
    return msg.START_FREE.format(tools=" et ".join(of))


_VOWELS = frozenset("aeiouy")
