"""Free answers: semantic similarity to the reference and to each key point, plus word
overlap, combined into a score with partial credit by key-point coverage.

How one submission is graded, and why:

1. Texts are prepared on both sides: abbreviations expanded from the deck glossary and formula
   symbols spelled out ("TP / (TP+FP)" -> "true positives divided by (true positives plus
   false positives)"), so that words and symbols compare.
2. Answers that cannot earn credit are screened out before any encoding: empty, "I don't
   know", keyboard noise, and restatements of the question.
3. Every remaining answer is split into clauses, and all clauses of all answers go to the
   model in **one** ``encode`` call; an answer's own vector is the length-weighted mean of its
   clauses' vectors (the model mean-pools tokens, so this is close to encoding it whole, and
   it avoids paying for every token twice). Reference, key-point and question vectors come
   from the bank encoder's cache in one more call; learner text never touches that cache.
4. Similarities are cosines after removing the question's direction from every vector
   ("question demoting", after Mohler et al. 2011): an answer that merely talks about the
   topic of the question gains nothing from it.
5. Score = weighted mean of reference credit, key-point coverage (each key point credited by
   its best-matching clause, semantically or by its words) and lexical credit (share of the
   reference's content words the answer uses). An answer that swaps a key term for its
   opposite is capped (by default at 0).

Everything after encoding is numpy over the whole batch; the thresholds live in
:class:`~quizsvc.grading.config.GradingConfig`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process

from quizsvc.bank.model import Misconception
from quizsvc.embedding.base import Encoder, Vectors
from quizsvc.exams.model import QuestionKey, QuestionType
from quizsvc.grading.config import GradingConfig
from quizsvc.grading.contradiction import (
    DEFAULT_CONTRAST_GROUPS,
    Contradiction,
    ContrastTerm,
    contrast_groups,
    find_contradictions,
)
from quizsvc.grading.glossary import Glossary
from quizsvc.grading.model import Feedback, Grade, ResponseError, Verdict
from quizsvc.grading.normalize import (
    CLAUSE_LINKS,
    STOP_WORDS,
    content_grams,
    content_stems,
    derive_key_points,
    has_negation,
    normalize_answer,
    split_clauses,
    stop_word_share,
    word_order_disorder,
    words,
)
from quizsvc.grading.screen import SCREEN_MESSAGES, Screen, screen_answer
from quizsvc.grading.stemmer import stem
from quizsvc.grading.verdict import (
    Decision,
    VerdictFeatures,
    VerdictModel,
    decide,
    length_ratio,
    shipped_verdict_model,
)

FloatArray = NDArray[np.float64]
_MIN_FUZZY_WORD = 5
#: Spelling ratios below this are stored as 0: no sensible ``word_match_ratio`` is that low.
_FUZZY_FLOOR = 60.0


@lru_cache(maxsize=1)
def default_contrast_groups() -> tuple[tuple[ContrastTerm, ...], ...]:
    return contrast_groups(DEFAULT_CONTRAST_GROUPS)


@dataclass(frozen=True)
class FreeAnswerKey:
    """What a free answer is graded against."""

    question_id: str
    reference: str
    key_points: tuple[str, ...] = ()
    #: The question; empty for ad-hoc grading (then nothing is demoted and no echo check).
    prompt: str = ""
    glossary: Glossary = field(default_factory=Glossary.for_deck)
    explanation: str | None = None
    #: Terse forms that deserve full credit (the card's ``short_answers`` and ``accept``).
    short_answers: tuple[str, ...] = ()
    #: Wrong answers learners give, each with the line of feedback that explains it.
    misconceptions: tuple[Misconception, ...] = ()

    @classmethod
    def from_question(cls, key: QuestionKey, glossary: Glossary) -> FreeAnswerKey:
        return cls(
            question_id=key.question_id,
            reference=key.answer,
            key_points=key.key_points,
            prompt=key.prompt,
            glossary=glossary,
            explanation=key.explanation,
            short_answers=tuple(dict.fromkeys((*key.short_answers, *key.accept))),
            misconceptions=key.misconceptions,
        )

    @property
    def graded_key_points(self) -> tuple[str, ...]:
        """The key points listed; without any (ad-hoc grading, the benchmark), the
        reference's own clauses."""
        return self.key_points or derive_key_points(self.reference)


@dataclass(frozen=True)
class _Word:
    text: str
    stem: str


@dataclass(frozen=True)
class PreparedKey:
    """A key's texts as compared: expanded, with the content words lexical credit counts."""

    key: FreeAnswerKey
    prompt: str
    reference: str
    key_points: tuple[str, ...]
    reference_words: tuple[_Word, ...]
    key_point_words: tuple[tuple[_Word, ...], ...]
    known_words: frozenset[str]
    contradiction_reference: str
    #: Abbreviations the question itself uses, left unexpanded everywhere: for "What does ROC
    #: stand for?" the expansion is the answer, and a learner who writes "ROC" has not given it.
    kept_abbreviations: frozenset[str]
    #: Short answers as compared (expanded); those that only repeat the question are dropped.
    short_answers: tuple[str, ...] = ()
    #: The short answers' comparison forms (``normalize_answer``), for string matching.
    short_answer_forms: tuple[str, ...] = ()
    #: Misconception texts as compared (expanded), parallel to ``key.misconceptions``.
    misconceptions: tuple[str, ...] = ()
    #: Whether the reference, then each short answer, states a negation ("No, it does not").
    right_negated: tuple[bool, ...] = ()
    #: Content stems of the question and of everything right (reference, key points, short
    #: answers, glossary expansions of what they abbreviate).
    right_stems: frozenset[str] = frozenset()
    #: Per misconception, the content stems and stem pairs only it has (none of the
    #: question's or of anything right): "one fixed threshold" against "various thresholds",
    #: "training accuracy" where the answer says "validation accuracy", "TP / (TP + FP)"
    #: against "(TP + TN) / ...".
    misconception_stems: tuple[frozenset[str], ...] = ()
    #: Per misconception, the content stems of everything right that it lacks ("various").
    right_stems_against: tuple[frozenset[str], ...] = ()


