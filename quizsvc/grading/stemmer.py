"""Word stems, so that lexical overlap counts "pointers" and "pointer", "initialized" and
"initialize" as the same word: the Porter (1980) algorithm from PyStemmer (Snowball's C
implementation), behind one cached function."""

from __future__ import annotations

import threading
from functools import lru_cache

import Stemmer

# A Stemmer object is not safe to share between threads (gunicorn's threaded workers, the
# test servers), so each thread gets its own.
_local = threading.local()


def _stemmer() -> Stemmer.Stemmer:
    stemmer: Stemmer.Stemmer | None = getattr(_local, "stemmer", None)
    if stemmer is None:
        stemmer = _local.stemmer = Stemmer.Stemmer("porter")
    return stemmer


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """The Porter stem of a lower-case word; words of one or two letters, and anything that is
    not purely alphabetic, are kept as they are (Porter would turn "is" into "i")."""
    if len(word) <= 2 or not word.isalpha():
        return word
    result: str = _stemmer().stemWord(word)
    return result
