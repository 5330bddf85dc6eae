"""What kind of thing a card answers with, by transparent rules.

A wrong option of another kind is spotted without knowing anything: "BLEU score" among the
values of an optimizer hyperparameter, a sentence about File mode among deployment
services. So choice questions draw their wrong options only from answers of the key's kind
(:mod:`quizsvc.exams.builder`), and a card with too few of them makes no such question.

The kind comes from the first rule that matches, in the order of :data:`ANSWER_RULES` (also
for the items of a ``list`` card, whose prompt says what they are) or :data:`TERM_RULES`
(the term a reverse question asks for). Each rule is a regular expression on the answer,
the prompt, the term or a tag, and :func:`explain` names the rule that decided. The rules
are written for exam-prep flashcards like the bundled AWS deck and are checked card by card
in tests/test_answer_kinds.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from quizsvc.bank.model import Card

#: Tag that marks a card whose key points are a list of short items ("select TWO" material).
LIST_TAG = "list"
#: Tag that marks a card asking what an abbreviation stands for: recall of words, whose
#: wrong options could only be scrambles of them ("Long-Term Short Memory" for LSTM, seen as
#: too easy in review 15, round 8), so it is never asked as a choice question; a learner
#: writes the expansion (fill-in or free answer).
RECALL_ONLY_TAG = "abbreviation"


class AnswerKind(StrEnum):
    INSTANCE_TYPE = "instance type"
    MODEL_NAME = "algorithm or model name"
    METRIC = "metric"
    FORMULA = "formula"
    HYPERPARAMETER_NAME = "hyperparameter name"
    HYPERPARAMETER_VALUE = "hyperparameter value"
    SERVICE = "service or feature name"
    DATA_FORMAT = "data format or input"
    USE_CASE = "task or use case"
    TECHNIQUE = "technique or concept name"
    NUMBER = "number"
    YES_NO = "yes/no"
    DEFINITION = "definition or explanation"


def _search(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern, re.IGNORECASE)
    return lambda text: compiled.search(text) is not None


def _search_case(pattern: str) -> Callable[[str], bool]:
    compiled = re.compile(pattern)
    return lambda text: compiled.search(text) is not None


def _word_count(text: str) -> int:
    return len(re.findall(r"[^\W_]+(?:[.\-'][^\W_]+)*", text))


# --- the patterns ------------------------------------------------------------------------------

_CLOSED_QUESTION = _search(
    r"^\s*(?:can|could|does|do|did|is|are|was|were|should|will|would|has|have|must)\b"
)
_YES_OR_NO = _search(r"^\s*(?:yes|no)\b")
#: An instance name ("ml.p3.2xlarge"); families ("C5", "M5") come with "instance" words.
_INSTANCE_NAME = _search(r"\bml\.[a-z]\w*\.\w+")
_ABOUT_INSTANCES = _search(r"\binstances?\b|\binfrastructure\b|\b[CG]PU\b|\binstance family\b")
_NAMES_HARDWARE = _search(r"\binstances?\b|\b[CG]PUs?\b|\bml\.[a-z]")
#: Operands joined by an operator, with brackets or another operator: "TP / (TP + FP)".
_OPERATION = _search(r"[\w)]\s*[/=]\s*[\w(]")
_MORE_OPERATORS = _search(r"[()+*]|=.*=")
_ASKS_FORMULA = _search(r"\bformulas?\b|\bequations?\b|\bhow is .* (?:computed|calculated)\b")
_ASKS_VALUES = _search(r"\bvalues?\b.*\b(?:take|accept|allowed|possible|default)\b|\bdefault\b")
_ASKS_HYPERPARAMETER_NAMES = _search(
    r"^\s*(?:which|name|what are|list)\b[^?]*\bhyperparameters?\b(?![^?]*\b(?:do|does|control"
    r"|controls|mean|set)\s*\?)"
)
_IDENTIFIER = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_ASKS_NUMBER = _search(
    r"\bhow (?:many|much|large|long|big)\b|\b(?:maximum|minimum|default|largest|smallest)\b"
)
_STARTS_WITH_NUMBER = _search(
    r"^\s*(?:about|around|roughly|approximately|up to|at most|at least|over|under)?\s*\d"
)
_ASKS_FORMAT = _search(
    r"\b(?:input|data|file|training|output) formats?\b|\bformat\b|\bfields?\b"
    r"|\bwhich (?:\w+ )?inputs\b"
)
#: Modes asked for by name ("Which input modes ..."), not how one mode works.
_ASKS_MODES = _search(
    r"^\s*(?:which|what|name)\b[^?]*\bmodes\b|\bin which (?:two )?ways\b|\bwhat does aws offer\b"
)
_NAMES_MODES = _search(r"\b(?:file|pipe|fastfile)\s+mode\b")
_ASKS_USE = _search(
    r"\bused for\b|\buse cases?\b|\btasks?\b|\bkinds of problems\b|\bknown for\b"
    r"|\bwhat can you do with\b|\bapplications?\b"
)
_ASKS_METRICS = _search(r"\bmetrics?\b|\bwhat other names\b|\balso called\b|\bknown by\b")
_NAMES_METRIC = _search(
    r"\b(?:true|false) (?:positive|negative)s?\b|\b(?:rate|score|accuracy|precision|recall"
    r"|specificity|sensitivity|perplexity|completeness)\b|\b(?:BLEU|RMSE|AUC|F1|TPR|TNR)\b"
)
_ASKS_NAME_EXPANSION = _search(r"\bstand for\b|\babbreviation\b|\bshort for\b")
_ASKS_MODEL = _search(
    r"\b(?:type|kind) of (?:neural )?network\b|\barchitectures?\b|\bvariants\b|\btopologies\b"
    r"|\bencoder choices\b|\bwhich (?:\w+ )?(?:algorithm|layer|layer type|activation function"
    r"|network|model)\b|\btypes of neural network\b|\bboosting algorithm\b"
)
_ASKS_TECHNIQUE = _search(
    r"\btechniques?\b|\bmethods?\b|\bhow can you (?:address|avoid|prevent|fix|reduce)\b"
)
#: A short name rather than a sentence: capitalised or exact-looking, with no full stop.
_SHORT_NAME = _search_case(r"^\s*(?:[A-Z]|\w*\d)[^.;:]*$")

_TERM_METRIC = _search(
    r"\b(?:score|curve|matrix|rate|precision|recall|accuracy|specificity|sensitivity"
    r"|perplexity|RMSE|BLEU|AUC)\b"
)
_TERM_SERVICE = _search_case(
    r"^(?:SageMaker|Amazon|AWS)\b|\b[Mm]ode$|^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+$"
)
_TERM_MODEL = _search(
    r"\bnetworks?\b|\blayer\b|\bpooling\b|\btopology\b|\bLSTM\b|\bGRU\b|\bCNN\b|\bRNN\b"
)
#: CamelCase and digit-bearing product and architecture names: BlazingText, DeepAR,
#: AlexNet, Word2vec, Conv1D (but not "L1 regularization", a technique).
_CAMEL_CASE = _search_case(r"[a-z][A-Z]|[a-z]\d|\d[a-z]")


@dataclass(frozen=True)
class Rule:
    """One classification rule: the kind it gives, why, and the test on the card."""

    kind: AnswerKind
    reason: str
    test: Callable[[Card], bool]


def _is_product_topic(term: str, topic: str) -> bool:
    """A capitalised name of several words that is its topic's name ("Linear Learner" in
    linear-learner): a product. A one-word concept topic ("Regularization") is not."""
    words = term.split()
    return (
        len(words) >= 2
        and all(word[:1].isupper() for word in words)
        and term.casefold() == topic.replace("-", " ")
    )


def _is_list(card: Card) -> bool:
    return LIST_TAG in card.tags


def _tagged(*tags: str) -> Callable[[Card], bool]:
    return lambda card: any(tag in card.tags for tag in tags)


ANSWER_RULES: tuple[Rule, ...] = (
    Rule(
        AnswerKind.YES_NO,
        "a closed question (Can/Does/Is ...) answered with Yes or No",
        lambda c: _CLOSED_QUESTION(c.prompt) and _YES_OR_NO(c.answer),
    ),
    Rule(
        AnswerKind.FORMULA,
        "operands joined by operators, or a formula asked for, with few plain words",
        lambda c: (
            _OPERATION(c.answer)
            and (_MORE_OPERATORS(c.answer) or _ASKS_FORMULA(c.prompt))
            and len(re.findall(r"\b[a-z]{3,}\b", c.answer)) <= 2
        ),
    ),
    Rule(
        AnswerKind.INSTANCE_TYPE,
        "an instance name (ml.x.y), or instances/CPU/GPU asked about and named",
        lambda c: (
            _INSTANCE_NAME(c.answer) or (_ABOUT_INSTANCES(c.prompt) and _NAMES_HARDWARE(c.answer))
        ),
    ),
    Rule(
        AnswerKind.HYPERPARAMETER_VALUE,
        "the values a hyperparameter takes are asked for",
        lambda c: "hyperparameter" in c.prompt.casefold() and _ASKS_VALUES(c.prompt),
    ),
    Rule(
        AnswerKind.NUMBER,
        "a number is asked for (how many, maximum, default ...) and the answer starts with one",
        lambda c: _ASKS_NUMBER(c.prompt) and _STARTS_WITH_NUMBER(c.answer),
    ),
    Rule(
        AnswerKind.HYPERPARAMETER_NAME,
        "hyperparameters are asked for by name (Which/Name ... hyperparameters), or the "
        "answer is snake_case identifiers",
        lambda c: (
            _ASKS_HYPERPARAMETER_NAMES(c.prompt)
            or (
                _word_count(c.answer) <= 6
                and len(_IDENTIFIER.findall(c.answer)) >= 1
                and not _ASKS_FORMAT(c.prompt)
            )
        ),
    ),
    Rule(
        AnswerKind.DATA_FORMAT,
        "an input or data format, fields or inputs are asked for (or the card is tagged "
        "input-format)",
        lambda c: _ASKS_FORMAT(c.prompt) or "input-format" in c.tags,
    ),
    Rule(
        AnswerKind.SERVICE,
        "modes, ways of use or offerings are asked for, or File/Pipe mode is named",
        lambda c: _ASKS_MODES(c.prompt) or (_NAMES_MODES(c.answer) and _word_count(c.answer) <= 6),
    ),
    Rule(
        AnswerKind.METRIC,
        "metrics or other names of a metric are asked for, or a short answer names one",
        lambda c: (
            (_ASKS_METRICS(c.prompt) and (_is_list(c) or _word_count(c.answer) <= 6))
            or (_NAMES_METRIC(c.answer) and _word_count(c.answer) <= 5)
        ),
    ),
    Rule(
        AnswerKind.MODEL_NAME,
        "an abbreviation's expansion is asked for (What does X stand for)",
        lambda c: _ASKS_NAME_EXPANSION(c.prompt) and _word_count(c.answer) <= 6,
    ),
    Rule(
        AnswerKind.USE_CASE,
        "what something is used for or known for, answered in a few words or a list",
        lambda c: _ASKS_USE(c.prompt) and (_is_list(c) or _word_count(c.answer) <= 6),
    ),
    Rule(
        AnswerKind.MODEL_NAME,
        "a type of network, architecture, layer, algorithm or variant is asked for",
        lambda c: _ASKS_MODEL(c.prompt) and (_is_list(c) or _word_count(c.answer) <= 8),
    ),
    Rule(
        AnswerKind.TECHNIQUE,
        "techniques, methods or fixes are asked for",
        lambda c: _ASKS_TECHNIQUE(c.prompt) and (_is_list(c) or _word_count(c.answer) <= 6),
    ),
    Rule(
        AnswerKind.TECHNIQUE,
        "a short capitalised name without a full stop (a named concept)",
        lambda c: _word_count(c.answer) <= 4 and _SHORT_NAME(c.answer),
    ),
    Rule(
        AnswerKind.DEFINITION,
        "anything else: a sentence that defines or explains",
        lambda c: True,
    ),
)

TERM_RULES: tuple[Rule, ...] = (
    Rule(
        AnswerKind.HYPERPARAMETER_NAME,
        "the card is about a hyperparameter (tag or prompt), or the term is an identifier",
        lambda c: (
            "hyperparameters" in c.tags
            or "hyperparameter" in c.prompt.casefold()
            or bool(c.term and "_" in c.term and c.term.islower())
        ),
    ),
    Rule(
        AnswerKind.METRIC,
        "the term names a metric (score, curve, rate, precision ...) or the card is tagged metrics",
        lambda c: bool(c.term and _TERM_METRIC(c.term)) or "metrics" in c.tags,
    ),
    Rule(
        AnswerKind.SERVICE,
        "the term is a SageMaker/AWS service, a mode or an environment variable",
        lambda c: bool(c.term and _TERM_SERVICE(c.term)) or _tagged("modes", "input-mode")(c),
    ),
    Rule(
        AnswerKind.MODEL_NAME,
        "the term names an algorithm, network, layer, architecture or topology, or is the "
        "name of its topic (Linear Learner)",
        lambda c: (
            bool(c.term and (_TERM_MODEL(c.term) or _CAMEL_CASE(c.term)))
            or bool(c.term and _is_product_topic(c.term, c.topic))
            or _tagged("architectures", "layers", "topologies", "overview")(c)
        ),
    ),
    Rule(
        AnswerKind.TECHNIQUE,
        "anything else: a named technique or concept",
        lambda c: True,
    ),
)


def _first(rules: tuple[Rule, ...], card: Card) -> Rule:
    for rule in rules:
        if rule.test(card):
            return rule
    raise AssertionError("the last rule matches every card")


def answer_kind(card: Card) -> AnswerKind:
    """The kind of the card's answer (for a ``list`` card: of its items)."""
    return _first(ANSWER_RULES, card).kind


