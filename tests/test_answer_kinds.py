"""The answer-kind classifier on real bank cards, and the name spellings behind the checks
that no prompt names its answer."""

from __future__ import annotations

import pytest

from quizsvc.bank import Bank, Card
from quizsvc.exams.kinds import (
    AnswerKind,
    OptionKind,
    answer_kind,
    answer_option_kind,
    explain,
    term_kind,
)
from quizsvc.exams.names import (
    glossary_variants,
    names_answer,
    shows_name,
    spelled_out,
    spellings,
)

K = AnswerKind

#: Card id -> the kind of its answer, as a reviewer would sort it.
ANSWER_KINDS = [
    ("o2v-inference-instances", K.INSTANCE_TYPE),  # "ml.p3.2xlarge (a GPU instance)."
    ("deepar-inference-instances", K.INSTANCE_TYPE),  # "CPU instances only."
    ("xgb-gpu-support", K.INSTANCE_TYPE),  # "Is ... CPU-only?" answered without yes or no
    ("metrics-precision-formula", K.FORMULA),  # "TP / (TP + FP)"
    ("metrics-f1-formula", K.FORMULA),
    ("metrics-accuracy", K.DEFINITION),  # a formula inside an explanation
    ("sm-spark-integration", K.YES_NO),  # "Can you ...?" "Yes, ..."
    ("ens-decision-trees-overfitting", K.YES_NO),
    ("o2v-hyperparameters-encoders", K.HYPERPARAMETER_NAME),  # "Which ... hyperparameters"
    ("s2s-hyperparameters-list", K.HYPERPARAMETER_NAME),
    ("s2s-hyperparameter-optimizer-type", K.HYPERPARAMETER_VALUE),  # "Which values can ..."
    ("deepar-max-prediction-length", K.NUMBER),  # "What is the maximum ...?" "About 400 ..."
    ("xgb-expansion", K.MODEL_NAME),  # "What does XGBoost stand for?"
    ("metrics-roc-expansion", K.MODEL_NAME),
    ("nn-types-cnn-image-classification", K.MODEL_NAME),  # "Which type of neural network"
    ("ens-popular-boosting-algorithm", K.MODEL_NAME),  # "XGBoost"
    ("cnn-conv1d-data", K.MODEL_NAME),  # "Conv1D"
    ("metrics-confusion-false-positive", K.METRIC),  # "False positive (FP)"
    ("s2s-tuning-metrics", K.METRIC),
    ("sm-ideal-input-format", K.DATA_FORMAT),  # "RecordIO-wrapped protobuf"
    ("xgb-original-input-formats", K.DATA_FORMAT),
    ("ll-input-modes", K.SERVICE),  # "Both File mode and Pipe mode."
    ("s2s-use-cases", K.USE_CASE),
    ("cnn-architecture-lenet5", K.USE_CASE),  # "known for?" "Handwriting recognition"
    ("reg-techniques-list", K.TECHNIQUE),
    ("sm-neo", K.DEFINITION),  # "What is SageMaker Neo used for?" "Compiling and ..."
    ("xgb-hyperparameter-eta", K.DEFINITION),  # "It sets the step size shrinkage ..."
    ("sm-file-mode", K.DEFINITION),  # how File mode works, not a list of modes
]

#: Card id -> the kind of its term (the answer of its reverse question).
TERM_KINDS = [
    ("sm-neo", K.SERVICE),
    ("sm-file-mode", K.SERVICE),
    ("o2v-inference-preferred-mode", K.SERVICE),  # an environment variable
    ("bt-mode-cbow", K.SERVICE),
    ("xgb-hyperparameter-eta", K.HYPERPARAMETER_NAME),
    ("deepar-context-length", K.HYPERPARAMETER_NAME),
    ("train-learning-rate-definition", K.HYPERPARAMETER_NAME),
    ("metrics-f1-meaning", K.METRIC),
    ("s2s-bleu-score", K.METRIC),
    ("cnn-architecture-resnet", K.MODEL_NAME),
    ("cnn-layer-softmax-role", K.MODEL_NAME),
    ("ll-what-it-does", K.MODEL_NAME),  # Linear Learner, named like its topic
    ("reg-definition", K.TECHNIQUE),  # Regularization, named like its topic, is no product
    ("reg-dropout", K.TECHNIQUE),
    ("reg-l1-definition", K.TECHNIQUE),  # "L1 regularization": a digit but no product name
]


@pytest.mark.parametrize(("card_id", "kind"), ANSWER_KINDS)
def test_answer_kind_of_bank_cards(bank: Bank, card_id: str, kind: AnswerKind) -> None:
    card = bank.card(card_id)
    assert answer_kind(card) is kind, (card.prompt, card.answer, explain(card))


