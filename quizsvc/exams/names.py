"""The spellings of a name: its "Name (expansion)" parts, its glossary abbreviation or
expansion (both ways) and its hyphen and space variants.

Exams use them twice: a reverse question's definition may show none of its term's spellings
(a definition saying "It is a Residual Network" gives away ResNet), and a fill-in blank
accepts every spelling of what it blanks, so a learner who writes "CBOW" for "continuous
bag of words" is right, in the service and in every LMS the exam is exported to.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import cache

from quizsvc.bank.synonyms import DeckGlossary, synonym_groups
from quizsvc.exams.distractors import compact, mentions, term_forms

#: Words skipped when an expansion is spelled out ("Bilingual Evaluation Understudy" has no
#: "of", but "term frequency of ..." style expansions may).
_LINK_WORDS = frozenset({"a", "an", "and", "of", "the", "to", "for", "in", "on"})
_WORD = re.compile(r"[^\W_]+")
#: Where a name breaks into the pieces an abbreviation is made of: before a capital that
#: follows a lower-case letter (Res|Net), between capitals (L|S|T|M), around digits.
_PIECE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z][a-z]+|[A-Z]|[a-z]+|\d+")


def default_glossary() -> Mapping[str, str]:
    """The grader's default glossary (common ML abbreviations), which every deck's own
    glossary extends.

    Imported when first needed: ``quizsvc.grading`` imports the exam modules itself, so a
    module-level import would be circular.
    """
    from quizsvc.grading.glossary import DEFAULT_GLOSSARY

    return DEFAULT_GLOSSARY


def merged_glossary(deck_glossary: Mapping[str, str] | None = None) -> DeckGlossary:
    """The default glossary under a deck's own entries (the deck wins), as the grader has it,
    with the deck's synonym groups."""
    merged = DeckGlossary(default_glossary(), synonym_groups(deck_glossary))
    for key, value in (deck_glossary or {}).items():
        for existing in [k for k in merged if k.casefold() == key.casefold()]:
            del merged[existing]
        merged[key.strip()] = value.strip()
    return merged


def glossary_variants(name: str, glossary: Mapping[str, str]) -> tuple[str, ...]:
    """The abbreviation of an expansion and the expansion of an abbreviation (plural and
    case ignored): "false negatives" gives "FN", "LSTM" gives "Long Short-Term Memory"."""
    key = compact(name)
    found: list[str] = []
    for abbreviation, expansion in sorted(glossary.items()):
        if key == compact(abbreviation):
            found.append(expansion)
        elif key == compact(expansion):
            found.append(abbreviation)
    return tuple(found)


def hyphen_variants(name: str) -> tuple[str, ...]:
    """A hyphenated name spaced: "skip-gram" gives "skip gram". (Not closed up: "skipgram"
    is right, "useritem" is not, and no rule tells them apart.) A hyphen between digits
    stays: "1.2-2" is a version, "1.2 2" none."""
    if "-" not in name or "(" in name:
        return ()
    spaced = re.sub(r"(?<=\w)-(?=\w)(?<!\d-(?=\d))", " ", name)
    return (spaced,) if spaced != name else ()


def alias_forms(name: str) -> tuple[str, ...]:
    """The parts of "Name (expansion)" that name the same thing, with the whole: "RMSE (root
    mean squared error)" gives all three, but "RecordIO-wrapped protobuf (float32 only)"
    only itself, its bracket being a remark. Two parts are aliases when one is the initials
    or the spelled-out pieces of the other, or its words are a subset of the other's."""
    forms = term_forms(name)
    if len(forms) < 3:
        return forms
    whole, head, tail = forms[:3]
    # "dynamic_feat (dynamic features, e.g. a promotion applied to a product)": the example
    # is no part of the other name.
    cut = _EXAMPLE_IN_BRACKET.split(tail, maxsplit=1)[0].strip()
    if not cut:
        return (whole,)
    if cut != tail:
        whole = f"{head} ({cut})"
    return (whole, head, cut) if is_alias(head, cut) else (whole,)


_EXAMPLE_IN_BRACKET = re.compile(
    r"\s*[,;:]?\s*\b(?:e\.\s?g\.|i\.\s?e\.|for example|for instance|such as)(?=\W|$)",
    re.IGNORECASE,
)


def is_alias(left: str, right: str) -> bool:
    short, long = sorted((left, right), key=lambda text: len(compact(text)))
    short_words, long_words = compact(short).split(), compact(long).split()
    if set(short_words) < set(long_words):
        return True
    initials = "".join(word[0] for word in _WORD.findall(long.casefold()))
    return compact(short).replace(" ", "") == initials or spelled_out(long, short) is not None


def spellings(
    names: Iterable[str], glossary: Mapping[str, str], aliases_only: bool = False
) -> tuple[str, ...]:
    """Every spelling of the given names, theirs first, each once (as written: "skip-gram"
    and "skip gram" are both kept, for accept lists that LMS exports compare as strings).
    ``aliases_only`` keeps only the bracketed parts that are aliases (:func:`alias_forms`),
    for accept lists; otherwise every part counts, for what a prompt may not show."""
    found: list[str] = []
    for name in names:
        for form in alias_forms(name) if aliases_only else term_forms(name):
            found.append(form)
            found.extend(glossary_variants(form, glossary))
    found.extend(variant for form in list(found) for variant in hyphen_variants(form))
    return literal_unique(found)


