"""Exam assembly: blueprints, seeds, counts, distinct cards, skipping, errors.

These tests check the logic around the embeddings with the model-free ``fake_encoder``;
distractor quality is tested with the real model in test_distractors.py.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from quizsvc.bank import Bank, Card
from quizsvc.bank.model import Misconception
from quizsvc.embedding import CachedEncoder, HashingEncoder
from quizsvc.exams import (
    Blueprint,
    BlueprintError,
    DistractorConfig,
    Exam,
    InsufficientQuestionsError,
    QuestionKind,
    QuestionType,
    build_exam,
)
from quizsvc.exams.cloze import BLANK, STOP_WORDS, make_fill_in, word_rarity
from quizsvc.exams.distractors import compact, mentions

MC = QuestionType.MULTIPLE_CHOICE
MR = QuestionType.MULTIPLE_RESPONSE
FILL = QuestionType.FILL_IN
FREE = QuestionType.FREE_ANSWER


def make_card(card_id: str, topic: str, prompt: str, answer: str, **fields: Any) -> Card:
    fields.setdefault("key_points", (answer,))
    deck = fields.pop("deck", "demo")
    return Card(id=card_id, deck=deck, topic=topic, prompt=prompt, answer=answer, **fields)


DEMO_FACTS = {
    "birds": {
        "sparrow": ("It nests under roofs in busy cities.", "nests under roofs"),
        "eagle": ("It hunts from great heights with sharp talons.", "sharp talons"),
        "penguin": ("It swims in cold oceans but cannot fly.", "cold oceans"),
        "heron": ("It wades in shallow water to spear fish.", "shallow water"),
        "owl": ("It hunts at night on silent feathers.", "silent feathers"),
        "parrot": ("It mimics human speech and cracks hard nuts.", "mimics human speech"),
    },
    "trees": {
        "oak": ("It grows acorns and lives for centuries.", "grows acorns"),
        "birch": ("It has white bark that peels in thin sheets.", "white bark"),
        "willow": ("It droops its long branches over rivers.", "droops"),
        "cedar": ("It gives fragrant wood that resists rot.", "fragrant wood"),
        "maple": ("It yields sweet sap that is boiled into syrup.", "sweet sap"),
        "spruce": ("It keeps its needles through northern winters.", "keeps its needles"),
    },
}
DEMO_LISTS = {"birds": ("Quetzal", "Kakapo", "Hoatzin"), "trees": ("Baobab", "Sequoia", "Ginkgo")}
DEMO_COUNTS = {"birds": "Forty two", "trees": "Nine hundred"}


def demo_cards(deck: str = "demo") -> list[Card]:
    """Two topics of eight cards: six that define a term, a list card and a short answer."""
    cards = []
    for topic, facts in DEMO_FACTS.items():
        for thing, (answer, phrase) in facts.items():
            cards.append(
                make_card(
                    f"{deck}-{topic}-{thing}",
                    topic,
                    f"What is the {thing} known for?",
                    answer,
                    key_points=(phrase,),
                    term=thing.capitalize(),
                    deck=deck,
                )
            )
        items = DEMO_LISTS[topic]
        (other,) = (things for name, things in DEMO_LISTS.items() if name != topic)
        cards.append(
            make_card(
                f"{deck}-{topic}-rare",
                topic,
                f"Name three rare {topic}.",
                f"{items[0]}, {items[1]} and {items[2]}.",
                key_points=items,
                tags=("list",),
                deck=deck,
                # Names the other topic's list as wrong here, so that its items are safe
                # wrong options of this list's multiple-response question.
                misconceptions=(
                    Misconception(
                        f"{other[0]}, {other[1]} and {other[2]}.", f"Those are not {topic}."
                    ),
                ),
            )
        )
        cards.append(
            make_card(
                f"{deck}-{topic}-count",
                topic,
                f"How many {topic} are there in the demo park?",
                DEMO_COUNTS[topic],
                deck=deck,
            )
        )
    return cards


@pytest.fixture
def demo() -> list[Card]:
    return demo_cards()


#: The fake encoder knows no meaning, so the plausibility floor (calibrated on the real
#: model) is off here; distractor quality is tested with the model in test_distractors.py.
NO_FLOOR = DistractorConfig(min_plausibility=-1.0)


def build(cards: list[Card], encoder: HashingEncoder, **blueprint: Any) -> Exam:
    blueprint.setdefault("seed", 11)
    return build_exam(cards, Blueprint(**blueprint), CachedEncoder(encoder), NO_FLOOR)


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False)


# --- determinism ----------------------------------------------------------------------------


def test_same_blueprint_and_seed_give_identical_json(bank: Bank, fake_encoder: HashingEncoder):
    blueprint = {"counts": {MC: 8, MR: 3, FILL: 5, FREE: 4}, "reverse": 3, "seed": 5}
    first = build(list(bank.cards), fake_encoder, **blueprint)
    shuffled = list(bank.cards)
    random.Random(1).shuffle(shuffled)
    second = build(shuffled, HashingEncoder(), **blueprint)
    assert dumps(first.key_dict()) == dumps(second.key_dict())
    assert dumps(first.delivery_dict()) == dumps(second.delivery_dict())


def test_different_seeds_change_selection_or_order(bank: Bank, fake_encoder: HashingEncoder):
    counts = {MC: 8, FILL: 4, FREE: 4}
    exams = [build(list(bank.cards), fake_encoder, counts=counts, seed=seed) for seed in (1, 2)]
    cards = [[q.key.card_id for q in exam.questions] for exam in exams]
    assert cards[0] != cards[1]
    assert exams[0].blueprint.seed == 1
    assert exams[1].blueprint.seed == 2


_SUBPROCESS_BUILD = """
import json, sys
from quizsvc.bank import load_bank
from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder, HashingEncoder
from quizsvc.exams import Blueprint, DistractorConfig, QuestionType as T, build_exam
bank = load_bank(Settings.from_env().bank_dir)
blueprint = Blueprint(counts={T.MULTIPLE_CHOICE: 6, T.MULTIPLE_RESPONSE: 2, T.FILL_IN: 4,
                              T.FREE_ANSWER: 3}, reverse=2, seed=31)
