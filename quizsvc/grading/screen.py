"""Answers that get no credit before any similarity is computed: empty, "I don't know",
keyboard mashing, and answers that only restate the question."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum

from quizsvc.grading.normalize import STOP_WORDS, content_stems, normalize_answer, words


class Screen(StrEnum):
    ANSWER = "answer"
    EMPTY = "empty"
    NO_ANSWER = "no_answer"
    GIBBERISH = "gibberish"
    ECHO = "echo"
    WORD_LIST = "word_list"


SCREEN_MESSAGES = {
    Screen.EMPTY: "No answer was given.",
    Screen.NO_ANSWER: "The answer says you don't know; no credit, but here is the reference.",
    Screen.GIBBERISH: "The answer does not read as words, so it could not be graded.",
    Screen.ECHO: "The answer restates the question without answering it.",
    Screen.WORD_LIST: "The answer is a string of words, not a statement, so it earns no credit.",
}
#: A run of at least this many distinct words with no function word and no punctuation between
#: them reads as a bag of keywords ("rate threshold positive false true recall"), not an answer.
_WORD_LIST_MIN_WORDS = 7
#: Words that join the terms of a formula read aloud ("true negatives over true negatives plus
#: false positives"): a statement, though it has no function word.
_CONNECTIVES = frozenset(["over", "plus", "minus", "times", "divided", "versus", "vs", "per"])
_LIST_PUNCTUATION = re.compile(r"[,;:()/.+=-]")

_FILLER_TEXT = """sorry um umm uh uhh hmm hmmm honestly really just well ok okay the answer this
that it yet anymore here exactly lol haha please"""
_FILLERS = frozenset(_FILLER_TEXT.split())
_NON_ANSWERS = frozenset(
    {
        "i dont know",
        "dont know",
        "i do not know",
        "do not know",
        "i didnt know",
        "idk",
        "dunno",
        "i dunno",
        "no idea",
        "i have no idea",
        "have no idea",
        "no clue",
        "i have no clue",
        "not sure",
        "im not sure",
        "i am not sure",
        "i dont remember",
        "dont remember",
        "i do not remember",
        "i cant remember",
        "cant remember",
        "i cannot remember",
        "i forgot",
        "forgot",
        "i dont understand",
        "pass",
        "skip",
        "skipped",
        "n a",
        "na",
        "no answer",
        "not answered",
        "unanswered",
        "unknown",
        "no comment",
        "i give up",
        "give up",
        "idc",
        "?",
        "lorem ipsum",
        "lorem ipsum dolor sit amet",
    }
)
_KEYBOARD_RUNS = tuple(
    run[start : start + 4]
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for run in (row, row[::-1])
    for start in range(len(run) - 3)
)
#: Four-letter keyboard runs that occur inside English words ("property", "liberty").
_KEYBOARD_RUNS_IN_WORDS = frozenset({"wert", "erty", "rewq", "ytre", "trew"})
_VOWELS = frozenset("aeiouy")
_CONSONANT_RUN = re.compile(r"[b-df-hj-np-tv-xz]{6,}")
_REPEATED_CHARACTER = re.compile(r"(.)\1\1")
_REPEATED_SYLLABLE = re.compile(r"(.{1,3})\1{2,}")
#: Words that say "this is what the question asked" rather than adding an answer.
_FRAMING_STEMS = content_stems("definition defined define meaning answer question something")


def is_non_answer(text: str) -> bool:
    """ "I don't know" and its relatives, with fillers such as "sorry" ignored."""
    tokens = [token for token in normalize_answer(text).split() if token not in _FILLERS]
    phrase = " ".join(tokens)
    return phrase in _NON_ANSWERS


def looks_like_word(token: str) -> bool:
    """A letter sequence that could be an English word (not "asdfgh", "xkcdq", "jkjkjk")."""
    if len(token) < 3 or not token.isalpha():
        return True
    if any(run in token for run in _KEYBOARD_RUNS if run not in _KEYBOARD_RUNS_IN_WORDS):
        return False
    if not any(char in _VOWELS for char in token):
        # "ptr", "str", "cpp", "nth": programmers' abbreviations, not noise.
        return len(token) <= 4
    if _CONSONANT_RUN.search(token) or _REPEATED_CHARACTER.search(token):
        return False
    return not (len(token) >= 6 and _REPEATED_SYLLABLE.fullmatch(token))


def is_gibberish(text: str, known_words: Iterable[str] = ()) -> bool:
    """Most letter tokens are not word-like, or one nonsense token is repeated.

    Words of the reference and the question count as words whatever they look like, so an
    answer of "XGBoost CSV" is not mistaken for noise.
    """
    known = set(known_words)
    tokens = [token for token in words(text) if token.isalpha()]
    if not tokens or any(token in known for token in tokens):
        return False
    odd = [token for token in tokens if not looks_like_word(token)]
    if len(odd) * 2 > len(tokens):
        return True
    distinct = set(tokens)
    return len(tokens) >= 3 and len(distinct) == 1 and len(next(iter(distinct))) > 2


def echoes_prompt(answer_stems: frozenset[str], prompt: str, reference: str) -> bool:
    """The answer adds no content word beyond the question's, while the reference does.

    An answer made of the question's words is fine when the reference is too: "By reference"
    to "Are arrays passed by value or by reference?".
    """
    if not prompt or not answer_stems:
        return False
    prompt_stems = content_stems(prompt)
    new = answer_stems - prompt_stems - _FRAMING_STEMS
    reference_new = content_stems(reference) - prompt_stems
    return not new and bool(reference_new)


def screen_answer(
    answer: str, prompt: str, reference: str, known_words: Iterable[str] = ()
) -> Screen:
    if not words(answer):
        return Screen.EMPTY
    if is_non_answer(answer):
        return Screen.NO_ANSWER
    if is_gibberish(answer, known_words):
        return Screen.GIBBERISH
    if echoes_prompt(content_stems(answer), prompt, reference):
        return Screen.ECHO
    if is_word_list(answer):
        return Screen.WORD_LIST
    return Screen.ANSWER


def is_word_list(text: str) -> bool:
    """Six or more words, none of them a function word, with nothing to separate them: keywords
    strung together. Real lists have commas ("CNN, RNN, feedforward"); sentences have "of",
    "the", "is"."""
    tokens = words(text)
    return (
        len(set(tokens)) >= _WORD_LIST_MIN_WORDS
        and not any(token in STOP_WORDS or token in _CONNECTIVES for token in tokens)
        and not _LIST_PUNCTUATION.search(text)
    )