def _content_words(text: str, demoted: frozenset[str]) -> tuple[_Word, ...]:
    """Distinct content words of ``text`` whose stems are not in ``demoted`` (all of them
    when that would leave none: "What are the two functions of a stack?" / "push and pop")."""
    seen: dict[str, _Word] = {}
    for token in words(text):
        if token in STOP_WORDS or (len(token) < 2 and not token.isdigit()):
            continue
        word = _Word(token, stem(token))
        seen.setdefault(word.stem, word)
    kept = tuple(word for word in seen.values() if word.stem not in demoted)
    return kept or tuple(seen.values())


def _distinctive_words(
    position: int, key_points: Sequence[str], prompt_stems: frozenset[str]
) -> tuple[_Word, ...]:
    """The words that tell a key point from the others: "bagging", "parallel" for "Bagging
    trains models in parallel" next to "Boosting trains models sequentially" ("trains" and
    "models" are evidence for neither). All its words when none are distinctive."""
    others = {
        word.stem
        for index, other in enumerate(key_points)
        if index != position
        for word in _content_words(other, frozenset())
    }
    return _content_words(key_points[position], prompt_stems | others)


@lru_cache(maxsize=4096)
def prepare_key(key: FreeAnswerKey) -> PreparedKey:
    glossary = key.glossary
    kept = glossary.found_in(key.prompt)
    prompt = glossary.prepare(key.prompt, kept) if key.prompt else ""
    reference = glossary.prepare(key.reference, kept)
    key_points = tuple(glossary.prepare(point, kept) for point in key.graded_key_points)
    prompt_stems = content_stems(prompt) if prompt else frozenset()
    known = set(words(prompt)) | set(words(reference))
    for point in key_points:
        known.update(words(point))
    for abbreviation, expansion in glossary.entries.items():
        known.update(words(abbreviation))
        known.update(words(expansion))
    short_answers = tuple(
        dict.fromkeys(
            prepared
            for text in key.short_answers
            if (prepared := glossary.prepare(text, kept)).strip()
            and not _only_repeats(prepared, prompt)
        )
    )
    misconceptions = tuple(glossary.prepare(item.text, kept) for item in key.misconceptions)
    for text in (*short_answers, *misconceptions):
        known.update(words(text))
    right_texts = (prompt, reference, *key_points, *short_answers)
    right_stems = frozenset().union(*(content_stems(text) for text in right_texts))
    right_grams = frozenset().union(*(content_grams(text) for text in right_texts))
    return PreparedKey(
        key=key,
        prompt=prompt,
        reference=reference,
        key_points=key_points,
        reference_words=_content_words(reference, prompt_stems),
        key_point_words=tuple(
            _distinctive_words(position, key_points, prompt_stems)
            for position in range(len(key_points))
        ),
        known_words=frozenset(known),
        contradiction_reference="\n".join(dict.fromkeys((reference, *key_points))),
        kept_abbreviations=kept,
        short_answers=short_answers,
        short_answer_forms=tuple(normalize_answer(text) for text in short_answers),
        misconceptions=misconceptions,
        right_negated=tuple(has_negation(text) for text in (reference, *short_answers)),
        right_stems=right_stems,
        misconception_stems=tuple(content_grams(text) - right_grams for text in misconceptions),
        right_stems_against=tuple(
            right_stems - content_stems(prompt) - content_stems(text) - _CLAUSE_LINK_STEMS
            for text in misconceptions
        ),
    )


_CLAUSE_LINK_STEMS = frozenset(stem(word) for word in CLAUSE_LINKS)


def _lexical_side(misconception_words: bool, right_words: bool) -> float:
    """Which side the answer's own words take between a misconception and the right answer:
    1 the misconception's (it uses a word or word pair only the misconception has, and no
    word only the right side has), 0 the right side's, 0.5 neither or both."""
    if misconception_words == right_words:
        return 0.5
    return 1.0 if misconception_words else 0.0


def _only_repeats(text: str, prompt: str) -> bool:
    """A short form every word of which is in the question ("LSTM" for "What does LSTM
    stand for?") is no answer to it."""
    return bool(prompt) and content_stems(text) <= content_stems(prompt)


@dataclass(frozen=True)
class AnswerMeasurement:
    """Threshold-free measurements of one answer: raw cosines (demotion and ramps are applied
    when scoring, so a calibration can rescore without re-encoding) and word overlaps."""

    screen: Screen
    #: The answer's clauses as encoded (expanded); empty when screened out.
    units: tuple[str, ...] = ()
    has_prompt: bool = False
    answer_reference: float = 0.0
    answer_prompt: float = 0.0
    reference_prompt: float = 0.0
    #: Cosine of each key point with the question, shape (k,).
    key_point_prompt: FloatArray = field(default_factory=lambda: np.zeros(0))
    #: Cosine of [whole answer, clause 1, ...] with each key point, shape (1 + clauses, k);
    #: zero rows when screened out.
    unit_key_point: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    #: Cosine of [whole answer, clause 1, ...] with the question.
    unit_prompt: FloatArray = field(default_factory=lambda: np.zeros(0))
    #: For each content word of the reference not already in the question: 100 when the
    #: answer has a word of the same stem, else the best rapidfuzz ratio of a long answer word
    #: (typos), else 0. Lexical credit counts those at or above ``word_match_ratio``.
    reference_word_match: FloatArray = field(default_factory=lambda: np.zeros(0))
    #: The same for each key point's words.
    key_point_word_match: tuple[FloatArray, ...] = ()
    #: Candidate swaps of contrast terms, each with its clause overlap; those at or above
    #: ``contradiction_overlap`` count.
    contradictions: tuple[Contradiction, ...] = ()
    #: Cosine of [whole answer, clause 1, ...] with each short answer, shape (rows, s), and of
    #: each short answer with the question, shape (s,).
    unit_short_answer: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    short_answer_prompt: FloatArray = field(default_factory=lambda: np.zeros(0))
    #: The same for the misconceptions: (rows, m) and (m,).
    unit_misconception: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    misconception_prompt: FloatArray = field(default_factory=lambda: np.zeros(0))
    #: Best rapidfuzz token-sort ratio (0-100) of the whole answer with a short answer:
    #: "harmonic mean of P and R" written out as listed.
    short_answer_match: float = 0.0
    answer_negated: bool = False
    #: Share of function words: a bag of the reference's words has almost none.
    stop_share: float = 0.0
    #: ``word_order_disorder`` of the answer against the reference: a bag of its words.
    word_order_disorder: float = 0.0
    word_count: int = 0
    #: Share of the answer's content stems that neither the question nor the right side has.
    novel_share: float = 0.0
    #: Per misconception, which side the answer's words take (``_lexical_side``): 1 the
    #: misconception's, 0 the right answer's, 0.5 neither (then only the embedding can tell).
    misconception_marked: tuple[float, ...] = ()

    def lexical(self, word_match_ratio: float = GradingConfig.word_match_ratio) -> float:
        matches = self.reference_word_match
        return float((matches >= word_match_ratio).mean()) if matches.size else 0.0

    def contradictions_at(self, overlap: float) -> tuple[Contradiction, ...]:
        return tuple(item for item in self.contradictions if item.overlap >= overlap)


