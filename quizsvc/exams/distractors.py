"""Wrong options for choice questions: plausible, but never also right.

Plausible means close to what is right in embedding space: similar to the answer, answering
a similar question, reading as an answer to this question, of similar length, preferably
from the same topic. "Never also right" is enforced by rejection rules that run on every
candidate before it is ranked in (see :class:`Rejection`): the same card; a card defining
the same term or asking about the term this card defines; text that contains, equals or is
contained in an accepted form of the answer or one of the card's key facts; a shared
accepted form; an embedding near-duplicate of the answer; another topic's description of
the same concept; and, at exam level, anything that would show the answer to another
question of the same exam.

Embedding similarity alone cannot tell a paraphrase from a minimal pair: with
all-MiniLM-L6-v2, "It sets the L1 regularization term ..." versus the same sentence with
"L2" scores 0.94, higher than the paraphrase "harmonic average of recall and precision"
versus "The harmonic mean of precision and recall" (0.93). Minimal pairs are the best
distractors, so a near-duplicate is excused when each text carries a *contrast token* the
other lacks (a token with a digit or an acronym: L1/L2, FP/FN, Conv1D/Conv2D); a paraphrase
has no such token and is rejected.
"""

from __future__ import annotations

import functools
import re
import threading
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

import numpy as np
import Stemmer
from numpy.typing import NDArray

from quizsvc.bank.model import Card
from quizsvc.embedding.base import Encoder, similarity

_WORD = re.compile(r"\w+")
_COMPACT_WORD = re.compile(r"[^\W_]+")
#: "Name (expansion)": a head of plain words, then one parenthetical (not a formula).
_NAMED_FORM = re.compile(r"\s*([\w\s.'-]*\w)\s*\(([^()]+)\)\s*\.?\s*")


@dataclass(frozen=True)
class DistractorConfig:
    """Thresholds of distractor selection. Similarities are cosine, in [-1, 1]."""

    #: Wrong options per multiple-choice question (forward and reverse).
    count: int = 3
    #: A candidate at least this similar to a correct form could also be right: rejected
    #: unless the two texts differ in a contrast token (see the module docstring). Calibrated
    #: on all-MiniLM-L6-v2 and the bundled deck: a close rewording scores about 0.93, while
    #: distinct definitions of sibling concepts (precision vs recall 0.85, File vs Pipe mode
    #: 0.80) stay below. Loose paraphrases score far lower (0.5-0.8) and cannot be told from
    #: sibling definitions by this model; the other rules and the bank's authoring rule that
    #: no card's answer also answers another card's prompt cover them.
    near_duplicate: float = 0.88
    #: A candidate from *another* topic this similar to the answer usually describes the same
    #: concept in another product (Linear Learner's ``learning_rate`` vs XGBoost's ``eta``,
    #: 0.75): rejected unless the texts differ in a contrast token. Within a topic, such close
    #: pairs are the deliberate minimal pairs that make the best distractors.
    cross_topic_twin: float = 0.70
    #: The same, at a lower similarity, for another topic's answer that names the same exact
    #: thing without contradicting it ("CPU instances only." for an answer about CPU
    #: instances; "ml.p3.2xlarge" for an answer recommending ml.p3.2xlarge).
    cross_topic_named_twin: float = 0.60
    #: A multiple-choice question whose chosen wrong options are on average less similar than
    #: this to the answer is too easy to ask ("XGBoost" among "Conv1D", "Conv3D" and a
    #: sentence); the card is skipped for that kind. Calibrated on all-MiniLM-L6-v2 over the
    #: bundled deck, where it drops about one card in eight, nearly all judged too easy.
    min_plausibility: float = 0.30
    #: Two chosen wrong options at least this similar say the same thing, unless they differ
    #: in a contrast token (the precision and the recall formula); only one is kept.
    distinct: float = 0.90
    #: Weight of the similarity between the question's prompt and the candidate itself: the
    #: model was trained on question-answer pairs, so this rates how well the candidate reads
    #: as an answer to this very question (for answers, not for terms or list items).
    question_weight: float = 0.5
    #: Added to a same-topic candidate's similarity before ranking, so the topic's own
    #: answers win unless another topic has a much closer one (when ``same_topic_first`` is
    #: off).
    same_topic_bonus: float = 0.1
    #: Every acceptable candidate of the question's topic is taken before any of another
    #: topic; each group keeps its embedding order. A reviewer reads a wrong option from
    #: another topic as an outsider (38 of 90 in one review), however close its embedding.
    same_topic_first: bool = True
    #: Share of a multiple-choice question's wrong options (forward and reverse) from its
    #: own topic, rounded up (2 of 3), that makes the card *preferred*: exams take preferred
    #: cards first and others only when they need more, so a topic with few answers of a
    #: kind still makes its questions in a topic exam. Multiple response is always
    #: preferred: another algorithm's hyperparameter or input format is the natural wrong
    #: item of a list.
    preferred_same_topic: float = 0.5
    #: A text may be a wrong option in at most this many questions of one exam: one
    #: plausible-for-everything option ("Softmax" in four of six reverse questions) teaches
    #: learners to rule it out unread.
    max_option_reuse: int = 2
    #: Weight of the similarity between the question's prompt and the prompt of the card a
    #: candidate comes from: an answer to a similar question has the right kind and form
    #: ("Conv2D" for a question about Conv1D).
    context_weight: float = 0.3
    #: Subtracted per unit of |ln(word-count ratio)| between candidate and answer: a
    #: two-word answer among sentence-long options is easy to spot, and so is a long one.
    length_penalty: float = 0.15
    #: Decimals kept before ranking, so that tiny numeric differences between machines do not
    #: reorder candidates; exact ties are broken by card id.
    decimals: int = 3
    #: A multiple-choice key more than this many times as long (in characters) as its
    #: longest wrong option is spotted by length alone (the threshold at which an
    #: independent review rated a question too easy; 51% of keys were the longest option
    #: there, against 25% by chance): the card's shorter right form is asked instead, or
    #: the card makes no multiple-choice question.
    max_key_length_ratio: float = 1.25
    #: A key longer than its longest wrong option by more than this is swapped for the
    #: card's shorter right form (a short answer, or the answer without its bracketed gloss)
    #: when one is no longer than this.
    shorten_key_ratio: float = 1.2
    #: Wrong options of a multiple-response question.
    response_distractors: int = 3
    #: Correct options of a multiple-response question whose prompt states no number.
    correct_responses: int = 3
    #: Most correct options when the prompt states the number ("Name four ...").
    max_correct_responses: int = 4
    #: A list item found in this many list cards is too generic to be safely wrong for a
    #: list that omits it (``learning_rate`` belongs to most hyperparameter lists).
    generic_item_cards: int = 2

    def __post_init__(self) -> None:
        if self.count < 1 or self.response_distractors < 1:
            raise ValueError("a choice question needs at least one wrong option")
        if not 0 <= self.preferred_same_topic <= 1:
            raise ValueError("preferred_same_topic is a share, between 0 and 1")
        if not 1 <= self.shorten_key_ratio <= self.max_key_length_ratio:
            raise ValueError("shorten_key_ratio must lie between 1 and max_key_length_ratio")
        if self.max_option_reuse < 1:
            raise ValueError("a wrong option must be usable in at least one question")
        if not 2 <= self.correct_responses <= self.max_correct_responses:
            raise ValueError(
                "a multiple-response question needs at least two correct options, "
                "and correct_responses may not exceed max_correct_responses"
            )


