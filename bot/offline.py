"""The offline composer: advice from the retrieved fiches alone, with no LLM.

It detects the use-case family, picks 2-4 catalogue tools that fit the need and the budget,
takes the two-week plan from that family's pilot guide and writes a short summary from the
closest case study. Used when no LLM is configured and whenever the LLM fails.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.advice import Advice, Profile, SourceRef, ToolPick, Turn
from bot.catalogue import Catalogue, CatalogueTool, PilotTemplates, normalise
from bot.grounding import normalise_pilot
from bot.messages import NOTHING_FOUND
from retrieval.models import Fiche, Hit

MIN_TOOLS, MAX_TOOLS = 2, 3
MAX_SENTENCE_CHARS = 220

FAMILY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "messages-clients": (
        "message",
        "whatsapp",
        "repondre",
        "reponse",
        "sms",
        "mail",
        "avis",
        "commande",
        "reservation",
        "telephone",
        "appel",
        "rendez vous",
        "client",
        "messagerie",
        "chatbot",
    ),
    "comptabilite": (
        "compta",
        "factur",
        "ocr",
        "depense",
        "note de frais",
        "tva",
        "bilan",
        "rapproch",
        "expert comptable",
        "ticket",
        "recu",
    ),
    "contenu-marketing": (
        "post",
        "reseaux sociaux",
        "instagram",
        "facebook",
        "linkedin",
        "newsletter",
        "marketing",
        "contenu",
        "blog",
        "seo",
        "fiche produit",
        "rediger",
        "publication",
        "site",
        "traduire",
        "traduction",
    ),
    "visuels-video": (
        "image",
        "photo",
        "visuel",
        "video",
        "logo",
        "affiche",
        "avatar",
        "rendu",
        "illustration",
        "dessin",
        "3d",
    ),
    "reunions-notes": (
        "reunion",
        "compte rendu",
        "comptes rendus",
        "transcri",
        "dicte",
        "resume",
        "audio",
        "visio",
        "notes",
        "enregistr",
    ),
    "devis-admin": (
        "devis",
        "administratif",
        "courrier",
        "contrat",
        "relance",
        "dossier",
        "formulaire",
        "paperasse",
        "juridique",
        "acte",
    ),
    "automatisation": (
        "automatis",
        "workflow",
        "zapier",
        "make",
        "n8n",
        "tableur",
        "relier",
        "connecter",
        "integration",
        "repetitif",
        "api",
    ),
}
FAMILY_LABELS = {
    "messages-clients": "les messages clients",
    "comptabilite": "la comptabilité et les factures",
    "contenu-marketing": "les contenus marketing",
    "visuels-video": "les visuels et les vidéos",
    "reunions-notes": "les comptes rendus de réunion",
    "devis-admin": "les devis et l'administratif",
    "automatisation": "l'automatisation des tâches répétitives",
}
FAMILY_CATEGORIES = {
    "messages-clients": ("messagerie", "assistant", "automatisation", "reservation"),
    "comptabilite": ("comptabilite", "automatisation", "assistant"),
    "contenu-marketing": ("assistant", "image", "site-seo", "traduction"),
    "visuels-video": ("image", "video", "avatar-video"),
    "reunions-notes": ("transcription", "assistant"),
    "devis-admin": ("assistant", "automatisation", "comptabilite"),
    "automatisation": ("automatisation", "agent", "llm-api", "assistant"),
}
WHY_BY_CATEGORY = {
    "assistant": "Rédige des brouillons (réponses, textes) que vous relisez avant envoi.",
    "llm-api": "Modèle payé à l'usage, à brancher dans vos outils ou un workflow.",
    "image": "Crée des visuels à partir d'une simple description.",
    "video": "Produit de courtes vidéos à partir d'un texte ou d'une image.",
    "avatar-video": "Fait des vidéos avec un présentateur virtuel (à signaler comme IA).",
    "transcription": "Transcrit et résume vos réunions ou vos appels.",
    "comptabilite": "Lit les factures et prépare la comptabilité.",
    "messagerie": "Centralise les messages clients avec des réponses rapides.",
    "automatisation": "Relie vos outils sans développement (messages, tableur, e-mails).",
    "site-seo": "Aide à rédiger et référencer les pages de votre site.",
    "traduction": "Traduit vos textes et messages clients.",
    "reservation": "Gère les réservations et les rappels de rendez-vous.",
    "agent": "Enchaîne plusieurs tâches seul : à surveiller de près.",
}
_CHEAPER = re.compile(r"moins cher|gratuit|pas cher|petit budget|economi|budget serre|cout")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-ZÀ-ÖØ-Ý«\"0-9])")
_DOMAIN_WORDS = frozenset(
    {
        "ia",
        "ai",
        "intelligence",
        "outil",
        "outils",
        "pilote",
        "test",
        "essai",
        "kpi",
        "indicateur",
        "indicateurs",
        "budget",
        "prix",
        "cout",
        "tarif",
        "abonnement",
        "rgpd",
        "cnil",
        "act",
        "aide",
        "aides",
        "subvention",
        "bpifrance",
        "llm",
        "modele",
        "chatgpt",
        "mistral",
        "deepseek",
        "qwen",
        "glm",
        "claude",
        "gpt",
        "api",
        "go",
        "roi",
    }
)
_STOPWORDS = frozenset(
    [
        "avec",
        "dans",
        "pour",
        "plus",
        "moins",
        "mais",
        "sans",
        "tout",
        "tous",
        "toute",
        "elle",
        "elles",
        "nous",
        "vous",
        "leur",
        "leurs",
        "cette",
        "celui",
        "quoi",
        "quel",
        "quelle",
        "quels",
        "comment",
        "faire",
        "avoir",
        "etre",
        "suis",
        "sont",
        "est",
        "une",
        "des",
        "les",
        "que",
        "qui",
        "sur",
        "par",
        "pas",
        "son",
        "ses",
        "mes",
        "mon",
        "notre",
        "votre",
        "vos",
        "aux",
        "entre",
        "aussi",
        "bien",
        "tres",
    ]
)


def detect_family(
    question: str, hits: Sequence[Hit], lookup: Callable[[str], Fiche | None]
) -> str | None:
    """The use-case family of the question: its own keywords first, then the hits' fiches."""
    text = f" {normalise(question)} "
    scores: dict[str, float] = dict.fromkeys(FAMILY_KEYWORDS, 0.0)
    for family, words in FAMILY_KEYWORDS.items():
        scores[family] += 2.0 * sum(1 for word in words if f" {word}" in text)
    for rank, hit in enumerate(hits[:6]):
        fiche = lookup(hit.fiche_id)
        families = fiche.meta.get("use_cases") if fiche else None
        if families and len(families) < len(FAMILY_KEYWORDS):  # the generic guide says nothing
            for family in families:
                if family in scores:
                    scores[family] += 1.0 / (1 + rank)
    best = max(scores, key=lambda family: scores[family])
    return best if scores[best] > 0 else None


