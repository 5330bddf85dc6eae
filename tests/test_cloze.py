"""Fill-in blanks on key terms only, with the accepted variants of each blank."""

from __future__ import annotations

import random

import pytest

from quizsvc.bank import Bank, Card
from quizsvc.exams.cloze import BLANK, accepted_forms, make_fill_in, word_rarity
from quizsvc.exams.distractors import compact
from quizsvc.exams.keyterms import key_term
from quizsvc.exams.names import merged_glossary

DECK = "aws-ml-modeling"
SEEDS = range(60)


@pytest.fixture(scope="module")
def glossary(bank: Bank) -> dict[str, str]:
    return merged_glossary(bank.glossary(DECK))


@pytest.fixture(scope="module")
def rarity(bank: Bank) -> dict[str, int]:
    return word_rarity(bank.select(DECK))


def blanks(card: Card, rarity: dict[str, int], glossary: dict[str, str]) -> set[str]:
    """Every blank the card's fill-in takes, over many seeds (the seed picks among equally
    good blanks)."""
    found = set()
    for seed in SEEDS:
        made = make_fill_in(card, random.Random(seed), rarity, glossary)
        assert made is not None, card.id
        found.add(made.accept[0])
    return found


@pytest.mark.parametrize(
    ("card_id", "quoted", "poor"),
    [
        # "(out of _____ features, maybe only 10 end up with non-zero coefficients)" -> "100"
        ("reg-why-l1", "non-zero coefficients", {"100", "10"}),
        # "The gradient _____ zero" -> "approaches"
        ("train-vanishing-gradient", "approaches zero", {"approaches", "zero", "Training"}),
        # "fraud _____" -> "detection"
        ("metrics-recall-when", "fraud detection", {"detection", "fraud detection", "example"}),
    ],
)
def test_the_reviewed_poor_blanks_are_never_chosen(
    bank: Bank,
    rarity: dict[str, int],
    glossary: dict[str, str],
    card_id: str,
    quoted: str,
    poor: set[str],
) -> None:
    card = bank.card(card_id)
    assert quoted in card.answer  # the card the review quoted
    chosen = blanks(card, rarity, glossary)
    assert not {compact(text) for text in chosen} & {compact(text) for text in poor}, chosen
    for blank in chosen:
        assert key_term(card, blank, glossary) is not None, blank


def test_the_reviewed_cards_blank_what_they_teach(
    bank: Bank, rarity: dict[str, int], glossary: dict[str, str]
) -> None:
    assert blanks(bank.card("reg-why-l1"), rarity, glossary) <= {
        "feature selection",
        "dimensionality",
        "sparsity",
        "computational inefficiency",
    }
    assert blanks(bank.card("metrics-recall-when"), rarity, glossary) == {"false negatives"}
    assert "exploding gradients" in blanks(bank.card("train-vanishing-gradient"), rarity, glossary)


@pytest.mark.parametrize(
    ("card_id", "blank", "why"),
    [
        ("deepar-max-prediction-length", "400", "the number the prompt asks for"),
        ("metrics-recall-when", "false negatives", "a glossary term of a key point"),
        ("reg-why-l1", "feature selection", "a noun phrase of a key point"),
        ("s2s-use-cases", "Speech to text", "a whole short key point"),
        ("cnn-architecture-resnet", "ResNet", "the card's term"),
    ],
)
def test_key_terms_and_why(
    bank: Bank, glossary: dict[str, str], card_id: str, blank: str, why: str
) -> None:
    found = key_term(bank.card(card_id), blank, glossary)
    assert found is not None
    assert found.reason == why


@pytest.mark.parametrize(
    ("card_id", "blank"),
    [
        ("reg-why-l1", "100"),  # an example's number
        ("train-vanishing-gradient", "approaches"),  # a verb
        ("metrics-recall-when", "detection"),  # a generic noun, and of an example
        ("metrics-recall-when", "fraud detection"),  # an example
        ("reg-early-stopping", "improving"),  # a verb form
        ("rnn-wrong-choices", "converge"),  # a verb
        ("deepar-input-format", "optionally GZIP-compressed"),  # an adverb
        ("train-vanishing-gradient", "the"),  # a function word
    ],
)
def test_what_is_no_key_term(
    bank: Bank, glossary: dict[str, str], card_id: str, blank: str
) -> None:
    assert key_term(bank.card(card_id), blank, glossary) is None


