"""Question quality of generated exams: wrong options of the key's kind and topic, no option
overused, no prompt naming its answer, fill-in blanks on key terms with their variants.

For seeds 1-5, a 20-question choice exam over all topics (14 multiple choice, 3 multiple
response, 3 reverse) and a 10-question fill-in exam are built as ``quizsvc exam build`` does
(the configured bank, the configured encoder behind the on-disk embedding cache) and
measured:

* the share of wrong options whose kind is the key's (:mod:`quizsvc.exams.kinds`; target
  >= 90%) and whose card is of the question's topic (target >= 70%);
* the most times one text is a wrong option in one exam (target <= 2);
* prompts that name their answer: the answer, its term, their "Name (expansion)" parts or
  glossary spellings, or for reverse questions a spelled-out expansion (target 0);
* for fill-in, the share of blanks that are key terms (:mod:`quizsvc.exams.keyterms`) and the
  mean number of accepted answers per blank.

The kinds and the key-term rule are the builder's own rules, so these figures check that the
builder keeps to them on the real bank with the real model; whether the rules match a
reviewer's judgment is checked card by card in tests/test_answer_kinds.py and
tests/test_cloze.py.

Run: ``HF_HUB_OFFLINE=1 .venv/bin/python bench/question_quality.py`` (about a minute on 2
CPU cores once the embedding cache is warm).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quizsvc.bank import Bank, Card, load_bank
from quizsvc.config import Settings
from quizsvc.embedding import Encoder
from quizsvc.exams import (
    Blueprint,
    DistractorConfig,
    Exam,
    InsufficientQuestionsError,
    QuestionType,
    build_exam,
)
from quizsvc.exams.builder import card_list_items
from quizsvc.exams.distractors import compact
from quizsvc.exams.keyterms import key_term
from quizsvc.exams.kinds import OptionKind, answer_option_kind, term_option_kind
from quizsvc.exams.model import QuestionKey
from quizsvc.exams.names import merged_glossary, names_answer, shows_name
from quizsvc.runtime import build_bank_encoder

SEEDS = (1, 2, 3, 4, 5)
#: Seeds of the length-cue measurement (single-answer choice questions of choice exams).
LENGTH_SEEDS = tuple(range(1, 11))
CHOICE = {QuestionType.MULTIPLE_CHOICE: 14, QuestionType.MULTIPLE_RESPONSE: 3}
REVERSE = 3
FILL_IN = 10
REVERSE_PROMPT = "Which term matches this description?"
#: Targets of the issue (items 4 and 5).
SAME_KIND_TARGET = 0.90
SAME_TOPIC_TARGET = 0.70
REUSE_TARGET = 2
NAMED_ANSWER_TARGET = 0


@dataclass
class SeedFigures:
    seed: int
    wrong_options: int = 0
    same_kind: int = 0
    same_topic: int = 0
    most_reused: int = 0
    most_reused_text: str = ""
    named_answers: list[str] = field(default_factory=list)
    blanks: int = 0
    key_blanks: int = 0
    accept_sizes: list[int] = field(default_factory=list)
    poor_blanks: list[str] = field(default_factory=list)
    other_kind: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class QualityResult:
    seeds: tuple[SeedFigures, ...]
    #: Every choice question the bank can make of each kind (seed 1), and those of them
    #: whose prompt names the answer.
    bank_questions: int = 0
    bank_named_answers: tuple[str, ...] = ()
    #: Single-answer choice questions of seeds 1-10 (:data:`LENGTH_SEEDS`), those whose key
    #: is strictly the longest option, and the chance of that for a key placed at random.
    single_answer: int = 0
    key_longest: int = 0
    longest_chance: float = 0.0
    #: Those whose key is strictly the shortest option (the opposite cue).
    key_shortest: int = 0
    #: Cues a test-wise learner reads (review 15, round 4), counted over the choice
    #: questions of seeds 1-10 (see :func:`measure_cues`), and how many were looked at.
    cues: tuple[tuple[str, int], ...] = ()
    cue_questions: int = 0

    @property
    def wrong_options(self) -> int:
        return sum(seed.wrong_options for seed in self.seeds)

    @property
    def same_kind(self) -> float:
        return sum(seed.same_kind for seed in self.seeds) / max(1, self.wrong_options)

    @property
    def same_topic(self) -> float:
        return sum(seed.same_topic for seed in self.seeds) / max(1, self.wrong_options)

    @property
    def most_reused(self) -> int:
        return max(seed.most_reused for seed in self.seeds)

    @property
    def named_answers(self) -> int:
        return sum(len(seed.named_answers) for seed in self.seeds)

    @property
    def blanks(self) -> int:
        return sum(seed.blanks for seed in self.seeds)

    @property
    def key_blanks(self) -> float:
        return sum(seed.key_blanks for seed in self.seeds) / max(1, self.blanks)

    @property
    def mean_accept(self) -> float:
        sizes = [size for seed in self.seeds for size in seed.accept_sizes]
        return sum(sizes) / max(1, len(sizes))

    @property
    def passed(self) -> dict[str, bool]:
        return {
            "same kind": self.same_kind >= SAME_KIND_TARGET,
            "same topic": self.same_topic >= SAME_TOPIC_TARGET,
            "reuse": self.most_reused <= REUSE_TARGET,
            "named answers": self.named_answers + len(self.bank_named_answers)
            <= NAMED_ANSWER_TARGET,
        }


def is_reverse(key: QuestionKey) -> bool:
    return key.type is QuestionType.MULTIPLE_CHOICE and key.prompt.startswith(REVERSE_PROMPT)


def key_kind(key: QuestionKey, card: Card) -> OptionKind:
    """The kind of what the question asks for: the term (reverse), else the card's answer
    (for multiple response, its list items); a definition's kind includes its subject."""
    return term_option_kind(card) if is_reverse(key) else answer_option_kind(card)