def _word_matches(
    targets: Sequence[_Word], stems: frozenset[str], long_words: list[str]
) -> FloatArray:
    """100 for a target word whose stem the answer has, else the best spelling ratio among the
    answer's long words (typos: "defintion"), else 0."""
    matches = np.zeros(len(targets))
    for position, word in enumerate(targets):
        if word.stem in stems:
            matches[position] = 100.0
        elif len(word.text) >= _MIN_FUZZY_WORD and long_words:
            found = process.extractOne(
                word.text, long_words, scorer=fuzz.ratio, score_cutoff=_FUZZY_FLOOR
            )
            if found is not None:
                matches[position] = float(found[1])
    return matches


@dataclass
class _Pending:
    prepared: PreparedKey
    answer: str
    screen: Screen
    units: tuple[str, ...] = ()
    unit_start: int = 0


def measure_free_answers(
    items: Sequence[tuple[FreeAnswerKey, str]], encoder: Encoder, bank_encoder: Encoder
) -> list[AnswerMeasurement]:
    """Measure many answers with one ``encode`` call for all learner text and one
    ``bank_encoder`` call for all reference, key-point and question text."""
    pending: list[_Pending] = []
    learner_texts: list[str] = []
    for key, answer in items:
        prepared = prepare_key(key)
        expanded = key.glossary.prepare(answer, prepared.kept_abbreviations) if answer else ""
        screen = screen_answer(expanded, prepared.prompt, prepared.reference, prepared.known_words)
        item = _Pending(prepared, expanded, screen)
        if screen is Screen.ANSWER:
            item.units = tuple(split_clauses(expanded)) or (expanded.strip(),)
            item.unit_start = len(learner_texts)
            learner_texts.extend(item.units)
        pending.append(item)
    if not learner_texts:
        return [_screened(item) for item in pending]

    bank_texts = list(
        dict.fromkeys(
            text
            for item in pending
            if item.screen is Screen.ANSWER
            for text in (
                item.prepared.reference,
                *item.prepared.key_points,
                item.prepared.prompt,
                *item.prepared.short_answers,
                *item.prepared.misconceptions,
            )
            if text
        )
    )
    bank_vectors = bank_encoder.encode(bank_texts)
    bank_index = {text: row for row, text in enumerate(bank_texts)}
    learner_vectors = encoder.encode(learner_texts)

    results = []
    for item in pending:
        if item.screen is not Screen.ANSWER:
            results.append(_screened(item))
            continue
        results.append(
            _measure_one(
                item,
                learner_vectors[item.unit_start : item.unit_start + len(item.units)],
                bank_vectors,
                bank_index,
            )
        )
    return results


def _screened(item: _Pending) -> AnswerMeasurement:
    count = len(item.prepared.key_points)
    return AnswerMeasurement(
        screen=item.screen,
        has_prompt=bool(item.prepared.prompt),
        key_point_prompt=np.zeros(count),
        unit_key_point=np.zeros((0, count)),
        reference_word_match=np.zeros(len(item.prepared.reference_words)),
        key_point_word_match=tuple(
            np.zeros(len(targets)) for targets in item.prepared.key_point_words
        ),
    )


def _pool(unit_vectors: Vectors, units: Sequence[str]) -> FloatArray:
    """The answer's vector: its clauses' vectors weighted by their word counts."""
    if len(units) == 1:
        single: FloatArray = unit_vectors[0].astype(np.float64)
        return single
    weights = np.array([max(1, len(words(unit))) for unit in units], dtype=np.float64)
    pooled: FloatArray = (unit_vectors.astype(np.float64) * weights[:, None]).sum(axis=0)
    norm = float(np.linalg.norm(pooled))
    return pooled / norm if norm > 0 else pooled


