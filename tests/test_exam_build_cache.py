"""The exam builder reuses the seed-independent work of earlier builds (similarity table,
candidate pools, seed-free drafts), and never where something that shapes the drafts changed:
a card's content, the set of cards, the model, the distractor settings or a glossary."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from quizsvc.bank import Bank, Card
from quizsvc.embedding import CachedEncoder, HashingEncoder
from quizsvc.exams import Blueprint, DistractorConfig, QuestionType, build_exam, builder

COUNTS = {
    QuestionType.MULTIPLE_CHOICE: 6,
    QuestionType.MULTIPLE_RESPONSE: 2,
    QuestionType.FILL_IN: 4,
    QuestionType.FREE_ANSWER: 3,
}


def key_json(cards: list[Card], encoder: CachedEncoder, seed: int, **options: Any) -> str:
    blueprint = Blueprint(counts=COUNTS, reverse=2, seed=seed)
    exam = build_exam(cards, blueprint, encoder, **options)
    return json.dumps(exam.key_dict(), sort_keys=True)


def test_a_cached_build_is_identical_to_a_fresh_one_for_every_seed(bank: Bank) -> None:
    cards = list(bank.cards)
    encoder = CachedEncoder(HashingEncoder())
    builder._drafters.clear()
    fresh = []
    for seed in (3, 4, 5):
        builder._drafters.clear()
        fresh.append(key_json(cards, encoder, seed))
    key_json(cards, encoder, 99)  # fills the cache with other seeds' drafts
    assert [key_json(cards, encoder, seed) for seed in (3, 4, 5)] == fresh


def test_the_same_cards_reuse_one_drafter_and_an_edited_card_gets_a_new_one(bank: Bank) -> None:
    cards = list(bank.cards)
    encoder = CachedEncoder(HashingEncoder())
    builder._drafters.clear()
    key_json(cards, encoder, 1)
    drafters = {id(drafter) for _, drafter in builder._drafters.values()}
    key_json(cards, encoder, 2)
    key_json([replace(card) for card in cards], encoder, 3)  # equal content, new objects
    assert {id(drafter) for _, drafter in builder._drafters.values()} == drafters

    # An edited answer is a new card version: its drafts must come from the new text.
    index, card = next(
        (i, c) for i, c in enumerate(cards) if c.deck == cards[0].deck and not c.term
    )
    edited = replace(card, answer=card.answer + " Edited for the cache test.")
    changed = [*cards[:index], edited, *cards[index + 1 :]]
    before = len({id(drafter) for _, drafter in builder._drafters.values()})
    key_json(changed, encoder, 1)
    assert len({id(drafter) for _, drafter in builder._drafters.values()}) == before + 1


def test_other_settings_glossaries_or_models_never_share_drafts(bank: Bank) -> None:
    cards = list(bank.cards)
    builder._drafters.clear()
    key_json(cards, CachedEncoder(HashingEncoder()), 1)
    key_json(cards, CachedEncoder(HashingEncoder(dimension=128)), 1)
    key_json(cards, CachedEncoder(HashingEncoder()), 1, config=DistractorConfig(decimals=2))
    deck = cards[0].deck
    key_json(
        cards,
        CachedEncoder(HashingEncoder()),
        1,
        glossaries={deck: {"XYZ": "extra yield zone"}},
    )
    assert len({id(drafter) for _, drafter in builder._drafters.values()}) == 4


def test_suppressed_distractors_apply_to_cached_drafts(bank: Bank) -> None:
    """Suppression is applied when an exam is settled, so a cached drafter still honours it."""
    cards = list(bank.cards)
    encoder = CachedEncoder(HashingEncoder())
    exam = build_exam(cards, Blueprint(counts=COUNTS, seed=8), encoder)
    question = next(q for q in exam.questions if q.key.type is QuestionType.MULTIPLE_CHOICE)
    card_id = question.key.card_id
    wrong = next(
        option.text
        for option in question.key.options
        if option.id not in question.key.correct_option_ids
    )
    again = build_exam(
        cards,
        Blueprint(counts=COUNTS, seed=8),
        encoder,
        suppressed_distractors={card_id: [wrong]},
    )
    for rebuilt in again.questions:
        if rebuilt.key.card_id == card_id:
            assert wrong not in {option.text for option in rebuilt.key.options}
