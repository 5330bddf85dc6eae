"""Fill-in questions.

A card with a short, term-like answer ("Conv1D", "Receiver Operating Characteristic") is asked
with its own prompt. Otherwise a cloze is cut from the answer: a key term of the card (one of
its key points, accepted forms or its term, or failing those a distinctive word of a key
point) is blanked wherever it occurs, and the card's prompt is shown for context. A term
that the prompt already gives away, a stop-word or a term that would leave too little context
is never blanked; a card with no such term makes no fill-in question.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from quizsvc.bank.model import Card
from quizsvc.exams.distractors import compact, mentions, term_forms

BLANK = "_____"
#: Answers with at most this many words, and no list in them, are asked as they are.
SHORT_ANSWER_WORDS = 5
#: Longest phrase that is blanked as a whole: longer ones cannot be recalled word for word.
MAX_BLANK_WORDS = 3
#: Content words that must remain around the blank for the sentence to be answerable.
MIN_CONTEXT_WORDS = 3
#: A fallback blank (a plain word of a key point) must be at least this long and used by at
#: most this many answers of the deck; shorter or commoner plain words tend to have
#: synonyms that a learner could rightly write instead.
MIN_PLAIN_WORD_LENGTH = 8
MAX_PLAIN_WORD_CARDS = 2

_STOP_WORD_LIST = """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either
    else etc even ever every few for from further get gets had has have having he her here
    hers him his how however i if in into is it its itself just less let may me might more
    most much must my neither no nor not now of off often on once one only onto or other our
    out over own per rather same she should so some such than that the their them then there
    these they this those though through thus to too under until up upon us use used uses
    using very via was we were what when where whether which while who whom whose why will
    with within without would yes yet you your
    e g eg i e ie vs
"""
STOP_WORDS = frozenset(_STOP_WORD_LIST.split())

#: A token as a reader sees it: "ml.p3.2xlarge", "skip-gram" and "LeNet-5" stay whole.
_TOKEN = re.compile(r"\w+(?:[.\-]\w+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_ABBREVIATION_END = re.compile(r"\b(?:e\.g|i\.e|etc|vs|cf)\.$", re.IGNORECASE)
_LIST_MARK = re.compile(r"[,;]|\band\b|\bor\b|->", re.IGNORECASE)
#: Plain-word endings of adverbs and verb forms: poor blanks, with many right rewordings.
_WEAK_ENDING = re.compile(r"(?:ly|ing|ed)$")


@dataclass(frozen=True)
class FillIn:
    """A fill-in question: what the learner sees and the answers that count as right."""

    prompt: str
    #: Accepted answers, the canonical one first.
    accept: tuple[str, ...]


def make_fill_in(card: Card, rng: random.Random, rarity: Mapping[str, int]) -> FillIn | None:
    """The card's fill-in question, or None when it cannot make a fair one.

    ``rarity`` counts, per word, the cards of the deck whose answer uses it: the rarest word
    is the most distinctive blank. ``rng`` picks among equally good blanks.
    """
    if is_short_answer(card):
        return _short_answer(card)
    return _cloze(card, rng, rarity)


def is_short_answer(card: Card) -> bool:
    answer = card.answer.strip()
    return len(answer.split()) <= SHORT_ANSWER_WORDS and not _LIST_MARK.search(answer)


def _short_answer(card: Card) -> FillIn | None:
    canonical = card.answer.strip()
    if canonical.endswith(".") and not re.search(r"\b\w\.$", canonical):
        canonical = canonical[:-1]
    accept = _unique((canonical, *card.accept))
    if any(mentions(card.prompt, form) for form in accept):
        return None
    return FillIn(prompt=card.prompt, accept=accept)


@dataclass(frozen=True)
class _Blank:
    phrase: tuple[str, ...]
    forms: tuple[str, ...]


def _cloze(card: Card, rng: random.Random, rarity: Mapping[str, int]) -> FillIn | None:
    sentences = _sentences(card.answer)
    for tier in _blank_tiers(card, rarity):
        usable = [made for blank in tier if (made := _blank_out(card, sentences, blank))]
        if usable:
            return usable[0] if len(usable) == 1 else rng.choice(usable)
    return None


def _sentences(text: str) -> list[str]:
    """Sentences of ``text``; "e.g." and the like end none."""
    sentences: list[str] = []
    for piece in _SENTENCE_END.split(text.strip()):
        if sentences and _ABBREVIATION_END.search(sentences[-1]):
            sentences[-1] += " " + piece
        else:
            sentences.append(piece)
    return sentences


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(unicodedata.normalize("NFKC", text))


def _blank_tiers(card: Card, rarity: Mapping[str, int]) -> list[list[_Blank]]:
    """Candidate blanks, best tier first: whole short phrases the card names as key (key
    points, accepted forms, its term, and the parts of "name (expansion)" forms); then
    exact-looking tokens of the key points (L1, LibSVM, learning_rate, 400); then the
    rarest long plain word of a key point."""
    term = term_forms(card.term) if card.term else ()
    named: dict[str, _Blank] = {}
    for phrase in (*card.key_points, *card.accept, *term):
        for form in term_forms(phrase):
            trimmed = _trim(_tokens(form))
            if 0 < len(trimmed) <= MAX_BLANK_WORDS:
                key = compact(" ".join(trimmed))
                named.setdefault(key, _Blank(trimmed, _forms_of(card, key, term)))

    tokens: dict[str, _Blank] = {}
    plain: dict[str, _Blank] = {}
    for point in card.key_points:
        for token in _tokens(point):
            key = compact(token)
            if token.casefold() in STOP_WORDS or key in named:
                continue
            if _looks_exact(token):
                tokens.setdefault(key, _Blank((token,), (token,)))
            elif (
                token.isalpha()
                and len(token) >= MIN_PLAIN_WORD_LENGTH
                and not _WEAK_ENDING.search(token.casefold())
            ):
                plain.setdefault(key, _Blank((token,), (token,)))
    rarest = sorted(
        plain.items(), key=lambda item: (rarity.get(item[0], 0), -len(item[0]), item[0])
    )
    return [
        [named[key] for key in sorted(named)],
        [tokens[key] for key in sorted(tokens)],
        [blank for key, blank in rarest[:1] if rarity.get(key, 0) <= MAX_PLAIN_WORD_CARDS],
    ]


def _forms_of(card: Card, key: str, term: tuple[str, ...]) -> tuple[str, ...]:
    """Other accepted spellings of a blank that is the card's term or answer."""
    if key in {compact(form) for form in term}:
        return term
    answers = (card.answer, *card.accept)
    if key in {compact(form) for form in answers}:
        return answers
    return ()


