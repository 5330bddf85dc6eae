"""Synonym groups of a deck: names that mean exactly the same thing ("recall", "sensitivity",
"true positive rate", "TPR", "hit rate"), so that a fill-in blank asking for one accepts the
others.

The groups are bank data (``synonyms:`` in a deck's ``deck.yaml``), checked by ``quizsvc
bank validate`` (:func:`synonym_problems`). They travel with the deck's abbreviations in a
:class:`DeckGlossary`, the mapping that exam building and grading already receive per deck,
so neither needs another argument.

A group lists only true equivalents. A neighbouring concept ("precision" beside "recall"),
a narrower one ("ridge regression" is one model that uses L2 regularization, but "ridge" as
a name of the penalty is fine) or a name that is also a hyperparameter of another meaning
(bare "l1", a Linear Learner hyperparameter, is not "lasso") does not belong: a wrong group
credits wrong answers in every exam.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache

#: A prompt that asks what an abbreviation stands for accepts its expansion only: "What does
#: LSTM stand for?" is not answered by another name of the same thing.
ASKS_EXPANSION = re.compile(
    r"\bstands? for\b|\bshort for\b|\babbreviation\b|\bacronym\b|\bexpansion\b", re.IGNORECASE
)
_HYPHEN = re.compile(r"(?<=\w)[\-\u2010\u2011\u2012\u2013](?=\w)")
_WORD = re.compile(r"[\w.+/]+")
_ARTICLES = frozenset({"a", "an", "the"})


@lru_cache(maxsize=8192)
def synonym_key(text: str) -> str:
    """How names are compared: case, hyphens, spacing, a leading article and a plural "s"
    on the last word ignored ("The true-positive rates" is "true positive rate").
    Underscores are kept: ``mini_batch_size`` is a hyperparameter, not the phrase."""
    folded = _HYPHEN.sub(" ", unicodedata.normalize("NFKC", text).casefold())
    words = _WORD.findall(folded)
    if words and words[0] in _ARTICLES:
        words = words[1:]
    if words:
        last = words[-1]
        if last.endswith("ies") and len(last) > 4:
            words[-1] = last[:-3] + "y"
        elif (
            last.endswith("s")
            and len(last) > 3
            and not last.endswith(("ss", "us", "is"))
            and last != "series"
        ):
            words[-1] = last[:-1]
    return " ".join(words)


class DeckGlossary(dict[str, str]):
    """A deck's abbreviations (abbreviation -> expansion) and its synonym groups. It is the
    plain mapping of abbreviations wherever only those matter; :func:`synonym_groups` reads
    the groups from it."""

    synonyms: tuple[tuple[str, ...], ...]

    def __init__(
        self, entries: Mapping[str, str] | None = None, synonyms: Iterable[Iterable[str]] = ()
    ) -> None:
        super().__init__(entries or {})
        self.synonyms = tuple(
            tuple(name.strip() for name in group if name.strip()) for group in synonyms
        )

    @classmethod
    def of(cls, glossary: Mapping[str, str] | None) -> DeckGlossary:
        """A copy that keeps the groups of a :class:`DeckGlossary` (a plain mapping has none)."""
        return cls(glossary, synonym_groups(glossary))


def synonym_groups(glossary: Mapping[str, str] | None) -> tuple[tuple[str, ...], ...]:
    """The synonym groups a glossary carries (none for a plain mapping)."""
    return glossary.synonyms if isinstance(glossary, DeckGlossary) else ()


def equivalents(
    forms: Iterable[str], groups: Iterable[Iterable[str]], prompt: str = ""
) -> tuple[str, ...]:
    """The other names of what ``forms`` name: every member of each group that one of the
    forms belongs to, those already among the forms left out. None when ``prompt`` asks
    what an abbreviation stands for. (Callers drop the names the question itself shows.)"""
    if ASKS_EXPANSION.search(prompt):
        return ()
    keys = {synonym_key(form) for form in forms}
    keys.discard("")
    found: list[str] = []
    for group in groups:
        members = tuple(group)
        if any(synonym_key(name) in keys for name in members):
            found.extend(name for name in members if synonym_key(name) not in keys)
    return tuple(dict.fromkeys(found))


def synonym_problems(groups: Iterable[Iterable[str]]) -> list[str]:
    """What is wrong with a deck's synonym groups: a group with fewer than two different
    names, or a name in two groups (the groups would chain two meanings together)."""
    problems: list[str] = []
    owner: dict[str, int] = {}
    for index, group in enumerate(groups, start=1):
        keys = [synonym_key(name) for name in group]
        if len(set(filter(None, keys))) < 2:
            problems.append(f"synonym group {index} needs at least two different names")
        for name, key in zip(group, keys, strict=True):
            if not key:
                problems.append(f"synonym group {index} has an empty name")
            elif owner.get(key, index) != index:
                problems.append(
                    f"{name!r} is in synonym groups {owner[key]} and {index}: a name belongs "
                    "to one group (merge the groups if they mean the same thing)"
                )
            else:
                owner[key] = index
    return problems
