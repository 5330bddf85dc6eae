"""Questions of one exam do not give each other away (review 15, round 5: the first failure
pattern). Once, 40 exams of 10 multiple choice, 3 multiple response, 5 fill-in and 2 reverse
questions offered 141 wrong options taken from another card the same exam asked about: one
question's key was another's wrong option, and two hyperparameter-list questions swapped
their options, so a learner read both answers off each other."""

from __future__ import annotations

import pytest

from quizsvc.bank import Bank
from quizsvc.embedding import CachedEncoder
from quizsvc.exams import Blueprint, QuestionType, build_exam

pytestmark = pytest.mark.model

REVIEWED_SHAPE = {
    QuestionType.MULTIPLE_CHOICE: 10,
    QuestionType.MULTIPLE_RESPONSE: 3,
    QuestionType.FILL_IN: 5,
}


def test_no_question_takes_a_wrong_option_from_another_card_the_exam_asks(
    bank: Bank, bank_encoder: CachedEncoder
) -> None:
    glossaries = {deck: bank.glossary(deck) for deck in bank.decks}
    leaks = []
    for seed in range(1, 41):
        exam = build_exam(
            bank.cards,
            Blueprint(counts=REVIEWED_SHAPE, reverse=2, seed=seed),
            bank_encoder,
            glossaries=glossaries,
        )
        asked = {question.key.card_id for question in exam.questions}
        assert len(asked) == len(exam.questions)
        for question in exam.questions:
            key = question.key
            leaks += [
                (seed, key.question_id, key.card_id, source)
                for source in key.option_sources
                if source != key.card_id and source in asked
            ]
    assert leaks == []


def test_a_topic_exam_still_builds_without_cross_question_options(
    bank: Bank, bank_encoder: CachedEncoder
) -> None:
    """The rule takes options away; a one-topic exam of mostly choice questions still
    builds, from the cards' own misconceptions and the topic's other cards."""
    for seed in range(1, 11):
        exam = build_exam(
            bank.cards,
            Blueprint(
                counts={QuestionType.MULTIPLE_CHOICE: 8, QuestionType.FILL_IN: 3},
                topics=("metrics",),
                seed=seed,
            ),
            bank_encoder,
        )
        asked = {question.key.card_id for question in exam.questions}
        assert all(
            source == question.key.card_id or source not in asked
            for question in exam.questions
            for source in question.key.option_sources
        )
