"""Answers that swap a key term for its opposite.

Embeddings place "the arithmetic mean of precision and recall" next to "the harmonic mean of
precision and recall", and "TP / (TP + FN)" next to "TP / (TP + FP)": the words around the
swapped term are the same. A contradiction is a reference clause that uses one term of a
contrast group while the answer, in a clause about the same thing (most of the clause's other
content words), uses another term of the group instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from quizsvc.grading.normalize import STOP_WORDS, split_clauses, words
from quizsvc.grading.stemmer import stem


@dataclass(frozen=True)
class ContrastTerm:
    """One term of a contrast group, with its spellings ("overfitting|over-fitting")."""

    label: str
    spellings: tuple[tuple[str, ...], ...]


def _term(spec: str) -> ContrastTerm:
    variants = [variant.strip() for variant in spec.split("|")]
    spellings = tuple(tuple(stem(token) for token in words(variant)) for variant in variants)
    return ContrastTerm(label=variants[0], spellings=spellings)


def contrast_groups(specs: Iterable[Sequence[str]]) -> tuple[tuple[ContrastTerm, ...], ...]:
    return tuple(tuple(_term(spec) for spec in group) for group in specs)


#: Terms a learner must not swap. Each group lists mutually exclusive alternatives; the first
#: spelling of a term is the one quoted in feedback.
DEFAULT_CONTRAST_GROUPS: tuple[tuple[str, ...], ...] = (
    ("precision", "recall"),
    ("sensitivity", "specificity"),
    ("l1|l1 regularization|lasso", "l2|l2 regularization|ridge"),
    ("bagging", "boosting"),
    ("false positive|type i error", "false negative|type ii error"),
    ("true positive", "true negative"),
    ("true positive rate", "false positive rate"),
    ("harmonic", "arithmetic|average|simple mean", "geometric"),
    ("too high|too large|too big", "too low|too small"),
    ("high", "low"),
    ("higher", "lower"),
    ("increase|increases|increasing", "decrease|decreases|decreasing|reduce|reduces|reducing"),
    ("overfitting|over fitting|overfit", "underfitting|under fitting|underfit"),
    ("high variance", "high bias"),
    ("encoder", "decoder"),
    ("encode", "decode"),
    ("supervised", "unsupervised"),
    ("classification", "regression"),
    ("minimum|minimize|minimise", "maximum|maximize|maximise"),
    ("micro", "macro"),
    ("vanishing", "exploding"),
    ("sequential|sequentially", "parallel|in parallel"),
    ("last in first out|lifo", "first in first out|fifo"),
    ("local", "global"),
)

_NEGATORS = frozenset(
    {"not", "no", "never", "unlike", "instead", "rather", "opposed", "versus", "vs"}
)


@dataclass(frozen=True)
class Contradiction:
    """The answer says ``found`` where the reference says ``expected``."""

    expected: str
    found: str
    reference_clause: str
    answer_clause: str
    #: Share of the reference clause's other content words that the answer clause repeats.
    overlap: float = 1.0

    def to_dict(self) -> dict[str, str | float]:
        return {
            "expected": self.expected,
            "found": self.found,
            "reference_clause": self.reference_clause,
            "answer_clause": self.answer_clause,
            "overlap": round(self.overlap, 4),
        }


def _term_map(
    clause: _Clause, groups: Sequence[tuple[int, tuple[ContrastTerm, ...]]]
) -> dict[int, tuple[int, int]]:
    """Token position -> (group, term) for every contrast term in the clause."""
    mapping: dict[int, tuple[int, int]] = {}
    for group_position, group in groups:
        for term_index, term in enumerate(group):
            for begin, end in _spans(clause, term):
                for index in range(begin, end):
                    mapping.setdefault(index, (group_position, term_index))
    return mapping


def _subjects(
    segment: _Segment, term_map: dict[int, tuple[int, int]], own_group: int
) -> dict[int, frozenset[int]]:
    """Terms of other groups that a segment mentions, by group."""
    found: dict[int, set[int]] = {}
    for index in segment.indices:
        if index in term_map and term_map[index][0] != own_group:
            group, term = term_map[index]
            found.setdefault(group, set()).add(term)
    return {group: frozenset(terms) for group, terms in found.items()}


def _different_subjects(left: dict[int, frozenset[int]], right: dict[int, frozenset[int]]) -> bool:
    return any(group in right and not terms & right[group] for group, terms in left.items())


def _nested(left: str, right: str) -> bool:
    return left in right or right in left


@lru_cache(maxsize=256)
def _group_stems(group: tuple[ContrastTerm, ...]) -> frozenset[str]:
    """Every stem that a spelling of a group's terms starts with."""
    return frozenset(spelling[0] for term in group for spelling in term.spellings if spelling)


@dataclass(frozen=True)
class _Clause:
    tokens: tuple[str, ...]
    stems: tuple[str, ...]
    negated: frozenset[int]
    #: Which comma-separated chunk of the clause each token is in.
    chunks: tuple[int, ...]


