"""Text normalisation shared by the graders: folding, tokens, content-word stems, clauses and
numbers."""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache

from quizsvc.grading.stemmer import stem

_DASHES = dict.fromkeys(map(ord, "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"), "-")
_QUOTES = {
    ord("\u2018"): "'",
    ord("\u2019"): "'",
    ord("\u201a"): "'",
    ord("\u201b"): "'",
    ord("\u201c"): '"',
    ord("\u201d"): '"',
    ord("\u201e"): '"',
    ord("\u00d7"): "*",
    ord("\u00b7"): "*",
    ord("\u00f7"): "/",
}
_ARTICLES = frozenset({"a", "an", "the"})
_WORD = re.compile(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|[^\W_]+(?:[.'][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:,\d{3})*|\d*)(?:\.\d+)?(?:e[-+]?\d+)?%?$")

#: Function words that carry no content of their own. Deliberately short: quantifiers
#: ("all", "only", "one"), negations, comparatives and prepositions of place or time ("before",
#: "after") change what an answer says, so they count when answers are compared word by word
#: (on the Mohler benchmark this short list also correlates better than a long one).
_STOP_WORD_TEXT = """
    a an the i me my we our you your he him his she her it its they them their this that these
    those am is are was were be been being have has had having do does did doing will would
    shall should can could may might must of in on at by for with from to as into about and or
    but if than then so what which who whom whose when where why how there here e.g i.e eg ie
    etc also just too very really basically simply
"""
STOP_WORDS = frozenset(_STOP_WORD_TEXT.split())


def fold(text: str) -> str:
    """Unicode-folded, case-folded, accents dropped, ASCII dashes and quotes, single-spaced."""
    if text.isascii():
        return " ".join(text.lower().split())
    folded = unicodedata.normalize("NFKC", text).translate(_DASHES).translate(_QUOTES)
    folded = "".join(
        char
        for char in unicodedata.normalize("NFKD", folded.casefold())
        if not unicodedata.combining(char)
    )
    return " ".join(folded.split())


@lru_cache(maxsize=16384)
def words(text: str) -> tuple[str, ...]:
    """Folded word tokens; hyphens and slashes separate words, "e.g." and "0.5" stay whole."""
    return tuple(_WORD.findall(fold(text).replace("-", " ")))


#: Words that negate what follows. "no" counts: "No, it does not" and "no validation set".
_NEGATIONS = frozenset(
    [
        "not",
        "no",
        "never",
        "none",
        "neither",
        "nor",
        "cannot",
        "without",
        "nothing",
        "nobody",
        "nowhere",
        "lacks",
    ]
)


def has_negation(text: str) -> bool:
    """Whether ``text`` negates anything: "does not", "isn't", "never", "without"."""
    return any(token in _NEGATIONS or token.endswith("n't") for token in words(text))


def stop_word_share(text: str) -> float:
    """Share of the tokens that are function words; near 0 for a list of content words ("rate
    threshold positive false true"), around a third or more for a sentence."""
    tokens = words(text)
    if not tokens:
        return 0.0
    return sum(token in STOP_WORDS for token in tokens) / len(tokens)


#: Fewer shared-word steps than this and word order says nothing.
_MIN_ORDER_STEPS = 3


def word_order_disorder(answer: str, reference: str) -> float:
    """Share of the steps between consecutive reference words in the answer (in the answer's
    order) that run backwards through the reference; 0 with fewer than three such steps.
    A bag of the reference's words runs backwards about half the time, a sentence that
    paraphrases the reference rarely: the embedding and word overlap cannot see the
    difference, since both ignore order."""
    first: dict[str, int] = {}
    for position, token in enumerate(words(reference)):
        first.setdefault(token, position)
    positions = [first[token] for token in words(answer) if token in first]
    steps = [(before, after) for before, after in itertools.pairwise(positions) if before != after]
    if len(steps) < _MIN_ORDER_STEPS:
        return 0.0
    return sum(after < before for before, after in steps) / len(steps)


def normalize_answer(text: str) -> str:
    """The comparison form of a short answer: folded, punctuation and articles dropped,
    hyphenated words split ("Long Short-Term Memory" -> "long short term memory")."""
    tokens = [token.replace("'", "") for token in words(text)]
    kept = [token for token in tokens if token not in _ARTICLES]
    return " ".join(kept or tokens)


@lru_cache(maxsize=8192)
def content_stems(text: str) -> frozenset[str]:
    """Stems of the words that carry content: no function words, no lone letters."""
    return frozenset(
        stem(token)
        for token in words(text)
        if token not in STOP_WORDS and (len(token) > 1 or token.isdigit())
    )


#: Words that link clauses rather than say what is in them: which of two texts an answer
#: follows is never decided by its "while" or "even".
CLAUSE_LINKS = frozenset(
    [
        "while",
        "whereas",
        "although",
        "though",
        "even",
        "still",
        "but",
        "yet",
        "also",
        "so",
        "then",
        "because",
        "since",
        "when",
        "whenever",
        "once",
        "until",
        "unless",
        "however",
        "therefore",
        "thus",
    ]
)


def content_grams(text: str) -> frozenset[str]:
    """Content stems (clause links left out) and each pair of consecutive ones ("train
    accuraci"): pairs tell a role swap apart where single words cannot."""
    stems = [
        stem(token)
        for token in words(text)
        if token not in STOP_WORDS
        and token not in CLAUSE_LINKS
        and (len(token) > 1 or token.isdigit())
    ]
    return frozenset(stems) | frozenset(f"{a} {b}" for a, b in itertools.pairwise(stems))


def parse_number(token: str) -> float | None:
    """The value of a numeric token ("4,000", "0.5", "1e-3", "25%"), or None."""
    cleaned = token.strip().lower()
    if not cleaned or not any(char.isdigit() for char in cleaned) or not _NUMBER.match(cleaned):
        return None
    percent = cleaned.endswith("%")
    cleaned = cleaned.rstrip("%").replace(",", "")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return value / 100 if percent else value


def numbers_in(text: str) -> list[float]:
    """Every number written in digits, in order ("L1" holds none: it is a name)."""
    return [value for value in map(parse_number, words(text)) if value is not None]


_ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|etc|vs|cf|approx|resp|no)\.", re.IGNORECASE)
_SENTENCE_BREAK = re.compile(r"(?<=[.!?;])\s+|\s*\n\s*|(?<=\S):\s+")
_CLAUSE_BREAK = re.compile(
    r",\s*(?=(?:and|but|whereas|while|so|or|which|then|because|though|although|yet|"
    r"since|hence|thus|therefore)\b)|\s+(?=(?:whereas|because|although)\s)|"
    r"\s+-\s+",
    re.IGNORECASE,
)
_MIN_CLAUSE_WORDS = 2


def split_clauses(text: str) -> list[str]:
    """Sentences and the clauses inside them, each with at least two words, in order.

    Used for both sides: a learner's answer is compared clause by clause with each key point,
    and a reference answer without key points is split the same way to derive them.
    """
    protected = _ABBREVIATIONS.sub(lambda match: match.group(0).replace(".", "\x00"), text)
    pieces: list[str] = []
    for sentence in _SENTENCE_BREAK.split(protected):
        for clause in _CLAUSE_BREAK.split(sentence):
            cleaned = clause.replace("\x00", ".").strip(" \t,;:-")
            if cleaned:
                pieces.append(cleaned)
    merged: list[str] = []
    for piece in pieces:
        too_short = len(words(piece)) < _MIN_CLAUSE_WORDS
        if merged and (too_short or len(words(merged[-1])) < _MIN_CLAUSE_WORDS):
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged


def derive_key_points(reference: str) -> tuple[str, ...]:
    """Key points of a reference answer that has none listed: its clauses."""
    clauses = split_clauses(reference)
    return tuple(clauses) if clauses else (reference.strip(),)
