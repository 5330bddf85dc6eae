"""The exam builder reuses the seed-independent work of earlier builds (similarity table,
candidate pools, seed-free drafts), and never where something that shapes the drafts changed:
a card's content, the set of cards, the model, the distractor settings or a glossary."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from quizsvc.bank import Bank, Card
from quizsvc.embedding import CachedEncoder, HashingEncoder
from quizsvc.exams import Blueprint, DistractorConfig, QuestionType, build_exam, builder
from quizsvc.exams.distractors import Avoid, OptionSource, PhraseIndex, compact, mentions
from quizsvc.exams.names import merged_glossary

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


# --- what the cache holds gives what a fresh computation gives -------------------------------

NO_FLOOR = DistractorConfig(min_plausibility=-1.0)


def test_a_build_does_not_depend_on_what_the_cache_met_before(bank: Bank) -> None:
    """The drafter's memos (plans judged deeper by other exams, phrases indexed for other
    scopes, eligible cards of other scopes) never change an exam."""
    cards = list(bank.cards)
    encoder = CachedEncoder(HashingEncoder())
    builder._drafters.clear()
    fresh = [key_json(cards, encoder, seed, config=NO_FLOOR) for seed in (21, 22)]
    builder._drafters.clear()
    topics = sorted({card.topic for card in cards})
    for seed in range(1, 6):
        blueprint = Blueprint(counts={QuestionType.MULTIPLE_CHOICE: 3}, topics=(topics[seed],))
        build_exam(cards, replace(blueprint, seed=seed), encoder, NO_FLOOR)
        big = Blueprint(counts={**COUNTS, QuestionType.FILL_IN: 30}, reverse=10, seed=seed)
        build_exam(cards, big, encoder, NO_FLOOR)
        build_exam(
            cards,
            Blueprint(counts={QuestionType.FREE_ANSWER: 2}, seed=seed),
            encoder,
            NO_FLOOR,
            question_card_ids=[card.id for card in cards[seed::20]],
        )
    assert [key_json(cards, encoder, seed, config=NO_FLOOR) for seed in (21, 22)] == fresh


def test_a_choice_plan_chooses_as_the_selector_always_did(bank: Bank) -> None:
    """ChoicePlan remembers verdicts between exams; under any exam's Avoid it must choose
    what checking every rule on every candidate in rank order chooses."""
    cards = sorted(bank.cards, key=lambda card: card.id)
    encoder = CachedEncoder(HashingEncoder())
    glossaries = {deck: merged_glossary(bank.glossary(deck)) for deck in bank.decks}
    drafter = builder._drafter_for(cards, encoder, NO_FLOOR, glossaries)
    rng = random.Random(5)
    checked = 0
    for card in cards[::3]:
        plan = drafter._choice_plan(builder.QuestionKind.MULTIPLE_CHOICE, card)
        if plan is None:
            continue
        for _ in range(4):
            texts = [c.text for c in rng.sample(plan.candidates, min(6, len(plan.candidates)))]
            avoid = Avoid(
                cards=frozenset(rng.sample([c.id for c in cards], 30)),
                texts=tuple(texts[:2]),
                overused=frozenset(compact(text) for text in texts[2:4]),
                suppressed=frozenset(compact(text) for text in texts[4:]),
                index=drafter.phrases,
            )
            expected: list[OptionSource] = []
            for candidate in plan.candidates:
                reason = drafter.selector.rejection(
                    plan.target, candidate, expected, avoid, plan.extra
                )
                if reason is None:
                    expected.append(candidate)
                    if len(expected) == plan.count:
                        break
            want = tuple(expected) if len(expected) == plan.count else None
            assert plan.choose(avoid) == want, card.id
            checked += 1
    assert checked > 100


def test_the_phrase_index_finds_what_mentions_finds(bank: Bank) -> None:
    texts = [text for card in bank.cards for text in (card.prompt, card.answer, *card.key_points)]
    phrases = [point for card in bank.cards for point in card.key_points] + ["", "a", "of the"]
    index = PhraseIndex(phrases[: len(phrases) // 2])
    index.add(phrases[len(phrases) // 2 :])  # grows after the first lookups would be made
    needles = {compact(phrase) for phrase in phrases} - {""}
    for text in texts[::4]:
        assert index.found_in(text) == {n for n in needles if mentions(text, n)}, text


def test_a_large_exam_settles_without_reshuffling(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A choice question whose right side shows an open question's answer is passed over
    while cards are assigned; settling used to find each such clash afterwards, exclude the
    open question and reshuffle every eligible card (17 times per 65-question build)."""
    cards = list(bank.cards)
    encoder = CachedEncoder(HashingEncoder())
    settles = 0
    settle = builder._settle

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal settles
        settles += 1
        return settle(*args, **kwargs)

    monkeypatch.setattr(builder, "_settle", counting)
    counts = {
        QuestionType.MULTIPLE_CHOICE: 29,
        QuestionType.MULTIPLE_RESPONSE: 4,
        QuestionType.FILL_IN: 12,
        QuestionType.FREE_ANSWER: 12,
    }
    seeds = range(1000, 1010)
    for seed in seeds:
        exam = build_exam(cards, Blueprint(counts=counts, reverse=8, seed=seed), encoder, NO_FLOOR)
        assert len(exam.questions) == 65
    assert settles <= 2 * len(seeds)


