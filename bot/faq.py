"""The fiches' own questions and answers ("## Questions fréquentes"), matched to a question.

A fiche may end with curated entries: a `### ` question as an owner would ask it, then a
one-paragraph answer that states the fact first. Matching an owner's question to another
question is far more reliable than matching it to a sentence of the fiche, so when an entry
asks the same thing, its answer is the offline fact. The score mixes the embedder's cosine
between the two questions with the overlap of their French stems, weighted by rarity.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from bot.keywords import fold_words
from bot.sentences import asks_definition, split_sentences
from retrieval.faq_section import Entry, parse_entries
from retrieval.models import Fiche
from retrieval.text import analyze

Embed = Callable[[Sequence[str]], NDArray[np.float32]]
Known = Callable[[Sequence[str]], Mapping[str, NDArray[np.float32]]]
LEXICAL_WEIGHT, DENSE_WEIGHT = 1.0, 1.0
_YES_NO = re.compile(r"^(?:Oui|Non)\b\s*[,.:;]?\s*")
_NEGATIONS = re.compile(r"\b(sans|pas|plus|jamais|aucun|aucune|interdit\w*|risque\w*|danger\w*)\b")
_OPEN_QUESTION = re.compile(
    r"\b(quel|quels|quelle|quelles|combien|cb|comment|pourquoi|ou|quand|qui|quoi|lequel|"
    r"laquelle|lesquels|lesquelles|que faire|par ou)\b"
    r"|^(?:et |mais )?si\b"  # "et si j'ai pas d'ordi ?" asks what then, not yes or no
)
_IDENTITY = re.compile(
    r"^(?:qui est|qui sont|c est qui|que fait|que font)\b|\bc est (?:qui|quelle entreprise)\b"
)
# capitalised words that are common nouns, not products an entry must be asked about: "…par
# SMS ?" also answers an e-mail, "l'AI Act" is also "la loi européenne sur l'IA"
_NOT_NAMES = frozenset(
    {
        *("ia", "i", "ai", "act", "sms", "rgpd", "cnil", "aipd", "hds", "opco", "tva", "seo"),
        *("api", "tpe", "pme", "ue", "urssaf", "cpf", "pdf", "ca"),
    }
)
_FIRST_SENTENCE = re.compile(r"^.*?[.!?]\s+(?=[A-ZÀ-ÖØ-Ý«])")
# what an answer cannot start with once its "Oui," is gone
_FRAGMENT = re.compile(
    r"(?:d[eè]s que|si |s['’]il|quand |lorsque|tant que|sauf |seulement|uniquement|mais |"
    r"à condition|a condition|pour |avec |sous |en |et |"
    # "Oui, c'est le risque principal": "c'est" points back to the question
    r"c['’]est |ce n['’]est |cela |ça )",
    re.IGNORECASE,
)
_CONDITION = re.compile(
    r"(?:si |s['’]il|quand |lorsque|tant que|sauf |à condition|a condition)", re.I
)
# a sentence that leans on the one before it cannot lead ("Elle…", "En revanche…")
_LEANS_ON_BEFORE = re.compile(
    r"(?:il|elle|ils|elles|cela|ce|ces|cette|mais|et|donc|sinon|en revanche|par contre|"
    r"dans tous les cas|dans ce cas|là|alors|aussi|enfin|ensuite|puis|de même|même)\b",
    re.IGNORECASE,
)
MIN_LEADING_TERMS = 2  # a later sentence leads only when it holds this many asked words
SAME_YES_NO_SCORE = 1.35  # a match this close asks the same closed question...
LEXICAL_SAME_YES_NO = 0.8  # ...or this close by the stems alone (no embedder)
# words the analyzer reads wrong for our questions: "compta" stems like "comptes (rendus)",
# and "dire" is a stop word, though "dois-je le dire à mes clients ?" asks to signal
_OWN_WORDS = [
    (re.compile(r"\bcompta\b", re.IGNORECASE), "comptabilité"),
    (re.compile(r"\bdire\b", re.IGNORECASE), "signaler"),
    # "c'est quand ?" asks a date as surely as "à partir de quelle date ?"
    (
        re.compile(r"\b(?:(?:a|à) partir de |jusqu['’ ]\s*[àa] )?quand\b|\bquelle date\b", re.I),
        "date",
    ),
    # "analyse d'impact", "DPIA" and "AIPD" name one assessment
    (re.compile(r"\b(?:analyses?|[ée]tudes?) d['’ ]\s*impact\b|\bdpia\b", re.IGNORECASE), "AIPD"),
    # "c combien ?", "cb par mois ?" ask a price; "combien de temps ?" counts something else
    (re.compile(r"\b(?:combien|cb)\b(?!\s+d(?:e\b|['’]))", re.IGNORECASE), "prix"),
    (re.compile(r"\bc(?:['’]est| est)? cher\b", re.IGNORECASE), "prix"),
    # "l'IA la moins chère ?" asks a price too
    (re.compile(r"\b(?:moins|plus|pas|trop) ch[eè]re?s?\b", re.IGNORECASE), "prix"),
    # "l'IA peut m'aider ?" asks for help, not for a subsidy ("des aides")
    (
        re.compile(r"\b(?:[mtl]['’]\s*|nous |vous |les )aid\w*|\baider\b|\baidera\w*", re.I),
        "assister",
    ),
]
# how a wording asks ("quand ?"), not what about: sharing it lifts an entry, lacking it does
# not hold an entry back ("c'est obligatoire ?" is also answered by "obligatoire quand ?")
_ASK_FORMS = frozenset(analyze("date"))
_THOUSANDS = re.compile(r"(\d)[  .](\d{3})\b")
MIN_COVERED = 0.5  # share of an entry's own words (by rarity) the question must hold...
SAME_MEANING_COSINE = 0.85  # ...unless the two questions read alike to the embedder
MIN_SCORE = 1.05  # below this, no entry asks the same thing: the sentences answer instead
LEXICAL_ONLY_MIN = 0.55  # with no embedder (tests, a broken model), the stems alone decide
RELATED_BONUS = 0.1  # an entry of a fiche the search or the topic points to
# words any owner's question holds: sharing them says nothing of what is asked
_GENERIC = frozenset(
    analyze(
        "petite entreprise entreprises TPE PME IA intelligence artificielle outil outils "
        "boîte société business utiliser client clients petit mon ma mes je on nous faut "
        "peut peux est-ce quoi comment combien pourquoi quel quelle quels quelles vraiment "
        "svp stp merci bonjour exactement concrètement mettre faire aller pouvoir vouloir "
        "devoir prendre veux voudrais aimerais besoin savoir possible vrai truc chose fait faite "
        "faites"
    )
)


@dataclass(frozen=True)
class Match:
    """The entry that asks what the owner asks, and how close it came."""

    entry: Entry
    score: float
    wording: str = ""  # the entry's wording that came closest
    alike: bool = False  # so close that a yes or no answers the owner's question too

    def answer(self, question: str) -> str:
        """The entry's answer for this question: a leading "Oui" or "Non" only when both
        questions lean the same way ("ai-je le droit… sans prévenir ?" is not "faut-il
        prévenir ?", whose answer starts "Oui")."""
        wording = self.wording or self.entry.question
        # the last thing asked decides: "c'est quoi l'AI Act ? ça me concerne ?" is closed
        last = [q for q in question.split("?") if q.strip()][-1:] or [question]
        closed = not _OPEN_QUESTION.search(fold_words(last[0]))  # "quelle aide ?": no "Oui"
        # a "Non" to another question misleads ("garde mes données ?" is not "puis-je coller
        # mes données ?"): it stays only when the two questions are nearly the same
        rest = _YES_NO.sub("", self.entry.answer, count=1)
        same_way = _leaning(question) == _leaning(wording)
        # "Oui pour les modèles texte : la licence est gratuite" still reads without its "Oui"
        opening = _FIRST_SENTENCE.match(rest)
        first = opening.group(0) if opening else rest
        # (but "Si l'offre l'autorise : vérifiez…" still leans on its "Oui")
        whole = ":" in first and not _CONDITION.match(first)
        if rest != self.entry.answer and _FRAGMENT.match(rest) and not whole:
            # "Oui, dès que…" without its "Oui" is half a sentence: an open question ("quelles
            # obligations ?") gets what follows the yes, a closed one the whole answer
            after = _FIRST_SENTENCE.sub("", rest, count=1)
            if closed or after == rest or not after:
                return self.entry.answer
            rest = after
        elif closed and self.alike and same_way:
            return _asked_part_first(question, self.entry.answer, self._subject())
        return _asked_part_first(question, rest[:1].upper() + rest[1:], self._subject())

    def _subject(self) -> frozenset[str]:
        """The stems of the names every wording of the entry gives (Claude, Le Chat), not a
        plan one of them names (Claude Pro)."""
        named = [_terms(" ".join(names_in(q))) for q in self.entry.questions]
        return frozenset(set.intersection(*named)) if named else frozenset()


def entries_of(fiche: Fiche) -> list[Entry]:
    """The entries of a fiche's "Questions fréquentes" section (none when it has none)."""
    return parse_entries(fiche.id, fiche.body)[0]


class Faq:
    """Every fiche's entries, matched to a question by stems and by embedding."""

    def __init__(
        self, entries: Iterable[Entry], embed: Embed | None = None, known: Known | None = None
    ) -> None:
        self.entries = list(entries)
        self._embed = embed
        self._known = known  # vectors computed ahead (shipped with the base), by text
        # every wording of every entry, and the entry it belongs to
        self._owner = np.array([i for i, e in enumerate(self.entries) for _ in e.questions])
        self._texts = [q for e in self.entries for q in e.questions]
        self._terms = [_terms(q) for q in self._texts]
        self._defines = np.array([_defines(q) for q in self._texts], dtype=bool)
        self._names = [_required_names(names_in(q)) for q in self._texts]
        df = Counter(t for terms in self._terms for t in terms)
        n = len(self._texts)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._default_idf = math.log(1 + (n + 0.5) / 0.5) if n else 1.0
        # each wording's own weight (by rarity), the denominator of its share held
        self._term_weights = np.array(
            [sum(map(self._weight, terms - _ASK_FORMS)) for terms in self._terms],
            dtype=np.float64,
        )
        self._vectors: NDArray[np.float32] | None = None
        self._lock = threading.Lock()

    @classmethod
    def of(
        cls, fiches: Iterable[Fiche], embed: Embed | None = None, known: Known | None = None
    ) -> Faq:
        return cls((e for fiche in fiches for e in entries_of(fiche)), embed, known)

    def best(
        self,
        question: str,
        related: Collection[str] = (),
        allowed: Callable[[Entry, str], bool] | None = None,
        scored: NDArray[np.float64] | None = None,
    ) -> Match | None:
        """The entry that asks the same thing as `question`, if one comes close enough;
        entries of the `related` fiches (those the search found) get a small lift, and only
        the `allowed` (entry, wording) pairs may answer. `scored`: the question's
        `wording_scores`, when the caller matches it under several rules."""
        scores = self._scored_wordings(question, related, allowed, scored)
        if scores.size == 0:
            return None
        i = int(np.argmax(scores))
        floor, alike = (
            (MIN_SCORE, SAME_YES_NO_SCORE)
            if self._embed is not None
            else (LEXICAL_ONLY_MIN, LEXICAL_SAME_YES_NO)
        )
        if scores[i] < floor:
            return None
        entry, score = self.entries[self._owner[i]], float(scores[i])
        return Match(entry, score, self._texts[i], alike=score >= alike)

    def pair(self, wording: int) -> tuple[Entry, str]:
        """The entry a wording (by its index in `wording_scores`) belongs to, and its text."""
        return self.entries[self._owner[wording]], self._texts[wording]

    def scores(
        self,
        question: str,
        related: Collection[str] = (),
        allowed: Callable[[Entry, str], bool] | None = None,
    ) -> NDArray[np.float64]:
        """Each entry's closeness to the question (stems, plus cosine with an embedder)."""
        scores = np.full(len(self.entries), -np.inf)
        # an entry's best wording counts
        np.maximum.at(scores, self._owner, self._scored_wordings(question, related, allowed))
        return scores

    def _scored_wordings(
        self,
        question: str,
        related: Collection[str],
        allowed: Callable[[Entry, str], bool] | None,
        scored: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        if not self.entries:
            return np.zeros(0)
        per_wording = self.wording_scores(question) if scored is None else scored
        if allowed is not None:  # asked only of the wordings still in the running
            candidates = np.flatnonzero(np.isfinite(per_wording))
            ruled_out = [
                i for i in candidates if not allowed(self.entries[self._owner[i]], self._texts[i])
            ]
            per_wording = per_wording.copy()
            per_wording[ruled_out] = -np.inf
        of_related = [self.entries[i].fiche_id in related for i in self._owner]
        lift = RELATED_BONUS * np.array(of_related, dtype=np.float64)
        return np.asarray(per_wording + lift, dtype=np.float64)

    def wording_scores(self, question: str) -> NDArray[np.float64]:
        """The closeness of each wording of each entry to the question (-inf: ruled out)."""
        asked = _terms(question)
        mine = sum(map(self._weight, asked))  # the question's weight, once
        shared = np.array(
            [sum(map(self._weight, asked & terms)) for terms in self._terms], dtype=np.float64
        )
        held = shared / mine if mine else np.zeros(len(self._terms))
        theirs = self._term_weights
        covered = np.divide(shared, theirs, out=np.zeros_like(shared), where=theirs > 0)
        covered = np.minimum(covered, 1.0)  # a form of asking shared is a bonus, not a due
        lexical = 2 * held * covered / np.maximum(held + covered, 1e-9)  # weighted Dice
        per_wording = LEXICAL_WEIGHT * lexical
        alike = np.zeros(len(self._texts), dtype=bool)
        if self._embed is not None:
            cosines = self._cosines(question)
            per_wording = per_wording + DENSE_WEIGHT * cosines
            alike = cosines >= SAME_MEANING_COSINE
        # "gagner du temps ?" is not "gagner du temps sur mes devis ?": the entry's own
        # subject must be asked
        kept = (covered >= MIN_COVERED) | alike
        # "c'est quoi l'AI Act ?" answers a definition question only
        kept &= self._defines <= asks_definition(question)
        # "combien coûte une photo produit ?" answers only an owner who asks a price
        if _PRICE_TERM not in asked:
            kept &= np.array([_PRICE_TERM not in terms for terms in self._terms], dtype=bool)
        # "…sur WhatsApp ?" answers only an owner who names WhatsApp ("gpt4o" names GPT-4o)
        folded = fold_words(question)
        words, joined = set(folded.split()), folded.replace(" ", "")
        kept &= np.array(
            [all(n in words or n in joined for n in names) for names in self._names], dtype=bool
        )
        return np.asarray(np.where(kept, per_wording, -np.inf), dtype=np.float64)

    @staticmethod
    def asks_price(question: str) -> bool:
        """The question holds a word of price ("combien", "tarif", "coûte")."""
        return _PRICE_TERM in _terms(question)

    def _weight(self, term: str) -> float:
        return self._idf.get(term, self._default_idf)

    def _cosines(self, question: str) -> NDArray[np.float64]:
        assert self._embed is not None
        vectors = self._entry_vectors()
        asked = self._embed([question])[0]
        return np.asarray(vectors @ asked, dtype=np.float64)

    def _entry_vectors(self) -> NDArray[np.float32]:
        """The vectors of every wording, on first use: those shipped with the base, the others
        computed once."""
        with self._lock:
            if self._vectors is None:
                assert self._embed is not None
                found = dict(self._known(self._texts)) if self._known else {}
                missing = [t for t in dict.fromkeys(self._texts) if t not in found]
                if missing:
                    found.update(zip(missing, self._embed(missing), strict=True))
                self._vectors = np.stack([found[t] for t in self._texts]).astype(np.float32)
            return self._vectors


def _asked_part_first(question: str, answer: str, subject: frozenset[str]) -> str:
    """The answer led by its sentence that holds more of the question's words than its
    first one, and at least two besides the entry's subject: "combien coûte Claude Pro ?"
    starts with Pro's price, not with the free version that the entry's wider question
    ("Claude, c'est payant ?") mentions first."""
    sentences = split_sentences(answer)
    if len(sentences) < 2 or _YES_NO.match(answer):
        return answer
    asked = _terms(question) - subject
    held = [len(asked & _terms(sentence)) for sentence in sentences]
    best = max(range(len(sentences)), key=held.__getitem__)
    if held[best] < MIN_LEADING_TERMS or held[best] <= held[0]:
        return answer
    if _LEANS_ON_BEFORE.match(sentences[best]):
        return answer
    return " ".join([sentences[best], *sentences[:best], *sentences[best + 1 :]])


@lru_cache(maxsize=4096)  # every wording is checked again for every question
def names_in(wording: str) -> frozenset[str]:
    """The proper names a wording holds (WhatsApp, ChatGPT, Google), folded, "IA" aside."""
    words = re.findall(r"[\w-]+", re.sub(r"\b[LlDdQqJjSs]['’]", " ", wording))
    # the first word is a name only when written like one inside too (ChatGPT, DeepSeek)
    named = [w for i, w in enumerate(words) if any(c.isupper() for c in (w[1:] if i == 0 else w))]
    capitalised = (fold_words(w) for w in named)
    return frozenset(n for name in capitalised for n in name.split() if n not in _NOT_NAMES)


def _required_names(names: frozenset[str]) -> frozenset[str]:
    """The names an owner must say for a wording to answer them: the product's, not its
    maker's beside it ("Gemini dans Google Workspace" answers "c quoi gemini ?"); a maker
    named alone is the subject ("envoyer des données à OpenAI")."""
    products = names - _MAKERS
    return products if products else names


# makers and suites named beside a product, which owners often leave out
_MAKERS = frozenset(
    {"meta", "google", "workspace", "openai", "microsoft", "anthropic", "alibaba", "baidu"}
    | {"bytedance", "moonshot", "zhipu", "deepmind", "kuaishou"}
)


def _defines(wording: str) -> bool:
    """ "C'est quoi Claude ?", "Qui est DeepSeek ?": the wording asks what or who it is."""
    return asks_definition(wording) or bool(_IDENTITY.search(fold_words(wording)))


def _leaning(question: str) -> frozenset[str]:
    """The words that turn a yes into a no ("sans", "pas", "interdit")."""
    return frozenset(_NEGATIONS.findall(fold_words(question)))


def _terms(text: str) -> set[str]:
    """The question's stems that say what it asks ("2 000" and "2000" alike, "payant" and
    "gratuit" alike: owners ask one thing in many words)."""
    text = _THOUSANDS.sub(r"\1\2", text)
    for word, same in _OWN_WORDS:
        text = word.sub(same, text)
    stems = analyze(text)
    return {_SAME_ASK.get(stem, stem) for stem in stems} - _GENERIC


def _synonyms(*groups: str) -> dict[str, str]:
    """Each stem of a group of words mapped to the group's first stem."""
    found = {}
    for group in groups:
        stems = analyze(group)
        found.update({stem: stems[0] for stem in stems})
    return found


# words owners use for the same question: a price, a risk, a duty, a permission, a team
_SAME_ASK = _synonyms(
    "prix gratuit gratuite payant payante tarif tarifs coût coûte coûtent",
    "risque risques risqué dangereux danger",
    "token tokens jeton jetons",
    "hébergé hébergée hébergées hébergement héberger stocké stockées stockage serveurs",
    "obligatoire obligé obligée obligation obligations imposer impose",
    "droit légal légale autorisé autorisée permis",
    "salariés salarié employés employé équipe personnel collaborateurs personnes utilisateurs",
    "aide aides subvention subventions financement financements financer",
    "état public publique publiques publics gouvernement",
    "appli applis application applications app",
    "photo photos image images visuel visuels",
    "dire signaler indiquer préciser mentionner prévenir informer annoncer",
    "comptabilité comptable comptables",
    # a verb and its noun stem apart ("former" / "formation"): one ask
    "former formation formations formateur formatrice",
    "rédiger rédaction",
    "recruter recrutement embaucher embauche",
    "traduire traduction traductions traducteur",
    "transcrire transcription retranscrire dicter dictée dictées dicte",
    "automatiser automatisation automatique automatiquement",
    "sécuriser sécurité sécurisé sécurisée",
    "répondre réponse réponses",
    "consentement accord autorisation",
    # "les noms de mes patients": their personal data
    "données donnée coordonnées noms",
    "reporté reporter report repoussé repousser décalé décaler",
    # one trade, several words: the shop, the person, the trade
    "pharmacie pharmacien pharmacienne pharmacies pharmaciens officine",
    "boulangerie boulanger boulangère boulangers boulangeries",
    "coiffure coiffeur coiffeuse coiffeurs coiffeuses",
    "restaurant restaurants restaurateur restauratrice resto restos",
    "plombier plombiers plomberie",
    # trades bound by the same secret ask alike: a lawyer's answer is a notary's, a
    # physiotherapist's a dentist's (health data, professional secrecy)
    "avocat avocats notaire notaires notarial notariale juriste juristes huissier",
    "kiné kinés kinésithérapeute kinésithérapeutes médecin médecins dentiste dentistes "
    "ostéo ostéopathe ostéopathes infirmière infirmier infirmières infirmiers sage-femme "
    "orthophoniste psychologue psy podologue",
    "confidentialité confidentiel confidentielle confidentiels confidentielles secret",
)

_PRICE_TERM = _SAME_ASK[analyze("prix")[0]]  # every word of a price question stems to this