class Rejection(StrEnum):
    SAME_CARD = "is the question's own card"
    SAME_TERM = "answers a card that defines the same term"
    SAME_SUBJECT = "answers a question about the term this question is about"
    STATES_ANSWER = "contains, equals or is contained in a correct form"
    SHARES_ALIAS = "shares an accepted form with the correct answer"
    NEAR_DUPLICATE = "is so similar to a correct form that it could also be right"
    CROSS_TOPIC_TWIN = "is another topic's description of the same concept"
    GENERIC_ITEM = "is an item of several lists, so it may belong to this one too"
    ABOUT_ANSWER = "comes from a card about one of the correct options"
    ASKED_ELSEWHERE = "would show the answer to another question of the exam"
    OVERUSED = "is already a wrong option in as many questions of the exam as allowed"
    SUPPRESSED = "was suppressed for this card by an instructor"
    NAMED_IN_DEFINITION = "is named by the definition shown (the key's genus: an ensemble)"
    REPEATS_OPTION = "says the same as another option"


# --- text helpers -------------------------------------------------------------------------


@cache
def compact(text: str) -> str:
    """Words only, case-folded and crudely singular: punctuation, spacing, underscores and
    plurals never hide a match (``mini_batch_size`` contains "batch size", "recurrent neural
    networks (RNNs)" contains "recurrent neural network")."""
    found = _COMPACT_WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    return " ".join(_singular(word) for word in found)


def _singular(word: str) -> str:
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    return compact(text).split()


def mentions(text: str, phrase: str) -> bool:
    """Whether ``phrase`` occurs in ``text`` as whole words (case and punctuation ignored)."""
    needle = compact(phrase)
    return bool(needle) and f" {needle} " in f" {compact(text)} "


def overlaps(left: str, right: str) -> bool:
    """Either text contains the other as whole words."""
    return mentions(left, right) or mentions(right, left)


@cache
def contrast_tokens(text: str) -> frozenset[str]:
    """Tokens that name something exactly: with a digit (L1, Conv2D, 400) or an acronym (FP)."""
    found = set()
    for token in _WORD.findall(unicodedata.normalize("NFKC", text)):
        if any(char.isdigit() for char in token) or (len(token) >= 2 and token.isupper()):
            found.add(token.casefold())
    return frozenset(found)


def contrasting(left: str, right: str) -> bool:
    """Each text names something exact that the other does not: a minimal pair."""
    left_tokens, right_tokens = contrast_tokens(left), contrast_tokens(right)
    return bool(left_tokens - right_tokens) and bool(right_tokens - left_tokens)


@cache
def term_forms(term: str) -> tuple[str, ...]:
    """A term and the forms it spells out: "RMSE (root mean squared error)" gives the whole,
    "RMSE" and "root mean squared error"."""
    forms = [term.strip()]
    match = _NAMED_FORM.fullmatch(term)
    if match:
        forms.extend(part.strip() for part in match.groups())
    return tuple(dict.fromkeys(form for form in forms if compact(form)))


def answer_forms(card: Card) -> tuple[str, ...]:
    """Every accepted way to state the card's answer: the answer, then its aliases."""
    return tuple(dict.fromkeys((card.answer, *card.accept)))


#: Shortest word of a term that, named in a definition, makes the term that definition's
#: genus or part ("Ensemble learning" for "... combines them into an ensemble").
MIN_NAMED_WORD = 5


def _named_in(definition: str, term: str) -> bool:
    """Whether a content word of ``term`` occurs in ``definition``: "Ensemble learning" is
    no wrong answer to "... combines them into an ensemble that is more robust" (bagging
    is ensemble learning)."""
    return any(
        len(word) >= MIN_NAMED_WORD and mentions(definition, word)
        for form in term_forms(term)
        for word in _WORD.findall(form)
        if word.casefold() not in _GENERIC_TERM_WORDS
    )


def names_a_word_of(definition: str, term: str) -> bool:
    """Whether ``definition`` uses a content word of ``term`` (see :func:`_named_in`): a
    reverse question showing it points at its key ("... an encoder turns the input into a
    vector and a decoder ..." for Encoder-decoder topology)."""
    return _named_in(definition, term)


#: Words of terms too common to tie a term to a definition that uses them.
_GENERIC_TERM_WORDS = frozenset(
    {"learning", "network", "neural", "layer", "layers", "model", "training", "function"}
)


def _about(asking: Card, defining: Card) -> bool:
    """Whether ``asking``'s prompt is about the term ``defining`` defines: "What is the formula
    for precision?" is about Precision, so each card's answer is partly right for the other."""
    return defining.term is not None and any(
        mentions(asking.prompt, form) for form in term_forms(defining.term)
    )


# --- similarity ---------------------------------------------------------------------------


