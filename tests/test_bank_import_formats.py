"""Imports of question banks: QTI 1.2 (the IMS samples and this service's own exports), GIFT
and Moodle XML, into a validated deck; the CLI and ``POST /v1/decks/import``."""

from __future__ import annotations

import dataclasses
import io
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from flask import Flask

from quizsvc.bank import Bank, load_bank, validate_bank
from quizsvc.bank.importers import DeckImportError
from quizsvc.bank.interop import (
    FILL_IN_TAG,
    FREE_ANSWER_TAG,
    import_bank_file,
    question_keys,
    write_imported_deck,
)
from quizsvc.cli import main
from quizsvc.config import Settings
from quizsvc.embedding import CachedEncoder, HashingEncoder
from quizsvc.exams import Blueprint, Option, QuestionKey, QuestionType, build_exam
from quizsvc.lms.exports import export_exam
from tests.conftest import FakeClock, serve_in_thread

Headers = dict[str, str]
FORMATS = [("qti", "qti"), ("gift", "gift"), ("moodle-xml", "moodle")]
TITLE = "AWS ML practice"


# -- round trips of this service's own exports of the bank deck --------------------------------


def supported(key: QuestionKey) -> bool:
    """What an authored question can hold: 4 to 6 options; 2 or 3 right for "select"."""
    if key.type is QuestionType.MULTIPLE_CHOICE:
        return 4 <= len(key.options) <= 6
    if key.type is QuestionType.MULTIPLE_RESPONSE:
        return 4 <= len(key.options) <= 6 and 2 <= len(key.correct_option_ids) <= 3
    return True


@pytest.fixture(scope="module")
def exam_keys(bank: Bank) -> list[QuestionKey]:
    """Every question kind of the bank deck, authored scenarios too (the model-free encoder
    picks the distractors; the exports are what matters here), and, in the middle, a
    "select FOUR of seven" question like those the builder makes of list cards, which an
    authored question cannot hold."""
    deck = sorted(bank.decks)[0]
    blueprint = Blueprint(
        counts={
            QuestionType.MULTIPLE_CHOICE: 8,
            QuestionType.MULTIPLE_RESPONSE: 4,
            QuestionType.FILL_IN: 8,
            QuestionType.FREE_ANSWER: 6,
        },
        reverse=3,
        deck=deck,
        seed=11,
        scenario=6,
    )
    exam = build_exam(
        bank.select(deck),
        blueprint,
        CachedEncoder(HashingEncoder()),
        authored=bank.select_questions(deck),
    )
    keys = [question.key for question in exam.questions]
    assert {key.type for key in keys} == set(QuestionType)
    too_many = QuestionKey(
        question_id="q-wide",
        type=QuestionType.MULTIPLE_RESPONSE,
        card_id="cnn-architectures",
        deck=deck,
        topic="cnn",
        prompt="Name four specialized CNN architectures. (Select FOUR.)",
        answer="LeNet-5; AlexNet; GoogLeNet; ResNet",
        options=tuple(
            Option(label, text)
            for label, text in zip(
                "ABCDEFG",
                [
                    "Conv2D",
                    "LeNet-5",
                    "Sequence to sequence",
                    "AlexNet",
                    "GoogLeNet",
                    "Conv3D",
                    "ResNet",
                ],
                strict=True,
            )
        ),
        correct_option_ids=("B", "D", "E", "G"),
    )
    middle = len(keys) // 2
    return [*keys[:middle], too_many, *keys[middle:]]


@pytest.mark.parametrize(("export_format", "import_format"), FORMATS)
def test_export_import_export_keeps_every_supported_item(
    exam_keys: list[QuestionKey], export_format: str, import_format: str, tmp_path: Path
) -> None:
    first = export_exam(export_format, TITLE, exam_keys)
    imported = import_bank_file(first, f"exam.{export_format}", import_format, "Round trip")

    kept = [
        dataclasses.replace(key, question_id=f"q{number}")
        for number, key in enumerate(filter(supported, exam_keys), start=1)
    ]
    again = question_keys(imported)
    assert len(again) == len(kept) > 30
    # Byte for byte: every text, option, right answer, accepted form, explanation and
    # grader note survives, in the same order.
    assert export_exam(export_format, TITLE, again) == export_exam(export_format, TITLE, kept)
    # Each item an authored question cannot hold is reported, and nothing else.
    assert len(imported.skipped) == len(exam_keys) - len(kept)
    assert any(
        line.endswith("7 options; authored questions have 4 to 6, skipped")
        for line in imported.skipped
    )
    assert {q.type for q in imported.questions} == {"multiple_choice", "multiple_response"}
    tags = {card.tags for card in imported.cards}
    assert tags == {(FILL_IN_TAG,), (FREE_ANSWER_TAG,)}

    # Written as YAML, the deck passes the bank's own validation and loads back the same.
    target = write_imported_deck(imported, tmp_path)
    assert validate_bank(tmp_path)[1] == []
    loaded = load_bank(target)
    assert loaded.cards == imported.cards
    assert loaded.questions == imported.questions