# --- the random draws of a cached build ---------------------------------------------------


def test_a_shuffled_order_is_uniform_and_drawn_only_as_far_as_it_is_read() -> None:
    """_Shuffled is a lazy Fisher-Yates shuffle: the first group in random order, then the
    second; reading part of it draws only that part, and reading on gives what reading it
    all at once gives."""
    counts: Counter[tuple[str, ...]] = Counter()
    for seed in range(6000):
        order = builder._Shuffled(random.Random(seed), ["a", "b", "c"], ["x", "y"])
        assert order[0] in "abc"
        assert order._drawn == 1
        read = list(order)
        assert sorted(read[:3]) == ["a", "b", "c"]
        assert sorted(read[3:]) == ["x", "y"]
        assert read == list(builder._Shuffled(random.Random(seed), ["a", "b", "c"], ["x", "y"]))
        counts[tuple(read[:3])] += 1
    assert len(counts) == 6
    # Each of the 6 orders 1000 times expected; 5 standard deviations either side.
    assert all(850 <= count <= 1150 for count in counts.values()), counts


def test_a_cached_build_seeds_few_generators(bank: Bank, monkeypatch: pytest.MonkeyPatch) -> None:
    """A generator per question (sha256 of a string, then seeding a Mersenne Twister) was a
    sixth of a cached 65-question build: options are shuffled by one generator per build,
    in question order, and the cards are drawn by one per assignment."""
    cards = list(bank.cards)
    encoder = CachedEncoder(HashingEncoder())
    counts = {
        QuestionType.MULTIPLE_CHOICE: 29,
        QuestionType.MULTIPLE_RESPONSE: 4,
        QuestionType.FILL_IN: 12,
        QuestionType.FREE_ANSWER: 12,
    }
    blueprint = Blueprint(counts=counts, reverse=8, seed=1000)
    first = build_exam(cards, blueprint, encoder, NO_FLOOR)  # fills the cache
    made = 0
    real = random.Random

    class Counting(real):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any) -> None:
            nonlocal made
            made += 1
            super().__init__(*args)

    monkeypatch.setattr(random, "Random", Counting)
    again = build_exam(cards, blueprint, encoder, NO_FLOOR)
    assert json.dumps(again.key_dict()) == json.dumps(first.key_dict())
    # Before: one per question (65) and one per multiple-response question (8) and more.
    # Now: assignment, spares and options, one per multiple-response question (its shown
    # items) and one per fill-in with several equally good blanks.
    assert made <= 3 + counts[QuestionType.MULTIPLE_RESPONSE] + counts[QuestionType.FILL_IN]