def option_kind(key: QuestionKey, source: Card) -> OptionKind:
    """The kind of a wrong option, from the card it was taken from: a term for reverse
    questions, else that card's answer or list item."""
    return term_option_kind(source) if is_reverse(key) else answer_option_kind(source)


def right_texts(key: QuestionKey) -> list[str]:
    return [o.text for o in key.options if o.id in key.correct_option_ids]


def prompt_names_answer(key: QuestionKey, glossary: Mapping[str, str]) -> bool:
    """Whether the prompt names what is asked for: a correct option, its parts or (except in
    "What does X stand for") its glossary spellings; a reverse question's definition also
    may not spell out its term's abbreviation."""
    right = right_texts(key)
    if is_reverse(key):
        return shows_name(key.prompt[len(REVERSE_PROMPT) :], right, glossary)
    return names_answer(key.prompt, right, glossary)


def measure_choice(
    exam: Exam, bank: Bank, glossaries: Mapping[str, Mapping[str, str]], figures: SeedFigures
) -> None:
    reused: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for question in exam.questions:
        key = question.key
        if key.type not in (QuestionType.MULTIPLE_CHOICE, QuestionType.MULTIPLE_RESPONSE):
            continue
        card = bank.get(key.card_id)
        if card is None:  # an authored question
            continue
        glossary = glossaries.get(card.deck, merged_glossary())
        if prompt_names_answer(key, glossary):
            figures.named_answers.append(f"{card.id}: {key.prompt!r}")
        kind = key_kind(key, card)
        for option, source_id in zip(key.options, key.option_sources, strict=True):
            if option.id in key.correct_option_ids:
                continue
            source = bank.card(source_id)
            figures.wrong_options += 1
            if option_kind(key, source) == kind:
                figures.same_kind += 1
            else:
                figures.other_kind.append(
                    f"{card.id} ({kind}) <- {option.text!r} ({option_kind(key, source)})"
                )
            figures.same_topic += source.topic == card.topic
            reused[compact(option.text)] += 1
            shown.setdefault(compact(option.text), option.text)
    if reused:
        text, count = reused.most_common(1)[0]
        figures.most_reused, figures.most_reused_text = count, shown[text]


def measure_fill_in(
    exam: Exam, bank: Bank, glossaries: Mapping[str, Mapping[str, str]], figures: SeedFigures
) -> None:
    for question in exam.questions:
        key = question.key
        card = bank.card(key.card_id)
        glossary = glossaries.get(card.deck, merged_glossary())
        figures.blanks += 1
        figures.accept_sizes.append(len(key.accept))
        short = key.prompt == card.prompt
        if key_term(card, key.answer, glossary, short_answer=short):
            figures.key_blanks += 1
        else:
            figures.poor_blanks.append(f"{card.id}: {key.answer!r}")