def is_relevant(question: str, hits: Sequence[Hit]) -> bool:
    """True when the question names a use case or a topic of the base, or shares content
    words with the top hits."""
    if not hits:
        return False
    text = f" {normalise(question)} "
    if any(f" {word}" in text for words in FAMILY_KEYWORDS.values() for word in words):
        return True
    words = {w for w in text.split() if w not in _STOPWORDS}
    if words & _DOMAIN_WORDS:
        return True
    stems = {w[:6] for w in words if len(w) > 3}
    found = normalise(" ".join(f"{hit.title} {hit.text}" for hit in hits[:5]))
    return any(stem in found for stem in stems)


def _tool_rank(
    tool: CatalogueTool, preferred: Sequence[str], family: str | None, cheaper: bool
) -> tuple[float, ...]:
    retrieved = 0 if tool.id in preferred or cheaper else 1
    api_penalty = 1 if tool.category in ("llm-api", "agent") and family != "automatisation" else 0
    usual = FAMILY_CATEGORIES.get(family or "", ())
    off_family = 0 if not usual or tool.category in usual else 1
    eu = 0 if tool.eu_hosted else 1
    return (api_penalty, off_family, retrieved, tool.price_min, tool.price_max, eu)


def choose_tools(
    catalogue: Catalogue,
    family: str | None,
    *,
    profile: Profile | None = None,
    preferred: Sequence[str] = (),
    cheaper: bool = False,
    exclude: Sequence[str] = (),
    limit: int = MAX_TOOLS,
) -> list[CatalogueTool]:
    """2-4 tools for the family that fit the budget: cheapest first, EU hosting on ties,
    one per category."""
    profile = profile or Profile()
    pool = catalogue.for_use_case(family) if family else []
    pool += [t for t in (catalogue.get(i) for i in preferred) if t and t not in pool]
    fitting = [
        t
        for t in pool
        if t.fits(budget=profile.monthly_budget_eur, sector=profile.sector) and t.id not in exclude
    ]
    if len(fitting) < MIN_TOOLS:  # too strict: keep the exclusions and budget, drop the sector
        fitting = [
            t for t in pool if t.fits(budget=profile.monthly_budget_eur) and t.id not in exclude
        ] or fitting
    ranked = sorted(fitting, key=lambda t: _tool_rank(t, preferred, family, cheaper))
    chosen: list[CatalogueTool] = []
    for tool in ranked:
        if all(tool.category != other.category for other in chosen):
            chosen.append(tool)
    for tool in ranked:  # fewer categories than MIN_TOOLS: allow a second tool in one
        if len(chosen) >= MIN_TOOLS:
            break
        if tool not in chosen:
            chosen.append(tool)
    return chosen[:limit]


