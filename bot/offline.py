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
_ANOTHER = re.compile(r"autre (?:option|outil|solution|chose|piste)|sans reprendre|a part")
_TRANSLATION = re.compile(r"tradu|langue|anglais|allemand|espagnol|italien|etranger|touris")
# developer-facing categories, only proposed for automation questions
TECHNICAL_CATEGORIES = frozenset({"llm-api", "agent"})
# sections of a fact or guide that hold its gist, in order of preference
GIST_SECTIONS = ("en bref", "ce qu une pme doit retenir", "pour une pme", "a retenir")
# sentences of a case that talk about the source article rather than the business
_META_SENTENCE = re.compile(
    r"^(?:corrections?\b|nuance\b|l'article\b|selon l'article\b|cas illustratif\b|aucun\b"
    r"|hypoth[eè]ses?\b|sans conna[iî]tre\b|seule?s? (?:la|le|les)\b)",
    re.IGNORECASE,
)
MAX_SUMMARY_SENTENCES = 4
SHORT_SENTENCE = 90  # a "how" sentence this short gets the next one too
# the plan used when no pilot guide covers the need (the generic guide has no template)
GENERIC_STEPS: tuple[tuple[int, str], ...] = (
    (1, "Choisir une seule tâche et mesurer le temps qu'elle prend aujourd'hui"),
    (2, "Ouvrir l'offre gratuite ou un mois d'essai de l'outil retenu"),
    (3, "Écrire une consigne type et la tester sur 5 cas réels"),
    (5, "Utiliser l'outil chaque jour sur cette tâche, tout relire avant envoi"),
    (8, "Mi-parcours : noter le temps gagné et les erreurs corrigées"),
    (10, "Ajuster la consigne selon les erreurs relevées"),
    (12, "Calculer le coût réel par mois (abonnement et usage)"),
    (14, "Bilan : comparer au jour 1 et décider de continuer, d'ajuster ou d'arrêter"),
)
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
    usual = FAMILY_CATEGORIES.get(family or "", ())
    off_family = 0 if not usual or tool.category in usual else 1
    eu = 0 if tool.eu_hosted else 1
    technical = 1 if tool.category in TECHNICAL_CATEGORIES and family != "automatisation" else 0
    if cheaper:  # the lowest real monthly bill first
        return (technical, off_family, tool.price_max, tool.price_min, eu)
    # a free way in first, then data kept in the EU, then the price
    return (technical, off_family, retrieved, 0 if tool.price_min == 0 else 1, eu, tool.price_min,
            tool.price_max)  # fmt: skip


def choose_tools(
    catalogue: Catalogue,
    family: str | None,
    *,
    profile: Profile | None = None,
    preferred: Sequence[str] = (),
    cheaper: bool = False,
    exclude: Sequence[str] = (),
    limit: int = MAX_TOOLS,
    question: str = "",
) -> list[CatalogueTool]:
    """2-4 tools for the family that fit the budget, one per category: a free way in and EU
    hosting first (the lowest bill first when `cheaper`). Translation tools only when the
    question is about languages; API and agent tools only for automation."""
    profile = profile or Profile()
    pool = catalogue.for_use_case(family) if family else []
    pool += [t for t in (catalogue.get(i) for i in preferred) if t and t not in pool]
    if not _TRANSLATION.search(normalise(question)):
        pool = [t for t in pool if t.category != "traduction"] or pool
    if family != "automatisation":
        plain = [t for t in pool if t.category not in TECHNICAL_CATEGORIES]
        pool = plain if len(plain) >= MIN_TOOLS else pool
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
    if tool.category == "llm-api" and tool.price_max == 0:
        why = "Fait tourner un modèle ouvert sur vos machines : demande un peu de technique."
    else:
        why = WHY_BY_CATEGORY.get(tool.category, "Outil du catalogue adapté à ce besoin.")
    perks = []
    if tool.price_max == 0:
        perks.append("gratuit")
    elif tool.price_min == 0:
        perks.append("offre gratuite pour commencer")
    if tool.eu_hosted:
        perks.append("données dans l'UE" if tool.price_min == 0 else "données hébergées dans l'UE")
    if perks:
        text = ", ".join(perks)
        why += f" {text[0].upper()}{text[1:]}."
    return why


