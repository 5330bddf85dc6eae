"""Distractor quality with the real model: plausible, from the same deck, never also right."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from quizsvc.bank import Bank, Card
from quizsvc.embedding import CachedEncoder
from quizsvc.exams import Blueprint, Exam, QuestionType, build_exam
from quizsvc.exams.distractors import (
    DistractorConfig,
    OptionSource,
    Rejection,
    Selector,
    SimilarityTable,
    Target,
    answer_forms,
    compact,
    contrasting,
    overlaps,
    term_forms,
)

pytestmark = pytest.mark.model

MC = QuestionType.MULTIPLE_CHOICE
MR = QuestionType.MULTIPLE_RESPONSE
CONFIG = DistractorConfig()


def cosine(encoder: CachedEncoder, left: str, right: str) -> float:
    vectors = encoder.encode([left, right])
    return float(np.dot(vectors[0], vectors[1]))


@pytest.fixture(scope="module")
def choice_exam(bank: Bank, bank_encoder: CachedEncoder) -> Exam:
    blueprint = Blueprint(counts={MC: 40, MR: 6}, reverse=15, seed=3)
    return build_exam(bank.cards, blueprint, bank_encoder)


def wrong_options(exam: Exam, bank: Bank, question_type: QuestionType) -> list[Any]:
    found = []
    for question in exam.questions:
        if question.key.type is not question_type:
            continue
        key = question.key
        for option, source in zip(key.options, key.option_sources, strict=True):
            if option.id not in key.correct_option_ids:
                found.append((bank.card(key.card_id), key, option.text, bank.card(source)))
    return found


def test_multiple_choice_distractors_are_same_deck_and_never_also_right(
    choice_exam: Exam, bank: Bank, bank_encoder: CachedEncoder
) -> None:
    questions = [q for q in choice_exam.questions if q.key.type is MC]
    assert len(questions) == 55
    assert all(len(q.key.correct_option_ids) == 1 for q in questions)
    checked = 0
    for card, key, text, source in wrong_options(choice_exam, bank, MC):
        reverse = key.answer == card.term
        right = term_forms(card.term) if reverse and card.term else answer_forms(card)
        assert source.deck == card.deck
        for form in right:
            assert not overlaps(text, form), (card.id, text, form)
        if source.id == card.id:
            # The card's own misconception, a wrong answer its author wrote for this prompt.
            # It is wrong by its author's word, however close it reads ("the order does not
            # matter" against "the order matters"), so no similarity threshold applies.
            assert not reverse
            assert compact(text) in {compact(item.text) for item in card.misconceptions}
            checked += 1
            continue
        assert not (card.term and source.term and compact(card.term) == compact(source.term))
        source_forms = {compact(form) for form in answer_forms(source)}
        assert not source_forms & {compact(form) for form in right}, (card.id, source.id)
        # Over the threshold only as a minimal pair (L1/L2, FP/FN), never as a rewording.
        meaning_pairs = [(text, key.answer)]
        if reverse:
            meaning_pairs.append((source.answer, card.answer))
        for left, right_text in meaning_pairs:
            score = cosine(bank_encoder, left, right_text)
            assert score < CONFIG.near_duplicate or contrasting(left, right_text), (
                card.id,
                left,
                score,
            )
        checked += 1
    assert checked == 55 * CONFIG.count


def test_multiple_response_options_are_key_points_and_foreign_items(
    choice_exam: Exam, bank: Bank
) -> None:
    questions = [q for q in choice_exam.questions if q.key.type is MR]
    assert len(questions) == 6
    for question in questions:
        card = bank.card(question.key.card_id)
        correct = [o.text for o in question.key.options if o.id in question.key.correct_option_ids]
        assert question.delivery.select == len(correct) >= 2
        assert set(correct) <= set(card.key_points)
        # No right item carries a list of values that would name its owner (review 15).
        assert not any(re.search(r"\([^()]*,[^()]*\)", text) for text in correct)
    for card, _, text, source in wrong_options(choice_exam, bank, MR):
        assert source.deck == card.deck
        assert source.id != card.id
        for point in card.key_points:
            for form in term_forms(point):
                assert not overlaps(text, form), (card.id, text, point)


@pytest.fixture(scope="module")
def f1_cards() -> dict[str, Card]:
    def card(card_id: str, prompt: str, answer: str, topic: str = "metrics") -> Card:
        return Card(
            id=card_id,
            deck="demo",
            topic=topic,
            prompt=prompt,
            answer=answer,
            key_points=(answer,),
        )

    return {
        "f1": card("f1", "What is the F1 score?", "The harmonic mean of precision and recall"),
        "paraphrase": card(
            "f1-again",
            "Which average of recall and precision does F1 use?",
            "harmonic average of recall and precision",
        ),
        "recall": card("recall", "What is the formula for recall?", "TP / (TP + FN)"),
        "precision": card("precision", "What is the formula for precision?", "TP / (TP + FP)"),
        "roc": card(
            "roc",
            "What does an ROC curve plot?",
            "The true positive rate against the false positive rate at various thresholds",
        ),
        "accuracy": card(
            "accuracy",
            "What does accuracy measure?",
            "The fraction of all predictions that are correct",
        ),
        "specificity": card(
            "specificity", "What is specificity also called?", "True negative rate"
        ),
        "l1": card(
            "alpha",
            "What does alpha do?",
            "It sets the L1 regularization term on the weights.",
            topic="xgboost",
        ),
        "l2": card(
            "lambda",
            "What does lambda do?",
            "It sets the L2 regularization term on the weights.",
            topic="xgboost",
        ),
    }


def selector_for(cards: dict[str, Card], encoder: CachedEncoder) -> Selector:
    texts = [text for card in cards.values() for text in (card.prompt, *answer_forms(card))]
    return Selector(SimilarityTable(texts, encoder, CONFIG.decimals), CONFIG)


def target_for(card: Card) -> Target:
    return Target(
        card, right=answer_forms(card), guard=(), anchors=(card.answer,), context=card.prompt
    )


def option(card: Card) -> OptionSource:
    return OptionSource(card.answer, card, card.prompt)


def test_near_duplicate_threshold_rejects_a_paraphrase_and_keeps_unrelated_answers(
    f1_cards: dict[str, Card], bank_encoder: CachedEncoder
) -> None:
    selector = selector_for(f1_cards, bank_encoder)
    f1, paraphrase = f1_cards["f1"], f1_cards["paraphrase"]
    assert selector.table.score(paraphrase.answer, f1.answer) >= CONFIG.near_duplicate
    target = target_for(f1)
    assert selector.rejection(target, option(paraphrase)) is Rejection.NEAR_DUPLICATE
    for name in ("recall", "roc", "accuracy", "specificity"):
        assert selector.rejection(target, option(f1_cards[name])) is None, name

    asked = 0
    # Three questions of these nine cards: only the six definitions are of one kind, and
    # more questions would need one of them as a wrong option in more than two questions.
    for seed in range(8):
        exam = build_exam(
            list(f1_cards.values()), Blueprint(counts={MC: 3}, seed=seed), bank_encoder
        )
        for question in exam.questions:
            if question.key.card_id == "f1":
                asked += 1
                assert "f1-again" not in question.key.option_sources
                assert len(question.delivery.options) == 4
    assert asked >= 3


def test_minimal_pairs_stay_even_above_the_threshold(
    f1_cards: dict[str, Card], bank_encoder: CachedEncoder
) -> None:
    """The best distractor differs in one exact token; embeddings rate it a near-duplicate."""
    selector = selector_for(f1_cards, bank_encoder)
    for left, right in (("l1", "l2"), ("precision", "recall")):
        first, second = f1_cards[left], f1_cards[right]
        assert selector.table.score(first.answer, second.answer) >= CONFIG.near_duplicate
        assert selector.rejection(target_for(first), option(second)) is None


def test_aliases_terms_and_repeats_are_rejected(
    f1_cards: dict[str, Card], bank_encoder: CachedEncoder
) -> None:
    base = f1_cards["specificity"]
    twins = {
        "alias": Card(
            id="tnr",
            deck="demo",
            topic="metrics",
            prompt="What is TNR short for?",
            answer="TNR",
            key_points=("TNR",),
            accept=("True negative rate",),
        ),
        "term": Card(
            id="spec-2",
            deck="demo",
            topic="metrics",
            prompt="How is specificity computed?",
            answer="TN / (TN + FP)",
            key_points=("TN / (TN + FP)",),
            term="Specificity",
        ),
        "contains": Card(
            id="contains",
            deck="demo",
            topic="metrics",
            prompt="What is a low true negative rate a sign of?",
            answer="A low true negative rate means many false alarms",
            key_points=("Many false alarms",),
        ),
    }
    named = replace(base, term="Specificity")
    selector = selector_for({**f1_cards, **twins}, bank_encoder)
    target = target_for(named)
    assert selector.rejection(target, option(twins["alias"])) is Rejection.SHARES_ALIAS
    assert selector.rejection(target, option(twins["term"])) is Rejection.SAME_TERM
    assert selector.rejection(target, option(twins["contains"])) is Rejection.STATES_ANSWER
    roc, accuracy = option(f1_cards["roc"]), option(f1_cards["accuracy"])
    assert selector.rejection(target, roc) is None
    assert selector.rejection(target, roc, chosen=[roc]) is Rejection.REPEATS_OPTION
    assert selector.rejection(target, accuracy, chosen=[roc]) is None


def test_another_topics_description_of_the_same_concept_is_rejected(
    bank_encoder: CachedEncoder,
) -> None:
    def card(card_id: str, topic: str, prompt: str, answer: str) -> Card:
        return Card(
            id=card_id, deck="demo", topic=topic, prompt=prompt, answer=answer, key_points=(answer,)
        )

    eta = card(
        "eta",
        "xgboost",
        "What does the XGBoost hyperparameter eta do?",
        "It sets the step size shrinkage applied at each boosting step (the learning rate).",
    )
    learning_rate = card(
        "lr",
        "linear-learner",
        "What does the Linear Learner hyperparameter learning_rate control?",
        "It sets the step size the optimizer uses when it updates the model weights.",
    )
    gamma = card(
        "gamma",
        "xgboost",
        "What does the XGBoost hyperparameter gamma do?",
        "It sets the minimum loss reduction required to create a further partition in a tree.",
    )
    selector = selector_for({"eta": eta, "lr": learning_rate, "gamma": gamma}, bank_encoder)
    assert selector.rejection(target_for(eta), option(learning_rate)) is (
        Rejection.CROSS_TOPIC_TWIN
    )
    assert selector.rejection(target_for(eta), option(gamma)) is None


# --- review 15 (independent): the key is no longer the longest option by a mile ----------------


def single_answer_choices(exam: Exam) -> list[Any]:
    return [
        question.key
        for question in exam.questions
        if question.key.type is MC and len(question.key.correct_option_ids) == 1
    ]


def test_no_multiple_choice_key_is_spotted_by_its_length(bank: Bank, bank_encoder: Any) -> None:
    # Seeds 4-6 of the review: "the key is the longest option" in 20 of 39 single-answer
    # items, 10 of them at least 1.3 times the next option (s4/q1 2.69x, s4/q7 1.94x...).
    keys = []
    # 40 exams (about 680 keys): over 10 (170) the share moves by +-0.03 with the cards the
    # seeds happen to draw (seeds 1-10: 0.235, or 0.335 once the draws changed; 0.250 and
    # 0.246 over 400 seeds), too close to the 0.30 bound to tell anything.
    for seed in range(1, 41):
        blueprint = Blueprint(counts={MC: 14}, reverse=3, seed=seed)
        keys += single_answer_choices(build_exam(bank.cards, blueprint, bank_encoder))
    longest = 0
    for key in keys:
        right = next(o.text for o in key.options if o.id in key.correct_option_ids)
        others = [len(o.text) for o in key.options if o.id not in key.correct_option_ids]
        # Reverse questions offer terms, whose lengths tell nothing ("Confusion matrix" and
        # "Recall"); the cap is on answers.
        forward = not key.prompt.startswith("Which term matches")
        assert not forward or len(right) <= CONFIG.max_key_length_ratio * max(others), (
            key.card_id,
            right,
        )
        longest += len(right) > max(others)
    # About chance (one option in four), not one key in two.
    assert longest / len(keys) <= 0.30, (longest, len(keys))


def plain(text: str) -> str:
    """A right form as compared with the key shown: no bracketed remark, no final full
    stop, list items joined by commas alone (no serial comma), case-folded."""
    bare = re.sub(r"\s*\([^()]*\)", "", text)
    bare = re.sub(r"\s+([,.;:])", r"\1", bare).strip().rstrip(".")
    return bare.replace(", and ", " and ").replace(" and ", ", ").casefold()


def test_a_long_answer_is_asked_in_the_cards_shorter_right_form(
    bank: Bank, bank_encoder: Any
) -> None:
    blueprint = Blueprint(counts={MC: 60}, seed=1)
    exam = build_exam(bank.cards, blueprint, bank_encoder)
    shortened = [
        key
        for key in single_answer_choices(exam)
        if key.answer.rstrip(".").casefold() != bank.card(key.card_id).answer.rstrip(".").casefold()
    ]
    assert shortened, "no long answer was shortened"
    for key in shortened:
        card = bank.card(key.card_id)
        # Only the card's own right forms: a short answer or the answer without its gloss.
        # (Its final full stop added or dropped to end like the other options, a remark
        # only the key had dropped, a final "and" as the wrong lists have it.)
        forms = [plain(form) for form in (*card.short_answers, card.answer)]
        assert plain(key.answer) in forms, (card.id, key.answer)
        right = next(o.text for o in key.options if o.id in key.correct_option_ids)
        assert right == key.answer


def test_the_key_length_ratios_are_checked() -> None:
    with pytest.raises(ValueError, match="shorten_key_ratio"):
        DistractorConfig(shorten_key_ratio=1.5, max_key_length_ratio=1.3)


def test_no_reverse_definition_uses_a_word_of_its_term(bank: Bank, bank_encoder: Any) -> None:
    # s4/q11 "... an encoder turns the input into a vector and a decoder ..." ->
    # Encoder-decoder topology; s6/q12 "Both a long-term state and a short-term state" ->
    # Long Short-Term Memory.
    from quizsvc.exams.distractors import names_a_word_of

    asked = set()
    for seed in range(1, 6):
        exam = build_exam(bank.cards, Blueprint(reverse=20, seed=seed), bank_encoder)
        for question in exam.questions:
            key = question.key
            term = next(o.text for o in key.options if o.id in key.correct_option_ids)
            definition = key.prompt.split("\n", 1)[1]
            assert not any(names_a_word_of(definition, form) for form in term_forms(term)), (
                key.card_id,
                definition,
            )
            asked.add(key.card_id)
    assert not asked & {"rnn-topology-encoder-decoder", "rnn-lstm-states"}
    assert len(asked) >= 20


# --- review 15 (final, seeds 7-9): a shortened key may not stand out by its style -------------


def test_every_choice_option_ends_like_the_others_and_a_note_key_is_not_shown_among_sentences(
    bank: Bank, bank_encoder: Any
) -> None:
    # 7/q2, 7/q4, 8/q1, 8/q4, 8/q10, 9/q5: the shortened key ("Boosted decision trees; each
    # new tree corrects earlier trees' errors; gradient descent minimizes loss") was the only
    # option without a full stop, among "As a ..." sentences.
    checked = 0
    for seed in range(1, 11):
        exam = build_exam(bank.cards, Blueprint(counts={MC: 14}, seed=seed), bank_encoder)
        for key in single_answer_choices(exam):
            endings = {o.text.rstrip().endswith((".", "?", "!")) for o in key.options}
            assert len(endings) == 1, (seed, key.card_id, [o.text for o in key.options])
            card = bank.card(key.card_id)
            as_sentences = endings.pop()
            as_written = {
                card.answer.rstrip("."),
                re.sub(r"\s*\([^()]*\)", "", card.answer).strip().rstrip("."),
            }
            for short in card.short_answers:
                if key.answer.rstrip(".").casefold() == short.rstrip(".").casefold() and (
                    short.rstrip(".") not in as_written
                ):
                    # Among sentences, a short answer is no note ("a; b", "1.2-2+") and no
                    # bare list of names.
                    bare = re.sub(r"\s*\([^()]*\)", "", short)
                    note = ";" in bare or "+" in bare or len(bare.split()) < 4
                    assert not (as_sentences and note), (key.card_id, short)
            checked += 1
    assert checked > 100


def test_a_prompt_naming_its_answer_in_another_spelling_is_not_asked(
    bank: Bank, bank_encoder: Any
) -> None:
    # Review 15 (final), 7/q11: a reverse definition saying "MaxPooling2D" for Max pooling;
    # 7/q7: "two-dimensional data such as images" asking for Conv2D.
    from quizsvc.exams.names import names_answer, shows_name

    assert shows_name("In an image CNN, MaxPooling2D shrinks the image.", ["Max pooling"], {})
    assert shows_name("Use max-pooling after it.", ["Max pooling"], {})
    assert names_answer(
        "Which convolution layer type do you use for two-dimensional data such as images?",
        ["Conv2D"],
        {},
    )
    # Max pooling is 2D too: the dimension alone does not name the convolution layer.
    assert not names_answer("Which layer is for two-dimensional data?", ["Conv2D"], {})
    assert names_answer("Which convolution layer suits 2-D data?", ["Conv2D"], {})
    assert not names_answer("Which convolution layer suits one-dimensional text?", ["Conv2D"], {})
    assert not shows_name("It shrinks the image, keeping the largest value.", ["Max pooling"], {})

    for seed in range(1, 6):
        exam = build_exam(
            bank.cards, Blueprint(counts={MC: 20}, reverse=20, seed=seed), bank_encoder
        )
        for question in exam.questions:
            squashed = re.sub(r"[\W_]+", "", question.key.prompt.casefold())
            answer = re.sub(r"[\W_]+", "", question.key.answer.casefold())
            assert len(answer) < 5 or answer not in squashed, (seed, question.key.card_id)
            assert question.key.card_id != "cnn-conv2d-data" or question.key.type is not MC