@lru_cache(maxsize=4096)
def _clause(text: str) -> _Clause:
    tokens: list[str] = []
    chunks: list[int] = []
    for number, chunk in enumerate(re.split(r"[,;]", text)):
        chunk_tokens = words(chunk)
        tokens.extend(chunk_tokens)
        chunks.extend([number] * len(chunk_tokens))
    negated = frozenset(
        index
        for index in range(len(tokens))
        if any(token in _NEGATORS for token in tokens[max(0, index - 3) : index])
    )
    return _Clause(tuple(tokens), tuple(stem(token) for token in tokens), negated, tuple(chunks))


def _spans(clause: _Clause, term: ContrastTerm) -> list[tuple[int, int]]:
    """Where the term occurs, longest spelling first, without overlaps."""
    found: list[tuple[int, int]] = []
    taken: set[int] = set()
    for spelling in sorted(term.spellings, key=len, reverse=True):
        size = len(spelling)
        for begin in range(len(clause.stems) - size + 1):
            if clause.stems[begin : begin + size] == spelling and not taken & set(
                range(begin, begin + size)
            ):
                found.append((begin, begin + size))
                taken.update(range(begin, begin + size))
    return sorted(found)


@dataclass(frozen=True)
class _Segment:
    """The words of a clause that one mention of a contrast term governs."""

    text: str
    #: Group index of each term mentioned, with the surface form it was first written in.
    terms: dict[int, str]
    #: Terms mentioned without a negation in front ("not", "unlike", "rather than").
    asserted: frozenset[int]
    context: frozenset[str]
    #: The clause says nothing but the term ("Recall.").
    bare: bool
    #: The clause mentions more than one term of the group ("inside (local) or outside
    #: (global)").
    contrasting: bool
    #: Token positions in the clause that the segment covers.
    indices: frozenset[int]


@dataclass
class _Mention:
    occurrences: list[tuple[int, int, int]]

    @property
    def begin(self) -> int:
        return self.occurrences[0][0]

    @property
    def end(self) -> int:
        return self.occurrences[-1][1]


_SUBORDINATOR_TEXT = """if when whenever once because since as although though while unless after
before with without by for given"""
_SUBORDINATORS = frozenset(_SUBORDINATOR_TEXT.split())


def _introductory(clause: _Clause, chunk: int) -> bool:
    """The chunk opens with a subordinating word, so its main clause follows the comma."""
    if chunk not in clause.chunks:
        return False
    return clause.tokens[clause.chunks.index(chunk)] in _SUBORDINATORS


def _segments(clause: _Clause, group: tuple[ContrastTerm, ...]) -> list[_Segment]:
    """One segment per mention of the group's terms in a clause.

    Terms joined only by function words ("precision and recall") are one mention, which then
    names both and asserts no contrast. Every other word belongs to the nearest mention in its
    comma-separated chunk (to both on a tie), so "L2 drives weights to zero, L1 shrinks them"
    gives each term its own claim while "num_layers_encoder and num_layers_decoder" gives
    both terms the same words. Words in a chunk without a mention belong to the mention in
    the chunk before only when that chunk is introductory ("If it is too high, ...").
    """
    occurrences = sorted(
        (begin, end, index)
        for index, term in enumerate(group)
        for begin, end in _spans(clause, term)
    )
    if not occurrences:
        return []
    mentions = [_Mention([occurrences[0]])]
    for occurrence in occurrences[1:]:
        previous = mentions[-1]
        between = clause.tokens[previous.end : occurrence[0]]
        same_chunk = clause.chunks[previous.end - 1] == clause.chunks[occurrence[0]]
        if same_chunk and all(token in STOP_WORDS for token in between):
            previous.occurrences.append(occurrence)
        else:
            mentions.append(_Mention([occurrence]))
    masked = {index for begin, end, _ in occurrences for index in range(begin, end)}
    owned: list[list[int]] = [[] for _ in mentions]
    for index in range(len(clause.tokens)):
        if index in masked:
            continue
        in_chunk = [
            position
            for position, mention in enumerate(mentions)
            if clause.chunks[mention.begin] == clause.chunks[index]
        ]
        if in_chunk:
            distances = {
                position: min(
                    abs(index - mentions[position].begin), abs(index - (mentions[position].end - 1))
                )
                for position in in_chunk
            }
            nearest = min(distances.values())
            owners = [position for position, distance in distances.items() if distance == nearest]
        else:
            # A chunk without a mention completes the one before it only when that one is an
            # introductory clause ("If the rate is too high, training diverges"); otherwise it
            # is a claim of its own ("... in parallel, boosting trains in sequence").
            chunk = clause.chunks[index]
            owners = [
                position
                for position, mention in enumerate(mentions)
                if clause.chunks[mention.begin] == chunk - 1 and _introductory(clause, chunk - 1)
            ]
        for position in owners:
            owned[position].append(index)
    contrasting = len({index for _, _, index in occurrences}) > 1
    segments = []
    for mention, indices in zip(mentions, owned, strict=True):
        span = sorted({*indices, *(i for b, e, _ in mention.occurrences for i in range(b, e))})
        terms: dict[int, str] = {}
        for begin, end, index in mention.occurrences:
            terms.setdefault(index, " ".join(clause.tokens[begin:end]))
        context = frozenset(
            clause.stems[index] for index in indices if clause.tokens[index] not in STOP_WORDS
        )
        segments.append(
            _Segment(
                text=" ".join(clause.tokens[index] for index in span),
                terms=terms,
                asserted=frozenset(
                    index for begin, _, index in mention.occurrences if begin not in clause.negated
                ),
                context=context,
                bare=len(mentions) == 1 and not context,
                contrasting=contrasting,
                indices=frozenset(span),
            )
        )
    return segments