def term_kind(card: Card) -> AnswerKind:
    """The kind of the card's term, the answer of its reverse question."""
    return _first(TERM_RULES, card).kind


def explain(card: Card, term: bool = False) -> str:
    """Which rule decided the kind, for review of a surprising classification."""
    rule = _first(TERM_RULES if term else ANSWER_RULES, card)
    return f"{rule.kind.value}: {rule.reason}"


def subject_kind(card: Card) -> AnswerKind | None:
    """What the card is about, when that is known: the kind of its term, or a hyperparameter
    when its prompt names one ("What does the Linear Learner hyperparameter l1 control?")."""
    if card.term:
        return term_kind(card)
    if "hyperparameter" in card.prompt.casefold():
        return AnswerKind.HYPERPARAMETER_NAME
    return None


class MetricTask(StrEnum):
    """The task a metric scores. A regression or a translation metric among classification
    metrics is ruled out unread: "RMSE" for "the true positive rate against the false
    positive rate at various thresholds", "BLEU score" and "Perplexity" for "the harmonic
    mean of precision and recall" (both seen in reverse questions of seeds 1-5)."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"
    SEQUENCE = "sequence generation"


#: Read in this order on the metric's term and definition: a translation metric speaks of
#: sequences or translations, a regression metric of squared or absolute errors, a
#: classification metric of positives, negatives, classes or thresholds.
_METRIC_TASKS: tuple[tuple[MetricTask, Callable[[str], bool]], ...] = (
    (MetricTask.SEQUENCE, _search(r"\btranslations?\b|\bsequences?\b|\bBLEU\b|\bperplexity\b")),
    (
        MetricTask.REGRESSION,
        _search(r"\b(?:squared|absolute) (?:error|difference)s?\b|\bregression\b|\bR-?squared\b"),
    ),
    (
        MetricTask.CLASSIFICATION,
        _search(
            r"\bpositives?\b|\bnegatives?\b|\bclass(?:es|ification)?\b|\bthresholds?\b"
            r"|\bprecision\b|\brecall\b|\b[TF][PN]\b"
        ),
    ),
)


def metric_task(card: Card) -> MetricTask | None:
    """The task the card's metric scores, when its term or definition says so."""
    text = f"{card.term or ''}: {card.answer}"
    return next((task for task, says in _METRIC_TASKS if says(text)), None)


