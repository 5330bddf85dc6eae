"""The card fixes from a certification instructor's review of the aws-ml-modeling deck, checked
on the bank as quizsvc loads it: one test per card named in the review, plus the deck-wide
rules behind them (no learner-facing text mentions the seed, no abbreviation answers what it
stands for, every fix is recorded in the card's source_note and in bank/README.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quizsvc.bank.loader import load_bank, normalize_text
from quizsvc.bank.model import Bank, Card
from quizsvc.config import Settings

DECK = "aws-ml-modeling"

#: The cards the review named, each fixed and recorded.
REVIEWED = (
    "o2v-hyperparameters-encoders",
    "metrics-precision-when",
    "deepar-entire-series",
    "deepar-evaluation-split",
    "rnn-lstm-expansion",
    "rnn-gru-expansion",
    "xgb-hyperparameters-list",
    "train-aws-deep-learning-options",
    "ll-training-optimizer",
    "xgb-cpu-instance-choice",
    "reg-l1-properties",
    "deepar-tuning-instances",
    "s2s-data-preparation",
)


@pytest.fixture(scope="module")
def bank_dir() -> Path:
    return Path(Settings().bank_dir)


@pytest.fixture(scope="module")
def bank(bank_dir: Path) -> Bank:
    return load_bank(bank_dir)


@pytest.fixture(scope="module")
def bank_readme(bank_dir: Path) -> str:
    return (bank_dir / "README.md").read_text(encoding="utf-8")


def right_side(card: Card) -> dict[str, str]:
    """Every field that states or teaches the right answer."""
    fields = {"prompt": card.prompt, "answer": card.answer}
    if card.term:
        fields["term"] = card.term
    if card.explanation:
        fields["explanation"] = card.explanation
    for name in ("key_points", "accept", "short_answers"):
        for index, text in enumerate(getattr(card, name)):
            fields[f"{name}[{index}]"] = text
    return fields


def learner_facing(card: Card) -> dict[str, str]:
    """Every field a learner can see: all but source_note (and ids, tags, difficulty)."""
    fields = right_side(card)
    for index, item in enumerate(card.misconceptions):
        fields[f"misconceptions[{index}].text"] = item.text
        fields[f"misconceptions[{index}].explanation"] = item.explanation
    return fields


def accepted(card: Card) -> set[str]:
    """The forms graded as right answers, compared as the loader compares them."""
    return {normalize_text(text) for text in (card.answer, *card.accept, *card.short_answers)}


def mentions(text: str, word: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.IGNORECASE) is not None


def assert_review_recorded(card: Card, readme: str) -> None:
    assert card.source_note, card.id
    assert "instructor review" in card.source_note, card.id
    assert f"| `{card.id}` **(review)** |" in readme, f"{card.id} has no (review) row"


# --- One test per reviewed card -----------------------------------------------------------------


def test_o2v_hyperparameters_encoders_are_enc0_and_enc1(
    bank: Bank, bank_dir: Path, bank_readme: str
) -> None:
    card = bank.card("o2v-hyperparameters-encoders")
    assert set(card.key_points) == {"enc0_network", "enc1_network"}
    for text in (card.answer, *card.short_answers):
        assert "enc0_network" in text, text
        assert "enc1_network" in text, text
    # enc2_network does not exist. The one place it may appear in the whole deck is the text
    # of this card's misconception that catches the old 1-and-2 numbering.
    for other in bank.select(DECK):
        fields = {**learner_facing(other), "source_note": other.source_note or ""}
        for name, text in fields.items():
            if (
                other.id == card.id
                and name.startswith("misconceptions[")
                and name.endswith(".text")
            ):
                continue
            assert "enc2" not in text, (other.id, name, text)
    catching = [item for item in card.misconceptions if "enc2_network" in item.text]
    assert len(catching) == 1
    assert "enc0_network" in catching[0].explanation
    raw = "".join(path.read_text("utf-8") for path in sorted((bank_dir / DECK).glob("*.yaml")))
    assert raw.count("enc2") == 1, "enc2 only in the one misconception"
    assert "enc2" not in bank_readme
    assert "enc0_network and enc1_network" in bank_readme
    assert_review_recorded(card, bank_readme)


def test_metrics_precision_when_uses_a_precision_example(bank: Bank, bank_readme: str) -> None:
    card = bank.card("metrics-precision-when")
    assert "spam" in card.answer.lower()
    assert any("spam" in point.lower() for point in card.key_points)
    assert "drug testing" in card.answer
    for name, text in right_side(card).items():
        assert "screening" not in text.lower(), (name, text)
    for text in card.short_answers:
        assert "spam" in text.lower(), text
    # Screening appears only as a misconception, and its feedback calls it a recall case.
    for item in card.misconceptions:
        assert "screening" not in item.explanation.lower() or "recall" in item.explanation.lower()
    screening = [item for item in card.misconceptions if "screening" in item.text.lower()]
    assert screening
    assert all("recall" in item.explanation.lower() for item in screening)
    assert_review_recorded(card, bank_readme)


def test_deepar_entire_series_states_the_evaluation_exception(bank: Bank, bank_readme: str) -> None:
    entire = bank.card("deepar-entire-series")
    split = bank.card("deepar-evaluation-split")
    assert "exception" in entire.prompt.lower()
    assert "entire time series" in entire.answer
    assert "exception" in entire.answer
    assert "prediction_length" in entire.answer
    assert any("prediction_length" in point for point in entire.key_points)
    assert all("prediction_length" in text for text in entire.short_answers)
    # The split card withholds exactly what the exception names, from training only.
    assert "prediction_length" in split.answer
    assert "test set" in split.answer
    assert any("prediction_length" in point and "training" in point for point in split.key_points)
    assert any("test set" in point for point in split.key_points)
    assert split.explanation
    assert "exception" in split.explanation
    # Neither card's misconceptions are the other card's right answer.
    for card, other in ((entire, split), (split, entire)):
        wrong = {normalize_text(item.text) for item in card.misconceptions}
        assert not wrong & accepted(other), card.id
    assert_review_recorded(entire, bank_readme)
    assert_review_recorded(split, bank_readme)


@pytest.mark.parametrize(
    ("card_id", "abbreviation", "expansion"),
    [
        ("rnn-lstm-expansion", "LSTM", "Long Short-Term Memory"),
        ("rnn-gru-expansion", "GRU", "Gated Recurrent Unit"),
    ],
)
def test_rnn_expansion_does_not_accept_the_abbreviation(
    bank: Bank, bank_readme: str, card_id: str, abbreviation: str, expansion: str
) -> None:
    card = bank.card(card_id)
    assert card.answer == expansion
    assert normalize_text(abbreviation) not in accepted(card)
    for text in (*card.accept, *card.short_answers):
        assert not mentions(text, abbreviation), text
    assert_review_recorded(card, bank_readme)


def test_no_card_accepts_an_abbreviation_as_its_own_expansion(bank: Bank) -> None:
    for card in bank.select(DECK):
        asked = re.search(r"What does (?:the abbreviation )?(\S+) stand for", card.prompt)
        if asked:
            assert normalize_text(asked.group(1)) not in accepted(card), card.id


def test_xgb_hyperparameters_list_adds_three(bank: Bank, bank_readme: str) -> None:
    card = bank.card("xgb-hyperparameters-list")
    names = [
        "subsample",
        "eta",
        "gamma",
        "alpha",
        "lambda",
        "max_depth",
        "min_child_weight",
        "colsample_bytree",
    ]
    assert list(card.key_points) == names
    for name in names:
        assert mentions(card.answer, name), name
        assert mentions(card.short_answers[1], name), name
    for item in card.misconceptions:
        assert not any(mentions(item.text, new) for new in names[5:]), item.text
    assert_review_recorded(card, bank_readme)


def test_train_aws_deep_learning_options_are_current(bank: Bank, bank_readme: str) -> None:
    card = bank.card("train-aws-deep-learning-options")
    assert card.prompt == "What does AWS offer for training deep neural networks?"
    stated = " ".join([card.answer, *card.key_points, *card.short_answers])
    for dated in ("MXNet", "P2", "EMR"):
        assert not mentions(stated, dated), dated
    for current in ("SageMaker", "Deep Learning AMIs", "Deep Learning Containers", "Trainium"):
        assert current in card.answer, current
    for instance in ("P3", "P4", "P5", "G5", "Trn1"):
        assert mentions(card.answer, instance), instance
    # The explanation says why the old list is dated; no misconception is a current option.
    assert card.explanation
    assert "MXNet" in card.explanation
    for item in card.misconceptions:
        assert normalize_text(item.text) not in accepted(card)
    assert_review_recorded(card, bank_readme)


def test_ll_training_optimizer_lists_the_real_values(bank: Bank, bank_readme: str) -> None:
    card = bank.card("ll-training-optimizer")
    for name, text in right_side(card).items():
        assert "adagrad" not in text.lower(), (name, text)
    for value in ("auto", "sgd", "adam", "rmsprop"):
        assert mentions(card.answer, value), value
        assert any(mentions(point, value) for point in card.key_points), value
    # AdaGrad appears only in a misconception whose feedback says it is not an option.
    for item in card.misconceptions:
        if "adagrad" in item.text.lower():
            assert "not an option" in item.explanation
        assert "adagrad" not in item.explanation.lower().replace("adagrad is not an option", "")
    assert_review_recorded(card, bank_readme)


def test_xgb_cpu_instance_choice_teaches_m5(bank: Bank, bank_readme: str) -> None:
    card = bank.card("xgb-cpu-instance-choice")
    assert "M5" in card.answer
    assert "memory-bound" in card.answer
    assert card.key_points[0] == "General-purpose M5 instances"
    assert any("memory-bound" in point for point in card.key_points)
    for name, text in learner_facing(card).items():
        assert not mentions(text, "M4"), (name, text)
    assert all("M5" in text for text in card.short_answers)
    assert_review_recorded(card, bank_readme)


def test_reg_l1_properties_says_sparse_weights(bank: Bank, bank_readme: str) -> None:
    card = bank.card("reg-l1-properties")
    assert "sparse weights" in card.answer
    assert "Sparse weights" in card.key_points
    assert all("sparse weights" in text for text in card.short_answers)
    # Nowhere in the deck does a right answer speak of sparse or dense "output".
    for other in bank.select(DECK):
        for name, text in right_side(other).items():
            assert "sparse output" not in text.lower(), (other.id, name)
            assert "dense output" not in text.lower(), (other.id, name)
    assert "Dense weights" in bank.card("reg-l2-properties").key_points
    assert_review_recorded(card, bank_readme)


def test_round_8_cards_offer_no_twin_of_the_key_nor_one_idea_twice(
    bank: Bank, bank_readme: str
) -> None:
    """Review 15, round 8: the augmented-manifest question offered the answer with its two
    field names swapped; "When should you prefer L2 over L1?" offered three wrong options
    that all state the L1 case; the GRU question offered "an LSTM is a simplified GRU"
    beside "a GRU is a more complex LSTM". One answer is right, so options that say the same
    thing are all ruled out, and a twin of the key halves the choice."""

    def words(text: str) -> list[str]:
        return sorted(re.findall(r"[a-z0-9_]+", text.casefold()))

    manifest = bank.card("bt-input-augmented-manifest")
    assert all(words(m.text) != words(manifest.answer) for m in manifest.misconceptions)
    l2 = bank.card("reg-when-l2")
    l1_case = re.compile(r"sparse|feature selection|dimensionality|few of the features")
    assert sum(bool(l1_case.search(m.text)) for m in l2.misconceptions) == 1
    assert len(l2.misconceptions) >= 3
    gru = bank.card("rnn-gru-vs-lstm")
    simpler_lstm = re.compile(r"LSTM is a simplified|GRU is a more complex")
    assert sum(bool(simpler_lstm.search(m.text)) for m in gru.misconceptions) == 1
    assert len(gru.misconceptions) >= 3
    for card in (manifest, l2, gru):
        assert_review_recorded(card, bank_readme)


def test_deepar_tuning_instances_prompt_does_not_give_the_answer_away(
    bank: Bank, bank_readme: str
) -> None:
    card = bank.card("deepar-tuning-instances")
    assert "larger" in card.answer
    for giveaway in ("size", "larger", "bigger", "more powerful"):
        assert giveaway not in card.prompt.lower(), giveaway
    assert card.prompt.endswith("?")
    assert_review_recorded(card, bank_readme)


def test_s2s_data_preparation_does_not_mention_the_seed(bank: Bank, bank_readme: str) -> None:
    card = bank.card("s2s-data-preparation")
    assert card.explanation
    assert "integer" in card.explanation
    for name, text in learner_facing(card).items():
        assert not mentions(text, "seed"), (name, text)
    assert_review_recorded(card, bank_readme)


# --- Deck-wide rules ----------------------------------------------------------------------------


def test_no_learner_facing_field_mentions_the_seed(bank: Bank) -> None:
    for card in bank.select(DECK):
        for name, text in learner_facing(card).items():
            assert not re.search(r"\bseeds?\b", text, re.IGNORECASE), (card.id, name, text)
    deck = bank.decks[DECK]
    for text in (deck.title, deck.description or "", *deck.topics.values()):
        assert not re.search(r"\bseeds?\b", text, re.IGNORECASE), text


def test_deck_metadata_names_the_exams_and_status(bank: Bank) -> None:
    deck = bank.decks[DECK]
    description = deck.description or ""
    for needed in (
        "AWS Certified Machine Learning – Specialty",
        "MLS-C01",
        "Modeling",
        "31 March 2026",
        "third-party",
        "not verified",
        "AWS Certified Machine Learning Engineer – Associate",
        "MLA-C01",
        "AWS Certified AI Practitioner",
    ):
        assert needed in description, needed
    assert deck.source
    assert "MLS-C01" in deck.source
    assert "MLA-C01" in deck.source


def test_every_recorded_fix_has_a_readme_row(bank: Bank, bank_readme: str) -> None:
    noted = {card.id for card in bank.select(DECK) if card.source_note}
    corrections = bank_readme[bank_readme.index("## Corrections") :]
    rows = re.findall(r"^\| `([a-z0-9-]+)`(?: \*\*\(review\)\*\*)? \|", corrections, re.M)
    assert len(rows) == len(set(rows)), "a card has two rows"
    assert set(rows) == noted
    assert f"lists all {len(noted)} cards whose `source_note` records a fix" in bank_readme
    for card_id in REVIEWED:
        assert card_id in noted, card_id


def test_fill_in_does_not_credit_the_bare_abbreviation(bank: Bank) -> None:
    """An abbreviation is never an answer to "what does X stand for?", however the grader
    would expand it; the expansion itself is."""
    from quizsvc.exams.model import QuestionType
    from quizsvc.grading.config import GradingConfig
    from quizsvc.grading.fill_in import grade_fill_in
    from quizsvc.grading.glossary import Glossary
    from quizsvc.grading.grader import question_key_for_card
    from quizsvc.grading.model import Verdict

    glossary = Glossary.for_deck(bank.glossary(DECK))
    for card_id, abbreviation, expansion in (
        ("rnn-lstm-expansion", "LSTM", "Long Short-Term Memory"),
        ("rnn-gru-expansion", "GRU", "Gated Recurrent Unit"),
    ):
        key = question_key_for_card(bank.card(card_id), QuestionType.FILL_IN)
        for answer in (abbreviation, abbreviation.lower()):
            grade = grade_fill_in(key, answer, glossary, GradingConfig())
            assert grade.verdict is Verdict.INCORRECT, (card_id, answer, grade.evidence)
        assert grade_fill_in(key, expansion, glossary, GradingConfig()).verdict is Verdict.CORRECT
