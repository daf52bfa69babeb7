"""French text normalisation for the lexical index: folding, stop words, stemming."""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer
from stop_words import get_stop_words

_WORD = re.compile(r"[a-z0-9]+")
# Elided articles and pronouns ("l'", "d'", "qu'"...) glue onto the next word.
_ELISION = re.compile(r"\b(?:[cdjlmnst]|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)


class _CombiningMarks(dict[int, int | None]):
    """`str.translate` table deleting combining marks, filled as characters are first seen
    (a lookup in C per character instead of a Python call); bounded to the Basic
    Multilingual Plane, so hostile text cannot grow it past 65,536 entries."""

    def __missing__(self, code: int) -> int | None:
        kept = None if unicodedata.combining(chr(code)) else code
        if code < 0x10000:
            self[code] = kept
        return kept


_COMBINING = _CombiningMarks()


def fold(text: str) -> str:
    """Lowercase and strip accents ("Él\u00e8ve" -> "eleve"); ligatures are expanded."""
    text = text.replace("œ", "oe").replace("Œ", "oe").replace("æ", "ae").replace("Æ", "ae")
    return unicodedata.normalize("NFKD", text.lower()).translate(_COMBINING)


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    return frozenset(fold(word) for word in get_stop_words("french"))


_local = threading.local()


def _stemmer() -> snowballstemmer.stemmer:
    """This thread's French stemmer: a Snowball stemmer keeps state while it works, so one
    shared by the search threads and the event loop corrupts its words (IndexError)."""
    stemmer: snowballstemmer.stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = snowballstemmer.stemmer("french")
    return stemmer


# Stems are memoised per word: the pure-Python Snowball stemmer costs tens of microseconds a
# word, and a large index repeats a few thousand words millions of times. Bounded, since
# queries bring words of their own.
_STEM_CACHE = 1 << 18


@lru_cache(maxsize=_STEM_CACHE)
def stem(word: str) -> str:
    """The French Snowball stem of one folded word."""
    stemmed: str = _stemmer().stemWord(word)
    return stemmed


def has_words(text: str) -> bool:
    """True when the text holds at least one letter or digit."""
    return bool(_WORD.search(fold(text)))


def analyze(text: str) -> list[str]:
    """Terms of a French text for BM25: folded, elisions and stop words removed, stemmed."""
    words = _WORD.findall(fold(_ELISION.sub(" ", text)))
    stop = _stop_words()
    kept = [w for w in words if w not in stop and (len(w) > 1 or w.isdigit())]
    return [stem(w) for w in kept]
