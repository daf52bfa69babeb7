"""Controlled vocabularies of the knowledge base (see knowledge/README.md)."""

from __future__ import annotations

FICHE_TYPES = ("case", "tool", "guide", "fact")
USER_DOC_TYPE = "doc"
ALL_TYPES = (*FICHE_TYPES, USER_DOC_TYPE)

ALL_SECTORS = "tous"
SECTORS = (
    ALL_SECTORS,
    "restauration",
    "commerce",
    "artisanat-btp",
    "immobilier",
    "comptabilite-juridique",
    "sante",
    "architecture",
    "communication-creation",
    "conseil-services",
    "e-commerce",
    "beaute-bien-etre",
    "automobile",
    "logiciel-tech",
)

TYPE_PREFIXES = {"case": "case-", "tool": "tool-", "guide": "guide-", "fact": "fact-"}