@pytest.mark.parametrize(("card_id", "kind"), TERM_KINDS)
def test_term_kind_of_bank_cards(bank: Bank, card_id: str, kind: AnswerKind) -> None:
    card = bank.card(card_id)
    assert term_kind(card) is kind, (card.term, explain(card, term=True))


def test_a_definition_shares_its_subject(bank: Bank) -> None:
    """Neo's answer and File mode's are definitions of services; eta's and l1's (which has no
    term, but its prompt names a hyperparameter) of hyperparameters; gradient checking's of a
    technique: only the first two are of one kind."""
    neo, file_mode = bank.card("sm-neo"), bank.card("sm-file-mode")
    eta, l1 = bank.card("xgb-hyperparameter-eta"), bank.card("ll-hyperparameter-l1")
    checking = bank.card("train-gradient-checking")
    assert (
        answer_option_kind(neo)
        == answer_option_kind(file_mode)
        == OptionKind(K.DEFINITION, K.SERVICE)
    )
    assert (
        answer_option_kind(eta)
        == answer_option_kind(l1)
        == OptionKind(K.DEFINITION, K.HYPERPARAMETER_NAME)
    )
    assert answer_option_kind(checking) != answer_option_kind(neo)
    assert str(answer_option_kind(neo)) == "definition or explanation of a service or feature name"
    # Only definitions carry a subject: every instance-type answer is one kind.
    assert answer_option_kind(bank.card("o2v-inference-instances")) == OptionKind(K.INSTANCE_TYPE)


def test_every_card_has_a_kind_and_a_rule_that_says_why(bank: Bank) -> None:
    for card in bank.cards:
        assert explain(card).startswith(answer_kind(card).value)
        if card.term:
            assert explain(card, term=True).startswith(term_kind(card).value)


def test_rules_read_prompt_and_answer_not_the_card_id() -> None:
    def card(prompt: str, answer: str) -> Card:
        return Card(id="x", deck="d", topic="t", prompt=prompt, answer=answer, key_points=())

    assert answer_kind(card("Which instance should you use?", "ml.m5.xlarge")) is K.INSTANCE_TYPE
    assert answer_kind(card("Is it fast?", "No, it is slow.")) is K.YES_NO
    assert answer_kind(card("How is it computed?", "TN / (TN + FN)")) is K.FORMULA
    assert answer_kind(card("What does MSE stand for?", "Mean squared error")) is K.MODEL_NAME
    assert answer_kind(card("Why does it work?", "Because the data is shuffled.")) is (K.DEFINITION)


# --- names and their spellings -----------------------------------------------------------------


def test_glossary_maps_both_ways_plural_aside(glossary: dict[str, str]) -> None:
    assert glossary_variants("false negatives", glossary) == ("FN",)
    assert glossary_variants("LSTM", glossary) == ("Long Short-Term Memory",)
    assert "CBOW" in glossary_variants("continuous bag of words", glossary)


@pytest.mark.parametrize(
    ("text", "name", "found"),
    [
        ("It is a Residual Network: even deeper", "ResNet", "Residual Network"),
        ("a long short-term memory cell", "LSTM", "long short-term memory"),
        ("The number of cells (units)", "num_cells", "number of cells"),
        ("each tree added", "eta", None),  # lower-case pieces are no acronym
        ("It is a ResNet", "ResNet", None),  # named, not spelled out: mentions() finds it
    ],
)
def test_spelled_out_finds_expansions_no_glossary_lists(
    text: str, name: str, found: str | None
) -> None:
    span = spelled_out(text, name)
    assert (text[span[0] : span[1]] if span else None) == found


def test_reverse_definitions_may_not_show_any_spelling_of_the_term(
    glossary: dict[str, str],
) -> None:
    assert shows_name("It is a Residual Network: deeper", ["ResNet"], glossary)
    assert shows_name("A gated recurrent unit is a simpler cell", ["GRU"], glossary)
    assert shows_name("Like skip gram, but batched", ["Skip-gram"], glossary)
    assert not shows_name("It is even deeper than the others", ["ResNet"], glossary)
    assert "Skip gram" in spellings(["Skip-gram"], glossary)


def test_a_prompt_naming_its_answer_is_found_but_stand_for_questions_are_fine(
    glossary: dict[str, str],
) -> None:
    assert names_answer(
        "Which CNN layer type suits images?", ["Convolutional neural network (CNN)"], glossary
    )
    assert names_answer("Which network uses long short-term memory cells?", ["LSTM"], glossary)
    assert not names_answer(
        "What does ROC stand for?", ["Receiver Operating Characteristic"], glossary
    )
    assert names_answer(
        "What does Receiver Operating Characteristic stand for?",
        ["Receiver Operating Characteristic"],
        glossary,
    )