# -- QTI: the IMS samples ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ims_samples(shared_dir: Path) -> Path:
    path = shared_dir / "standards" / "qti12" / "ims_samples"
    if not path.is_dir():
        pytest.fail(f"{path} is missing from the shared data folder")
    return path


@pytest.mark.shared
def test_ims_multiple_choice_sample(ims_samples: Path) -> None:
    imported = import_bank_file(
        (ims_samples / "mchc_ir_01.xml").read_bytes(), "mchc_ir_01.xml", "qti", "ims"
    )
    (question,) = imported.questions
    assert question.type == "multiple_choice"
    assert question.stem.startswith("What size spanner are you most likely to need")
    assert [option.text for option in question.options] == [
        "14 mm",
        "15 mm",
        "16 mm",
        "17 mm",
        "None of the above.",
    ]
    assert question.correct_option_ids == ("B",)
    # The feedback the item shows for the right answer is that option's rationale.
    assert question.options[1].rationale == "Yes, you are right."
    assert question.sources == ("Imported from mchc_ir_01.xml, item 'PYSLET_MCHC_IR_01' (line 4)",)
    assert imported.cards == ()
    assert imported.skipped == ()


@pytest.mark.shared
def test_ims_multiple_response_sample(ims_samples: Path) -> None:
    imported = import_bank_file(
        (ims_samples / "mrsp_ir_01.xml").read_bytes(), "mrsp_ir_01.xml", "qti", "ims"
    )
    (question,) = imported.questions
    assert question.type == "multiple_response"
    assert question.select == 3
    assert question.stem == (
        "Which of the following tools would you need to replace a Shimano 10-speed Front "
        "Derailleur?"
    )
    right = [option.text for option in question.options if option.correct]
    assert right == [
        "Chain splitting tool",
        "Set of metric allen keys",
        "Small cross-headed screwdriver",
    ]
    assert question.explanation is not None
    assert question.explanation.startswith("Yes, modern Shimano FDs require a chain splitter")


@pytest.mark.shared
def test_ims_fill_in_sample_keeps_the_blank_inside_the_text(ims_samples: Path) -> None:
    imported = import_bank_file(
        (ims_samples / "fibs_ir_01.xml").read_bytes(), "fibs_ir_01.xml", "qti", "ims"
    )
    (card,) = imported.cards
    assert (
        card.prompt == "What is the next letter in this famous sequence: O, T, T, F, F, _____,..."
    )
    assert card.answer == "S"
    assert card.tags == (FILL_IN_TAG,)
    assert card.explanation is not None
    assert card.explanation.startswith("'S' is correct.")


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("mchc_ir_04.xml", "item 'PYSLET_MCHC_IR_04' (line 5): an image hot spot is not supported"),
        ("fibs_ir_02.xml", "item 'PYSLET_FIBS_IR_02' (line 5): 3 responses in one item"),
        ("full.xml", "item 'fullitem' (line 5): partial credit"),
        ("empty.xml", "item 'emptyitem' (line 5): the item has no presentation"),
        ("objectbank.xml", "item 'bank1' (line 7): the item has no presentation"),
    ],
)
def test_ims_samples_the_bank_cannot_hold_are_named(
    ims_samples: Path, name: str, reason: str
) -> None:
    with pytest.raises(DeckImportError) as raised:
        import_bank_file((ims_samples / name).read_bytes(), name, "qti", "ims")
    assert "no question could be imported" in str(raised.value)
    assert reason in str(raised.value)