@dataclass(frozen=True, order=True)
class OptionKind:
    """What a wrong option must share with the key. A definition also shares its subject:
    a sentence defining a deployment service is no plausible wrong answer to "What is
    SageMaker Neo used for?" if it defines a debugging technique. A term also shares its
    family (:func:`term_family`): "" where none is known."""

    kind: AnswerKind
    subject: AnswerKind | None = None
    family: str = ""

    def __str__(self) -> str:
        subject = f" of a {self.subject.value}" if self.subject else ""
        return self.kind.value + subject + (f" ({self.family})" if self.family else "")


def answer_option_kind(card: Card) -> OptionKind:
    """The :class:`OptionKind` of the card's answer (or list items)."""
    kind = answer_kind(card)
    return OptionKind(kind, subject_kind(card) if kind is AnswerKind.DEFINITION else None)


#: The family a card's tag gives its term, by the term's kind. A layer among architectures
#: ("Dense layer", "Softmax" beside "ResNet" for GoogLeNet) or a deployment service among
#: training input modes ("SageMaker Neo" beside "Pipe mode" for File mode) is ruled out
#: unread.
_TAGGED_FAMILIES: dict[AnswerKind, dict[str, str]] = {
    AnswerKind.MODEL_NAME: {
        "layers": "network layer",
        "architectures": "network architecture",
        "topologies": "network topology",
    },
    AnswerKind.SERVICE: {
        "input-mode": "training input mode",
        "modes": "algorithm mode",
        "deployment": "deployment",
        "inference": "inference setting",
    },
}


def term_family(card: Card, kind: AnswerKind) -> str:
    """What the card's term shares with the other terms of its kind beyond the kind; ""
    where none is known. A metric: its task. A model name or a service: the family its
    tag gives (:data:`_TAGGED_FAMILIES`)."""
    if kind is AnswerKind.METRIC:
        task = metric_task(card)
        return task.value if task else ""
    families = _TAGGED_FAMILIES.get(kind, {})
    return next((family for tag, family in families.items() if tag in card.tags), "")


def term_option_kind(card: Card) -> OptionKind:
    """The :class:`OptionKind` of the card's term, with its family."""
    kind = term_kind(card)
    return OptionKind(kind, family=term_family(card, kind))