def _measure_one(
    item: _Pending,
    unit_vectors: Vectors,
    bank_vectors: Vectors,
    bank_index: dict[str, int],
) -> AnswerMeasurement:
    prepared = item.prepared
    answer_vector = _pool(unit_vectors, item.units)
    rows = (
        answer_vector[None, :]
        if len(item.units) == 1
        else np.vstack([answer_vector[None, :], unit_vectors.astype(np.float64)])
    )
    reference = bank_vectors[bank_index[prepared.reference]].astype(np.float64)
    points = bank_vectors[[bank_index[point] for point in prepared.key_points]].astype(np.float64)
    dimension = bank_vectors.shape[1]
    shorts = _rows_of(bank_vectors, bank_index, prepared.short_answers, dimension)
    wrongs = _rows_of(bank_vectors, bank_index, prepared.misconceptions, dimension)
    if prepared.prompt:
        prompt = bank_vectors[bank_index[prepared.prompt]].astype(np.float64)
        unit_prompt = rows @ prompt
        reference_prompt = float(reference @ prompt)
        key_point_prompt = points @ prompt
        short_prompt = shorts @ prompt
        wrong_prompt = wrongs @ prompt
    else:
        unit_prompt = np.zeros(len(rows))
        reference_prompt = 0.0
        key_point_prompt = np.zeros(len(points))
        short_prompt = np.zeros(len(shorts))
        wrong_prompt = np.zeros(len(wrongs))
    compact_answer = normalize_answer(item.answer)
    short_answer_match = max(
        (
            float(fuzz.token_sort_ratio(compact_answer, form))
            for form in prepared.short_answer_forms
        ),
        default=0.0,
    )
    # The reference word for word is the card's own form too. Only word for word: the
    # token-sort match that short answers get would also pass a misconception that swaps two
    # of the reference's words ("classification (unsupervised) and Word2vec (supervised)").
    if compact_answer == normalize_answer(prepared.key.reference):
        short_answer_match = 100.0

    answer_stems = content_stems(item.answer)
    answer_grams = content_grams(item.answer)
    long_words = [
        token
        for token in set(words(item.answer))
        if len(token) >= _MIN_FUZZY_WORD and token not in STOP_WORDS
    ]
    contradictions = find_contradictions(
        prepared.contradiction_reference,
        item.answer,
        default_contrast_groups(),
        min_overlap=0.0,
        ignore=content_stems(prepared.prompt) if prepared.prompt else frozenset(),
    )
    return AnswerMeasurement(
        screen=Screen.ANSWER,
        units=item.units,
        has_prompt=bool(prepared.prompt),
        answer_reference=float(answer_vector @ reference),
        answer_prompt=float(unit_prompt[0]),
        reference_prompt=reference_prompt,
        key_point_prompt=np.asarray(key_point_prompt, dtype=np.float64),
        unit_key_point=np.clip(rows @ points.T, -1.0, 1.0),
        unit_prompt=np.asarray(unit_prompt, dtype=np.float64),
        reference_word_match=_word_matches(prepared.reference_words, answer_stems, long_words),
        key_point_word_match=tuple(
            _word_matches(targets, answer_stems, long_words) for targets in prepared.key_point_words
        ),
        contradictions=tuple(contradictions),
        unit_short_answer=np.clip(rows @ shorts.T, -1.0, 1.0),
        short_answer_prompt=np.asarray(short_prompt, dtype=np.float64),
        unit_misconception=np.clip(rows @ wrongs.T, -1.0, 1.0),
        misconception_prompt=np.asarray(wrong_prompt, dtype=np.float64),
        short_answer_match=short_answer_match,
        answer_negated=has_negation(item.answer),
        stop_share=stop_word_share(item.answer),
        word_order_disorder=word_order_disorder(item.answer, prepared.key.reference),
        word_count=len(words(item.answer)),
        novel_share=len(answer_stems - prepared.right_stems) / len(answer_stems)
        if answer_stems
        else 0.0,
        misconception_marked=tuple(
            _lexical_side(bool(own & answer_grams), bool(right & answer_stems))
            for own, right in zip(
                prepared.misconception_stems, prepared.right_stems_against, strict=True
            )
        ),
    )


def _rows_of(
    vectors: Vectors, index: dict[str, int], texts: Sequence[str], dimension: int
) -> FloatArray:
    if not texts:
        return np.zeros((0, dimension))
    rows: FloatArray = vectors[[index[text] for text in texts]].astype(np.float64)
    return rows


# --- Scoring ---------------------------------------------------------------------------------


def _ramp(values: FloatArray, low: float, high: float) -> FloatArray:
    result: FloatArray = np.clip((values - low) / (high - low), 0.0, 1.0)
    return result


def _demoted(
    similarity: FloatArray, left_prompt: FloatArray, right_prompt: FloatArray, beta: FloatArray
) -> FloatArray:
    """Cosine after removing ``alpha`` of the question's direction from both unit vectors,
    from raw cosines alone: with beta = 2*alpha - alpha^2,
    cos' = (s - beta*l*r) / sqrt((1 - beta*l^2) * (1 - beta*r^2))."""
    numerator = similarity - beta * left_prompt * right_prompt
    left = 1.0 - beta * left_prompt**2
    right = 1.0 - beta * right_prompt**2
    # A text that is (almost) the question itself has nothing left after demotion.
    degenerate = (left < 1e-4) | (right < 1e-4)
    safe = np.sqrt(np.maximum(left, 1e-4) * np.maximum(right, 1e-4))
    result: FloatArray = np.where(degenerate, 0.0, np.clip(numerator / safe, -1.0, 1.0))
    return result


@dataclass(frozen=True)
class MeasurementBatch:
    """Measurements laid out as flat arrays, so that scoring a batch (or rescoring it under
    many configs, as the calibration does) is a few numpy operations."""

    measurements: tuple[AnswerMeasurement, ...]
    answered: NDArray[np.bool_]
    has_prompt: NDArray[np.bool_]
    answer_reference: FloatArray
    answer_prompt: FloatArray
    reference_prompt: FloatArray
    #: Key points of all answers, concatenated; ``point_offsets[i]:point_offsets[i+1]`` are
    #: answer i's.
    point_offsets: NDArray[np.int64]
    point_owner: NDArray[np.int64]
    point_prompt: FloatArray
    #: (clause, key point) pairs of all answers.
    pair_point: NDArray[np.int64]
    pair_unit: NDArray[np.int64]
    #: Which (answer, clause) row each pair belongs to, numbered across the batch.
    pair_row: NDArray[np.int64]
    pair_similarity: FloatArray
    pair_unit_prompt: FloatArray
    #: Words of all references, then of all key points, with their owners.
    reference_word_owner: NDArray[np.int64]
    reference_word_match: FloatArray
    point_word_owner: NDArray[np.int64]
    point_word_match: FloatArray
    contradiction_owner: NDArray[np.int64]
    contradiction_overlap: FloatArray

    @property
    def size(self) -> int:
        return len(self.measurements)


def _concat_float(parts: Sequence[FloatArray]) -> FloatArray:
    result: FloatArray = np.concatenate(parts).astype(np.float64) if parts else np.zeros(0)
    return result


def _concat_int(parts: Sequence[NDArray[np.int64]]) -> NDArray[np.int64]:
    if not parts:
        return np.zeros(0, dtype=np.int64)
    result: NDArray[np.int64] = np.concatenate(parts).astype(np.int64)
    return result