@pytest.mark.shared
def test_a_package_of_all_ims_samples_imports_what_it_can_and_lists_the_rest(
    ims_samples: Path, tmp_path: Path
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        for sample in sorted(ims_samples.glob("*.xml")):
            package.write(sample, f"items/{sample.name}")
    imported = import_bank_file(buffer.getvalue(), "ims.zip", "qti", "IMS samples")
    assert len(imported.questions) == 2
    assert len(imported.cards) == 1
    skipped = "\n".join(imported.skipped)
    for ident in ("emptyitem", "PYSLET_FIBS_IR_02", "fullitem", "PYSLET_MCHC_IR_04"):
        assert f"item {ident!r}" in skipped
    assert "items/objectbank.xml: item 'bank2' (line 20)" in skipped
    assert len(imported.skipped) == 6
    write_imported_deck(imported, tmp_path)
    assert validate_bank(tmp_path)[1] == []


# -- QTI: malformed files ----------------------------------------------------------------------

QTI_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<questestinterop>
  <item ident="{ident}" title="t">
    <presentation>
      <material><mattext>Which planet is largest?</mattext></material>
      <response_lid ident="R" rcardinality="Single">
        <render_choice>
          <response_label ident="A"><material><mattext>Mars</mattext></material></response_label>
          <response_label ident="B"><material><mattext>Jupiter</mattext></material></response_label>
          <response_label ident="C"><material><mattext>Venus</mattext></material></response_label>
          <response_label ident="D"><material><mattext>Mercury</mattext></material></response_label>
        </render_choice>
      </response_lid>
    </presentation>
    <resprocessing>
      <respcondition><conditionvar><varequal respident="R">{right}</varequal></conditionvar>
        <setvar action="Set">1</setvar></respcondition>
    </resprocessing>
  </item>
</questestinterop>
"""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            QTI_ITEM.format(ident="planets", right="Z"),
            "item 'planets' (line 3): the scoring names option 'Z', which the item does not "
            "have (options: A, B, C, D)",
        ),
        (QTI_ITEM.replace(' ident="{ident}"', "").format(right="B"), "line 3: an <item> has no"),
        (
            QTI_ITEM.format(ident="p", right="B").replace("</presentation>", ""),
            "bank.xml: line 19: not well-formed XML: Opening and ending tag mismatch",
        ),
        (
            '<?xml version="1.0"?>\n<!DOCTYPE q [<!ENTITY a "aaaa">]>\n<questestinterop/>',
            "declares XML entities",
        ),
        ("<assessment/>", "not QTI's <questestinterop>"),
        ("", "the file is empty"),
    ],
)
def test_malformed_qti_is_an_error_naming_the_item_or_line(content: str, message: str) -> None:
    with pytest.raises(DeckImportError) as raised:
        import_bank_file(content.encode(), "bank.xml", "qti", "mine")
    assert message in str(raised.value)
    assert str(raised.value).startswith("bank.xml: ")


def test_qti_with_a_right_answer_imports() -> None:
    imported = import_bank_file(
        QTI_ITEM.format(ident="planets", right="B").encode(), "bank.xml", "qti", "mine"
    )
    (question,) = imported.questions
    assert question.correct_option_ids == ("B",)
    assert question.options[1].rationale == "This option is correct."


CANVAS_ITEM = """<?xml version="1.0" encoding="UTF-8"?>
<questestinterop xmlns="http://www.imsglobal.org/xsd/ims_qtiasiv1p2">
  <assessment ident="a1" title="Canvas quiz">
    <section ident="root_section">
      <item ident="i1" title="Question">
        <itemmetadata><qtimetadata><qtimetadatafield>
          <fieldlabel>question_type</fieldlabel><fieldentry>multiple_choice_question</fieldentry>
        </qtimetadatafield></qtimetadata></itemmetadata>
        <presentation>
          <material>
            <mattext texttype="text/html">&lt;p&gt;Which is a prime?&lt;/p&gt;</mattext>
          </material>
          <response_lid ident="response1" rcardinality="Single"><render_choice>
            <response_label ident="11"><material><mattext>4</mattext></material></response_label>
            <response_label ident="12"><material><mattext>6</mattext></material></response_label>
            <response_label ident="13"><material><mattext>7</mattext></material></response_label>
            <response_label ident="14"><material><mattext>9</mattext></material></response_label>
          </render_choice></response_lid>
        </presentation>
        <resprocessing>
          <outcomes>
            <decvar maxvalue="100" minvalue="0" varname="SCORE" vartype="Decimal"/>
          </outcomes>
          <respcondition continue="Yes"><conditionvar><other/></conditionvar>
            <displayfeedback feedbacktype="Response" linkrefid="general_fb"/></respcondition>
          <respcondition continue="Yes">
            <conditionvar><varequal respident="response1">11</varequal></conditionvar>
            <displayfeedback feedbacktype="Response" linkrefid="11_fb"/></respcondition>
          <respcondition continue="No">
            <conditionvar><varequal respident="response1">13</varequal></conditionvar>
            <setvar action="Set" varname="SCORE">100</setvar>
            <displayfeedback feedbacktype="Response" linkrefid="correct_fb"/></respcondition>
          <respcondition continue="Yes"><conditionvar><other/></conditionvar>
            <displayfeedback feedbacktype="Response" linkrefid="general_incorrect_fb"/>
          </respcondition>
        </resprocessing>
        <itemfeedback ident="general_fb"><flow_mat><material>
          <mattext texttype="text/html">A prime has exactly two divisors.</mattext>
        </material></flow_mat></itemfeedback>
        <itemfeedback ident="correct_fb"><flow_mat><material>
          <mattext>Yes: 7 is prime.</mattext></material></flow_mat></itemfeedback>
        <itemfeedback ident="general_incorrect_fb"><flow_mat><material>
          <mattext>Not quite.</mattext></material></flow_mat></itemfeedback>
        <itemfeedback ident="11_fb"><flow_mat><material>
          <mattext>4 = 2 x 2.</mattext></material></flow_mat></itemfeedback>
      </item>
    </section>
  </assessment>
</questestinterop>
"""


def test_canvas_style_feedback_goes_where_it_belongs() -> None:
    imported = import_bank_file(CANVAS_ITEM.encode(), "canvas.xml", "qti", "canvas")
    (question,) = imported.questions
    assert question.stem == "Which is a prime?"
    assert question.topic == "canvas-quiz"
    assert question.correct_option_ids == ("C",)
    assert [option.rationale for option in question.options] == [
        "4 = 2 x 2.",
        "This option is not correct.",
        "Yes: 7 is prime.",
        "This option is not correct.",
    ]
    # The feedback shown only to wrong answers is not the explanation everyone sees.
    assert question.explanation == "A prime has exactly two divisors."


# -- GIFT --------------------------------------------------------------------------------------

GIFT = r"""// A hand-written bank, as Moodle's GIFT documentation describes it.
$CATEGORY: $course$/top/Solar system

::Largest::Which planet is the largest? {
  ~Mars#Smaller than Earth.
  =Jupiter#Right: eleven Earths across.
  ~Venus
  ~Mercury
}

::Gas giants::[html]Which <b>two</b> planets are gas giants? {
  ~%50%Jupiter
  ~%50%Saturn
  ~%-50%Mars
  ~%-50%Venus
  ####Uranus and Neptune are ice giants.
}

::Red::The red planet is called {=Mars =the red planet} by astronomers.

::Moons::Name the process that locks a moon's rotation. {
  =tidal locking
  =Tidal lock
  ####Earth's Moon is tidally locked.
}

