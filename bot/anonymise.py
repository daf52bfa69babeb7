"""Masks personal data in owners' messages before a curator reads them (the gap report).

What is masked, and the placeholder each gets (French: the curator reads them):
e-mails [e-mail], web addresses [url], IBANs [iban], SIRET/SIREN/VAT numbers [siret],
phone numbers, French or international [téléphone], street addresses [adresse], and
people's names [nom] where the message introduces them: after « je m'appelle »,
« elle s'appelle », « mon nom est », « moi c'est », a capitalised name after « je suis »,
after a civility (M., Mme, Madame, Dr, Maître...) and in a signature (« Cordialement, Jean »).
Masking errs on the side of privacy: a capitalised word after « je suis » is taken for a name.
"""

from __future__ import annotations

import re
from collections.abc import Callable

NAME = "[nom]"
PHONE = "[téléphone]"
EMAIL = "[e-mail]"
IBAN = "[iban]"
URL = "[url]"
COMPANY_ID = "[siret]"
ADDRESS = "[adresse]"

_UPPER = "A-ZÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸ"
_LOWER = "a-zàâäçéèêëîïôöùûüÿœæ"
# one capitalised name, compound names included: "Jean-Pierre", "O'Neil", "Dupont"
_CAPITALISED = rf"[{_UPPER}][{_LOWER}]+(?:[-'’][{_UPPER}][{_LOWER}]+)*"
# a name written by its owner in lower case: one word, any letters
_ANY_WORD = rf"[{_UPPER}{_LOWER}]+(?:-[{_UPPER}{_LOWER}]+)*"
_CAPITALISED_NAMES = rf"{_CAPITALISED}(?:\s+{_CAPITALISED}){{0,2}}"
_SPACE = r"[ \u00a0\u202f.\-]?"  # owners group digits with spaces, dots or dashes

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_TLDS = "fr|com|net|org|eu|io|be|ch|info|biz|shop|store|co|app|pro|paris|bzh|re"
_URL = re.compile(
    r"\b(?:https?://|www\.)\S+"
    rf"|\b[a-z0-9][a-z0-9-]*(?:\.[a-z0-9-]+)*\.(?:{_TLDS})\b(?:/\S*)?",
    re.IGNORECASE,
)
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b", re.I)
_IBAN_MIN_DIGITS = 10  # "FR76 pour tout faire" is no IBAN: a real one is mostly digits
_VAT = re.compile(r"\bFR[ ]?[0-9A-Z]{2}[ ]?\d{3}[ ]?\d{3}[ ]?\d{3}\b", re.IGNORECASE)
_SIRET = re.compile(
    rf"(?<!\d)(?<!\d[.,])\d{{3}}{_SPACE}\d{{3}}{_SPACE}\d{{3}}{_SPACE}\d{{5}}(?!\d|[.,]\d)"
)
_SIREN = re.compile(
    rf"(?P<lead>\b(?:siren|siret|rcs|tva)\b\D{{0,15}})\d{{3}}{_SPACE}\d{{3}}{_SPACE}\d{{3}}\b",
    re.IGNORECASE,
)
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    rf"(?:\+|00)33{_SPACE}(?:\(0\){_SPACE})?[1-9](?:{_SPACE}\d{{2}}){{4}}"  # +33 6 12 34 56 78
    rf"|0[1-9](?:{_SPACE}\d{{2}}){{4}}"  # 06 12 34 56 78, 06.12.34.56.78
    rf"|(?:\+|00)(?!33)\d{{2,3}}(?:{_SPACE}\(?\d{{1,4}}\)?){{2,5}}"  # other countries
    r")(?!\d)"
)
_PHONE_MIN_DIGITS = 8
# words that end an address: "12 rue des Lilas à Lyon pour mon resto"
_AFTER_ADDRESS = "(?:à|a|au|pour|et|je|j|on|mais|qui|que|avec|depuis|dans|en|sur|est|vers|mon|ma)"
_ADDRESS = re.compile(
    r"\b\d{1,4}(?:\s?(?:bis|ter))?,?\s+"
    r"(?:rue|avenue|av\.?|boulevard|bd|chemin|impasse|all[ée]e|place|route|quai|cours|"
    r"lotissement|lieu-dit|r[ée]sidence)"
    rf"(?:\s+(?!{_AFTER_ADDRESS}\b){_ANY_WORD}){{1,5}}",
    re.IGNORECASE,
)
# "je m'appelle paul", "elle s'appelle Sophie", "mon nom est Durand": any word is the name
_INTRODUCED = re.compile(
    r"(?P<lead>\b(?i:[mts]['’]\s?appell?e(?:nt)?|mon\s+(?:pr[ée])?nom\s+(?:est|c['’]est)"
    r"|moi\s+c['’]est|de\s+la\s+part\s+de)\s+)"
    rf"(?P<name>{_CAPITALISED_NAMES}|{_ANY_WORD})"
)
# "je suis Jean Dupont, plombier": only a capitalised word is a name ("je suis plombier")
_I_AM = re.compile(rf"(?P<lead>\b(?i:je\s+suis)\s+)(?P<name>{_CAPITALISED_NAMES})")
_CIVILITY = re.compile(
    r"(?P<lead>\b(?i:m\.|mr\.?|mme\.?|mlle\.?|monsieur|madame|mademoiselle|dr\.?|docteur|"
    r"ma[iî]tre|me\.)\s*)"
    rf"(?P<name>{_CAPITALISED_NAMES})"
)
_SIGNATURE = re.compile(
    r"(?P<lead>\b(?i:cordialement|bien\s+[àa]\s+vous|bonne\s+journ[ée]e|merci(?:\s+d['’]avance)?)"
    r"[\s,.!]+)"
    rf"(?P<name>{_CAPITALISED_NAMES})\s*[.!]?\s*$"
)
# words written with a capital that are not names: after "c'est" or "ici" in particular
_NOT_NAMES = frozenset(
    {
        "ia",
        "je",
        "l",
        "d",
        "comment",
        "ca",
        "ça",
        "le",
        "la",
        "les",
        "un",
        "une",
        "pas",
        "possible",
        "vrai",
        "quoi",
        "combien",
        "france",
        "paris",
        "chatgpt",
        "canva",
        "google",
        "excel",
        "whatsapp",
        "facebook",
        "instagram",
        "mistral",
    }
)


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _keep_lead(mask: str, *, check_name: bool = False) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        name = match.groupdict().get("name")
        if check_name and name is not None and name.split()[0].lower() in _NOT_NAMES:
            return match.group(0)
        return f"{match.group('lead')}{mask}"

    return replace