def unique(texts: Iterable[str]) -> tuple[str, ...]:
    """The texts stripped, without empties or repeats (compared as words, so "skip-gram" and
    "skip gram" are one; the first spelling is kept)."""
    seen: set[str] = set()
    kept: list[str] = []
    for text in texts:
        key = compact(text)
        if key and key not in seen:
            seen.add(key)
            kept.append(text.strip())
    return tuple(kept)


def literal_unique(texts: Iterable[str]) -> tuple[str, ...]:
    """The texts stripped, repeats dropped only when spelled the same (case aside): an accept
    list keeps "skip-gram" and "skip gram" apart for LMS exports that compare strings."""
    seen: set[str] = set()
    kept: list[str] = []
    for text in texts:
        cleaned = " ".join(text.split())
        key = unicodedata.normalize("NFKC", cleaned).casefold()
        if cleaned and key not in seen:
            seen.add(key)
            kept.append(cleaned)
    return tuple(kept)


@cache
def _pieces(name: str) -> tuple[str, ...]:
    return tuple(piece.casefold() for piece in _PIECE.findall(unicodedata.normalize("NFKC", name)))


def spelled_out(text: str, name: str) -> tuple[int, int] | None:
    """Where ``text`` spells out ``name`` word by word, as (start, end) character offsets, or
    None: "Residual Network" spells out ResNet (Res|Net), "long short-term memory" LSTM.

    Each piece of the name must begin a consecutive word, in order (link words such as "of"
    may sit between). Only names of two or more pieces count, and single-letter pieces only
    from capitals ("eta" is never an acronym of "each tree added"), so ordinary words do not
    match by chance.
    """
    raw = _PIECE.findall(unicodedata.normalize("NFKC", name))
    pieces = _pieces(name)
    lone_lower = any(
        len(piece) == 1 and not original.isupper()
        for piece, original in zip(pieces, raw, strict=True)
    )
    if len(pieces) < 2 or lone_lower:
        return None
    if all(piece.isdigit() for piece in pieces):
        return None
    found = [(m.group(0).casefold(), m.start(), m.end()) for m in _WORD.finditer(text)]
    for first in range(len(found)):
        index, matched = first, 0
        while index < len(found) and matched < len(pieces):
            word = found[index][0]
            if word.startswith(pieces[matched]):
                matched += 1
            elif not (matched and word in _LINK_WORDS):
                break
            index += 1
        if matched == len(pieces) and compact(text[found[first][1] : found[index - 1][2]]) != (
            compact(name)
        ):
            return found[first][1], found[index - 1][2]
    return None


#: "two-dimensional", "2-D", "2 D": the dimension a layer name writes as "2D" (Conv2D).
_DIMENSION = re.compile(r"\b(one|two|three|[1-3])[\s-]?(?:dimensional|d)\b", re.IGNORECASE)
_DIMENSION_DIGITS = {"one": "1", "two": "2", "three": "3"}


def _with_dimensions(text: str) -> str:
    """The text, case-folded, with every dimension written as "2d"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _DIMENSION.sub(lambda m: _DIMENSION_DIGITS.get(m[1], m[1]) + "d", folded)


def _squashed(text: str) -> str:
    return re.sub(r"[\W_]+", "", _with_dimensions(text))


def names_in_another_spelling(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` in a spelling that whole-word matching misses:
    compounded with another name part ("MaxPooling2D" names "Max pooling", "max-pooling"
    too), or, for a name with a dimension ("Conv2D"), by that dimension in words and the
    rest of the name as the start of a word ("two-dimensional ... convolution")."""
    whole = _squashed(name)
    if len(whole) >= 5 and any(
        token.startswith(whole) or token.endswith(whole)
        for token in (_squashed(chunk) for chunk in _with_dimensions(text).split())
    ):
        return True
    pieces = list(_pieces(name))
    dimensions = {
        pieces[i] + "d"
        for i in range(len(pieces) - 1)
        if pieces[i].isdigit() and pieces[i + 1] == "d"
    }
    if not dimensions:
        return False
    rest = [p for p in pieces if p != "d" and not p.isdigit()]
    text_words = _WORD.findall(_with_dimensions(text))
    return (
        bool(rest)
        and all(any(word == dimension for word in text_words) for dimension in dimensions)
        and all(any(word.startswith(piece) for word in text_words) for piece in rest)
    )


def names_in(text: str, names: Iterable[str]) -> list[str]:
    """The names (of ``names``) that ``text`` mentions as whole words, spells out, or writes
    in another spelling (:func:`names_in_another_spelling`)."""
    return [
        name
        for name in names
        if mentions(text, name) or spelled_out(text, name) or names_in_another_spelling(text, name)
    ]


_ASKS_EXPANSION = re.compile(r"\bstand for\b|\bshort for\b|\babbreviation\b", re.IGNORECASE)


def names_answer(prompt: str, answers: Iterable[str], glossary: Mapping[str, str]) -> bool:
    """Whether ``prompt`` names one of ``answers``: as written, by a part of a
    "Name (expansion)" answer, or by its glossary abbreviation or expansion. A prompt that
    asks what an abbreviation stands for names the abbreviation by design, so there only
    the answer's own parts count."""
    if _ASKS_EXPANSION.search(prompt):
        forms: Iterable[str] = [form for answer in answers for form in term_forms(answer)]
    else:
        forms = spellings(answers, glossary)
    return any(mentions(prompt, form) or names_in_another_spelling(prompt, form) for form in forms)


def shows_name(text: str, names: Iterable[str], glossary: Mapping[str, str]) -> bool:
    """Whether ``text`` mentions any spelling of the names or spells one out word by word
    (what a reverse question's definition may not do with its term)."""
    return bool(names_in(text, spellings(names, glossary)))