class SimilarityTable:
    """Cosine similarities among a fixed set of texts, from one matrix product.

    Built once per exam from cached embeddings; values are rounded (see
    :attr:`DistractorConfig.decimals`) so rankings do not depend on the last float bits.
    """

    def __init__(self, texts: Iterable[str], encoder: Encoder, decimals: int = 3) -> None:
        self._rows = {text: row for row, text in enumerate(dict.fromkeys(texts))}
        vectors = encoder.encode(list(self._rows))
        # Rounded in float64: a float32 0.88 is 0.8799999952, which would slip under a 0.88
        # threshold.
        matrix: NDArray[np.float64] = similarity(vectors, vectors).astype(np.float64)
        self.matrix: NDArray[np.float64] = matrix.round(decimals)

    def __contains__(self, text: object) -> bool:
        return text in self._rows

    def row(self, text: str) -> int:
        return self._rows[text]

    def score(self, left: str, right: str) -> float:
        return float(self.matrix[self._rows[left], self._rows[right]])

    def scores(self, anchors: Sequence[str], rows: NDArray[np.intp]) -> NDArray[np.float64]:
        """Mean similarity of each text in ``rows`` to the ``anchors``."""
        anchor_rows = np.array([self._rows[text] for text in anchors], dtype=np.intp)
        result: NDArray[np.float64] = self.matrix[np.ix_(anchor_rows, rows)].mean(axis=0)
        return result


# --- candidates and selection --------------------------------------------------------------


@dataclass(frozen=True)
class OptionSource:
    """A text that can be offered as an option, and the card it was taken from.

    ``context`` is the card text the option answers (its prompt; for a term, its
    definition), compared with the question's own context when ranking.
    """

    text: str
    card: Card
    context: str
    #: Set for the question card's own misconception (a wrong answer learners really give,
    #: authored on the card): its explanation, shown as the option's rationale in review.
    rationale: str | None = None

    @property
    def is_misconception(self) -> bool:
        return self.rationale is not None


def misconception_sources(card: Card) -> tuple[OptionSource, ...]:
    """The card's own misconceptions as wrong options of its multiple-choice question."""
    return tuple(
        OptionSource(
            _punctuated_like(item.text, card.answer), card, card.prompt, rationale=item.explanation
        )
        for item in card.misconceptions
    )


def _punctuated_like(text: str, answer: str) -> str:
    """The misconception ending as the key does: a key with a full stop among options
    without one stands out to a test-wise learner."""
    if answer.endswith(".") and not text.endswith((".", "?", "!", ")")):
        return f"{text}."
    if not answer.endswith(".") and text.endswith(".") and not re.search(r"\b\w\.$", text):
        return text[:-1]
    return text


@dataclass(frozen=True)
class CandidatePool:
    """The option texts of one deck, in a fixed order (card id, then text)."""

    sources: tuple[OptionSource, ...]
    rows: NDArray[np.intp]
    context_rows: NDArray[np.intp]
    topics: tuple[str, ...]
    lengths: NDArray[np.float64]

    @classmethod
    def of(cls, sources: Iterable[OptionSource], table: SimilarityTable) -> CandidatePool:
        ordered = tuple(sorted(sources, key=lambda source: (source.card.id, source.text)))
        return cls(
            ordered,
            np.array([table.row(source.text) for source in ordered], dtype=np.intp),
            np.array([table.row(source.context) for source in ordered], dtype=np.intp),
            tuple(source.card.topic for source in ordered),
            np.array([_word_count(source.text) for source in ordered], dtype=np.float64),
        )


def _word_count(text: str) -> int:
    return max(1, len(words(text)))