def _if_digits(mask: str, minimum: int) -> Callable[[re.Match[str]], str]:
    def replace(match: re.Match[str]) -> str:
        return mask if _digits(match.group(0)) >= minimum else match.group(0)

    return replace


_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    # order matters: an e-mail holds a domain, a VAT number looks like an IBAN, IBANs and
    # SIRETs hold phone-like digits
    (_EMAIL, EMAIL),
    (_URL, URL),
    (_VAT, COMPANY_ID),
    (_IBAN, _if_digits(IBAN, _IBAN_MIN_DIGITS)),
    (_SIRET, COMPANY_ID),
    (_SIREN, _keep_lead(COMPANY_ID)),
    (_PHONE, _if_digits(PHONE, _PHONE_MIN_DIGITS)),
    (_ADDRESS, ADDRESS),
    (_INTRODUCED, _keep_lead(NAME, check_name=True)),
    (_I_AM, _keep_lead(NAME, check_name=True)),
    (_CIVILITY, _keep_lead(NAME)),
    (_SIGNATURE, _keep_lead(NAME, check_name=True)),
)


def anonymise(text: str) -> str:
    """The message with names, phones, e-mails, IBANs, URLs, SIRETs and addresses masked."""
    for pattern, replacement in _RULES:
        text = pattern.sub(replacement, text)
    return text


_MASKS = "|".join(re.escape(mask) for mask in (NAME, PHONE, EMAIL, IBAN, URL, COMPANY_ID, ADDRESS))
# a mask with the words that introduce it: "rappelez-moi au [téléphone]", "je m'appelle [nom]"
_MASKED_PART = re.compile(
    r"(?:\b(?:(?:rappel(?:ez|er)|appel(?:ez|er)|contact(?:ez|er)|joign(?:ez|able)|[ée]cri(?:vez|re))"
    r"(?:[- ]?moi)?\s+(?:au|à|a|sur|par)?|je\s+m['’]\s?appelle|[mts]['’]\s?appell?e(?:nt)?|"
    r"moi\s+c['’]est|je\s+suis|cordialement|mon\s+(?:num(?:[ée]ro)?|t[ée]l|mail|e-mail)"
    r"\s*(?:est|c['’]est|c|:)?|de\s+la\s+part\s+de|signé)[\s,.:]*)?"
    rf"(?:{_MASKS})",
    re.IGNORECASE,
)
_LEFT_OVER = re.compile(r"\s+([,.])")  # "je tiens [adresse], un salon" -> "je tiens, un salon"


def strip_masks(text: str) -> str:
    """An anonymised message without its masks and the words introducing them: what it asks."""
    stripped = " ".join(_MASKED_PART.sub(" ", text).split())
    return _LEFT_OVER.sub(r"\1", stripped).strip(" ,;:")
