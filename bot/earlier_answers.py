"""What the conversation's earlier answers proposed: the tools a follow-up is about, and
"le premier", "les 2" read as the names of those tools."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.advice import Turn
from bot.catalogue import Catalogue
from bot.keywords import fold_words


class EarlierAnswers:
    """Reads the tools out of the conversation's earlier answers."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue

    def previous_subject(self, history: Sequence[Turn]) -> tuple[str, ...]:
        """The tools the owner's previous question named ("c'est quoi Make ?")."""
        return tuple(t.id for t in self.catalogue.named_in(fold_words(history[-1].question)))

    def previous_tools(self, history: Sequence[Turn]) -> tuple[str, ...]:
        """The tools the last answer that proposed some named (not those its example case
        mentions): "combien en tout ?" after a question on the law is about those tools."""
        for turn in reversed(history):
            proposal = _CASE_START.split(turn.answer, maxsplit=1)[0]
            tools = tuple(t.id for t in self.catalogue.named_in(fold_words(proposal)))
            if tools:
                return tools
        return ()

    def rank_named(self, question: str, history: Sequence[Turn]) -> str:
        """ "le premier c'est quoi ?", "et le 2e outil ?": the message with the name of that
        tool of the last proposal in place of its rank, read as if the owner had named it."""
        both = _BOTH.search(question) if history else None
        proposed = self.previous_tools(history) if history else ()
        if both is not None and len(proposed) >= 2:  # "c quoi la diff entre les 2 ?"
            names = [t.short_name for t in map(self.catalogue.get, proposed[:2]) if t]
            return question[: both.start()] + " et ".join(names) + question[both.end() :]
        match = _BY_RANK.search(question) if history else None
        if match is None:
            return question
        rank = _RANKS[fold_words(match.group(1))]
        if not -len(proposed) <= rank < len(proposed):
            return question
        tool = self.catalogue.get(proposed[rank])
        name = tool.short_name if tool is not None else match.group(0)
        return question[: match.start()] + name + question[match.end() :]


# where an answer's example case starts (bot/messages.py CASE_REAL, CASE_ILLUSTRATIVE)
_CASE_START = re.compile(r"\bExemple(?: illustratif \(pas une preuve de résultat\))? : «")


_RANKS = {
    **dict.fromkeys(("premier", "premiere", "1er", "1ere"), 0),
    **dict.fromkeys(("deuxieme", "2eme", "2e", "2nd", "second", "seconde"), 1),
    **dict.fromkeys(("troisieme", "3eme", "3e"), 2),
    **dict.fromkeys(("dernier", "derniere"), -1),
}
_BOTH = re.compile(
    r"\b(?:les|ces) (?:2|deux)(?: outils| logiciels| applis| solutions| trucs)?\b"
    r"(?! (?:mois|jours|semaines|fois|premiers|derniers))",
    re.IGNORECASE,
)
_BY_RANK = re.compile(
    r"\b(?:le|la) (premi[eè]re?|1(?:er|[eè]re)|deuxi[eè]me|2(?:[eè]me|e|nd)|seconde?"
    r"|troisi[eè]me|3(?:[eè]me|e)|derni[eè]re?)\b(?: (?:outil|logiciel|appli|application|truc))?"
    r"(?! (?:mois|jour|semaine|trimestre|fois|pas|temps))",
    re.IGNORECASE,
)
