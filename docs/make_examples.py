"""Write docs/exemples.md: what the Telegram bot prints, offline, for a few owner questions.

    PILOTE_IA_DATA_DIR=/tmp/pilote-ia .venv/bin/python docs/make_examples.py [--all] [--out PATH]

The answers come from the real offline advisor (the index is built on first use) and the
real Telegram formatting, shown as the user reads it (tags removed). `--all` also prints
the longer review set on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bot.advice import Profile, Turn  # noqa: E402
from bot.advisor import Advisor  # noqa: E402
from bot.config import load_settings  # noqa: E402
from bot.errors import BotError  # noqa: E402
from bot.messages import user_message_for  # noqa: E402
from bot.telegram.formatting import format_advice, html_to_plain  # noqa: E402
from bot.wiring import build_advisor  # noqa: E402
from retrieval.errors import RetrievalError  # noqa: E402

# (title, question, profile, follows the previous question)
Example = tuple[str, str, Profile | None, bool]

DOC_EXAMPLES: tuple[Example, ...] = (
    ("Boulangerie : commandes WhatsApp",
     "Je tiens une boulangerie, je croule sous les commandes WhatsApp, que faire ?",
     Profile(sector="restauration", size="2-9", monthly_budget_eur=50), False),
    ("Suite de la conversation : « et moins cher ? »", "et moins cher ?",
     Profile(sector="restauration", size="2-9", monthly_budget_eur=50), True),
    ("Plombier : devis",
     "Je suis plombier, je passe mes soirées à faire des devis, l'IA peut m'aider ?",
     Profile(sector="artisanat-btp", size="seul"), False),
    ("Coiffeuse : rappels de rendez-vous",
     "Je suis coiffeuse et j'ai trop de clientes qui ne viennent pas à leur rendez-vous",
     Profile(sector="beaute-bien-etre", size="2-9"), False),
    ("AI Act", "C'est quoi l'AI Act pour moi, petite entreprise ?", None, False),
    ("Question hors sujet", "Tu as une recette de la tarte tatin ?", None, False),
)  # fmt: skip

REVIEW_EXAMPLES: tuple[Example, ...] = DOC_EXAMPLES + (
    ("Cabinet comptable : factures",
     "Cabinet comptable : on saisit encore les factures fournisseurs à la main",
     Profile(sector="comptabilite-juridique"), False),
    ("Agence immobilière : vidéos",
     "Agence immobilière, je voudrais faire des vidéos de mes biens sans tournage",
     Profile(sector="immobilier"), False),
    ("Restaurant : avis Google", "Comment répondre aux avis Google de mon restaurant ?",
     Profile(sector="restauration"), False),
    ("E-commerce : fiches produits",
     "J'ai une boutique en ligne, 300 fiches produits à rédiger",
     Profile(sector="e-commerce"), False),
    ("Aides", "Quelles aides pour financer un projet d'IA dans ma TPE ?", None, False),
    ("DeepSeek", "deepseek c'est sûr pour mes données clients ?", None, False),
    ("Message vide", "??", None, False),
)  # fmt: skip


async def render(advisor: Advisor, examples: Sequence[Example]) -> list[tuple[str, str, str]]:
    """(title, question, what the user reads) for each example, in one conversation."""
    out: list[tuple[str, str, str]] = []
    history: list[Turn] = []
    for title, question, profile, follows in examples:
        if not follows:
            history = []
        try:
            advice = await advisor.advise(question, profile=profile, history=history)
            shown = html_to_plain(format_advice(advice))
            history.append(Turn(question=question, answer=advice.answer))
        except (BotError, RetrievalError) as exc:
            shown = user_message_for(exc)
        out.append((title, question, shown))
    return out


def markdown(rendered: Sequence[tuple[str, str, str]]) -> str:
    """The examples page."""
    lines = [
        "# Exemples de réponses",
        "",
        "Ce que le bot affiche dans Telegram en mode hors ligne (sans LLM : base de",
        "connaissances seule), pour quelques questions de patrons de TPE. Page générée par",
        "`docs/make_examples.py` ; sous chaque réponse, Telegram affiche trois boutons :",
        "📋 Checklist, 💶 Coûts, 🔄 Autre option.",
        "",
    ]
    for title, question, shown in rendered:
        lines += [f"## {title}", "", f"> {question}", "", "```text", shown.strip(), "```", ""]
    return "\n".join(lines)


async def main(argv: Sequence[str] | None = None) -> int:
    """Render the examples, write the page, optionally print the review set."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all", action="store_true", help="print the review set too")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "exemples.md")
    args = parser.parse_args(argv)
    settings = load_settings().model_copy(update={"llm_provider": None})
    advisor = build_advisor(settings)
    try:
        if args.all:
            for title, question, shown in await render(advisor, REVIEW_EXAMPLES):
                print(f"===== {title}\n> {question}\n\n{shown}\n")
        args.out.write_text(markdown(await render(advisor, DOC_EXAMPLES)), encoding="utf-8")
    finally:
        await advisor.aclose()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