def test_every_fill_in_of_the_bank_blanks_a_key_term(
    bank: Bank, rarity: dict[str, int], glossary: dict[str, str]
) -> None:
    made = 0
    for card in bank.select(DECK):
        fill_in = make_fill_in(card, random.Random(card.id), rarity, glossary)
        if fill_in is None:
            continue
        made += 1
        short = fill_in.prompt == card.prompt
        assert short or BLANK in fill_in.prompt
        assert key_term(card, fill_in.accept[0], glossary, short_answer=short), (
            card.id,
            fill_in.accept[0],
        )
    assert made >= 0.75 * len(bank.select(DECK))


# --- accepted variants -------------------------------------------------------------------------


def card(answer: str, key_points: tuple[str, ...], **fields: str) -> Card:
    return Card(
        id="c",
        deck="d",
        topic="t",
        prompt=fields.pop("prompt", "How does it work?"),
        answer=answer,
        key_points=key_points,
        term=fields.pop("term", None),
        accept=tuple(fields.values()),
    )


def test_a_hyphenated_blank_accepts_the_spaced_spelling(glossary: dict[str, str]) -> None:
    found = card("It uses skip-gram to learn word vectors from context.", ("skip-gram",))
    made = make_fill_in(found, random.Random(0), {}, glossary)
    assert made is not None
    assert made.accept == ("skip-gram", "skip gram")
    assert "It uses _____ to learn" in made.prompt


def test_glossary_abbreviation_and_expansion_are_accepted_both_ways(
    glossary: dict[str, str],
) -> None:
    assert accepted_forms(card("x", ()), "false negatives", glossary) == (
        "false negatives",
        "FN",
        "false negative",
    )
    assert accepted_forms(card("x", ()), "LSTM", glossary) == ("LSTM", "Long Short-Term Memory")
    assert accepted_forms(card("x", ()), "long short-term memory", glossary) == (
        "long short-term memory",
        "long short term memory",
        "LSTM",
    )


def test_the_term_and_its_expansion_are_accepted_for_each_other(
    glossary: dict[str, str],
) -> None:
    cbow = card(
        "Continuous bag of words predicts a word from its context; word order is ignored.",
        ("Predicts a word from its context",),
        term="CBOW (continuous bag of words)",
        prompt="How does Word2vec learn embeddings in this mode?",
    )
    made = make_fill_in(cbow, random.Random(0), {}, glossary)
    assert made is not None
    assert made.accept[0] == "Continuous bag of words"
    assert {"CBOW", "CBOW (continuous bag of words)"} <= set(made.accept)


def test_a_remark_in_brackets_is_no_alias(glossary: dict[str, str]) -> None:
    """ "RecordIO-wrapped protobuf (float32 only)" names one format with a remark: the
    remark is not an answer."""
    formats = card(
        "RecordIO-wrapped protobuf (float32 data only) and CSV.",
        ("RecordIO-wrapped protobuf (float32 only)", "CSV"),
    )
    accept = accepted_forms(formats, "RecordIO-wrapped protobuf", glossary)
    assert accept == ("RecordIO-wrapped protobuf", "RecordIO wrapped protobuf")


def test_short_answers_accept_aliases_but_not_what_the_prompt_names(
    bank: Bank, glossary: dict[str, str]
) -> None:
    relu = make_fill_in(bank.card("train-relu-activation"), random.Random(0), {}, glossary)
    assert relu is not None
    assert {"ReLU", "Rectified linear unit"} <= set(relu.accept)
    roc = make_fill_in(bank.card("metrics-roc-expansion"), random.Random(0), {}, glossary)
    assert roc is not None
    assert "ROC" not in roc.accept  # the prompt asks what ROC stands for


def test_a_fill_in_is_the_same_for_a_seed(
    bank: Bank, rarity: dict[str, int], glossary: dict[str, str]
) -> None:
    card = bank.card("reg-why-l1")
    first = make_fill_in(card, random.Random(7), rarity, glossary)
    assert first == make_fill_in(card, random.Random(7), rarity, glossary)