def why_for(tool: CatalogueTool) -> str:
    """One French sentence saying what the tool brings."""
    why = WHY_BY_CATEGORY.get(tool.category, "Outil du catalogue adapté à ce besoin.")
    if tool.price_min == 0:
        why += " Offre gratuite pour commencer."
    elif tool.eu_hosted:
        why += " Données hébergées dans l'UE."
    return why


def _sections(body: str) -> dict[str, str]:
    parts = re.split(r"^##\s+(.+)$", body, flags=re.MULTILINE)
    return {normalise(parts[i]): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def first_sentence(text: str) -> str:
    """The first sentence of a paragraph, without Markdown list marks, capped in length."""
    text = " ".join(re.sub(r"^\s*[-*]\s+", "", text, flags=re.MULTILINE).split())
    sentence = _SENTENCE_END.split(text, maxsplit=1)[0] if text else ""
    if len(sentence) > MAX_SENTENCE_CHARS:
        sentence = sentence[: MAX_SENTENCE_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return sentence


def _section(body: str, *prefixes: str) -> str:
    sections = _sections(body)
    for prefix in prefixes:  # in order of preference
        for heading, text in sections.items():
            if heading.startswith(prefix):
                return first_sentence(text)
    return ""


def _short_name(tool: CatalogueTool) -> str:
    return re.sub(r"\s*\(.*?\)", "", tool.name).strip() or tool.name


def _format_price(tool: CatalogueTool) -> str:
    def euros(value: float) -> str:
        return f"{value:g}".replace(".", ",")

    if tool.price_max == 0:
        return "gratuit"
    if tool.price_min == tool.price_max:
        return f"{euros(tool.price_max)} €/mois"
    return f"{euros(tool.price_min)} à {euros(tool.price_max)} €/mois"


def closest_case(
    hits: Sequence[Hit],
    family: str | None,
    cases: Sequence[Fiche],
    lookup: Callable[[str], Fiche | None],
    sector: str | None,
) -> Fiche | None:
    """The best-ranked case study among the hits, else a case of the same family and sector."""
    for hit in hits:
        if hit.type == "case":
            fiche = lookup(hit.fiche_id)
            if fiche and (family is None or family in (fiche.meta.get("use_cases") or ())):
                return fiche
    same_family = [c for c in cases if family and family in (c.meta.get("use_cases") or ())]
    same_sector = [c for c in same_family if sector and sector in c.sectors]
    for group in (same_sector, same_family):
        if group:
            return group[0]
    return None


def summary(
    family: str | None,
    lead: Hit | None,
    case: Fiche | None,
    tools: Sequence[CatalogueTool],
) -> str:
    """2-4 short French sentences: the best passage or the closest case, what to try first.

    Citation markers follow the order of `_sources`: the lead fiche is [1], the case [2].
    """
    sentences: list[str] = []
    number = 1
    if lead is not None and (case is None or lead.fiche_id != case.id):
        gist = first_sentence(lead.text)
        sentences.append(f"D'après « {lead.title} » : {gist.rstrip('.')} [{number}].")
        number += 1
    if case is not None:
        kind = "" if case.meta.get("sourced", True) else " (exemple illustratif)"
        problem = _section(case.body, "probleme", "situation", "contexte")
        result = _section(case.body, "resultat", "bilan")
        sentences.append(f"Cas proche{kind} : {case.title} [{number}].")
        if number == 1 and problem:  # the case leads: tell its story
            sentences.append(problem)
        if result:
            sentences.append(result)
    if tools:
        names = ", ".join(f"{_short_name(t)} ({_format_price(t)})" for t in tools)
        label = FAMILY_LABELS.get(family or "", "ce besoin")
        sentences.append(
            f"Pour {label}, vous pouvez tester {names} sur deux semaines, avec une mesure "
            "au jour 1 et une décision au jour 14."
        )
    return " ".join(sentences)


def compose(
    question: str,
    *,
    hits: Sequence[Hit],
    lookup: Callable[[str], Fiche | None],
    cases: Sequence[Fiche],
    catalogue: Catalogue,
    templates: PilotTemplates,
    profile: Profile | None = None,
    history: Sequence[Turn] = (),
    previous_tools: Sequence[str] = (),
    degraded: bool = False,
) -> Advice:
    """Advice built from the retrieved fiches alone."""
    profile = profile or Profile()
    if not is_relevant(question, hits):
        return _nothing_found(templates, profile, degraded)
    family = detect_family(question, hits, lookup)
    case = closest_case(hits, family, cases, lookup, profile.sector)
    preferred = [h.fiche_id for h in hits if h.type == "tool"]
    preferred += list(case.meta.get("tools") or ()) if case else []
    cheaper = bool(_CHEAPER.search(normalise(question))) and bool(history)
    tools = choose_tools(
        catalogue,
        family,
        profile=profile,
        preferred=preferred,
        cheaper=cheaper,
        exclude=previous_tools if cheaper else (),
    )
    picks: list[ToolPick] = [tool.to_pick(why_for(tool)) for tool in tools]
    template = templates.for_use_case(family)
    pilot = normalise_pilot(
        template=template,
        tools=picks,
        budget_eur=template.budget_eur if template else None,
        profile=profile,
    )
    lead = hits[0] if hits else None
    if case is not None and all(hit.fiche_id != case.id for hit in hits):
        case = None  # only a case the search actually found is worth quoting
    lead_fiche = lookup(lead.fiche_id) if lead else None
    sources = _sources(lead_fiche, case, hits, template.guide_id if template else None, lookup)
    return Advice(
        answer=summary(family, lead, case, tools) or NOTHING_FOUND,
        tools=picks,
        pilot=pilot,
        sources=sources,
        mode="offline",
        usage=None,
        degraded=degraded,
    )


def _sources(
    lead: Fiche | None,
    case: Fiche | None,
    hits: Sequence[Hit],
    guide_id: str | None,
    lookup: Callable[[str], Fiche | None],
) -> list[SourceRef]:
    ordered: list[Fiche] = [f for f in (lead, case) if f is not None]
    ordered += [f for f in (lookup(h.fiche_id) for h in hits[:3]) if f is not None]
    guide = lookup(guide_id) if guide_id else None
    if guide is not None:
        ordered.append(guide)
    refs: list[SourceRef] = []
    for fiche in ordered:
        if all(ref.id != fiche.id for ref in refs):
            refs.append(SourceRef(id=fiche.id, title=fiche.title))
    return refs[:4]


def _nothing_found(templates: PilotTemplates, profile: Profile, degraded: bool) -> Advice:
    pilot = normalise_pilot(template=templates.for_use_case(None), profile=profile)
    return Advice(
        answer=NOTHING_FOUND,
        tools=[],
        pilot=pilot,
        sources=[],
        mode="offline",
        usage=None,
        degraded=degraded,
    )