def _sections(body: str) -> dict[str, str]:
    parts = re.split(r"^##\s+(.+)$", body, flags=re.MULTILINE)
    return {normalise(parts[i]): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def _cap(sentence: str) -> str:
    if len(sentence) <= MAX_SENTENCE_CHARS:
        return sentence
    return sentence[: MAX_SENTENCE_CHARS - 1].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def sentences(text: str) -> list[str]:
    """The sentences of a Markdown paragraph, without list marks or inline code, capped."""
    text = re.sub(r"^\s*(?:[-*]|\d+\.)\s+", "", text, flags=re.MULTILINE)
    text = " ".join(text.replace("`", "").split())
    return [_cap(part) for part in _SENTENCE_END.split(text) if part] if text else []


def first_sentence(text: str) -> str:
    """The first sentence of a paragraph, without Markdown list marks, capped in length."""
    found = sentences(text)
    return found[0] if found else ""


def _section_sentences(body: str, *prefixes: str) -> list[str]:
    found = _sections(body)
    for prefix in prefixes:  # in order of preference
        for heading, text in found.items():
            if heading.startswith(prefix):
                return sentences(text)
    return []


def _useful(candidates: Sequence[str]) -> str:
    """The first sentence that speaks about the business, not about the source article."""
    return next((c for c in candidates if not _META_SENTENCE.match(c)), "")


def _short_name(tool: CatalogueTool) -> str:
    return re.sub(r"\s*\(.*?\)", "", tool.name).strip() or tool.name


def _format_price(tool: CatalogueTool) -> str:
    return _format_range(tool.price_min, tool.price_max)


def _format_range(low: float, high: float) -> str:
    def euros(value: float) -> str:
        return f"{value:.2f}".rstrip("0").rstrip(".").replace(".", ",")

    if high == 0:
        return "gratuit"
    if low == high:
        return f"{euros(high)} €/mois"
    return f"{euros(low)} à {euros(high)} €/mois"


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


def _names(tools: Sequence[CatalogueTool]) -> str:
    names = [_short_name(t) for t in tools]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} et {names[-1]}"


def _tools_sentence(tools: Sequence[CatalogueTool], mode: str, before: float | None) -> str:
    if not tools:
        return ""
    first, rest = tools[0], list(tools[1:])
    if mode == "cheaper":
        total = _format_range(sum(t.price_min for t in tools), sum(t.price_max for t in tools))
        names = ", ".join(f"{_short_name(t)} ({_format_price(t)})" for t in tools)
        text = f"Version la moins chère : {names}, soit {total} au total"
        if before is not None and before > sum(t.price_max for t in tools):
            text += (
                f", contre {_format_range(before, before)} au plus pour la proposition précédente"
            )
        return (
            text
            + ". Commencez par les offres gratuites et ne payez que si le pilote est concluant."
        )
    if mode == "another":
        return (f"Autre option : {_names(tools)} (détail ci-dessous), à tester de la même façon "
                "sur deux semaines.")  # fmt: skip
    if mode == "info":
        return f"Outils liés à ce sujet : {_names(tools)} (prix ci-dessous)."
    if mode == "info-starter":
        return f"Pour un premier essai à petit prix : {_names(tools)} (détail ci-dessous)."
    then = f", puis {_names(rest)} si besoin" if rest else ""
    return (f"Par où commencer : {_short_name(first)} ({_format_price(first)}){then}, "
            "sur un pilote de deux semaines.")  # fmt: skip