def _looks_exact(token: str) -> bool:
    """A name, code or number rather than a plain word: it has few synonyms. A lone digit
    is too little to ask for."""
    return len(token) >= 2 and (
        any(char.isdigit() for char in token)
        or "_" in token.strip("_")
        or any(char.isupper() for char in token[1:])
    )


def _trim(tokens: list[str]) -> tuple[str, ...]:
    start, end = 0, len(tokens)
    while start < end and tokens[start].casefold() in STOP_WORDS:
        start += 1
    while end > start and tokens[end - 1].casefold() in STOP_WORDS:
        end -= 1
    return tuple(tokens[start:end])


def _blank_out(card: Card, sentences: list[str], blank: _Blank) -> FillIn | None:
    # Whole tokens only: no blank inside "ml.p3.2xlarge" or "skip-gram".
    pattern = re.compile(
        r"(?<!\w)(?<!\w[.\-])"
        + r"[\s\-]+".join(re.escape(word) for word in blank.phrase)
        + r"(?!\w)(?![.\-]\w)",
        re.IGNORECASE,
    )
    shown = [sentence for sentence in sentences if pattern.search(sentence)]
    if not shown:
        return None
    canonical = pattern.search(shown[0])
    assert canonical is not None
    accept = _unique((canonical.group(0), *blank.forms))
    if any(mentions(card.prompt, form) for form in accept):
        return None
    display = pattern.sub(BLANK, " ".join(shown))
    if any(mentions(display, form) for form in accept):
        return None
    context = [word for word in _tokens(display) if word.casefold() not in STOP_WORDS]
    if len(context) < MIN_CONTEXT_WORDS:
        return None
    instruction = (
        "Fill in the blank:"
        if display.count(BLANK) == 1
        else "Fill in the blanks (the same answer in each):"
    )
    return FillIn(prompt=f"{card.prompt}\n{instruction} {display}", accept=accept)


def _unique(texts: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    kept = []
    for text in texts:
        key = compact(text)
        if key and key not in seen:
            seen.add(key)
            kept.append(text.strip())
    return tuple(kept)


def word_rarity(cards: Iterable[Card]) -> dict[str, int]:
    """Per word, how many of the cards' answers use it."""
    counts: dict[str, int] = {}
    for card in cards:
        for word in sorted(set(compact(card.answer).split())):
            counts[word] = counts.get(word, 0) + 1
    return counts
