"""Fill-in: a short term, accepted when it matches an accepted form after normalisation, as
an acronym or expansion of it, or with a typo small for its length. Numbers match as numbers.

Deliberately not ``rapidfuzz.fuzz.token_set_ratio``: it scores an incomplete answer 100 when
its words are a subset of the reference ("short term memory" for "long short-term memory").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

from quizsvc.exams.cloze import aws_prefix_variants, shorter_forms
from quizsvc.exams.model import QuestionKey, QuestionType
from quizsvc.grading.config import GradingConfig
from quizsvc.grading.contradiction import DEFAULT_CONTRAST_GROUPS, contrast_groups
from quizsvc.grading.glossary import Glossary
from quizsvc.grading.model import Feedback, Grade, ResponseError, Verdict
from quizsvc.grading.normalize import normalize_answer, parse_number
from quizsvc.grading.stemmer import stem

_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_PARENTHETICAL = re.compile(r"^(.*?)\s*\(([^()]+)\)\s*$")


@dataclass(frozen=True)
class Match:
    form: str
    rule: str
    edits: int = 0


def _canonical_tokens(text: str) -> tuple[str, ...]:
    """Normalised tokens with numbers in one spelling ("4,000" and "4000.0" -> "4000", and
    "Type II" -> "type 2")."""
    tokens: list[str] = []
    for token in normalize_answer(text).split():
        value = parse_number(token)
        if value is None and tokens and tokens[-1] == "type" and token in _ROMAN:
            value = float(_ROMAN[token])
        tokens.append(format(value, "g") if value is not None else token)
    return tuple(tokens)


def _numbers(tokens: Iterable[str]) -> tuple[str, ...]:
    return tuple(token for token in tokens if parse_number(token) is not None)


@lru_cache(maxsize=1)
def _contrast_pairs() -> frozenset[frozenset[str]]:
    """Single-word opposites ("encoder"/"decoder", "micro"/"macro") that a typo budget would
    otherwise let through."""
    pairs: set[frozenset[str]] = set()
    for group in contrast_groups(DEFAULT_CONTRAST_GROUPS):
        singles = [
            spelling[0] for term in group for spelling in term.spellings if len(spelling) == 1
        ]
        pairs.update(
            frozenset({left, right}) for left in singles for right in singles if left != right
        )
    return frozenset(pairs)


def allowed_edits(letters: int, config: GradingConfig) -> int:
    """Typos forgiven in a term of this many letters: none below ``typo_min_length``."""
    if letters < config.typo_min_length:
        return 0
    extra = (letters - config.typo_min_length) // config.typo_letters_per_edit
    return min(config.typo_max_edits, 1 + extra)


#: An instance type or a dotted version ("ml.p3.2xlarge", "1.2-2"): a code, not a word.
_DOTTED_CODE = re.compile(r"^(?=.*\d)(?=.*\.)\w+(?:[.\-]\w+)+$")


def _typo_edits(
    answer: tuple[str, ...], form: tuple[str, ...], config: GradingConfig
) -> int | None:
    """Edits needed to turn the answer into the form when within budget, else None.

    Short tokens and numbers must match exactly; with equal word counts each word has its own
    budget, so "gradient ascent" is not "gradient descent" even though the whole phrase is long.
    """
    if _numbers(answer) != _numbers(form):
        return None
    if any(_DOTTED_CODE.match(token) for token in (*answer, *form)) and answer != form:
        # "ml.c5.xlarge" is another instance than "ml.p2.xlarge", "1.3-1" another version
        # than "1.2-1": a code is right only as written.
        return None
    total_letters = sum(len(token) for token in form)
    budget = allowed_edits(total_letters, config)
    if len(answer) == len(form):
        edits = 0
        for given, expected in zip(answer, form, strict=True):
            if given == expected:
                continue
            if len(expected) < config.typo_min_length or parse_number(expected) is not None:
                return None
            if frozenset({stem(given), stem(expected)}) in _contrast_pairs():
                return None
            distance = OSA.distance(given, expected)
            if distance > allowed_edits(len(expected), config):
                return None
            edits += distance
        return edits if edits <= budget else None
    short_given = [token for token in answer if len(token) < config.typo_min_length]
    short_expected = [token for token in form if len(token) < config.typo_min_length]
    if short_given != short_expected:
        return None
    distance = OSA.distance("".join(answer), "".join(form))
    return distance if distance <= min(1, budget) else None


def _initials(tokens: tuple[str, ...]) -> str:
    return "".join(token[0] for token in tokens if token)


_FORMULA = re.compile(r"[/+*=×÷−]")
_NOTE = re.compile(r"^(?:a|an|the|e\.g\.|i\.e\.|eg|ie|for example|such as)\b", re.IGNORECASE)


def _answers_in(outside: str, inside: str) -> tuple[str, ...]:
    """What else "outside (inside)" accepts alone: both parts when they name one thing ("Long
    Short-Term Memory (LSTM)"), the name without a descriptive note ("ml.p3.2xlarge (a GPU
    instance)": not "a GPU instance"), nothing from a formula ("TN / (TN + FP)": "TN + FP"
    is not the answer)."""
    if _FORMULA.search(outside) or _FORMULA.search(inside):
        return ()
    if _NOTE.match(inside.strip()):
        return (outside,)
    return (outside, inside)


def accepted_forms(key: QuestionKey, glossary: Glossary) -> list[str]:
    """The accept list (canonical answer first), each "Term (ABBR)" also as "Term" and "ABBR",
    and each abbreviation also as its glossary expansion."""
    forms: list[str] = []
    for text in (key.answer, *key.accept):
        candidates = [text]
        parenthetical = _PARENTHETICAL.match(text.strip())
        if parenthetical:
            candidates.extend(part for part in _answers_in(*parenthetical.groups()) if part.strip())
        for candidate in candidates:
            expansion = glossary.lookup(candidate)
            forms.append(candidate)
            if expansion:
                forms.append(expansion)
    return list(dict.fromkeys(form.strip() for form in forms if form.strip()))


def match_fill_in(
    response: str, forms: list[str], glossary: Glossary, config: GradingConfig
) -> Match | None:
    """The first rule, strictest first, under which the response matches an accepted form."""
    answer = _canonical_tokens(response)
    if not answer:
        return None
    expansion = glossary.lookup(response)
    expanded = _canonical_tokens(expansion) if expansion else None
    candidates = [(form, _canonical_tokens(form)) for form in forms]
    candidates = [(form, tokens) for form, tokens in candidates if tokens]
    for form, expected in candidates:
        if answer == expected:
            return Match(form, "exact")
    for form, expected in candidates:
        if "".join(answer) == "".join(expected):
            return Match(form, "spacing")
        if tuple(map(stem, answer)) == tuple(map(stem, expected)):
            return Match(form, "inflection")
    for form, expected in candidates:
        if expanded is not None and tuple(map(stem, expanded)) == tuple(map(stem, expected)):
            return Match(form, "glossary")
        if (
            len(answer) == 1
            and len(expected) >= 2
            and answer[0].isalpha()
            and answer[0] == _initials(expected)
        ):
            return Match(form, "acronym")
    typo: Match | None = None
    for form, expected in candidates:
        edits = _typo_edits(answer, expected, config)
        if edits is not None and (typo is None or edits < typo.edits):
            typo = Match(form, "typo", edits)
    return typo


def _named_by(prompt: str) -> set[tuple[str, ...]]:
    """Each word of the prompt that looks like an abbreviation or a name (has a capital
    after its first letter, as "LSTM", "XGBoost", "ROC"), in comparison form."""
    return {
        _canonical_tokens(token)
        for token in re.findall(r"[A-Za-z][A-Za-z0-9]*", prompt)
        if any(char.isupper() for char in token[1:])
    }


def _shown_in(text: str, name: str) -> bool:
    """Whether ``text`` contains ``name`` as whole words (case, hyphens and spacing aside)."""
    needle = " ".join(_canonical_tokens(name))
    return bool(needle) and f" {needle} " in f" {' '.join(_canonical_tokens(text))} "


def grade_fill_in(
    key: QuestionKey, response: str | None, glossary: Glossary, config: GradingConfig
) -> Grade:
    if response is not None and not isinstance(response, str):
        raise ResponseError(f"question {key.question_id} is fill-in: answer with text")
    forms = accepted_forms(key, glossary)
    # What the question itself names is never its answer: for "What does LSTM stand for?"
    # neither "LSTM" (taken from "Long Short-Term Memory (LSTM)") nor its expansion rule
    # may credit the abbreviation.
    named = _named_by(key.prompt)
    forms = [form for form in forms if _canonical_tokens(form) not in named] or forms
    # The other names of the blank's term (the deck's synonym groups: "sensitivity" for
    # "recall"), also for keys built before a group was added; never a name the question
    # itself shows, and none where it asks what an abbreviation stands for.
    # The forms without a part a learner may leave out ("containers" for "framework
    # containers", "1.2" for "version 1.2-2"), as exam building now accepts them, so keys
    # built before stay fair; and their other names.
    shorter = [variant for form in forms for variant in shorter_forms(form, key.prompt)]
    forms += [
        form
        for form in shorter
        if not _shown_in(key.prompt, form) and _canonical_tokens(form) not in named
    ]
    others = glossary.synonyms_of(forms, key.prompt)
    forms += [
        name
        for name in (*others, *(form for other in others for form in aws_prefix_variants(other)))
        if not _shown_in(key.prompt, name) and _canonical_tokens(name) not in named
    ]
    reference = key.answer
    text = (response or "").strip()
    match = (
        match_fill_in(text, forms, glossary, config)
        if text and _canonical_tokens(text) not in named
        else None
    )
    closest = max(
        (fuzz.ratio(normalize_answer(text), normalize_answer(form)) for form in forms),
        default=0.0,
    )
    evidence: dict[str, object] = {
        "normalized": normalize_answer(text),
        "accepted": forms,
        "closest_ratio": round(closest, 1),
    }
    if match is None:
        score = 0.0
        if not text:
            summary = "No answer was given."
        elif _numbers(_canonical_tokens(text)) and not any(
            _numbers(_canonical_tokens(text)) == _numbers(_canonical_tokens(form)) for form in forms
        ):
            summary = "Incorrect: the number does not match."
        else:
            summary = "Incorrect."
        feedback = Feedback(
            summary,
            wrong=(text,) if text else (),
            missing=(reference,),
            reference=reference,
            explanation=key.explanation,
        )
        evidence["rule"] = None
    else:
        score = 1.0
        summary = {
            "typo": f"Correct, allowing for spelling: it is spelled {match.form!r}.",
            "acronym": f"Correct: {text} stands for {match.form}.",
            "glossary": f"Correct: {text} stands for {match.form}.",
        }.get(match.rule, "Correct.")
        feedback = Feedback(
            summary, right=(text,), reference=reference, explanation=key.explanation
        )
        evidence.update({"rule": match.rule, "matched": match.form, "edits": match.edits})
    return Grade(
        key.question_id,
        QuestionType.FILL_IN,
        score,
        Verdict.for_score(score),
        feedback,
        evidence,
    )