def measure(
    bank: Bank | None = None,
    encoder: Encoder | None = None,
    seeds: Sequence[int] = SEEDS,
    deck_glossaries: bool = True,
    config: DistractorConfig | None = None,
) -> QualityResult:
    """The figures over ``seeds``. ``deck_glossaries``: the builder is given each deck's
    glossary (``build_exam(glossaries=...)``); without, it knows the default glossary only,
    as ``quizsvc exam build`` and the API call it today. ``config``: the builder's default
    unless given (tests give the model-free encoder one without the plausibility floor)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    settings = Settings.from_env()
    bank = bank if bank is not None else load_bank(settings.bank_dir)
    encoder = encoder if encoder is not None else build_bank_encoder(settings)
    # Measured against the deck glossaries either way: the prompt check is the reviewer's.
    glossaries = {deck: merged_glossary(bank.glossary(deck)) for deck in bank.decks}
    given = {deck: bank.glossary(deck) for deck in bank.decks} if deck_glossaries else None
    results = []
    for seed in seeds:
        figures = SeedFigures(seed)
        choice = _choice_exam(bank, encoder, config, given, seed)
        measure_choice(choice, bank, glossaries, figures)
        blanks = build_exam(
            bank.cards,
            Blueprint(counts={QuestionType.FILL_IN: FILL_IN}, seed=seed),
            encoder,
            config,
            **_glossary_argument(given),
        )
        measure_fill_in(blanks, bank, glossaries, figures)
        results.append(figures)
    checked, named = check_whole_bank(bank, encoder, glossaries, given, config)
    single, longest, chance, shortest = measure_key_longest(bank, encoder, given, config)
    cues, cue_questions = measure_cues(bank, encoder, glossaries, given, config)
    return QualityResult(
        tuple(results),
        checked,
        tuple(named),
        single,
        longest,
        chance,
        shortest,
        tuple(cues.items()),
        cue_questions,
    )


#: The cues :func:`measure_cues` counts, in the order printed.
CUES = (
    "key echoes the prompt",
    "opposite twin of the key",
    "key is the options' common core",
    "key in the only twin pair",
    "inclusive key among restricted options",
    "'only' option against the prompt's count",
    "remark only in the key",
    "list key longer or shorter than every wrong list",
    "MR right item of several lists",
    "MR right and wrong items in separate registers",
    "MR option naming its owner by a value list",
    "key opens unlike every wrong option",
)


def measure_cues(
    bank: Bank,
    encoder: Encoder,
    glossaries: Mapping[str, Mapping[str, str]],
    given: Mapping[str, Mapping[str, str]] | None,
    config: DistractorConfig | None = None,
    seeds: Sequence[int] = LENGTH_SEEDS,
) -> tuple[dict[str, int], int]:
    """Over the choice exams of ``seeds``: how many questions show each cue of
    :data:`CUES` (proxies of the review's "too easy" patterns 1-5), and how many choice
    questions there were. Each is a text rule, so 0 means the rule holds, not that every
    question is hard."""
    from quizsvc.exams import distractors as cue

    counts = dict.fromkeys(CUES, 0)
    holders: dict[str, set[str]] = {}
    for card in bank.cards:
        for item in card_list_items(card):
            holders.setdefault(compact(item), set()).add(card.id)
    remark = re.compile(r"\(([^()]*)\)")
    value_list = re.compile(r"\([^()]*,[^()]*\)")
    questions = 0
    for seed in seeds:
        exam = _choice_exam(bank, encoder, config, given, seed)
        for question in exam.questions:
            key = question.key
            card = bank.get(key.card_id)
            if card is None:
                continue
            questions += 1
            right = [o.text for o in key.options if o.id in key.correct_option_ids]
            wrong = [o.text for o in key.options if o.id not in key.correct_option_ids]
            if key.type is QuestionType.MULTIPLE_RESPONSE:
                counts[CUES[8]] += any(len(holders.get(compact(t), ())) > 1 for t in right)
                registers = {cue.item_register(t) for t in right}
                counts[CUES[9]] += registers.isdisjoint(cue.item_register(t) for t in wrong)
                counts[CUES[10]] += any(value_list.search(t) for t in (*right, *wrong))
                continue
            if is_reverse(key):
                continue
            (text,) = right
            glossary = glossaries[card.deck]
            counts[CUES[0]] += cue.echoes_prompt(key.prompt, text, wrong, glossary)
            counts[CUES[1]] += cue.opposite_twin(text, wrong)
            counts[CUES[2]] += cue.convergent_key(text, wrong)
            counts[CUES[3]] += cue.paired_key(text, wrong)
            counts[CUES[4]] += cue.key_is_superset(text, wrong)
            counts[CUES[5]] += cue.excluded_by_count(key.prompt, wrong)
            counts[CUES[11]] += not cue.shares_opening(text, wrong)
            remarks = remark.findall(text)
            counts[CUES[6]] += bool(remarks) and not any(remark.search(t) for t in wrong)
            if card_list_items(card):
                lengths = [cue.list_length(t) for t in wrong]
                counts[CUES[7]] += not min(lengths) <= cue.list_length(text) <= max(lengths)
    return counts, questions


def measure_key_longest(
    bank: Bank,
    encoder: Encoder,
    given: Mapping[str, Mapping[str, str]] | None,
    config: DistractorConfig | None = None,
    seeds: Sequence[int] = LENGTH_SEEDS,
) -> tuple[int, int, float, int]:
    """Over the choice exams of ``seeds``: the single-answer questions, those whose key is
    strictly the longest option (in characters), the share a key at random would have
    (1 / options, averaged), and those whose key is strictly the shortest. A test-wise
    learner picks the longest option; a generator without the cue lands near chance."""
    single, longest, chance, shortest = 0, 0, 0.0, 0
    for seed in seeds:
        exam = _choice_exam(bank, encoder, config, given, seed)
        for question in exam.questions:
            key = question.key
            if key.type is not QuestionType.MULTIPLE_CHOICE or bank.get(key.card_id) is None:
                continue
            if len(key.correct_option_ids) != 1:
                continue
            single += 1
            chance += 1 / len(key.options)
            right = right_texts(key)[0]
            others = [o.text for o in key.options if o.id not in key.correct_option_ids]
            longest += all(len(right) > len(text) for text in others)
            shortest += all(len(right) < len(text) for text in others)
    return single, longest, chance / max(1, single), shortest


def check_whole_bank(
    bank: Bank,
    encoder: Encoder,
    glossaries: Mapping[str, Mapping[str, str]],
    given: Mapping[str, Mapping[str, str]] | None,
    config: DistractorConfig | None = None,
) -> tuple[int, list[str]]:
    """Every multiple-choice, reverse and multiple-response question the bank can make, one
    exam per kind as large as the bank allows: the prompts naming their answer among them.
    The reuse cap is lifted here: in an exam this large it rules questions out for a reason
    of its own."""
    checked, named = 0, []
    lifted = config or DistractorConfig()
    if "max_option_reuse" in {field.name for field in fields(DistractorConfig)}:
        lifted = replace(lifted, max_option_reuse=len(bank.cards))
    for kind in ("multiple_choice", "reverse", "multiple_response"):

        def blueprint(count: int, kind: str = kind) -> Blueprint:
            if kind == "reverse":
                return Blueprint(reverse=count, seed=1)
            return Blueprint(counts={QuestionType(kind): count}, seed=1)

        # More than the bank has: the error says how many it can make (fewer once the
        # reuse cap rules some out in an exam this large, hence the loop).
        count = len(bank.cards)
        while True:
            try:
                exam = build_exam(
                    bank.cards, blueprint(count), encoder, lifted, **_glossary_argument(given)
                )
                break
            except InsufficientQuestionsError as error:
                (asked,) = error.requested
                count = min(count - 1, sum(error.available[asked].values()))
        for question in exam.questions:
            card = bank.card(question.key.card_id)
            checked += 1
            if prompt_names_answer(question.key, glossaries[card.deck]):
                named.append(f"{card.id}: {question.key.prompt!r}")
    return checked, named


def _choice_exam(
    bank: Bank,
    encoder: Encoder,
    config: DistractorConfig | None,
    given: Mapping[str, Mapping[str, str]] | None,
    seed: int,
) -> Exam:
    """The choice exam every figure here is measured on, for one seed."""
    return build_exam(
        bank.cards,
        Blueprint(counts=CHOICE, reverse=REVERSE, seed=seed),
        encoder,
        config,
        **_glossary_argument(given),
    )


def _glossary_argument(given: Mapping[str, Mapping[str, str]] | None) -> dict[str, Any]:
    # Passed only when asked for, so that this bench also runs against a builder that
    # predates the argument (the "before" figures of the issue).
    return {} if given is None else {"glossaries": given}


def mark(passed: bool) -> str:
    return "pass" if passed else "FAIL"


def report(result: QualityResult) -> None:
    print(
        f"choice exams: {sum(CHOICE.values()) + REVERSE} questions "
        f"(multiple choice {CHOICE[QuestionType.MULTIPLE_CHOICE]}, multiple response "
        f"{CHOICE[QuestionType.MULTIPLE_RESPONSE]}, reverse {REVERSE}); fill-in exams: "
        f"{FILL_IN} blanks; seeds {', '.join(str(s.seed) for s in result.seeds)}"
    )
    print()
    print(
        "| seed | wrong options | same kind | same topic | most reused | named answers "
        "| key-term blanks | mean accepted |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for seed in result.seeds:
        wrong = max(1, seed.wrong_options)
        print(
            f"| {seed.seed} | {seed.wrong_options} | {seed.same_kind / wrong:.0%} "
            f"| {seed.same_topic / wrong:.0%} | {seed.most_reused} "
            f"({seed.most_reused_text[:40]!r}) | {len(seed.named_answers)} "
            f"| {seed.key_blanks}/{seed.blanks} "
            f"| {sum(seed.accept_sizes) / max(1, len(seed.accept_sizes)):.2f} |"
        )
    passed = result.passed
    print()
    print(
        f"wrong options of the key's kind: {result.same_kind:.1%} "
        f"(target >= {SAME_KIND_TARGET:.0%}) {mark(passed['same kind'])}"
    )
    print(
        f"wrong options from the question's topic: {result.same_topic:.1%} "
        f"(target >= {SAME_TOPIC_TARGET:.0%}) {mark(passed['same topic'])}"
    )
    print(
        f"most reused wrong option per exam: {result.most_reused} "
        f"(target <= {REUSE_TARGET}) {mark(passed['reuse'])}"
    )
    print(
        f"prompts naming their answer: {result.named_answers} in these exams, "
        f"{len(result.bank_named_answers)} among all {result.bank_questions} choice questions "
        f"the bank can make (target {NAMED_ANSWER_TARGET}) {mark(passed['named answers'])}"
    )
    print(
        f"key is the longest option: {result.key_longest / max(1, result.single_answer):.0%} "
        f"of {result.single_answer} single-answer choice questions, seeds "
        f"{LENGTH_SEEDS[0]}-{LENGTH_SEEDS[-1]} (chance {result.longest_chance:.0%}); "
        f"the shortest: {result.key_shortest / max(1, result.single_answer):.0%}"
    )
    if result.cue_questions:
        print(
            f"cues a test-wise learner reads, in {result.cue_questions} choice questions of "
            f"seeds {LENGTH_SEEDS[0]}-{LENGTH_SEEDS[-1]}:"
        )
        for name, count in result.cues:
            print(f"  {name}: {count}")
    print(
        f"fill-in blanks on key terms: {result.key_blanks:.1%} of {result.blanks}; "
        f"mean accepted answers per blank: {result.mean_accept:.2f}"
    )
    details = [
        ("wrong options of another kind", [s for f in result.seeds for s in f.other_kind]),
        (
            "prompts naming their answer",
            [s for f in result.seeds for s in f.named_answers] + list(result.bank_named_answers),
        ),
        ("blanks that are no key term", [s for f in result.seeds for s in f.poor_blanks]),
    ]
    for title, lines in details:
        if lines:
            print(f"\n{title}:")
            for line in lines:
                print(f"  {line}")


def main(argv: Sequence[str] | None = None) -> QualityResult:
    args = sys.argv[1:] if argv is None else list(argv)
    started = time.perf_counter()
    as_cli = "--as-cli" in args
    result = measure(deck_glossaries=not as_cli)
    if as_cli:
        print("builder given the default glossary only (as the CLI and API call it today)")
    report(result)
    print(f"\n({time.perf_counter() - started:.0f} s)")
    return result


if __name__ == "__main__":
    main()