class PhraseIndex:
    """Which of a growing set of phrases each text mentions (as :func:`mentions`: whole
    words, case and punctuation ignored), memoized per text.

    Exam building asks "does this option show the answer to an open question of the exam?"
    for every candidate option against every answer asked: about 100,000 :func:`mentions`
    per 65-question exam. The phrases (the answers open questions can ask for) and the texts
    (options, prompts) both come from the bank, so each text's matches are found once, by
    looking its word n-grams up in a set, and a check is a set intersection.

    Thread-safe without a lock on the read path: the phrase set is replaced, never changed
    in place, and each memo entry records the set it was computed against.
    """

    def __init__(self, phrases: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        # (phrases, {first word: word counts of phrases starting with it})
        self._state: tuple[frozenset[str], dict[str, tuple[int, ...]]] = (frozenset(), {})
        self._found: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self.add(phrases)

    def add(self, phrases: Iterable[str]) -> frozenset[str]:
        """Index ``phrases`` too; returns their compact forms (empty ones left out)."""
        wanted = frozenset(needle for needle in map(compact, phrases) if needle)
        if wanted <= self._state[0]:
            return wanted
        with self._lock:
            known = self._state[0] | wanted
            starts: dict[str, set[int]] = {}
            for phrase in known:
                split = phrase.split(" ")
                starts.setdefault(split[0], set()).add(len(split))
            self._state = (known, {word: tuple(sorted(n)) for word, n in starts.items()})
        return wanted

    @property
    def state(self) -> object:
        """Changes (by identity) whenever phrases are added."""
        return self._state[0]

    def found_in(self, text: str) -> frozenset[str]:
        """The indexed phrases (compact forms) that ``text`` mentions."""
        known, starts = self._state
        memo = self._found.get(text)
        if memo is not None and memo[0] is known:
            return memo[1]
        split = compact(text).split(" ")
        found = set()
        for start, word in enumerate(split):
            for length in starts.get(word, ()):
                if start + length > len(split):
                    break
                gram = " ".join(split[start : start + length])
                if gram in known:
                    found.add(gram)
        result = frozenset(found)
        self._found[text] = (known, result)
        return result


@dataclass(frozen=True)
class Avoid:
    """What the other questions of the same exam make unusable as a wrong option."""

    #: Cards asked as fill-in or free answer: an option taken from one shows its answer.
    cards: frozenset[str] = frozenset()
    #: Answers those questions ask for: no option may state them.
    texts: tuple[str, ...] = ()
    #: Option texts (``compact`` form) already wrong options in as many questions of the
    #: exam as :attr:`DistractorConfig.max_option_reuse` allows.
    overused: frozenset[str] = frozenset()
    #: Option texts (``compact`` form) an instructor suppressed for the question's card
    #: (a dead or wrongly discriminating distractor in the card's item statistics).
    suppressed: frozenset[str] = frozenset()
    #: Where given, :meth:`reveals` is a set intersection over it (same answers).
    index: PhraseIndex | None = field(default=None, compare=False, repr=False)
    _needles: frozenset[str] = field(default=frozenset(), init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.index is not None:
            object.__setattr__(self, "_needles", self.index.add(self.texts))

    @property
    def needles(self) -> frozenset[str]:
        """The answers to avoid, compact, as indexed in :attr:`index` (if given)."""
        return self._needles

    def reveals(self, text: str) -> bool:
        if self.index is not None:
            return not self._needles.isdisjoint(self.index.found_in(text))
        return any(mentions(text, secret) for secret in self.texts)

    def overuses(self, text: str) -> bool:
        return compact(text) in self.overused

    def suppresses(self, text: str) -> bool:
        return compact(text) in self.suppressed


NOTHING_TO_AVOID = Avoid()


@dataclass(frozen=True)
class Target:
    """What the wrong options are chosen against."""

    card: Card
    #: Texts that are right: the candidate must not equal, contain or paraphrase any of them.
    right: tuple[str, ...]
    #: Texts the candidate must neither contain nor appear in: the card's key points (a
    #: distractor stating one is partly right) and its notes.
    guard: tuple[str, ...]
    #: Texts whose similarity ranks the candidates (mean over them).
    anchors: tuple[str, ...]
    #: The question's context, compared with each candidate's (see OptionSource).
    context: str
    #: For options that are not answers (terms): compare the candidate card's answer with
    #: this one too, so two cards defining the same thing are never offered together.
    meaning: str | None = None
    #: Whether option length counts in ranking; terms vary in length for no telling reason
    #: ("CBOW (continuous bag of words)" next to "BlazingText").
    weigh_length: bool = True
    #: Whether the options are answers to ``context`` (a forward multiple-choice question):
    #: they are then ranked by how well they read as answers to it too, and the chosen ones
    #: must reach ``min_plausibility`` on average.
    answers_prompt: bool = False
    #: Whether the options are whole lists, which share items by nature ("CSV and LibSVM"
    #: against "RecordIO-protobuf and CSV"): a shared name then does not make a twin.
    lists: bool = False


class Selector:
    """Applies a :class:`DistractorConfig` to candidates ranked by a :class:`SimilarityTable`."""

    def __init__(self, table: SimilarityTable, config: DistractorConfig) -> None:
        self.table = table
        self.config = config

    def rank(self, target: Target, pool: CandidatePool) -> list[OptionSource]:
        """The pool, most plausible first: similarity (plus the same-topic bonus, or the
        question's topic first when ``same_topic_first``), rounded; ties keep the pool's
        card-id order (a stable sort)."""
        if not pool.sources:
            return []
        config = self.config
        scores = self.table.scores(target.anchors, pool.rows).copy()
        scores += config.context_weight * self.table.scores((target.context,), pool.context_rows)
        if target.answers_prompt:
            scores += config.question_weight * self.table.scores((target.context,), pool.rows)
        same_topic = np.array([topic == target.card.topic for topic in pool.topics])
        if not config.same_topic_first:
            scores += np.where(same_topic, config.same_topic_bonus, 0.0)
        if target.weigh_length:
            length = np.mean([_word_count(text) for text in target.anchors])
            scores -= config.length_penalty * np.abs(np.log(pool.lengths / length))
        order = np.argsort(-np.round(scores, self.config.decimals), kind="stable")
        if config.same_topic_first:
            # Stable again: the topic's own candidates first, each group in embedding order.
            order = order[np.argsort(~same_topic[order], kind="stable")]
        return [pool.sources[index] for index in order]

    def rejection(
        self,
        target: Target,
        candidate: OptionSource,
        chosen: Sequence[OptionSource] = (),
        avoid: Avoid = NOTHING_TO_AVOID,
        extra: Callable[[OptionSource], Rejection | None] | None = None,
    ) -> Rejection | None:
        """Why ``candidate`` may not be a wrong option for ``target``, or None if it may."""
        card, other, text = target.card, candidate.card, candidate.text
        own_misconception = candidate.is_misconception and other.id == card.id
        if other.id == card.id and not own_misconception:
            return Rejection.SAME_CARD
        if (other.id in avoid.cards and not own_misconception) or avoid.reveals(text):
            return Rejection.ASKED_ELSEWHERE
        if avoid.overuses(text):
            return Rejection.OVERUSED
        if avoid.suppresses(text):
            return Rejection.SUPPRESSED
        if own_misconception:
            # The card's author wrote it as wrong for this very prompt: only the checks
            # against what is right and against the other options apply.
            return self._misconception_rejection(target, candidate, chosen)
        if card.term and other.term and compact(card.term) == compact(other.term):
            return Rejection.SAME_TERM
        if _about(other, card) or _about(card, other):
            return Rejection.SAME_SUBJECT
        if any(overlaps(form, right) for form in term_forms(text) for right in target.right):
            return Rejection.STATES_ANSWER
        if any(overlaps(text, guard) for guard in target.guard):
            return Rejection.STATES_ANSWER
        if target.meaning is not None and _named_in(target.meaning, text):
            return Rejection.NAMED_IN_DEFINITION
        if self._shares_alias(target, other):
            return Rejection.SHARES_ALIAS
        if self._near_duplicate(target, candidate):
            return Rejection.NEAR_DUPLICATE
        if other.topic != card.topic and self._twin(target, candidate):
            return Rejection.CROSS_TOPIC_TWIN
        if extra is not None and (reason := extra(candidate)) is not None:
            return reason
        if any(self.repeats(candidate, earlier) for earlier in chosen):
            return Rejection.REPEATS_OPTION
        return None

    def repeats(self, candidate: OptionSource, earlier: OptionSource, own: bool = False) -> bool:
        """Whether ``candidate`` says what the chosen ``earlier`` option says. For the
        card's own misconception (``own``) only a chosen misconception's exact wording
        counts, not its similarity (see :meth:`_misconception_rejection`)."""
        text = candidate.text
        if overlaps(text, earlier.text):
            return True
        if own and earlier.is_misconception:
            return False
        return self.table.score(text, earlier.text) >= self.config.distinct and not contrasting(
            text, earlier.text
        )

    def _misconception_rejection(
        self, target: Target, candidate: OptionSource, chosen: Sequence[OptionSource]
    ) -> Rejection | None:
        text = candidate.text
        if any(overlaps(form, right) for form in term_forms(text) for right in target.right):
            return Rejection.STATES_ANSWER
        # A key fact inside the misconception ("Root mean squared error: the average of the
        # absolute differences ...") is how its author made it a minimal pair; only a
        # misconception that is itself one of the facts would be right. For the same reason
        # no similarity threshold applies: "toward the lower-right corner" is wrong by its
        # author's word however close it reads to "toward the upper-left corner".
        if any(mentions(guard, text) for guard in target.guard if guard):
            return Rejection.STATES_ANSWER
        if any(self.repeats(candidate, earlier, own=True) for earlier in chosen):
            return Rejection.REPEATS_OPTION
        return None

    def choose(
        self,
        target: Target,
        pool: CandidatePool,
        count: int,
        avoid: Avoid = NOTHING_TO_AVOID,
        extra: Callable[[OptionSource], Rejection | None] | None = None,
        first: Sequence[OptionSource] = (),
    ) -> tuple[OptionSource, ...] | None:
        """The ``count`` most plausible acceptable candidates, or None if there are fewer.
        ``first`` (the card's own misconceptions) are taken before any of the pool, most
        plausible first: a wrong answer learners really give beats any other card's
        answer."""
        return self.plan(target, pool, count, extra, first).choose(avoid)

    def plan(
        self,
        target: Target,
        pool: CandidatePool,
        count: int,
        extra: Callable[[OptionSource], Rejection | None] | None = None,
        first: Sequence[OptionSource] = (),
    ) -> ChoicePlan:
        """What :meth:`choose` does for this target whatever the exam: keep it to choose
        again under another exam's :class:`Avoid` at the price of set lookups."""
        return ChoicePlan(
            self, target, count, extra, [*self.rank_first(target, first), *self.rank(target, pool)]
        )

    def rank_first(self, target: Target, first: Sequence[OptionSource]) -> list[OptionSource]:
        """``first`` by similarity to what is right, ties in their given order."""
        known = [source for source in first if source.text in self.table]
        if not known:
            return []
        rows = np.array([self.table.row(source.text) for source in known], dtype=np.intp)
        scores = np.round(self.table.scores(target.anchors, rows), self.config.decimals)
        return [known[index] for index in np.argsort(-scores, kind="stable")]

    def plausibility(self, target: Target, chosen: Sequence[OptionSource]) -> float:
        """Mean similarity of the wrong options to what is right."""
        rows = np.array([self.table.row(option.text) for option in chosen], dtype=np.intp)
        return float(self.table.scores(target.anchors, rows).mean())

    def _shares_alias(self, target: Target, other: Card) -> bool:
        other_forms = answer_forms(other) + (term_forms(other.term) if other.term else ())
        right = {compact(text) for text in target.right}
        if any(compact(form) in right for form in other_forms):
            return True
        # A short alias of the other card inside a correct form ("FP" in "TP / (TP + FP)").
        return any(mentions(text, alias) for alias in other.accept for text in target.right)

    def _near_duplicate(self, target: Target, candidate: OptionSource) -> bool:
        pairs = [(candidate.text, right) for right in target.right if right in self.table]
        if target.meaning is not None and candidate.card.answer in self.table:
            pairs.append((candidate.card.answer, target.meaning))
        return any(
            self.table.score(left, right) >= self.config.near_duplicate
            and not contrasting(left, right)
            for left, right in pairs
        )

    def _twin(self, target: Target, candidate: OptionSource) -> bool:
        anchor = target.meaning if target.meaning is not None else target.anchors[0]
        text = candidate.card.answer if target.meaning is not None else candidate.text
        if contrasting(text, anchor):
            return False
        score = self.table.score(text, anchor)
        if score >= self.config.cross_topic_twin:
            return True
        if target.lists:
            return False
        shared_names = contrast_tokens(text) & contrast_tokens(anchor)
        return score >= self.config.cross_topic_named_twin and bool(shared_names)


class ChoicePlan:
    """:meth:`Selector.choose` for one target, split into what no exam changes and what an
    exam's :class:`Avoid` does.

    The candidates are ranked once. Whether a candidate passes the rules that depend on
    neither the exam nor the other chosen options (every rule but those of :class:`Avoid`
    and ``REPEATS_OPTION``), and whether two candidates repeat each other, are worked out
    the first time a choice reaches them and remembered, so choosing again for another
    exam walks the ranking with set lookups. The outcome is :meth:`Selector.choose`'s: a
    candidate is taken when no rule rejects it, whichever rule is checked first.
    """

    def __init__(
        self,
        selector: Selector,
        target: Target,
        count: int,
        extra: Callable[[OptionSource], Rejection | None] | None,
        candidates: Sequence[OptionSource],
    ) -> None:
        self.selector = selector
        self.target = target
        self.count = count
        self.extra = extra
        self.candidates = tuple(candidates)
        card_id = target.card.id
        #: Own misconceptions: not ruled out by their card being asked elsewhere.
        self._own = tuple(c.is_misconception and c.card.id == card_id for c in self.candidates)
        self._compact = tuple(compact(c.text) for c in self.candidates)
        # Values are immutable; a race between two builds only computes one twice.
        self._passes: dict[int, bool] = {}
        self._repeats: dict[tuple[int, int], bool] = {}
        self._plausible: dict[tuple[int, ...], bool] = {}

    def choose(self, avoid: Avoid = NOTHING_TO_AVOID) -> tuple[OptionSource, ...] | None:
        chosen: list[int] = []
        plain = avoid == NOTHING_TO_AVOID
        for index, candidate in enumerate(self.candidates):
            if not plain and self._avoided(index, candidate, avoid):
                continue
            if not self._passes_alone(index):
                continue
            if any(self._repeat(index, earlier) for earlier in chosen):
                continue
            chosen.append(index)
            if len(chosen) == self.count:
                break
        else:
            return None
        key = tuple(chosen)
        if self.target.answers_prompt:
            plausible = self._plausible.get(key)
            if plausible is None:
                options = [self.candidates[index] for index in chosen]
                score = self.selector.plausibility(self.target, options)
                plausible = score >= self.selector.config.min_plausibility
                self._plausible[key] = plausible
            if not plausible:
                return None
        return tuple(self.candidates[index] for index in chosen)

    def _avoided(self, index: int, candidate: OptionSource, avoid: Avoid) -> bool:
        """ASKED_ELSEWHERE, OVERUSED and SUPPRESSED of :meth:`Selector.rejection`."""
        text = self._compact[index]
        return (
            (candidate.card.id in avoid.cards and not self._own[index])
            or text in avoid.overused
            or text in avoid.suppressed
            or avoid.reveals(candidate.text)
        )

    def _passes_alone(self, index: int) -> bool:
        passes = self._passes.get(index)
        if passes is None:
            candidate = self.candidates[index]
            passes = self.selector.rejection(self.target, candidate, (), extra=self.extra) is None
            self._passes[index] = passes
        return passes

    def _repeat(self, index: int, earlier: int) -> bool:
        """REPEATS_OPTION of :meth:`Selector.rejection` for this candidate after ``earlier``
        (the looser rule for the card's own misconceptions included)."""
        pair = (index, earlier)
        found = self._repeats.get(pair)
        if found is None:
            candidate = self.candidates[index]
            found = self.selector.repeats(candidate, self.candidates[earlier], self._own[index])
            self._repeats[pair] = found
        return found

    def warm(self, accepted: int) -> tuple[str, ...]:
        """Work out the verdicts of the best candidates, until ``accepted`` pass (or none
        is left), as exams that rule some out will need them; returns their texts."""
        passed = 0
        for index in range(len(self.candidates)):
            if passed >= accepted:
                return tuple(c.text for c in self.candidates[:index])
            passed += self._passes_alone(index)
        return tuple(c.text for c in self.candidates)


# --- cues a test-wise learner reads -------------------------------------------------------
#
# A question is too easy when the key stands out by its words or form rather than by what it
# says (review 15, round 4: 13 of 30 choice questions "too easy"). Each check below looks
# only at the texts of one question, so its verdict is the same in every exam and is
# remembered with the draft it judges.

#: Words that tie no option to a prompt: function words, question words, and the words
#: every prompt of the deck uses ("SageMaker", "algorithm").
_CUE_STOP_TEXT = """
    a an the of to in on for and or but not no nor is are was were be been being it its
    this that these those there their they them what which who whom whose when where why
    how do does did can could should would will shall may might must with without by from as
    at into onto than then so such each every any all some one two three four five six seven
    eight nine ten use used using you your we our if about also only just very more most less
    least many much other another same own typical typically usually main key important name
    sagemaker amazon aws algorithm algorithms built e g i ie eg"""
_CUE_STOP_WORDS = frozenset(_CUE_STOP_TEXT.split())
_IDENTIFIER_PART = re.compile(r"[A-Za-z]+")


_stemmers = threading.local()


@cache
def stem(word: str) -> str:
    """The Porter stem of a lower-case word, as :func:`quizsvc.grading.stemmer.stem` gives
    it (PyStemmer's Porter; a Stemmer object per thread, as they are not thread-safe). Not
    imported from there: the grading package imports this one at load time."""
    if len(word) <= 2 or not word.isalpha():
        return word
    stemmer = getattr(_stemmers, "stemmer", None)
    if stemmer is None:
        stemmer = _stemmers.stemmer = Stemmer.Stemmer("porter")
    result: str = stemmer.stemWord(word)
    return result


# The choice-question rules (echo, twins, common core) read the same option texts in every
# new set of wrong options a build draws: each text is read once per process, not per set.
_TEXT_CACHE = 8192


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _plain_content_stems(text: str) -> tuple[str, ...]:
    return tuple([found for found, _ in _plain_stems_and_names(text)])


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _stem_set(text: str) -> frozenset[str]:
    return frozenset(_plain_content_stems(text))


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _plain_stems_and_names(text: str) -> tuple[tuple[str, bool], ...]:
    return tuple(_read_stems_and_names(text, None))


def _is_name(token: str, first: bool) -> bool:
    """A token naming something: an identifier (``num_cells``, Seq2Seq, CNN) or a
    capitalised word inside the sentence (Flatten, Dense)."""
    if "_" in token or any(char.isdigit() for char in token):
        return True
    if len(token) >= 2 and token.isupper():
        return True
    return not first and token[:1].isupper()


def _stems_and_names(
    text: str, glossary: Mapping[str, str] | None = None
) -> Sequence[tuple[str, bool]]:
    if not glossary:
        return _plain_stems_and_names(text)
    return _read_stems_and_names(text, glossary)


def _read_stems_and_names(text: str, glossary: Mapping[str, str] | None) -> list[tuple[str, bool]]:
    found: list[tuple[str, bool]] = []
    for index, token in enumerate(_WORD.findall(unicodedata.normalize("NFKC", text))):
        name = _is_name(token, index == 0)
        parts = _IDENTIFIER_PART.findall(token)
        # A compressed name reads as its expansion (Seq2Seq: sequence to sequence); an
        # acronym of the setting does not (CNN is no echo of "convolution layer").
        if glossary and any(char.isdigit() or char == "_" for char in token):
            expansion = glossary.get(token) or glossary.get(token.casefold())
            if expansion:
                parts = [*parts, *_IDENTIFIER_PART.findall(expansion)]
        for part in parts:
            word = part.casefold()
            if len(word) > 2 and word not in _CUE_STOP_WORDS:
                found.append((stem(word), name))
    return found


#: Head nouns so common in the deck's prompts and answers that sharing one is no cue.
_COMMON_STEMS = frozenset(
    stem(word)
    for word in ("layer", "model", "network", "neural", "data", "training", "value", "number")
)


def echo_counts(
    prompt: str, options: Sequence[str], glossary: Mapping[str, str] | None = None
) -> list[int]:
    """For each option, how much of it repeats the prompt: one per content word of the
    prompt it uses, and one per use of a word of a name the prompt asks about (Flatten,
    Seq2Seq, ``num_layers_encoder``), so "sequence in, sequence out" echoes Seq2Seq twice."""
    asked = _stems_and_names(prompt, glossary)
    names = {word for word, name in asked if name} - _COMMON_STEMS
    plain = {word for word, _ in asked} - _COMMON_STEMS
    counts = []
    for option in options:
        used = _plain_content_stems(option)
        distinct = _stem_set(option)
        counts.append(
            len(plain & distinct) + sum(word in names for word in used) - len(names & distinct)
        )
    return counts


def echoes_prompt(
    prompt: str, key: str, wrong: Sequence[str], glossary: Mapping[str, str] | None = None
) -> bool:
    """Whether the key repeats the prompt's words more than every wrong option does: "It
    flattens ..." for the Flatten layer, "sequence in, sequence out" for Seq2Seq (review 15,
    pattern 1). A learner picks it by word matching alone. An expansion the glossary gives
    for a prompt's abbreviation is the question itself ("What does GRU stand for?"), not an
    echo."""
    if glossary and any(
        compact(expansion) == compact(key)
        for token in _WORD.findall(prompt)
        if (expansion := glossary.get(token) or glossary.get(token.casefold()))
    ):
        return False
    key_count, *wrong_counts = echo_counts(prompt, (key, *wrong), glossary)
    if key_count > max(wrong_counts, default=0):
        return True
    # The name asked about on its own: "It flattens ..." for the Flatten layer echoes it
    # even when a wrong option shares a word of the prompt's setting ("image").
    key_names, *wrong_names = name_echo_counts(prompt, (key, *wrong), glossary)
    return key_names > max(wrong_names, default=0)


def name_echo_counts(
    prompt: str, options: Sequence[str], glossary: Mapping[str, str] | None = None
) -> list[int]:
    """For each option, its uses of a word of a name the prompt asks about."""
    names = {word for word, name in _stems_and_names(prompt, glossary) if name}
    names -= _COMMON_STEMS
    return [sum(word in names for word in _plain_content_stems(option)) for option in options]


#: Word pairs that are each other's opposite; a word beginning with one prefix of a pair
#: is the opposite of the same word with the other (overshoot, undershoot).
_OPPOSITE_PREFIXES = (("over", "under"), ("up", "down"), ("in", "out"))
_OPPOSITE_WORDS = frozenset(
    frozenset(pair)
    for pair in (
        ("high", "low"),
        ("higher", "lower"),
        ("more", "fewer"),
        ("more", "less"),
        ("increase", "decrease"),
        ("increases", "decreases"),
        ("large", "small"),
        ("larger", "smaller"),
        ("maximum", "minimum"),
        ("fast", "slow"),
        ("faster", "slower"),
        ("long", "short"),
        ("longer", "shorter"),
        ("simpler", "complex"),
        ("overfitting", "underfitting"),
        ("with", "without"),
        ("better", "worse"),
        ("easier", "harder"),
    )
)


def _opposite(left: str, right: str) -> bool:
    if frozenset((left, right)) in _OPPOSITE_WORDS:
        return True
    for first, second in _OPPOSITE_PREFIXES:
        for a, b in ((left, right), (right, left)):
            if (
                a.startswith(first)
                and b.startswith(second)
                and len(a) - len(first) >= 4
                and stem(a[len(first) :]) == stem(b[len(second) :])
            ):
                return True
    return False


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _opposes(left: str, right: str) -> bool:
    """Whether the two texts differ by a word and its opposite (and perhaps a few words
    around it): "Training can overshoot the optimal solution" against "Training undershoots
    the optimal solution, stopping short of it"."""
    left_words = _word_set(left)
    right_words = _word_set(right)
    return any(_opposite(a, b) for a in left_words - right_words for b in right_words - left_words)


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _word_set(text: str) -> frozenset[str]:
    return frozenset({w.casefold() for w in _WORD.findall(text)})


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _bare_stem_set(text: str) -> frozenset[str]:
    return _stem_set(without_brackets(text))


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _closeness(left: str, right: str) -> float:
    """Shared content words over the shorter text's: how much of a twin two options are."""
    # Remarks aside: "(it has a regularization effect)" against "(it adds model capacity)"
    # hides no less of a twin.
    left_stems = _bare_stem_set(left)
    right_stems = _bare_stem_set(right)
    return len(left_stems & right_stems) / max(1, min(len(left_stems), len(right_stems)))


def opposite_twin(key: str, wrong: Sequence[str]) -> bool:
    """Whether a wrong option is the key's opposite (overshoot for undershoot, overfitting
    for underfitting) while no two wrong options are as close a pair of opposites: the pair
    halves the choice and a word association settles it (review 15, pattern 4)."""
    # A twin keeps at least half its words: "more efficient" in one sentence and "less to
    # copy" in an unlike one are no pair.
    twins = [
        closeness
        for text in wrong
        if _opposes(key, text) and (closeness := _closeness(key, text)) >= 0.5
    ]
    if not twins:
        return False
    return not any(
        _opposes(left, right) and _closeness(left, right) >= max(twins)
        for i, left in enumerate(wrong)
        for right in wrong[i + 1 :]
    )


_ELEMENT_SEPARATOR = re.compile(r"[,;:]\s*|\s+(?:and|or)\s+")


@functools.lru_cache(maxsize=_TEXT_CACHE)
def _elements(text: str) -> tuple[frozenset[str], ...]:
    """The parts of an option, each as its content stems ("JSON Lines format, with the
    records shuffled": {json, line, format}, {record, shuffl})."""
    parts = (_stem_set(part) for part in _ELEMENT_SEPARATOR.split(without_brackets(text)))
    return tuple([part for part in parts if part])


def _same_element(left: frozenset[str], right: frozenset[str]) -> bool:
    return left <= right or right <= left or len(left & right) / len(left | right) >= 0.6


def element_support(options: Sequence[str]) -> list[int]:
    """For each option, how many (part, other option) pairs share that part: the options'
    common core scores highest."""
    parts = [_elements(text) for text in options]
    return [
        sum(
            any(_same_element(element, other) for other in elements)
            for element in parts[i]
            for j, elements in enumerate(parts)
            if j != i
        )
        for i in range(len(parts))
    ]


def convergent_key(key: str, wrong: Sequence[str]) -> bool:
    """Whether the key is the options' common core: its parts recur in the wrong options
    more than any wrong option's parts recur, by at least two ("JSON Lines format, with the
    records shuffled" beside "JSON Lines, sorted by label"; "A sequence of tokens in, and a
    sequence of tokens out" among three options that each keep one of its halves). A
    learner picks the option whose parts recur without knowing anything (review 15,
    pattern 4)."""
    key_support, *wrong_support = element_support((key, *wrong))
    if key_support >= 2 and key_support >= max(wrong_support, default=0) + 2:
        return True
    # Word by word: on the bank's choice questions, the one option whose words recur most
    # in the others was the key in 29 of 53 (chance 1 in 4): "Receiver Operating
    # Characteristic" among "Recall Operating Characteristic" and "Receiver Output Curve".
    key_words, *wrong_words = word_support((key, *wrong))
    return key_words >= 2 and key_words > max(wrong_words, default=0)


def word_support(options: Sequence[str]) -> list[int]:
    """For each option, how many (content word, other option) pairs share that word."""
    sets = [_stem_set(text) for text in options]
    return [
        sum(word in other for j, other in enumerate(sets) if j != i for word in words_here)
        for i, words_here in enumerate(sets)
    ]


def paired_key(key: str, wrong: Sequence[str]) -> bool:
    """Whether the only options sharing a part all pair with the key: "JSON Lines format,
    with the records shuffled" and "JSON Lines, sorted by label ..." among two unrelated
    formats leave a two-way choice between the twins, and the twin pair holds the key
    (review 15, pattern 4). Options of one part are compared whole elsewhere."""
    parts = [_elements(text) for text in (key, *wrong)]
    if len(parts[0]) < 2:
        return False
    pairs = [
        (i, j)
        for i in range(len(parts))
        for j in range(i + 1, len(parts))
        if any(_same_element(left, right) for left in parts[i] for right in parts[j])
    ]
    return bool(pairs) and all(0 in pair for pair in pairs)


def odd_frame(key: str, wrong: Sequence[str]) -> bool:
    """Whether every wrong option is written in one frame the key lacks: the same opening
    words ("It means ...", review 15, pattern 3), the same first word of three or more
    ("To ...", "Because ...", "It ..." against a note such as "Stop overfitting so the model
    generalizes"), or the same head noun ("Sequence-to-sequence topology", "Encoder-decoder
    topology" against "GRU"), so the key is the odd one out by its form."""
    if len(wrong) < 2:
        return False

    def opening(text: str) -> tuple[str, ...]:
        return tuple(word.casefold() for word in _WORD.findall(text)[:2])

    def head(text: str) -> str:
        found = _WORD.findall(without_brackets(text))
        return found[-1].casefold() if found else ""

    openings = {opening(text) for text in wrong}
    if len(openings) == 1 and len(next(iter(openings))) == 2 and opening(key) not in openings:
        return True
    if len(wrong) >= 3 and not shares_opening(key, wrong):
        return True
    heads = {head(text) for text in wrong}
    only = next(iter(heads))
    return (
        len(heads) == 1
        and len(only) > 3
        and only not in _CUE_STOP_WORDS
        and all(not mentions(text, only) for text in (key,))
    )


def shares_opening(key: str, wrong: Sequence[str]) -> bool:
    """Whether the key opens like the wrong options do when they all open alike (three
    sentences opening "To ..." read as one frame; a key opening otherwise stands out)."""

    def first(text: str) -> str:
        found = _WORD.findall(text)
        return found[0].casefold() if found else ""

    openings = {first(text) for text in wrong}
    if len(openings) != 1 or "" in openings:
        return True
    return first(key) in openings


#: A restricted scope: "X only", "but not Y", "cannot".
_RESTRICTED = re.compile(r"\b(?:only|but not|cannot|never)\b", re.IGNORECASE)


def restricted(text: str) -> bool:
    return bool(_RESTRICTED.search(text))


def key_is_superset(key: str, wrong: Sequence[str]) -> bool:
    """Whether every wrong option restricts its scope ("Regression only", "... but not
    multi-class") while the key does not: the inclusive option is picked unread (review 15,
    pattern 2)."""
    return bool(wrong) and not restricted(key) and all(restricted(text) for text in wrong)


#: A number the prompt asks for ("In which two ways ...", "Name the three ...").
_PROMPT_COUNT = re.compile(r"\b(?:two|three|four|five|both)\b", re.IGNORECASE)


def excluded_by_count(prompt: str, wrong: Sequence[str]) -> bool:
    """Whether the prompt asks for several things and a wrong option offers one thing
    "only": the prompt's own number rules it out ("In which two ways ..." against "As a
    built-in algorithm only"; review 15, pattern 2)."""
    return bool(_PROMPT_COUNT.search(prompt)) and any(
        re.search(r"\bonly\b", text, re.IGNORECASE) for text in wrong
    )


BRACKETED_REMARK = re.compile(r"\s*\([^()]*\)")


def bracketed(text: str) -> bool:
    return bool(BRACKETED_REMARK.search(text))


def without_brackets(text: str) -> str:
    """The text without its bracketed remarks, spacing before punctuation mended."""
    return re.sub(r"\s+([,.;:])", r"\1", BRACKETED_REMARK.sub("", text)).strip()


_LIST_SEPARATOR = re.compile(r",\s*|\s+and\s+|\s+or\s+")


def list_length(text: str) -> int:
    """Items of a list option ("a, b, c and d": 4)."""
    return len([part for part in _LIST_SEPARATOR.split(text.rstrip(". ")) if part.strip()])


#: First words of an item that is an instruction ("Use fewer layers", "Try a simpler model").
_INSTRUCTION_TEXT = """
    use try add remove reduce increase decrease apply train stop drop choose set make
    lower raise collect get shuffle normalize scale"""
_INSTRUCTION_VERBS = frozenset(_INSTRUCTION_TEXT.split())


def item_register(text: str) -> str:
    """How a list item is written: code (``max_depth``), an instruction ("Use fewer
    layers") or a plain phrase ("Sparse weights"). Right and wrong items of one register
    each are sorted by it alone (review 15, pattern 3)."""
    if identifier_like(text):
        return "code"
    first = _WORD.findall(text)[:1]
    if first and first[0].casefold() in _INSTRUCTION_VERBS:
        return "instruction"
    return "phrase"


def identifier_like(text: str) -> bool:
    """Whether an item reads as code (``max_depth``, ``eta``) rather than prose ("Weight
    decay", "Epochs"): the two registers tell right items from wrong ones when each side
    keeps to one (review 15, pattern 3)."""
    head = without_brackets(text).strip()
    return "_" in head or bool(re.fullmatch(r"[a-z][a-z0-9]*", head))