::Essay::Explain why Venus is hotter than Mercury. {
  ####A runaway greenhouse effect: its thick CO2 atmosphere traps heat.
}

::Free::Describe the Kuiper belt. {}

::TF::Pluto is a planet. {F}

::Count::How many planets are there? {#8}

::Match::Match the moons. {
  =Io -> Jupiter
  =Titan -> Saturn
  =Triton -> Neptune
}

::Wild::Spell the planet. {=Jup*er}

::Three::Which is closest to the Sun? {=Mercury ~Venus ~Earth}

Just a description, no question.

$CATEGORY: $course$/top/Escapes
::Escapes::What does \{x\} \= y\: z \# mean? {
  =it's a set \{x\} with \~ and \= inside
}
"""


def test_gift_reads_every_kind_and_names_what_it_skips() -> None:
    imported = import_bank_file(GIFT.encode(), "solar.gift", "gift", "Solar")
    questions = {question.stem: question for question in imported.questions}
    largest = questions["Which planet is the largest?"]
    assert largest.type == "multiple_choice"
    assert largest.correct_option_ids == ("B",)
    assert [option.rationale for option in largest.options[:2]] == [
        "Smaller than Earth.",
        "Right: eleven Earths across.",
    ]
    assert largest.topic == "solar-system"
    giants = questions["Which two planets are gas giants?"]
    assert (giants.type, giants.select, giants.correct_option_ids) == (
        "multiple_response",
        2,
        ("A", "B"),
    )
    assert giants.explanation == "Uranus and Neptune are ice giants."

    cards = {card.prompt: card for card in imported.cards}
    red = cards["The red planet is called _____ by astronomers."]
    assert (red.answer, red.accept, red.tags) == ("Mars", ("the red planet",), (FILL_IN_TAG,))
    moons = cards["Name the process that locks a moon's rotation."]
    assert moons.accept == ("Tidal lock",)
    assert moons.explanation == "Earth's Moon is tidally locked."
    essay = cards["Explain why Venus is hotter than Mercury."]
    assert essay.tags == (FREE_ANSWER_TAG,)
    assert essay.answer.startswith("A runaway greenhouse effect")
    escapes = cards["What does {x} = y: z # mean?"]
    assert escapes.answer == "it's a set {x} with ~ and = inside"
    assert escapes.topic == "escapes"

    skipped = "\n".join(imported.skipped)
    for line, reason in [
        (31, "'Free'): an essay with no reference answer cannot be graded"),
        (33, "'TF'): a true/false question"),
        (35, "'Count'): a numerical question is not supported"),
        (37, "'Match'): a matching question is not supported"),
        (43, "'Wild'): wildcard (*) answers are not supported"),
        (45, "'Three'): 3 options; authored questions have 4 to 6"),
        (47, "no answer block in braces (a description, not a question)"),
    ]:
        assert f"solar.gift: line {line}" in skipped, line
        assert reason in skipped, reason
    assert len(imported.skipped) == 7


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("::Q1::Open brace {=a\n\n::Q2::x {=b}", "line 1 ('Q1'): the answer block opened with"),
        ("::Q1::fine {=a}\n\n::Broken title {=b}", "line 3: the title opened with '::'"),
        ("::Q1::A {~a =b {c}", "line 1 ('Q1'): a '{' inside an answer block"),
        ("::Q1::A {~%x%a =b}", "line 1 ('Q1'): answer weight"),
        ("::Q1::A {oops =b}", "line 1 ('Q1'): the answer block must start with '=' or '~'"),
        ("Q1 closes } nothing", "line 1: a '}' closes no answer block"),
    ],
)
def test_malformed_gift_is_an_error_naming_the_line(content: str, message: str) -> None:
    with pytest.raises(DeckImportError) as raised:
        import_bank_file(content.encode(), "bad.gift", "gift", "mine")
    assert message in str(raised.value)


# -- Moodle XML --------------------------------------------------------------------------------

MOODLE = """<?xml version="1.0" encoding="UTF-8"?>
<quiz>
  <question type="category">
    <category><text>$course$/top/Default for ML/Metrics</text></category>
  </question>
  <question type="multichoice">
    <name><text>Precision</text></name>
    <questiontext format="html">
      <text><![CDATA[<p>Which ratio is <b>precision</b>?</p>]]></text>
    </questiontext>
    <generalfeedback format="html">
      <text>Precision looks at the flagged items.</text>
    </generalfeedback>
    <single>true</single>
    <answer fraction="100" format="html">
      <text>TP / (TP + FP)</text><feedback><text>Yes.</text></feedback>
    </answer>
    <answer fraction="0" format="html">
      <text>TP / (TP + FN)</text><feedback><text>That is recall.</text></feedback>
    </answer>
    <answer fraction="0" format="html"><text>TN / (TN + FP)</text></answer>
    <answer fraction="0" format="html"><text>(TP + TN) / N</text></answer>
  </question>
  <question type="shortanswer">
    <name><text>AUC</text></name>
    <questiontext format="plain_text"><text>What does AUC stand for?</text></questiontext>
    <answer fraction="100"><text>Area under the curve</text></answer>
    <answer fraction="100"><text>area under the ROC curve</text></answer>
    <answer fraction="0"><text>*</text></answer>
  </question>
  <question type="essay">
    <name><text>F1</text></name>
    <questiontext format="html"><text>Explain the F1 score.</text></questiontext>
    <graderinfo format="html"><text><![CDATA[<p>The harmonic mean of precision and recall.</p>
      <p>Key points:<br>- harmonic mean<br>- precision and recall</p>]]></text></graderinfo>
  </question>
  <question type="essay">
    <name><text>Open</text></name>
    <questiontext format="html"><text>Discuss anything.</text></questiontext>
    <graderinfo format="html"><text></text></graderinfo>
  </question>
  <question type="calculated">
    <name><text>Calc</text></name>
    <questiontext format="html"><text>What is {a} + {b}?</text></questiontext>
  </question>
  <question type="matching">
    <name><text>Pairs</text></name>
    <questiontext format="html"><text>Match them.</text></questiontext>
  </question>
  <question type="shortanswer">
    <name><text>Partial</text></name>
    <questiontext format="html"><text>Name a metric.</text></questiontext>
    <answer fraction="100"><text>F1</text></answer>
    <answer fraction="50"><text>accuracy</text></answer>
  </question>