def summary(
    family: str | None,
    lead: Hit | None,
    case: Fiche | None,
    tools: Sequence[CatalogueTool],
    *,
    lead_fiche: Fiche | None = None,
    mode: str = "advice",
    before: float | None = None,
) -> str:
    """2-4 short French sentences: the gist or the closest case, then what to try first.

    `mode` is "advice", "info" (a question about a fact or a rule), "cheaper" or "another"
    (follow-ups). Citation markers follow the order of `_sources`: the lead fiche is [1],
    the case [2].
    """
    parts: list[str] = []
    number = 1
    if mode.startswith("info") and lead_fiche is not None:
        gist = _section_sentences(lead_fiche.body, *GIST_SECTIONS)
        if not gist and lead is not None:
            gist = sentences(lead.text)
        kept = [g for g in gist if not _META_SENTENCE.match(g)][:2]
        if kept:
            kept[-1] = f"{kept[-1].rstrip('.')} [1]."
            parts += kept
            number += 1
    elif mode == "advice":
        if lead is not None and cite_lead(lead, lead_fiche, case):
            point = first_sentence(lead.text)
            parts.append(f"D'après « {lead.title} » : {point.rstrip('.')} [{number}].")
            number += 1
        if case is not None:
            kind = "" if case.meta.get("sourced", True) else " (cas illustratif)"
            parts.append(f"Exemple proche{kind} : « {case.title} » [{number}].")
            hows = [h for h in _section_sentences(case.body, "solution")
                    if not _META_SENTENCE.match(h)]  # fmt: skip
            parts += hows[:2] if hows and len(hows[0]) < SHORT_SENTENCE else hows[:1]
            if case.meta.get("sourced", True):
                result = _useful(_section_sentences(case.body, "resultat", "bilan"))
                if result:
                    parts.append(result)
    if not parts and mode == "advice" and family in FAMILY_LABELS:
        parts.append(
            f"Pour {FAMILY_LABELS[family]}, voici les outils à essayer en premier, prix "
            "du catalogue à l'appui."
        )
    parts = parts[: MAX_SUMMARY_SENTENCES - 1]
    tail = _tools_sentence(tools, mode, before)
    if tail:
        parts.append(tail)
    return " ".join(parts)


def cite_lead(lead: Hit, lead_fiche: Fiche | None, case: Fiche | None) -> bool:
    """Quote the best passage only when no case study tells the story, and never a pilot
    plan (the plan is shown below) or an empty passage."""
    is_plan = lead.type == "guide" and (
        lead_fiche is None or lead_fiche.meta.get("category") == "pilote"
    )
    return case is None and not is_plan and bool(first_sentence(lead.text))


def _mode(question: str, hits: Sequence[Hit], lead: Fiche | None, history: Sequence[Turn]) -> str:
    text = normalise(question)
    if history and _ANOTHER.search(text):
        return "another"
    if history and _CHEAPER.search(text):
        return "cheaper"
    if lead is not None and _is_reference(lead) and _family_hits(question) <= 1:
        return "info"
    return "advice"


def _is_reference(fiche: Fiche) -> bool:
    """A fact sheet or a guide that is not a pilot plan (AI Act, GDPR, aid...)."""
    return fiche.type == "fact" or (
        fiche.type == "guide" and fiche.meta.get("category") != "pilote"
    )


def _family_hits(question: str) -> int:
    """How many use-case keywords the question itself names (best family)."""
    text = f" {normalise(question)} "
    return max(sum(1 for w in words if f" {w}" in text) for words in FAMILY_KEYWORDS.values())


_GENERIC_TITLE_WORDS = frozenset({"ia", "tpe", "pme", "entreprise", "petite", "outil", "outils"})


def _reference_lead(
    question: str, hits: Sequence[Hit], lookup: Callable[[str], Fiche | None]
) -> Fiche | None:
    """Among the top hits, the reference fiche whose title best matches the question."""
    words = {w[:5] for w in normalise(question).split()
             if len(w) > 2 and w not in _STOPWORDS and w not in _GENERIC_TITLE_WORDS}  # fmt: skip
    best: tuple[int, int, Fiche] | None = None
    for rank, hit in enumerate(hits[:3]):
        fiche = lookup(hit.fiche_id)
        if fiche is None or not _is_reference(fiche):
            continue
        title = {w[:5] for w in normalise(fiche.title).split()}
        score = len(words & title)
        if best is None or (score, -rank) > (best[0], best[1]):
            best = (score, -rank, fiche)
    return best[2] if best else None