def test_wrong_option_sets_are_judged_once_and_finalized_questions_are_whole(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reverse or multiple-response question's checks of its chosen wrong options (odd
    frame, a value list, the register, the prompt's words) run once per set of wrong
    options, not once per build; the questions made without the dataclasses' __init__
    equal those made with it."""
    cards = list(bank.cards)
    encoder = CachedEncoder(HashingEncoder())
    builder._drafters.clear()
    key_json(cards, encoder, 7)
    calls: Counter[str] = Counter()
    odd_frame, echoes_only = builder.odd_frame, builder._echoes_only

    def counted_odd_frame(*args: Any) -> bool:
        calls["odd_frame"] += 1
        return odd_frame(*args)

    def counted_echoes_only(*args: Any) -> bool:
        calls["echoes_only"] += 1
        return echoes_only(*args)

    monkeypatch.setattr(builder, "odd_frame", counted_odd_frame)
    monkeypatch.setattr(builder, "_echoes_only", counted_echoes_only)
    exam = build_exam(cards, Blueprint(counts=COUNTS, reverse=2, seed=7), encoder)
    assert calls == Counter()  # the same seed draws the same sets: all remembered

    for question in exam.questions:
        fields = {name: getattr(question.key, name) for name in question.key.__dataclass_fields__}
        assert question.key == builder.QuestionKey(**fields)
        assert question.delivery == builder.DeliveredQuestion(**vars(question.delivery))
        assert question == builder.Question(delivery=question.delivery, key=question.key)
    assert [q.key.type for q in exam.questions].count(QuestionType.MULTIPLE_RESPONSE) == 2


def test_a_glossary_with_synonym_groups_never_gets_the_drafter_of_one_without(bank: Bank) -> None:
    """Once the drafter was keyed by the glossaries' abbreviations only: a build with the
    deck's glossary (which carries its synonym groups) after one with the same
    abbreviations as a plain mapping got the plain one's accept lists, so an exam depended
    on what the process had built before (test_cli_exam's byte-identical check failed after
    test_question_quality)."""
    cards = list(bank.cards)
    encoder = CachedEncoder(HashingEncoder())
    with_groups = {deck: bank.glossary(deck) for deck in bank.decks}
    plain = {deck: dict(glossary) for deck, glossary in with_groups.items()}
    seeds = range(1, 6)
    builder._drafters.clear()
    fresh = [key_json(cards, encoder, seed, glossaries=with_groups) for seed in seeds]
    builder._drafters.clear()
    without = [key_json(cards, encoder, seed, glossaries=plain) for seed in seeds]
    assert without != fresh  # the groups do change what is accepted
    assert [key_json(cards, encoder, seed, glossaries=with_groups) for seed in seeds] == fresh


def test_drafts_judged_per_wrong_option_set_are_bounded_and_dropping_them_changes_nothing(
    bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long-running service meets new sets of wrong options with every few builds: the
    drafts judged per set are kept up to ``per_set_capacity``, least recently used dropped
    first, and an exam built after its sets were dropped is the exam built with them."""
    cards = list(bank.cards)
    encoder = CachedEncoder(HashingEncoder())
    builder._drafters.clear()
    unbounded = [key_json(cards, encoder, seed) for seed in range(12)]
    sizes = [len(drafter._per_set) for _, drafter in builder._drafters.values()]
    assert max(sizes) > 8  # these builds met more sets than the bound below

    builder._drafters.clear()
    monkeypatch.setattr(builder._Drafter, "per_set_capacity", 8)
    bounded = [key_json(cards, encoder, seed) for seed in range(12)]
    assert max(len(drafter._per_set) for _, drafter in builder._drafters.values()) == 8
    assert bounded == unbounded
