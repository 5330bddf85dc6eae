"""Multiple-response wrong options are items known to be wrong for the card (issue 15,
instructor review): "Handwriting recognition" was offered as wrong for what CNNs are used
for (LeNet-5 was built for it), "Image classification" and "Object recognition" for Linear
Learner's problems, "Multi-class classification" for CNN uses. Another card's list item is
of another subject and may well be true of this one too, so only these are drawn: items of
the other lists of the card's topic with answers of its kind, and items the card's own
misconceptions name as wrong for its prompt."""

from __future__ import annotations

import re

import pytest

from quizsvc.bank import Bank, Card
from quizsvc.embedding import CachedEncoder, HashingEncoder
from quizsvc.exams import (
    Blueprint,
    DistractorConfig,
    InsufficientQuestionsError,
    QuestionType,
    build_exam,
)
from quizsvc.exams.builder import _listed_parts, card_list_items
from quizsvc.exams.distractors import compact, term_forms
from quizsvc.exams.kinds import answer_option_kind

MR = QuestionType.MULTIPLE_RESPONSE
NO_FLOOR = DistractorConfig(min_plausibility=-1.0)


def named_by_misconceptions(card: Card) -> set[str]:
    return {compact(part) for item in card.misconceptions for part in _listed_parts(item.text)}


def as_shown(item: str) -> str:
    """A list item as an option shows it: without a bracketed list of values."""
    return re.sub(r"\s*\([^()]*,[^()]*\)", "", item).strip()


def known_wrong(card: Card, text: str, source: Card) -> bool:
    """Whether ``text`` (from ``source``) is an item known to be wrong for ``card``. An item
    is shown without a bracketed list of values ("mode (batch_skipgram, skipgram, cbow)" as
    "mode")."""
    if compact(text) in {compact(item) for item in card_list_items(card)}:
        return False
    if source.id == card.id:
        return compact(text) in {compact(item.text) for item in card.misconceptions}
    if text not in {
        shown for item in card_list_items(source) for shown in (item, as_shown(item))
    } or answer_option_kind(source) != answer_option_kind(card):
        return False
    return source.topic == card.topic or any(
        compact(form) in named_by_misconceptions(card) for form in term_forms(text)
    )


def test_multiple_response_wrong_items_are_known_wrong_for_every_seed(bank: Bank) -> None:
    encoder = CachedEncoder(HashingEncoder())
    glossaries = {deck: dict(bank.glossary(deck)) for deck in bank.decks}
    asked: set[str] = set()
    for seed in range(1, 21):
        exam = build_exam(
            bank.cards,
            Blueprint(seed=seed, counts={MR: 6}),
            encoder,
            NO_FLOOR,
            glossaries=glossaries,
        )
        for question in exam.questions:
            key = question.key
            card = bank.card(key.card_id)
            asked.add(card.id)
            for option, source in zip(key.options, key.option_sources, strict=True):
                if option.id in key.correct_option_ids:
                    continue
                other = bank.card(source)
                assert known_wrong(card, option.text, other), (card.id, option.text, other.id)
                # Never a list item of another topic's card unless the card's author named it.
                if other.topic != card.topic:
                    assert compact(option.text) in named_by_misconceptions(card) or any(
                        compact(form) in named_by_misconceptions(card)
                        for form in term_forms(option.text)
                    ), (card.id, option.text, other.id)
    assert len(asked) >= 8


@pytest.mark.model
@pytest.mark.parametrize(
    ("card_id", "right_elsewhere"),
    [
        # LeNet-5's handwriting recognition is a CNN use; Linear Learner does multi-class
        # classification of any features, images included.
        ("cnn-use-cases", {"Handwriting recognition", "Multi-class classification"}),
        ("ll-what-it-does", {"Image classification", "Object recognition"}),
    ],
)
def test_the_reviewed_multiple_response_questions_offer_no_right_item_as_wrong(
    bank: Bank, bank_encoder: CachedEncoder, card_id: str, right_elsewhere: set[str]
) -> None:
    glossaries = {deck: dict(bank.glossary(deck)) for deck in bank.decks}
    for seed in (1, 2, 3):
        try:
            exam = build_exam(
                bank.cards,
                Blueprint(seed=seed, counts={MR: 1}),
                bank_encoder,
                question_card_ids=[card_id],
                glossaries=glossaries,
            )
        except InsufficientQuestionsError:
            continue  # no safe wrong items: the card makes no multiple-response question
        key = exam.questions[0].key
        wrong = {o.text for o in key.options if o.id not in key.correct_option_ids}
        assert not wrong & right_elsewhere, wrong
        for option, source in zip(key.options, key.option_sources, strict=True):
            if option.id not in key.correct_option_ids:
                assert known_wrong(bank.card(card_id), option.text, bank.card(source))


def test_list_misconceptions_are_split_only_when_plain() -> None:
    assert _listed_parts("subsample, eta, gamma, l1 and wd") == [
        "subsample",
        "eta",
        "gamma",
        "l1",
        "wd",
    ]
    # Never inside brackets; articles dropped.
    assert _listed_parts("cat (dynamic features, e.g. a promotion) and a dynamic_feat.") == [
        "cat (dynamic features, e.g. a promotion)",
        "dynamic_feat",
    ]
    # A qualified list says more than which items are wrong.
    assert _listed_parts("Regression only; for classification you need XGBoost") == []
    assert _listed_parts("Image classification, but not text tasks") == []