def collate(measurements: Sequence[AnswerMeasurement]) -> MeasurementBatch:
    counts = np.array([len(m.key_point_prompt) for m in measurements], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    pair_point: list[NDArray[np.int64]] = []
    pair_unit: list[NDArray[np.int64]] = []
    pair_row: list[NDArray[np.int64]] = []
    rows_so_far = 0
    pair_similarity: list[FloatArray] = []
    pair_unit_prompt: list[FloatArray] = []
    reference_owner: list[NDArray[np.int64]] = []
    point_owner_words: list[NDArray[np.int64]] = []
    point_matches: list[FloatArray] = []
    contradiction_owner: list[int] = []
    contradiction_overlap: list[float] = []
    for index, m in enumerate(measurements):
        units, points = m.unit_key_point.shape
        if units and points:
            pair_point.append(np.tile(np.arange(points), units) + offsets[index])
            pair_unit.append(np.repeat(np.arange(units), points))
            pair_row.append(np.repeat(np.arange(units), points) + rows_so_far)
            rows_so_far += units
            pair_similarity.append(m.unit_key_point.ravel())
            pair_unit_prompt.append(np.repeat(m.unit_prompt, points))
        reference_owner.append(np.full(len(m.reference_word_match), index, dtype=np.int64))
        for point, matches in enumerate(m.key_point_word_match):
            point_owner_words.append(np.full(len(matches), offsets[index] + point, dtype=np.int64))
            point_matches.append(matches)
        for item in m.contradictions:
            contradiction_owner.append(index)
            contradiction_overlap.append(item.overlap)
    return MeasurementBatch(
        measurements=tuple(measurements),
        answered=np.array([m.screen is Screen.ANSWER for m in measurements], dtype=bool),
        has_prompt=np.array([m.has_prompt for m in measurements], dtype=bool),
        answer_reference=np.array([m.answer_reference for m in measurements], dtype=np.float64),
        answer_prompt=np.array([m.answer_prompt for m in measurements], dtype=np.float64),
        reference_prompt=np.array([m.reference_prompt for m in measurements], dtype=np.float64),
        point_offsets=offsets,
        point_owner=np.repeat(np.arange(len(measurements)), counts).astype(np.int64),
        point_prompt=_concat_float([m.key_point_prompt for m in measurements]),
        pair_point=_concat_int(pair_point),
        pair_unit=_concat_int(pair_unit),
        pair_row=_concat_int(pair_row),
        pair_similarity=_concat_float(pair_similarity),
        pair_unit_prompt=_concat_float(pair_unit_prompt),
        reference_word_owner=_concat_int(reference_owner),
        reference_word_match=_concat_float([m.reference_word_match for m in measurements]),
        point_word_owner=_concat_int(point_owner_words),
        point_word_match=_concat_float(point_matches),
        contradiction_owner=np.array(contradiction_owner, dtype=np.int64),
        contradiction_overlap=np.array(contradiction_overlap, dtype=np.float64),
    )


def _share(owner: NDArray[np.int64], hits: FloatArray, size: int) -> FloatArray:
    """Per owner: the mean of ``hits`` (0 for owners with none)."""
    totals = np.bincount(owner, minlength=size).astype(np.float64)
    sums = np.bincount(owner, weights=hits, minlength=size)
    result: FloatArray = np.divide(sums, totals, out=np.zeros(size), where=totals > 0)
    return result


@dataclass(frozen=True)
class ScoredBatch:
    """Scores of a batch under one config, and the parts they came from."""

    score: FloatArray
    reference_similarity: FloatArray
    reference_credit: FloatArray
    coverage: FloatArray
    lexical: FloatArray
    lexical_credit: FloatArray
    contradicted: NDArray[np.bool_]
    #: Per key point (all answers' key points concatenated, see ``point_offsets``).
    key_point_similarity: FloatArray
    key_point_lexical: FloatArray
    key_point_credit: FloatArray
    key_point_best_unit: NDArray[np.int64]
    point_offsets: NDArray[np.int64]
    point_owner: NDArray[np.int64]


def verdicts(scored: ScoredBatch, config: GradingConfig) -> list[Verdict]:
    """Free-answer verdicts: "correct" needs the score and, when the config says so, every
    key point covered; "partial" needs ``partial_at``."""
    size = len(scored.score)
    uncovered = np.bincount(
        scored.point_owner,
        weights=(scored.key_point_credit < config.key_point_covered_at).astype(np.float64),
        minlength=size,
    )
    result = []
    for score, missing in zip(scored.score, uncovered, strict=True):
        verdict = Verdict.for_score(float(score), config.correct_at, config.partial_at)
        if verdict is Verdict.CORRECT and config.correct_needs_all_key_points and missing:
            verdict = Verdict.PARTIAL
        result.append(verdict)
    return result


def score_batch(batch: MeasurementBatch, config: GradingConfig) -> ScoredBatch:
    """Scores for every answer of the batch under ``config``."""
    size = batch.size
    alpha = config.prompt_demotion
    beta = np.where(batch.has_prompt, 2 * alpha - alpha**2, 0.0)
    reference_similarity = _demoted(
        batch.answer_reference, batch.answer_prompt, batch.reference_prompt, beta
    )
    total_points = len(batch.point_owner)
    best = np.full(total_points, -1.0)
    best_unit = np.zeros(total_points, dtype=np.int64)
    if len(batch.pair_point):
        demoted = _demoted(
            batch.pair_similarity,
            batch.pair_unit_prompt,
            batch.point_prompt[batch.pair_point],
            beta[batch.point_owner[batch.pair_point]],
        )
        # A clause supports the key points it matches best; one that is only as close to a
        # further key point as parallel sentences are ("bagging trains models in parallel"
        # vs "boosting trains models sequentially") does not cover that one too.
        row_best = np.full(int(batch.pair_row.max()) + 1, -1.0)
        np.maximum.at(row_best, batch.pair_row, demoted)
        shortfall = row_best[batch.pair_row] - config.key_point_exclusivity - demoted
        demoted = demoted - np.maximum(shortfall, 0.0)
        np.maximum.at(best, batch.pair_point, demoted)
        is_best = demoted >= best[batch.pair_point]
        # Pairs are ordered by clause, so on a tie the later clause wins over the whole
        # answer (row 0): it quotes better in feedback.
        best_unit[batch.pair_point[is_best]] = batch.pair_unit[is_best]

    ratio = config.word_match_ratio
    lexical = _share(
        batch.reference_word_owner, (batch.reference_word_match >= ratio).astype(float), size
    )
    key_point_lexical = _share(
        batch.point_word_owner, (batch.point_word_match >= ratio).astype(float), total_points
    )
    key_point_credit = np.maximum(
        _ramp(best, config.key_point_floor, config.key_point_full),
        _ramp(key_point_lexical, 0.0, config.key_point_lexical_full),
    )
    coverage = _share(batch.point_owner, key_point_credit, size)
    reference_credit = _ramp(reference_similarity, config.reference_floor, config.reference_full)
    lexical_credit = _ramp(lexical, 0.0, config.lexical_full)
    weight_sum = config.reference_weight + config.key_point_weight + config.lexical_weight
    score = (
        config.reference_weight * reference_credit
        + config.key_point_weight * coverage
        + config.lexical_weight * lexical_credit
    ) / weight_sum
    contradicted = np.zeros(size, dtype=bool)
    if len(batch.contradiction_owner):
        counted = batch.contradiction_overlap >= config.contradiction_overlap
        contradicted[batch.contradiction_owner[counted]] = True
    answered = batch.answered
    score = np.where(answered, score, 0.0)
    score = np.where(contradicted, np.minimum(score, config.contradiction_cap), score)
    point_answered = answered[batch.point_owner] if total_points else np.zeros(0, dtype=bool)
    return ScoredBatch(
        score=np.clip(score, 0.0, 1.0),
        reference_similarity=np.where(answered, reference_similarity, 0.0),
        reference_credit=np.where(answered, reference_credit, 0.0),
        coverage=np.where(answered, coverage, 0.0),
        lexical=lexical,
        lexical_credit=np.where(answered, lexical_credit, 0.0),
        contradicted=contradicted,
        key_point_similarity=best,
        key_point_lexical=key_point_lexical,
        key_point_credit=np.where(point_answered, key_point_credit, 0.0),
        key_point_best_unit=best_unit,
        point_offsets=batch.point_offsets,
        point_owner=batch.point_owner,
    )


# --- Verdict features ------------------------------------------------------------------------


@dataclass(frozen=True)
class KnowledgeMatch:
    """How an answer sits between the card's right side and its misconceptions."""

    right_similarity: float
    #: Best similarity with a misconception and which one (None without misconceptions).
    wrong_similarity: float | None
    misconception: int | None
    negation_mismatch: bool
    #: Best similarity with a key point (question demoted); -1 without key points.
    best_key_point_similarity: float
    #: ``AnswerMeasurement.misconception_marked`` of the nearest misconception (0.5 without).
    misconception_marked: float = 0.5


def match_knowledge(
    key: FreeAnswerKey,
    measurement: AnswerMeasurement,
    scored: ScoredBatch,
    index: int,
    config: GradingConfig,
) -> KnowledgeMatch:
    prepared = prepare_key(key)
    if measurement.screen is not Screen.ANSWER:
        return KnowledgeMatch(0.0, None, None, False, 0.0)
    alpha = config.prompt_demotion
    beta = np.full(1, 2 * alpha - alpha**2 if measurement.has_prompt else 0.0)
    reference = float(scored.reference_similarity[index])
    start, end = int(scored.point_offsets[index]), int(scored.point_offsets[index + 1])
    best_point = float(scored.key_point_similarity[start:end].max()) if end > start else -1.0
    best_short, short_position = _best_demoted(
        measurement.unit_short_answer, measurement.short_answer_prompt, measurement, beta
    )
    # The whole answer against each misconception, as against the reference: a clause of a
    # right answer may well resemble a wrong one ("unlike boosting, ...").
    wrong, misconception = _best_demoted(
        measurement.unit_misconception[:1], measurement.misconception_prompt, measurement, beta
    )
    right = max(reference, best_short if best_short is not None else -1.0, best_point)
    nearest = 0 if best_short is None or reference >= best_short else 1 + (short_position or 0)
    mismatch = measurement.answer_negated != prepared.right_negated[nearest]
    marked = (
        measurement.misconception_marked[misconception]
        if misconception is not None and misconception < len(measurement.misconception_marked)
        else 0.5
    )
    return KnowledgeMatch(right, wrong, misconception, mismatch, best_point, marked)


def _best_demoted(
    unit_similarity: FloatArray,
    text_prompt: FloatArray,
    measurement: AnswerMeasurement,
    beta: FloatArray,
) -> tuple[float | None, int | None]:
    """Best similarity (question demoted) of the given answer rows (the first rows of
    ``unit_prompt``: the whole answer, then its clauses) with any of some texts, and which
    text; (None, None) when there are no texts."""
    if not unit_similarity.size:
        return None, None
    similarity = _demoted(
        unit_similarity,
        measurement.unit_prompt[: len(unit_similarity), None],
        text_prompt[None, :],
        beta,
    )
    column = int(np.unravel_index(int(similarity.argmax()), similarity.shape)[1])
    return float(similarity.max()), column


def verdict_features(
    key: FreeAnswerKey,
    measurement: AnswerMeasurement,
    scored: ScoredBatch,
    index: int,
    knowledge: KnowledgeMatch,
) -> VerdictFeatures:
    """The verdict model's inputs for answer ``index`` of a scored batch."""
    start, end = int(scored.point_offsets[index]), int(scored.point_offsets[index + 1])
    credits = scored.key_point_credit[start:end]
    prepared = prepare_key(key)
    has_misconceptions = knowledge.wrong_similarity is not None
    margin = (
        knowledge.right_similarity - knowledge.wrong_similarity
        if knowledge.wrong_similarity is not None
        else 0.0
    )
    return VerdictFeatures(
        reference_similarity=float(scored.reference_similarity[index]),
        raw_reference_similarity=measurement.answer_reference,
        right_similarity=knowledge.right_similarity,
        coverage=float(scored.coverage[index]),
        min_key_point_credit=float(credits.min()) if credits.size else 0.0,
        lexical=float(scored.lexical[index]),
        score=float(scored.score[index]),
        misconception_margin=margin,
        has_misconceptions=has_misconceptions,
        negation_mismatch=knowledge.negation_mismatch,
        contradicted=bool(scored.contradicted[index]),
        length_ratio=length_ratio(measurement.word_count, len(words(prepared.reference)))
        if measurement.screen is Screen.ANSWER
        else 0.0,
        short_answer_match=measurement.short_answer_match / 100.0,
        stop_share=measurement.stop_share,
        prompt_similarity=measurement.answer_prompt,
        has_prompt=measurement.has_prompt,
        novel_share=measurement.novel_share,
        best_key_point_similarity=knowledge.best_key_point_similarity,
        answer_length=math.log1p(measurement.word_count),
        misconception_marked=knowledge.misconception_marked,
        word_order_disorder=measurement.word_order_disorder,
    )


def covered_key_points(
    scored: ScoredBatch, index: int, config: GradingConfig, key: FreeAnswerKey
) -> NDArray[np.bool_]:
    """Which of the key's graded key points the answer covers: listed key points at
    ``key_point_covered_at``, clauses derived from the reference at
    ``derived_key_point_covered_at``."""
    start, end = int(scored.point_offsets[index]), int(scored.point_offsets[index + 1])
    at = config.key_point_covered_at if key.key_points else config.derived_key_point_covered_at
    covered: NDArray[np.bool_] = scored.key_point_credit[start:end] >= at
    return covered


# --- Grades ----------------------------------------------------------------------------------


def _quote(text: str) -> str:
    return f'"{text}"'


def _build_grade(
    key: FreeAnswerKey,
    measurement: AnswerMeasurement,
    scored: ScoredBatch,
    index: int,
    decision: Decision,
    knowledge: KnowledgeMatch,
    features: VerdictFeatures,
    config: GradingConfig,
) -> Grade:
    start = int(scored.point_offsets[index])
    points = key.graded_key_points
    covered = [bool(hit) for hit in covered_key_points(scored, index, config, key)]
    contradictions = measurement.contradictions_at(config.contradiction_overlap)
    answered = measurement.screen is Screen.ANSWER
    verdict = decision.verdict
    misconception = (
        key.misconceptions[knowledge.misconception]
        if knowledge.misconception is not None and decision.misconception_wins
        else None
    )
    # Feedback follows the verdict, so it never contradicts it: a correct answer covered every
    # key point (in whatever words), an incorrect one none worth crediting.
    if verdict is Verdict.CORRECT:
        covered = [True] * len(points)
    elif verdict is Verdict.INCORRECT:
        covered = [False] * len(points)
    right = tuple(point for point, hit in zip(points, covered, strict=True) if hit)
    missing = tuple(point for point, hit in zip(points, covered, strict=True) if not hit)
    wrong = tuple(
        dict.fromkeys(
            f"you wrote {_quote(item.found)} where the answer needs {_quote(item.expected)}"
            for item in contradictions
        )
    )
    if misconception is not None:
        wrong = (misconception.explanation, *wrong)
    if not answered:
        summary = SCREEN_MESSAGES[measurement.screen]
    elif contradictions:
        summary = (
            f"Not correct: your answer says {_quote(contradictions[0].found)} where the "
            f"reference says {_quote(contradictions[0].expected)}."
        )
    elif misconception is not None:
        summary = "Not correct: your answer matches a common mistake."
    elif verdict is Verdict.CORRECT:
        summary = "Correct."
    elif verdict is Verdict.PARTIAL and points and len(right) == len(points):
        summary = (
            "Partly correct: your answer touches every key point, but the grader cannot "
            "confirm it states them correctly."
        )
    elif verdict is Verdict.PARTIAL:
        summary = f"Partly correct: you covered {len(right)} of {len(points)} key points."
    else:
        summary = "Not correct: your answer does not cover the key points."
    if decision.needs_review:
        summary += " Provisional: an instructor may review this grade."
    score = verdict_score(verdict, decision.p_correct, decision.p_credit)
    units = (
        ("(whole answer)", *measurement.units) if len(measurement.units) > 1 else measurement.units
    )
    key_point_evidence: list[dict[str, Any]] = []
    for offset, point in enumerate(points):
        row = start + offset
        best_unit = int(scored.key_point_best_unit[row])
        key_point_evidence.append(
            {
                "text": point,
                "similarity": round(float(scored.key_point_similarity[row]), 4)
                if answered
                else None,
                "lexical": round(float(scored.key_point_lexical[row]), 4),
                "credit": round(float(scored.key_point_credit[row]), 4),
                "covered": covered[offset],
                "best_match": units[best_unit] if answered and best_unit < len(units) else None,
            }
        )
    evidence: dict[str, Any] = {
        "screen": measurement.screen.value,
        "similarity_score": round(float(scored.score[index]), 4),
        "reference_similarity": round(float(scored.reference_similarity[index]), 4),
        "raw_reference_similarity": round(measurement.answer_reference, 4),
        "lexical_overlap": round(float(scored.lexical[index]), 4),
        "components": {
            "reference": round(float(scored.reference_credit[index]), 4),
            "key_points": round(float(scored.coverage[index]), 4),
            "lexical": round(float(scored.lexical_credit[index]), 4),
        },
        "key_points": key_point_evidence,
        "contradictions": [item.to_dict() for item in contradictions],
        "misconception": None
        if knowledge.misconception is None
        else {
            "text": key.misconceptions[knowledge.misconception].text,
            "similarity": round(float(knowledge.wrong_similarity or 0.0), 4),
            "margin": round(features.misconception_margin, 4),
            "wins": misconception is not None,
        },
        "verdict_model": {
            "p_correct": round(decision.p_correct, 4),
            "p_credit": round(decision.p_credit, 4),
            "right_similarity": round(knowledge.right_similarity, 4),
            "negation_mismatch": knowledge.negation_mismatch,
        },
        "review_reasons": list(decision.review_reasons),
        "clauses": list(measurement.units),
    }
    return Grade(
        key.question_id,
        QuestionType.FREE_ANSWER,
        score,
        verdict,
        Feedback(
            summary,
            right=right,
            missing=missing,
            wrong=wrong,
            reference=key.reference,
            explanation=key.explanation,
        ),
        evidence,
        confidence=decision.confidence,
        needs_review=decision.needs_review,
    )


#: The score of a ``partial`` verdict stays within this band: clear of 0 (incorrect) and of
#: 1 (correct), so that the score a learner reads never looks like the other verdicts.
PARTIAL_SCORE_BAND = (0.2, 0.8)


def verdict_score(verdict: Verdict, p_correct: float, p_credit: float) -> float:
    """The score a learner reads agrees with the verdict: full marks for correct, nothing for
    incorrect, and for partial the verdict model's expected credit (full marks times
    P(correct) plus half marks times P(partial)), within ``PARTIAL_SCORE_BAND``.

    Why expected credit: a partial answer's worth is continuous. On Mohler et al. (2011),
    each assignment graded by a model fitted without it, Pearson r of the final score with
    the human scores was 0.581 with the former partial score (the larger of the share of key
    points covered and the similarity score) and 0.598 with this."""
    if verdict is Verdict.CORRECT:
        return 1.0
    if verdict is Verdict.INCORRECT:
        return 0.0
    low, high = PARTIAL_SCORE_BAND
    expected = p_correct + 0.5 * max(0.0, p_credit - p_correct)
    return float(min(high, max(low, expected)))


def grade_free_answers(
    items: Sequence[tuple[FreeAnswerKey, str | None, GradingConfig]],
    encoder: Encoder,
    bank_encoder: Encoder,
    verdict_model: VerdictModel | None = None,
) -> list[Grade]:
    """Grade a batch: one learner ``encode`` call, one bank-cache call, numpy for the rest.
    Answers may carry different configs (per-deck or per-card overrides)."""
    for key, answer, _ in items:
        if answer is not None and not isinstance(answer, str):
            raise ResponseError(f"question {key.question_id} is a free answer: answer with text")
    measurements = measure_free_answers(
        [(key, answer or "") for key, answer, _ in items], encoder, bank_encoder
    )
    return grades_from_measurements(
        [
            (key, measurement, config)
            for (key, _, config), measurement in zip(items, measurements, strict=True)
        ],
        verdict_model,
    )


@dataclass(frozen=True)
class VerdictInput:
    """What one measured answer's verdict is decided from."""

    features: VerdictFeatures
    knowledge: KnowledgeMatch
    #: How many key points the answer covers.
    covered: int


def _verdict_inputs(
    items: Sequence[tuple[FreeAnswerKey, AnswerMeasurement, GradingConfig]],
    indices: Sequence[int],
    scored: ScoredBatch,
    config: GradingConfig,
) -> list[VerdictInput]:
    inputs = []
    for position, index in enumerate(indices):
        key, measurement, _ = items[index]
        knowledge = match_knowledge(key, measurement, scored, position, config)
        inputs.append(
            VerdictInput(
                verdict_features(key, measurement, scored, position, knowledge),
                knowledge,
                int(covered_key_points(scored, position, config, key).sum()),
            )
        )
    return inputs


def features_of(
    items: Sequence[tuple[FreeAnswerKey, AnswerMeasurement, GradingConfig]],
) -> list[VerdictInput]:
    """Verdict inputs of measured answers, in input order: what the grader decides from, and
    what ``bench/grading_verdict.py`` fits on."""
    found: dict[int, VerdictInput] = {}
    for config, indices, scored in _scored_groups(items):
        found.update(zip(indices, _verdict_inputs(items, indices, scored, config), strict=True))
    return [found[index] for index in range(len(items))]


def _scored_groups(
    items: Sequence[tuple[FreeAnswerKey, AnswerMeasurement, GradingConfig]],
) -> list[tuple[GradingConfig, list[int], ScoredBatch]]:
    by_config: dict[GradingConfig, list[int]] = {}
    for index, (_, _, config) in enumerate(items):
        by_config.setdefault(config, []).append(index)
    return [
        (config, indices, score_batch(collate([items[index][1] for index in indices]), config))
        for config, indices in by_config.items()
    ]


def grades_from_measurements(
    items: Sequence[tuple[FreeAnswerKey, AnswerMeasurement, GradingConfig]],
    verdict_model: VerdictModel | None = None,
) -> list[Grade]:
    """Grades for measured answers, scored per config in batches."""
    model = verdict_model or shipped_verdict_model()
    grades: dict[int, Grade] = {}
    for config, indices, scored in _scored_groups(items):
        inputs = _verdict_inputs(items, indices, scored, config)
        decisions = decide(
            [item.features for item in inputs],
            [item.covered for item in inputs],
            [items[index][1].screen is Screen.ANSWER for index in indices],
            model,
            config.review_below,
            [len(items[index][0].graded_key_points) for index in indices]
            if config.correct_needs_all_key_points
            else None,
        )
        for position, index in enumerate(indices):
            key, measurement, _ = items[index]
            grades[index] = _build_grade(
                key,
                measurement,
                scored,
                position,
                decisions[position],
                inputs[position].knowledge,
                inputs[position].features,
                config,
            )
    return [grades[index] for index in range(len(items))]


def grade_free_answer(
    answer: str | None,
    reference: str,
    key_points: Sequence[str] = (),
    *,
    encoder: Encoder,
    bank_encoder: Encoder,
    prompt: str = "",
    glossary: Glossary | None = None,
    config: GradingConfig | None = None,
    question_id: str = "ad-hoc",
    short_answers: Sequence[str] = (),
    misconceptions: Sequence[Misconception] = (),
    explanation: str | None = None,
) -> Grade:
    """Grade one answer against a reference and key points given directly (no card): the
    entry point for ad-hoc grading (``POST /v1/grade``). Without ``prompt`` nothing is
    demoted and no echo check runs; the default glossary expands common abbreviations."""
    key = FreeAnswerKey(
        question_id=question_id,
        reference=reference,
        key_points=tuple(point for point in key_points if point.strip()),
        prompt=prompt,
        glossary=glossary if glossary is not None else Glossary.for_deck(),
        explanation=explanation,
        short_answers=tuple(text for text in short_answers if text.strip()),
        misconceptions=tuple(misconceptions),
    )
    return grade_free_answers([(key, answer, config or GradingConfig())], encoder, bank_encoder)[0]
