"""Abbreviations and formula symbols spelled out before texts are compared.

An embedding model sees "TP / (TP+FP)" and "true positives divided by true positives plus false
positives" as unrelated strings (cosine 0.12 on all-MiniLM-L6-v2); after expansion on both
sides they compare as the same statement.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cached_property

from quizsvc.bank.synonyms import equivalents, synonym_groups
from quizsvc.grading.normalize import STOP_WORDS

#: Used under a deck's own glossary (the deck wins) and for ad-hoc grading without a deck.
DEFAULT_GLOSSARY: Mapping[str, str] = {
    "TP": "true positives",
    "FP": "false positives",
    "TN": "true negatives",
    "FN": "false negatives",
    "TPR": "true positive rate",
    "FPR": "false positive rate",
    "TNR": "true negative rate",
    "FNR": "false negative rate",
    "LR": "learning rate",
    "RNN": "recurrent neural network",
    "CNN": "convolutional neural network",
    "LSTM": "long short-term memory",
    "GRU": "gated recurrent unit",
    "AUC": "area under the curve",
    "ROC": "receiver operating characteristic",
    "MSE": "mean squared error",
    "RMSE": "root mean squared error",
    "MAE": "mean absolute error",
    "SGD": "stochastic gradient descent",
    "PCA": "principal component analysis",
    "NLP": "natural language processing",
}

#: A slash reads as division between operands, not in "true/false" or "and/or".
_DIVISION = re.compile(r"(?<=[\w)\]])\s*/\s*(?=[\w(\[])")
_SPACED_DIVISION = re.compile(r"\s+/\s+")
_PLUS = re.compile(r"\s*(?<!\+)\+(?!\+)\s*")
_TIMES = re.compile(r"\s*\*\s*")
_EQUALS = re.compile(r"\s*(?<![<>!=])=(?!=)\s*")
_SQUARED = re.compile(r"\^\s*2\b|²")
_MINUS_BETWEEN_OPERANDS = re.compile(r"(?<=[\d)])\s+-\s+(?=[\d(\w])")


def _is_formula_slash(text: str, start: int, end: int, abbreviations: frozenset[str]) -> bool:
    """A slash is division when spaced, or next to a digit, a bracket or an abbreviation."""
    if text[start:end].startswith(" ") and text[start:end].endswith(" "):
        return True
    left = re.search(r"([\w]+|[)\]])\s*$", text[:start])
    right = re.match(r"\s*([\w]+|[(\[])", text[end:])
    for side in (left, right):
        if side is None:
            continue
        token = side.group(1)
        if token in {")", "]", "(", "["} or token.isdigit() or token in abbreviations:
            return True
    return False


def spell_symbols(text: str, abbreviations: frozenset[str] = frozenset()) -> str:
    """Operators in formulas as words: "/" divided by, "+" plus, "*" times, "=" equals."""

    def division(match: re.Match[str]) -> str:
        if _is_formula_slash(match.string, match.start(), match.end(), abbreviations):
            return " divided by "
        return match.group(0)

    spelled = _DIVISION.sub(division, text)
    spelled = _SPACED_DIVISION.sub(" divided by ", spelled)
    spelled = _SQUARED.sub(" squared", spelled)
    spelled = _PLUS.sub(" plus ", spelled)
    spelled = _TIMES.sub(" times ", spelled)
    spelled = _EQUALS.sub(" equals ", spelled)
    spelled = _MINUS_BETWEEN_OPERANDS.sub(" minus ", spelled)
    return re.sub(r"\s+", " ", spelled).strip()


class Glossary:
    """Abbreviation -> expansion, matched as whole words.

    Matching ignores case ("relu", "ReLU"), except for abbreviations that are also common
    words in lower case (an "IT" entry must not rewrite "it"). A plural "s" on an all-capitals
    abbreviation is understood ("TPs").
    """

    def __init__(
        self, entries: Mapping[str, str], synonyms: Iterable[Iterable[str]] | None = None
    ) -> None:
        self.entries: dict[str, str] = {
            key.strip(): value.strip() for key, value in entries.items()
        }
        #: Groups of names that mean the same thing (the deck's ``synonyms``); by default
        #: those a :class:`~quizsvc.bank.synonyms.DeckGlossary` carries.
        self.synonyms: tuple[tuple[str, ...], ...] = tuple(
            tuple(group) for group in (synonym_groups(entries) if synonyms is None else synonyms)
        )
        self._identity = (tuple(sorted(self.entries.items())), self.synonyms)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Glossary) and other._identity == self._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    def __repr__(self) -> str:
        return f"Glossary({len(self.entries)} entries, {len(self.synonyms)} synonym groups)"

    @classmethod
    def for_deck(cls, deck_glossary: Mapping[str, str] | None = None) -> Glossary:
        """The default glossary under a deck's own entries."""
        merged = dict(DEFAULT_GLOSSARY)
        for key, value in (deck_glossary or {}).items():
            for existing in [k for k in merged if k.casefold() == key.casefold()]:
                del merged[existing]
            merged[key] = value
        return cls(merged, synonym_groups(deck_glossary))

    @cached_property
    def _lookup(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for key, value in self.entries.items():
            if key.casefold() in STOP_WORDS:
                table[key] = value
            else:
                table.setdefault(key.casefold(), value)
        return table

    @cached_property
    def _pattern(self) -> re.Pattern[str] | None:
        if not self.entries:
            return None
        alternatives = []
        for key in sorted(self.entries, key=len, reverse=True):
            escaped = re.escape(key)
            if key.casefold() in STOP_WORDS:
                alternatives.append(f"(?-i:{escaped})")
            elif key.isupper():
                alternatives.append(f"{escaped}(?-i:s)?")
            else:
                alternatives.append(escaped)
        return re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])", re.IGNORECASE)

    @cached_property
    def abbreviations(self) -> frozenset[str]:
        return frozenset(key.casefold() for key in self.entries) | frozenset(self.entries)

    def synonyms_of(self, forms: Iterable[str], prompt: str = "") -> tuple[str, ...]:
        """The other names of what ``forms`` name, from the deck's synonym groups (none when
        ``prompt`` asks what an abbreviation stands for)."""
        return equivalents(forms, self.synonyms, prompt)

    def lookup(self, abbreviation: str) -> str | None:
        """The expansion of one abbreviation, or None."""
        text = abbreviation.strip()
        found = self._lookup.get(text) or self._lookup.get(text.casefold())
        if found is None and len(text) > 1 and text.endswith("s") and text[:-1].isupper():
            found = self._lookup.get(text[:-1].casefold())
        return found

    def found_in(self, text: str) -> frozenset[str]:
        """The abbreviations ``text`` uses (case-folded, plural "s" dropped)."""
        pattern = self._pattern
        if pattern is None:
            return frozenset()
        return frozenset(self._key_of(match.group(0)) for match in pattern.finditer(text))

    def _key_of(self, found: str) -> str:
        if self.lookup(found) is not None and found.casefold() not in self._lookup:
            return found[:-1].casefold()
        return found.casefold()

    def expand(self, text: str, keep: frozenset[str] = frozenset()) -> str:
        """``text`` with every known abbreviation replaced by its expansion, except those in
        ``keep`` (case-folded)."""
        pattern = self._pattern
        if pattern is None:
            return text

        def replace(match: re.Match[str]) -> str:
            found = match.group(0)
            expansion = self.lookup(found)
            if expansion is None or self._key_of(found) in keep:
                return found
            if found.endswith("s") and found[:-1].isupper() and not expansion.endswith("s"):
                return expansion + "s"
            return expansion

        return pattern.sub(replace, text)

    def prepare(self, text: str, keep: frozenset[str] = frozenset()) -> str:
        """What the graders compare: symbols spelled out, abbreviations (but ``keep``)
        expanded."""
        return self.expand(spell_symbols(text, self.abbreviations), keep)