</quiz>
"""


def test_moodle_xml_reads_every_kind_and_names_what_it_skips() -> None:
    imported = import_bank_file(MOODLE.encode(), "metrics.xml", "moodle", "Metrics")
    (question,) = imported.questions
    assert question.stem == "Which ratio is precision?"
    assert question.topic == "metrics"
    assert question.correct_option_ids == ("A",)
    assert [option.rationale for option in question.options[:3]] == [
        "Yes.",
        "That is recall.",
        "This option is not correct.",
    ]
    assert question.explanation == "Precision looks at the flagged items."
    cards = {card.prompt: card for card in imported.cards}
    auc = cards["What does AUC stand for?"]
    assert (auc.answer, auc.accept) == ("Area under the curve", ("area under the ROC curve",))
    f1 = cards["Explain the F1 score."]
    assert f1.answer == "The harmonic mean of precision and recall."
    assert f1.key_points == ("harmonic mean", "precision and recall")
    assert imported.skipped == (
        "metrics.xml: question 'Open' (line 37): an essay with no reference answer (grader "
        "information), skipped",
        "metrics.xml: question 'Calc' (line 42): a calculated question (calculated) is not "
        "supported, skipped",
        "metrics.xml: question 'Pairs' (line 46): a matching question (matching) is not "
        "supported, skipped",
        "metrics.xml: question 'Partial' (line 50): partial credit answers are not supported, "
        "skipped",
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            MOODLE.replace("</name>", "", 1),
            "bad.xml: line 23: not well-formed XML: Opening and ending tag mismatch: name line 7",
        ),
        (
            MOODLE.replace('fraction="100" format', 'fraction="all" format'),
            "question 'Precision' (line 6): answer at line 15 has no numeric fraction ('all')",
        ),
        (
            MOODLE.replace('<question type="calculated">', "<question>"),
            "question 'Calc' (line 42): a <question> has no type attribute",
        ),
        ("<quiz><question", "not well-formed XML"),
        ("<questestinterop/>", "not Moodle's <quiz>"),
    ],
)
def test_malformed_moodle_xml_is_an_error_naming_the_question(content: str, message: str) -> None:
    with pytest.raises(DeckImportError) as raised:
        import_bank_file(content.encode(), "bad.xml", "moodle", "mine")
    assert message in str(raised.value)


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_imports_each_format_into_a_valid_deck(tmp_path: Path) -> None:
    files = {"solar.gift": GIFT, "metrics.xml": MOODLE, "planets.xml": QTI_ITEM}
    files["planets.xml"] = QTI_ITEM.format(ident="planets", right="B")
    runner = CliRunner()
    bank_dir = tmp_path / "bank"
    for (name, text), format_name in zip(files.items(), ["gift", "moodle", "qti"], strict=True):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = runner.invoke(
            main,
            [
                "bank",
                "import",
                str(path),
                "--deck",
                name,
                "--format",
                format_name,
                "--out",
                str(bank_dir),
            ],
        )
        assert result.exit_code == 0, result.output
    validated = runner.invoke(main, ["bank", "validate", str(bank_dir)])
    assert validated.exit_code == 0, validated.output
    assert "3 deck(s), all valid" in validated.output
    assert sorted(p.name for p in bank_dir.iterdir()) == [
        "metrics-xml",
        "planets-xml",
        "solar-gift",
    ]


def test_cli_reports_skipped_items_and_detects_the_format(tmp_path: Path) -> None:
    path = tmp_path / "solar.gift"
    path.write_text(GIFT, encoding="utf-8")
    result = CliRunner().invoke(
        main, ["bank", "import", str(path), "--deck", "Solar", "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 0, result.output
    assert "Imported 4 card(s) and 2 question(s) from solar.gift" in result.stdout
    assert "7 skipped" in result.stdout
    assert "warning: solar.gift: line 37 ('Match'): a matching question" in result.stderr


def test_cli_malformed_file_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.gift"
    path.write_text("::Q1::fine {=a}\n\n::Q2::Open brace {=b\n", encoding="utf-8")
    bank_dir = tmp_path / "bank"
    bank_dir.mkdir()
    result = CliRunner().invoke(
        main,
        ["bank", "import", str(path), "--deck", "bad", "--format", "gift", "--out", str(bank_dir)],
    )
    assert result.exit_code == 1
    assert (
        "bad.gift: line 3 ('Q2'): the answer block opened with '{' is not closed" in result.output
    )
    assert list(bank_dir.iterdir()) == []


# -- the HTTP API ------------------------------------------------------------------------------


@pytest.fixture
def import_app(
    database_url: str, tmp_path: Path, fake_encoder: HashingEncoder, clock: FakeClock
) -> Flask:
    """The app over a copy of the bank, so imports write into a bank of its own."""
    from quizsvc.app import create_app

    bank_dir = tmp_path / "bank"
    shutil.copytree(Settings.from_env().bank_dir, bank_dir)
    settings = Settings.from_env(
        instance_dir=tmp_path / "instance",
        database_url=database_url,
        bank_dir=bank_dir,
        rate_limit="100000/minute",
    )
    return create_app(
        {"SETTINGS": settings, "ENCODER": fake_encoder, "CLOCK": clock, "TESTING": True}
    )


@pytest.fixture
def live(import_app: Flask) -> Iterator[str]:
    with serve_in_thread(import_app) as url:
        yield url


@pytest.fixture
def key_for(import_app: Flask) -> Callable[..., Headers]:
    def make(role: str, learner_id: str | None = None) -> Headers:
        key, _ = import_app.extensions["quizsvc"].store.create_key(role, learner_id)
        return {"Authorization": f"Bearer {key}"}

    return make


@pytest.mark.http
def test_http_upload_writes_the_deck_and_serves_it(
    live: str, import_app: Flask, key_for: Callable[..., Headers]
) -> None:
    staff = key_for("instructor")
    response = requests.post(
        f"{live}/v1/decks/import",
        headers=staff,
        data={"format": "gift", "deck": "Solar system", "title": "The solar system"},
        files={"file": ("solar.gift", GIFT.encode(), "text/plain")},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["written"] is True
    assert body["deck"]["id"] == "solar-system"
    assert body["deck"]["title"] == "The solar system"
    assert (body["deck"]["cards"], body["deck"]["questions"]) == (4, 2)
    assert {topic["id"] for topic in body["deck"]["topics"]} == {"solar-system", "escapes"}
    assert len(body["skipped"]) == 7
    assert any("line 37 ('Match'): a matching question" in line for line in body["skipped"])

    bank_dir = import_app.extensions["quizsvc"].settings.bank_dir
    assert validate_bank(bank_dir)[1] == []
    assert (bank_dir / "solar-system" / "questions" / "solar-system.yaml").is_file()
    decks = requests.get(f"{live}/v1/decks", headers=staff, timeout=30).json()
    assert "solar-system" in {deck["id"] for deck in decks["items"]}

    again = requests.post(
        f"{live}/v1/decks/import",
        headers=staff,
        data={"format": "gift", "deck": "Solar system"},
        files={"file": ("solar.gift", GIFT.encode(), "text/plain")},
        timeout=30,
    )
    assert again.status_code == 409
    assert "force" in again.json()["message"]


@pytest.mark.http
def test_http_json_body_and_dry_run(
    live: str, import_app: Flask, key_for: Callable[..., Headers]
) -> None:
    bank_dir = import_app.extensions["quizsvc"].settings.bank_dir
    before = sorted(path.name for path in bank_dir.iterdir())
    response = requests.post(
        f"{live}/v1/decks/import",
        headers=key_for("admin"),
        json={
            "format": "moodle",
            "deck": "metrics",
            "text": MOODLE,
            "dry_run": True,
            "file_name": "metrics.xml",
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["written"] is False
    assert response.json()["skipped"][0].startswith("metrics.xml: question 'Open' (line 37)")
    assert sorted(path.name for path in bank_dir.iterdir()) == before


@pytest.mark.http
def test_http_malformed_file_names_the_line_and_writes_nothing(
    live: str, import_app: Flask, key_for: Callable[..., Headers]
) -> None:
    bank_dir = import_app.extensions["quizsvc"].settings.bank_dir
    before = sorted(path.name for path in bank_dir.iterdir())
    response = requests.post(
        f"{live}/v1/decks/import",
        headers=key_for("instructor"),
        json={"format": "gift", "deck": "bad", "text": "::Q1::A {=a\n", "file_name": "bad.gift"},
        timeout=30,
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == 422
    assert "line 1 ('Q1'): the answer block opened with '{' is not closed" in body["message"]
    assert "text" in body["errors"]
    assert sorted(path.name for path in bank_dir.iterdir()) == before


@pytest.mark.http
@pytest.mark.parametrize(
    ("payload", "location", "field"),
    [
        ({"deck": "x", "text": "::a::b {=c}"}, "json", "format"),
        ({"format": "docx", "deck": "x", "text": "::a::b {=c}"}, "json", "format"),
        ({"format": "gift", "text": "::a::b {=c}"}, "json", "deck"),
        ({"format": "gift", "deck": "!!!", "text": "::a::b {=c}"}, "json", "deck"),
        ({"format": "gift", "deck": "x"}, "json", "text"),
        ({"format": "gift", "deck": "x", "text": "::a::b {=c}", "force": "maybe"}, "json", "force"),
    ],
)
def test_http_bad_input_names_the_field(
    live: str,
    key_for: Callable[..., Headers],
    payload: dict[str, object],
    location: str,
    field: str,
) -> None:
    response = requests.post(
        f"{live}/v1/decks/import", headers=key_for("instructor"), json=payload, timeout=30
    )
    assert response.status_code == 422, response.text
    assert field in response.json()["errors"][location]
    assert f"{location}.{field}" in response.json()["message"]


@pytest.mark.http
def test_http_upload_without_a_file_names_it(live: str, key_for: Callable[..., Headers]) -> None:
    response = requests.post(
        f"{live}/v1/decks/import",
        headers=key_for("instructor"),
        data={"format": "gift", "deck": "x"},
        files={"other": ("x.txt", b"x", "text/plain")},
        timeout=30,
    )
    assert response.status_code == 422
    assert "file" in response.json()["errors"]["files"]


@pytest.mark.http
def test_http_import_is_for_staff_only(live: str, key_for: Callable[..., Headers]) -> None:
    payload = {"format": "gift", "deck": "x", "text": "::a::b {=c}"}
    url = f"{live}/v1/decks/import"
    assert requests.post(url, json=payload, timeout=30).status_code == 401
    learner = requests.post(url, json=payload, headers=key_for("learner", "l-1"), timeout=30)
    assert learner.status_code == 403
    assert learner.json()["code"] == 403


@pytest.mark.http
def test_http_import_keeps_card_edits_made_over_the_api(
    live: str, import_app: Flask, key_for: Callable[..., Headers]
) -> None:
    """The imported deck is served at once, and edits stored in the database stay applied
    over the reloaded YAML bank."""
    staff = key_for("instructor")
    card_id = import_app.extensions["quizsvc"].bank.cards[0].id
    explanation = "Edited over the API before the import."
    edited = requests.patch(
        f"{live}/v1/cards/{card_id}",
        json={"explanation": explanation},
        headers={**staff, "If-Match": '"1"'},
        timeout=30,
    )
    assert edited.status_code == 200, edited.text
    response = requests.post(
        f"{live}/v1/decks/import",
        headers=staff,
        json={"format": "gift", "deck": "Solar", "text": GIFT, "file_name": "solar.gift"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    card = requests.get(f"{live}/v1/cards/{card_id}", headers=staff, timeout=30).json()
    assert card["explanation"] == explanation
    solar = requests.get(f"{live}/v1/cards?deck=solar", headers=staff, timeout=30).json()
    assert len(solar["items"]) == 4


def test_cli_format_option_wins_over_the_file_name(tmp_path: Path) -> None:
    # GIFT text in a .txt file: without --format it would be read as CSV/TSV.
    path = tmp_path / "solar.txt"
    path.write_text(GIFT, encoding="utf-8")
    out = str(tmp_path / "bank")
    as_gift = CliRunner().invoke(
        main, ["bank", "import", str(path), "--deck", "solar", "--format", "gift", "--out", out]
    )
    assert as_gift.exit_code == 0, as_gift.output
    assert "Imported 4 card(s) and 2 question(s) from solar.txt" in as_gift.stdout
    as_csv = CliRunner().invoke(
        main, ["bank", "import", str(path), "--deck", "other", "--format", "csv", "--out", out]
    )
    assert as_csv.exit_code == 1
    assert "solar.txt" in as_csv.output


@pytest.mark.http
def test_http_upload_of_a_qti_package(live: str, key_for: Callable[..., Headers]) -> None:
    keys = [
        QuestionKey(
            question_id="q1",
            type=QuestionType.MULTIPLE_CHOICE,
            card_id="c1",
            deck="d",
            topic="t",
            prompt="Which metric ignores true negatives?",
            answer="Precision",
            options=(
                Option("A", "Specificity"),
                Option("B", "Precision"),
                Option("C", "Accuracy"),
                Option("D", "False positive rate"),
            ),
            correct_option_ids=("B",),
        ),
        QuestionKey(
            question_id="q2",
            type=QuestionType.FILL_IN,
            card_id="c2",
            deck="d",
            topic="t",
            prompt="Fill in the blank: RMSE is the square root of the mean _____ error.",
            answer="squared",
            accept=("squared",),
        ),
    ]
    package = export_exam("qti", "Metrics quiz", keys)
    response = requests.post(
        f"{live}/v1/decks/import",
        headers=key_for("instructor"),
        data={"format": "qti", "deck": "Metrics quiz", "dry_run": "true"},
        files={"file": ("metrics-qti.zip", package, "application/zip")},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["deck"]["cards"], body["deck"]["questions"]) == (1, 1)
    assert body["deck"]["topics"] == [
        {"id": "metrics-quiz", "title": "Metrics quiz", "cards": 1, "questions": 1}
    ]
    assert body["skipped"] == []
    assert body["written"] is False


def test_a_damaged_qti_package_is_a_clear_error() -> None:
    keys = [
        QuestionKey(
            question_id=f"q{number}",
            type=QuestionType.FREE_ANSWER,
            card_id=f"c{number}",
            deck="d",
            topic="t",
            prompt=f"Explain item {number} of the list in your own words.",
            answer=f"Item {number} is explained here at some length.",
        )
        for number in range(40)
    ]
    package = bytearray(export_exam("qti", "Damaged", keys))
    # Garble the compressed assessment in the middle of the archive: zlib itself fails
    # (once a zlib.error, a 500 over the API).
    middle = len(package) // 2
    package[middle : middle + 16] = b"\xff" * 16
    with pytest.raises(DeckImportError) as raised:
        import_bank_file(bytes(package), "damaged.zip", "qti", "damaged")
    assert str(raised.value).startswith("damaged.zip: cannot read ")
    assert "while decompressing data" in str(raised.value)