exam = build_exam(bank.cards, blueprint, CachedEncoder(HashingEncoder()),
                  DistractorConfig(min_plausibility=-1.0))
sys.stdout.write(json.dumps(exam.key_dict(), indent=2, ensure_ascii=False))
"""


def test_same_seed_gives_byte_identical_json_across_processes(
    bank: Bank, fake_encoder: HashingEncoder
) -> None:
    """Set and dict order or ``hash()`` would differ between processes with other salts."""
    outputs = []
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        done = subprocess.run(
            [sys.executable, "-c", _SUBPROCESS_BUILD],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        outputs.append(done.stdout)
    here = build(
        list(bank.cards),
        fake_encoder,
        counts={MC: 6, MR: 2, FILL: 4, FREE: 3},
        reverse=2,
        seed=31,
    )
    assert outputs[0] == outputs[1] == dumps(here.key_dict())


def test_without_seed_a_random_one_is_drawn_and_rebuilds_the_exam(
    demo: list[Card], fake_encoder: HashingEncoder
) -> None:
    exams = [
        build_exam(demo, Blueprint(counts={MC: 3, FREE: 2}), CachedEncoder(fake_encoder), NO_FLOOR)
        for _ in range(2)
    ]
    seeds = [exam.blueprint.seed for exam in exams]
    assert all(isinstance(seed, int) for seed in seeds)
    assert seeds[0] != seeds[1]  # 1 in 2**32 to fail by chance
    again = build(demo, fake_encoder, counts={MC: 3, FREE: 2}, seed=seeds[0])
    assert dumps(again.key_dict()) == dumps(exams[0].key_dict())


# --- counts, ids and the two views ------------------------------------------------------------


def test_counts_ids_and_options_follow_the_blueprint(bank: Bank, fake_encoder: HashingEncoder):
    exam = build(
        list(bank.cards),
        fake_encoder,
        counts={MC: 10, MR: 4, FILL: 6, FREE: 5},
        reverse=4,
        distractors=4,
    )
    questions = exam.questions
    assert [q.id for q in questions] == [f"q{n}" for n in range(1, 30)]
    assert Counter(q.delivery.type for q in questions) == {MC: 14, MR: 4, FILL: 6, FREE: 5}
    card_ids = [q.key.card_id for q in questions]
    assert len(set(card_ids)) == len(card_ids), "a card appears twice"
    for question in questions:
        key, delivery = question.key, question.delivery
        assert key.question_id == delivery.id
        assert key.type == delivery.type
        assert key.options == delivery.options
        if delivery.type is MC:
            assert len(delivery.options) == 5
            assert len(key.correct_option_ids) == 1
            assert len(key.option_sources) == 5
        elif delivery.type is MR:
            assert delivery.select == len(key.correct_option_ids) >= 2
            assert {o.text for o in delivery.options if o.id in key.correct_option_ids} <= set(
                bank.card(key.card_id).key_points
            )
        elif delivery.type is FILL:
            assert key.accept
            assert key.answer == key.accept[0]
            assert not delivery.options
        else:
            assert key.answer == bank.card(key.card_id).answer
            assert not delivery.options
        ids = [option.id for option in delivery.options]
        assert len(set(ids)) == len(ids)
    delivered = dumps(exam.delivery_dict())
    assert not any(f'"{card_id}"' in delivered for card_id in card_ids)


def test_delivery_view_has_no_key_fields(bank: Bank, fake_encoder: HashingEncoder) -> None:
    exam = build(list(bank.cards), fake_encoder, counts={MC: 4, MR: 2, FILL: 3, FREE: 3})
    delivery = exam.delivery_dict()
    assert set(delivery) == {"blueprint", "questions"}
    for question in delivery["questions"]:
        assert set(question) <= {"id", "type", "topic", "prompt", "options", "select"}
        for option in question.get("options", []):
            assert set(option) == {"id", "text"}
    keys = exam.key_dict()["questions"]
    assert [entry["question"] for entry in keys] == delivery["questions"]
    assert all(entry["key"]["card_id"] for entry in keys)


def test_correct_option_position_varies(bank: Bank, fake_encoder: HashingEncoder) -> None:
    exam = build(list(bank.cards), fake_encoder, counts={MC: 30})
    positions = Counter(q.key.correct_option_ids[0] for q in exam.questions)
    assert len(positions) >= 3, positions


def test_topics_and_difficulty_limit_the_cards(bank: Bank, fake_encoder: HashingEncoder) -> None:
    topics = tuple(bank.topics())[:2]
    exam = build(list(bank.cards), fake_encoder, counts={FREE: 6}, topics=topics)
    assert {q.delivery.topic for q in exam.questions} <= set(topics)
    level = next(card.difficulty for card in bank.cards if card.difficulty)
    exam = build(list(bank.cards), fake_encoder, counts={FREE: 3}, difficulty=level)
    assert {bank.card(q.key.card_id).difficulty for q in exam.questions} == {level}


def test_distractors_come_from_the_question_deck_only(
    demo: list[Card], fake_encoder: HashingEncoder
) -> None:
    """A twin deck whose answers match word for word must never lend its answers."""
    cards = demo + demo_cards(deck="twin")
    deck_of = {card.id: card.deck for card in cards}
    # A few questions: no wrong option comes from a card the exam asks about, so a large
    # exam of these small decks would run out of wrong options. The first seed whose exam
    # draws from both decks.
    exam = next(
        built
        for seed in range(1, 50)
        for built in [build(cards, fake_encoder, counts={MC: 4}, reverse=2, seed=seed)]
        if {deck_of[q.key.card_id] for q in built.questions} == {"demo", "twin"}
    )
    for question in exam.questions:
        deck = deck_of[question.key.card_id]
        assert {deck_of[source] for source in question.key.option_sources} == {deck}
    only_twin = build(cards, fake_encoder, counts={MC: 4}, deck="twin")
    assert {deck_of[q.key.card_id] for q in only_twin.questions} == {"twin"}


def test_choice_options_never_reveal_cards_asked_elsewhere(
    bank: Bank, fake_encoder: HashingEncoder
) -> None:
    exam = build(list(bank.cards), fake_encoder, counts={MC: 30, MR: 5, FILL: 30, FREE: 30})
    asked_open = {q.key.card_id for q in exam.questions if q.delivery.type in (FILL, FREE)}
    for question in exam.questions:
        assert not asked_open & set(question.key.option_sources) - {question.key.card_id}


# --- skipping cards that cannot make a good question -----------------------------------------


def test_cards_that_cannot_make_a_kind_are_skipped(
    demo: list[Card], fake_encoder: HashingEncoder
) -> None:
    demo.append(make_card("demo-birds-giveaway", "birds", "Is the answer yes?", "yes"))
    # Six of the twelve term cards: twelve reverse questions would need every term as a
    # wrong option three times, beyond the per-exam reuse cap. That every term card can make
    # one is checked below, from what the error reports as available.
    exam = build(demo, fake_encoder, counts={MR: 2}, reverse=6, seed=3)
    reverse = [q for q in exam.questions if q.delivery.type is MC]
    by_id = {card.id: card for card in demo}
    assert len(reverse) == 6
    assert {q.key.card_id for q in reverse} <= {c.id for c in demo if c.term}
    for question in reverse:
        term = by_id[question.key.card_id].term
        assert term is not None
        assert question.key.answer == term
        assert not mentions(question.delivery.prompt, term)
    responses = [q for q in exam.questions if q.delivery.type is MR]
    assert {q.key.card_id for q in responses} == {"demo-birds-rare", "demo-trees-rare"}
    with pytest.raises(InsufficientQuestionsError) as raised:
        build(demo, fake_encoder, counts={FREE: 17}, seed=3)
    assert raised.value.available[QuestionKind.FREE_ANSWER] == {"birds": 8, "trees": 8}
    with pytest.raises(InsufficientQuestionsError) as raised:
        build(demo, fake_encoder, counts={MR: 1}, reverse=13, seed=3)
    assert raised.value.available[QuestionKind.REVERSE_MULTIPLE_CHOICE] == {"birds": 6, "trees": 6}


def test_multiple_response_needs_a_list_that_matches_the_prompt(
    fake_encoder: HashingEncoder,
) -> None:
    cards = demo_cards()
    assert cards[6].id == "demo-birds-rare"
    cards[6] = make_card(
        "demo-birds-rare",
        "birds",
        "Name two rare birds.",  # but three are listed
        "Quetzal, Kakapo and Hoatzin.",
        key_points=DEMO_LISTS["birds"],
        tags=("list",),
    )
    with pytest.raises(InsufficientQuestionsError) as raised:
        build(cards, fake_encoder, counts={MR: 2})
    assert raised.value.available[QuestionKind.MULTIPLE_RESPONSE] == {"birds": 0, "trees": 1}
    exam = build(cards, fake_encoder, counts={MR: 1})
    (question,) = exam.questions
    assert question.delivery.select == 3
    assert question.delivery.prompt == "Name three rare trees. (Select THREE.)"
    right = {o.text for o in question.delivery.options if o.id in question.key.correct_option_ids}
    assert right == set(DEMO_LISTS["trees"])


def test_fill_in_blanks_a_key_term_and_carries_the_accepted_answers() -> None:
    card = make_card(
        "f1",
        "metrics",
        "What is the F1 score?",
        "The harmonic mean of precision and recall; use it when both matter.",
        key_points=("Harmonic mean of precision and recall", "Use when both matter"),
    )
    made = make_fill_in(card, random.Random(0), word_rarity([card]))
    assert made is not None
    assert made.prompt.startswith("What is the F1 score?\n")
    blanked = made.accept[0]
    assert compact(blanked) not in STOP_WORDS
    assert BLANK in made.prompt
    assert not mentions(made.prompt, blanked)
    assert compact(blanked) in compact(card.answer)


def test_fill_in_of_a_short_answer_asks_the_prompt_and_accepts_aliases() -> None:
    card = make_card(
        "roc",
        "metrics",
        "What does ROC stand for?",
        "Receiver Operating Characteristic",
        accept=("Receiver operating characteristic curve",),
    )
    made = make_fill_in(card, random.Random(0), {})
    assert made is not None
    assert made.prompt == card.prompt
    assert made.accept == ("Receiver Operating Characteristic", *card.accept)


def test_fill_in_is_skipped_when_the_prompt_gives_the_term_away() -> None:
    card = make_card(
        "giveaway",
        "metrics",
        "Why is the harmonic mean used by the F1 score?",
        "The harmonic mean punishes a low precision or a low recall.",
        key_points=("harmonic mean",),
    )
    assert make_fill_in(card, random.Random(0), {}) is None


def test_fill_in_never_cuts_a_sentence_at_an_abbreviation() -> None:
    card = make_card(
        "label",
        "text",
        "What is the input format?",
        'One sentence per line with a prefix, e.g. "__label__4 linux". Nothing else.',
        key_points=("sentence per line",),
    )
    made = make_fill_in(card, random.Random(0), {})
    assert made is not None
    assert made.prompt.endswith('e.g. "__label__4 linux".')


# --- blueprint errors ------------------------------------------------------------------------


def test_asking_for_too_many_says_what_is_available_per_kind_and_topic(
    demo: list[Card], fake_encoder: HashingEncoder
) -> None:
    with pytest.raises(InsufficientQuestionsError) as raised:
        build(demo, fake_encoder, counts={MR: 3, FREE: 2})
    error = raised.value
    assert error.requested == {QuestionKind.MULTIPLE_RESPONSE: 3, QuestionKind.FREE_ANSWER: 2}
    assert error.available[QuestionKind.MULTIPLE_RESPONSE] == {"birds": 1, "trees": 1}
    assert error.available[QuestionKind.FREE_ANSWER] == {"birds": 8, "trees": 8}
    message = str(error)
    assert "multiple_response: asked for 3, 2 available (birds 1, trees 1)  <- too many" in message
    assert "free_answer: asked for 2, 16 available (birds 8, trees 8)\n" in message + "\n"


def test_kinds_available_alone_but_not_together_are_reported(
    demo: list[Card], fake_encoder: HashingEncoder
) -> None:
    with pytest.raises(InsufficientQuestionsError) as raised:
        build(demo, fake_encoder, counts={FREE: 10, FILL: 8}, topics=("birds", "trees"))
    error = raised.value
    assert error.usable_together == 16
    assert "at most 16 of the 18 questions can be built together" in str(error)


@pytest.mark.parametrize(
    ("blueprint", "message"),
    [
        ({"counts": {MC: 1}, "topics": ("fish",)}, "unknown topic(s) fish; known topics: birds"),
        ({"counts": {MC: 1}, "deck": "nope"}, "unknown deck 'nope'; the bank has: demo"),
        ({"counts": {}}, "asks for no questions"),
    ],
)
def test_blueprint_naming_what_the_bank_lacks_is_refused(
    demo: list[Card], fake_encoder: HashingEncoder, blueprint: dict[str, Any], message: str
) -> None:
    with pytest.raises(BlueprintError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(demo, fake_encoder, **blueprint)


@pytest.mark.parametrize(
    "fields",
    [{"counts": {MC: -1}}, {"reverse": -2}, {"difficulty": "brutal"}, {"distractors": 0}],
)
def test_blueprint_values_are_validated(fields: dict[str, Any]) -> None:
    with pytest.raises(BlueprintError):
        Blueprint(**fields)


def test_blueprint_round_trips_through_a_dict() -> None:
    blueprint = Blueprint(
        counts={MC: 2, FILL: 1}, reverse=1, deck="d", topics=("a", "b"), seed=9, distractors=4
    )
    assert Blueprint.from_dict(json.loads(json.dumps(blueprint.to_dict()))) == blueprint


def test_bank_texts_cover_what_the_builder_encodes(
    bank: Bank, tmp_path: Path, fake_encoder: HashingEncoder
) -> None:
    from quizsvc.exams import bank_texts

    warm = CachedEncoder(fake_encoder, tmp_path / "e.sqlite3")
    warm.encode(bank_texts(bank.cards))
    restarted = CachedEncoder(HashingEncoder(), tmp_path / "e.sqlite3")
    build_exam(
        bank.cards,
        Blueprint(counts={MC: 5, MR: 2, FILL: 2, FREE: 2}, reverse=2, seed=1),
        restarted,
    )
    assert restarted.misses == 0