def find_contradictions(
    reference: str,
    answer: str,
    groups: tuple[tuple[ContrastTerm, ...], ...],
    min_overlap: float = 0.5,
    ignore: frozenset[str] = frozenset(),
) -> list[Contradiction]:
    """Swapped contrast terms between a reference and an answer (both already expanded).

    Each reference segment that uses exactly one term of a group is compared with the answer's
    segments on their other content words (minus ``ignore``: stems of the question, which
    every segment shares); where the reference clause sets two terms side by side, only
    answer clauses that also name two are compared. An answer segment that asserts another
    term of the group contradicts when it shares at least ``min_overlap`` of those words and
    matches better than every answer segment that uses the reference's own term. A reference
    that is nothing but the term ("Recall") is contradicted by an answer using another term
    and not its own.
    """
    reference_clauses = [_clause(text) for text in split_clauses(reference) or [reference]]
    answer_clauses = [_clause(text) for text in split_clauses(answer) or [answer]]
    reference_stems = {token for clause in reference_clauses for token in clause.stems}
    answer_stems = {token for clause in answer_clauses for token in clause.stems}
    active = [
        position
        for position, group in enumerate(groups)
        if _group_stems(group) & answer_stems and _group_stems(group) & reference_stems
    ]
    term_maps = {
        id(clause): _term_map(clause, [(position, groups[position]) for position in active])
        for clause in (*reference_clauses, *answer_clauses)
    }
    found: list[Contradiction] = []
    for group_position, group in enumerate(groups):
        # Cheap test first: most groups have no word in the texts at all.
        if group_position not in active:
            continue
        answer_segments = [
            (segment, _subjects(segment, term_maps[id(clause)], group_position))
            for clause in answer_clauses
            for segment in _segments(clause, group)
        ]
        if not answer_segments:
            continue
        for reference_clause in reference_clauses:
            for reference_segment in _segments(reference_clause, group):
                if len(reference_segment.terms) != 1:
                    continue
                (expected, expected_text), *_ = reference_segment.terms.items()
                reference_subjects = _subjects(
                    reference_segment, term_maps[id(reference_clause)], group_position
                )
                # Words of the question are in every segment: they say nothing about which
                # claim a segment makes ("variables" for a question about variables).
                reference_context = reference_segment.context - ignore
                if not reference_context and not reference_segment.bare:
                    continue
                best_own = -1.0
                best_other: tuple[float, str, _Segment] | None = None
                for segment, subjects in answer_segments:
                    if reference_segment.contrasting and not segment.contrasting:
                        # The reference sets both terms side by side; an answer naming only
                        # one of them is incomplete, not a swap.
                        continue
                    if _different_subjects(reference_subjects, subjects):
                        # "Boosting trains sequentially" and "bagging trains in parallel" are
                        # claims about different things, not one claim with a swapped term.
                        continue
                    shared = len(reference_context & segment.context)
                    overlap = shared / len(reference_context) if reference_context else 1.0
                    if shared < min(2, len(reference_context)):
                        # One shared word ("function") is too little to say two segments
                        # make the same claim.
                        overlap = 0.0
                    if expected in segment.terms:
                        best_own = max(best_own, overlap)
                        continue
                    for index in segment.asserted:
                        if best_other is None or overlap > best_other[0]:
                            best_other = (overlap, segment.terms[index], segment)
                if best_other is None:
                    continue
                overlap, found_text, answer_segment = best_other
                if overlap < min_overlap or overlap <= best_own:
                    continue
                # One report per swap, the best-aligned: "too low" also matches the high/low
                # group, and "L1 regularization" in the reference is "L1" in a key point.
                report = Contradiction(
                    expected_text, found_text, reference_segment.text, answer_segment.text, overlap
                )
                duplicate = next(
                    (
                        position
                        for position, earlier in enumerate(found)
                        if _nested(found_text, earlier.found)
                        and _nested(expected_text, earlier.expected)
                    ),
                    None,
                )
                if duplicate is None:
                    found.append(report)
                elif overlap > found[duplicate].overlap:
                    found[duplicate] = report
    return found