def _info_tools(
    catalogue: Catalogue, lead: Fiche, profile: Profile, question: str
) -> tuple[list[CatalogueTool], bool]:
    """The tools a reference fiche talks about (True), else general assistants to try for
    free (False); where an EU-hosted tool of the same kind exists, it replaces the others
    (the question is often about data safety)."""
    related = [t for t in (catalogue.get(i) for i in lead.meta.get("related") or ()) if t]
    kinds = {t.category for t in related}
    eu = [t for t in catalogue if t.category in kinds and t.eu_hosted]
    eu_kinds = {t.category for t in eu}
    pool = eu + [t for t in related if t.category not in eu_kinds]
    picks = choose_tools(catalogue, None, profile=profile, preferred=[t.id for t in pool],
                         question=question)  # fmt: skip
    from_sheet = len(picks) >= MIN_TOOLS
    if not from_sheet:  # nothing specific: general assistants to try for free
        starters = sorted(
            (t for t in catalogue if t.category == "assistant" and t not in picks
             and t.fits(budget=profile.monthly_budget_eur)),
            key=lambda t: (not t.eu_hosted, t.price_min > 0, "chin" in normalise(t.data_hosting),
                           t.price_max),
        )  # fmt: skip
        picks += starters[: MIN_TOOLS - len(picks)]
    return picks, from_sheet


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
    follow_up = bool(history) and bool(
        _CHEAPER.search(normalise(question)) or _ANOTHER.search(normalise(question))
    )
    if not follow_up and not is_relevant(question, hits):
        return _nothing_found(templates, profile, degraded)
    family = detect_family(question, hits, lookup)
    lead = hits[0] if hits else None
    lead_fiche = lookup(lead.fiche_id) if lead else None
    reference = _reference_lead(question, hits, lookup)
    mode = _mode(question, hits, reference, history)
    if mode == "info" and reference is not None:
        lead_fiche = reference
        lead = next(h for h in hits if h.fiche_id == reference.id)
    case = closest_case(hits, family, cases, lookup, profile.sector)
    if case is not None and all(hit.fiche_id != case.id for hit in hits):
        case = None  # only a case the search actually found is worth quoting
    previous = [t for t in (catalogue.get(i) for i in previous_tools) if t is not None]
    if mode == "info" and lead_fiche is not None:
        tools, from_sheet = _info_tools(catalogue, lead_fiche, profile, question)
        mode = "info" if from_sheet else "info-starter"
        case = None
        family = None
    else:
        preferred = [h.fiche_id for h in hits if h.type == "tool"]
        preferred += list(case.meta.get("tools") or ()) if case else []
        tools = choose_tools(
            catalogue, family, profile=profile, preferred=preferred,
            cheaper=mode == "cheaper", exclude=previous_tools if mode == "another" else (),
            limit=MIN_TOOLS if mode == "cheaper" else MAX_TOOLS, question=question,
        )  # fmt: skip
    if len(tools) < MIN_TOOLS:  # never fewer than two: widen to the family's usual tools
        extra = choose_tools(catalogue, family, profile=profile, question=question)
        tools += [t for t in extra if t not in tools][: MIN_TOOLS - len(tools)]
    picks: list[ToolPick] = [tool.to_pick(why_for(tool)) for tool in tools]
    template = templates.for_use_case(family)
    pilot = normalise_pilot(
        template=template,
        steps=() if template is not None and template.steps else GENERIC_STEPS,
        tools=picks,
        budget_eur=template.budget_eur if template else None,
        profile=profile,
    )
    before = sum(t.price_max for t in previous) if previous else None
    text = summary(family, lead, case if mode == "advice" else None, tools,
                   lead_fiche=lead_fiche, mode=mode, before=before)  # fmt: skip
    shown_case = case if mode == "advice" else None
    first = lead_fiche
    if mode == "advice" and lead is not None and not cite_lead(lead, lead_fiche, case):
        first = None  # the summary cites the case as [1]
    sources = _sources(first, shown_case, hits, template.guide_id if template else None,
                       lookup, plans=not mode.startswith("info"))  # fmt: skip
    return Advice(
        answer=text or NOTHING_FOUND,
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
    *,
    plans: bool = True,
) -> list[SourceRef]:
    """Cited fiches first, then the top hits (pilot plans only when `plans`), then the
    plan's guide."""
    ordered: list[Fiche] = [f for f in (lead, case) if f is not None]
    found = [f for f in (lookup(h.fiche_id) for h in hits[:3]) if f is not None]
    ordered += [f for f in found if plans or f.meta.get("category") != "pilote"]
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
