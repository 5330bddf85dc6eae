"""Exports of an exam's questions to the formats learning management systems import.

- QTI 1.2 (a zip with an IMS Content Packaging ``imsmanifest.xml``): what Canvas and Blackboard
  import; items are written the way Canvas writes them.
- GIFT (Moodle's text format).
- Moodle XML.

Every question type the format can express is carried: free answers become essay questions with
the reference answer as information for the grader. Each builder takes the exam title and the
frozen :class:`QuestionKey` s, so an export always matches what learners were given.

An exam with question pools (each attempt draws N of a line's frozen questions) exports each
line as a group the LMS draws from in the same way, never as if every learner answered the
whole pool: a QTI section with ``selection_number`` N (Canvas imports it as a question group
"pick N"), and in GIFT and Moodle XML a category of its own, named with N, from which the
quiz adds N random questions (neither format can say "draw N" inside a quiz).
"""

from __future__ import annotations

import hashlib
import html
import io
import math
import re
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from quizsvc.exams.model import Option, QuestionKey, QuestionType

__all__ = [
    "EXPORT_FORMATS",
    "ExportFormat",
    "PoolGroup",
    "export_exam",
    "export_gift",
    "export_moodle_xml",
    "export_qti",
    "gift_escape",
    "pool_groups",
]

QTI_NAMESPACE = "http://www.imsglobal.org/xsd/ims_qtiasiv1p2"
IMSCP_NAMESPACE = "http://www.imsglobal.org/xsd/imscp_v1p1"
#: The resource type Canvas and Blackboard look for in the manifest.
QTI_RESOURCE_TYPE = "imsqti_xmlv1p2"
#: Canvas's response identifier for the single response of an item.
QTI_RESPONSE_IDENT = "response1"

#: Zip entries get this fixed time so the same exam always exports to the same bytes.
_ZIP_TIMESTAMP = (2000, 1, 1, 0, 0, 0)

# Characters XML 1.0 cannot carry at all; they would make lxml refuse the document.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

_QTI_TYPES = {
    QuestionType.MULTIPLE_CHOICE: "multiple_choice_question",
    QuestionType.MULTIPLE_RESPONSE: "multiple_answers_question",
    QuestionType.FILL_IN: "short_answer_question",
    QuestionType.FREE_ANSWER: "essay_question",
}


@dataclass(frozen=True)
class ExportFormat:
    name: str
    description: str
    media_type: str
    #: Appended to the exam title's slug to name the file.
    file_suffix: str

    def filename(self, title: str) -> str:
        slug = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-").lower()[:80] or "exam"
        return f"{slug}{self.file_suffix}"


EXPORT_FORMATS: dict[str, ExportFormat] = {
    "qti": ExportFormat(
        "qti", "IMS QTI 1.2 package (Canvas, Blackboard)", "application/zip", "-qti.zip"
    ),
    "gift": ExportFormat("gift", "Moodle GIFT", "text/plain; charset=utf-8", "-gift.txt"),
    "moodle-xml": ExportFormat(
        "moodle-xml", "Moodle XML", "application/xml; charset=utf-8", "-moodle.xml"
    ),
}


@dataclass(frozen=True)
class PoolGroup:
    """One pool line of an exam: each attempt is given ``draw`` of its ``keys``."""

    line: int
    draw: int
    keys: tuple[QuestionKey, ...]

    def label(self) -> str:
        return f"Pool {self.line + 1} (draw {self.draw} of {len(self.keys)})"


def pool_groups(
    questions: Sequence[Mapping[str, Any]],
) -> tuple[list[QuestionKey], list[PoolGroup]]:
    """An exam's stored questions (``{"delivery", "key", "pool"?}``) as its fixed questions'
    keys and its pool lines, in line order."""
    fixed: list[QuestionKey] = []
    lines: dict[int, tuple[int, list[QuestionKey]]] = {}
    for question in questions:
        key = QuestionKey.from_dict(question["key"])
        pool = question.get("pool")
        if pool:
            lines.setdefault(int(pool["line"]), (int(pool["draw"]), []))[1].append(key)
        else:
            fixed.append(key)
    groups = [
        PoolGroup(line=line, draw=draw, keys=tuple(keys))
        for line, (draw, keys) in sorted(lines.items())
    ]
    return fixed, groups


def export_exam(
    format_name: str,
    title: str,
    keys: Sequence[QuestionKey],
    pools: Sequence[PoolGroup] = (),
) -> bytes:
    """The export of ``keys`` (and of each pool line as a group the LMS draws from) in the
    format named ``format_name`` (a key of EXPORT_FORMATS)."""
    exporters: dict[str, Callable[[str, Sequence[QuestionKey], Sequence[PoolGroup]], bytes]] = {
        "qti": export_qti,
        "gift": lambda title, keys, pools: export_gift(title, keys, pools).encode("utf-8"),
        "moodle-xml": export_moodle_xml,
    }
    if format_name not in exporters:
        raise ValueError(f"unknown export format {format_name!r}")
    return exporters[format_name](title, keys, pools)


# -- shared helpers ----------------------------------------------------------------------------


def _clean(text: str) -> str:
    return _XML_ILLEGAL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _html(text: str) -> str:
    """Plain text as an HTML fragment: LMSs render these fields as HTML, so a card that says
    ``<tag>`` must arrive escaped to be shown rather than interpreted."""
    return html.escape(_clean(text), quote=False).replace("\n", "<br>\n")


def _question_name(title: str, number: int) -> str:
    return f"{' '.join(title.split())} {number:02d}"


def _correct_options(key: QuestionKey) -> list[Option]:
    correct = set(key.correct_option_ids)
    return [option for option in key.options if option.id in correct]


def _percent(value: float) -> str:
    """A percentage as Moodle writes grade fractions (at most 5 decimals)."""
    return f"{value:.5f}".rstrip("0").rstrip(".")


def _response_weights(key: QuestionKey) -> dict[str, str]:
    """Multiple response weights: the right options share 100%; each wrong one takes off as much
    as one right option gives, as quizsvc's own grading does."""
    # Rounded down, so that the right options never add up to more than 100% (importers
    # reject that); Moodle accepts the sum within its rounding of 100%.
    share = math.floor(100 / max(1, len(key.correct_option_ids)) * 100_000) / 100_000
    correct = set(key.correct_option_ids)
    return {
        option.id: _percent(share if option.id in correct else -share) for option in key.options
    }


def _essay_grader_notes(key: QuestionKey) -> str:
    if not key.key_points:
        return ""
    return "Key points:\n" + "\n".join(f"- {point}" for point in key.key_points)


def _identifier(title: str, keys: Sequence[QuestionKey]) -> str:
    digest = hashlib.sha1(
        "\n".join([title, *(key.question_id for key in keys)]).encode("utf-8"),
        usedforsecurity=False,
    )
    # Canvas's style: "g" + hex, which is also a valid XML NCName for the manifest.
    return "g" + digest.hexdigest()[:24]


# -- QTI 1.2 -----------------------------------------------------------------------------------


def _qti(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{QTI_NAMESPACE}}}{tag}", attrs)
    if text is not None:
        element.text = _clean(text)
    return element


def _qti_material(parent: etree._Element, text: str) -> etree._Element:
    material = _qti(parent, "material")
    _qti(material, "mattext", _html(text), texttype="text/html")
    return material


def _qti_metadata(parent: etree._Element, fields: Sequence[tuple[str, str]]) -> None:
    metadata = _qti(parent, "qtimetadata")
    for label, entry in fields:
        field = _qti(metadata, "qtimetadatafield")
        _qti(field, "fieldlabel", label)
        _qti(field, "fieldentry", entry)


def _qti_item(section: etree._Element, key: QuestionKey, name: str) -> None:
    item = _qti(section, "item", ident=key.question_id, title=name)
    item_metadata = _qti(item, "itemmetadata")
    metadata_fields = [
        ("question_type", _QTI_TYPES[key.type]),
        ("points_possible", "1.0"),
    ]
    if key.options:
        metadata_fields.append(
            ("original_answer_ids", ",".join(option.id for option in key.options))
        )
    _qti_metadata(item_metadata, metadata_fields)

    presentation = _qti(item, "presentation")
    _qti_material(presentation, key.prompt)
    if key.type in (QuestionType.MULTIPLE_CHOICE, QuestionType.MULTIPLE_RESPONSE):
        single = key.type is QuestionType.MULTIPLE_CHOICE
        response = _qti(
            presentation,
            "response_lid",
            ident=QTI_RESPONSE_IDENT,
            rcardinality="Single" if single else "Multiple",
        )
        choices = _qti(response, "render_choice")
        for option in key.options:
            label = _qti(choices, "response_label", ident=option.id)
            _qti_material(label, option.text)
    else:
        response = _qti(
            presentation, "response_str", ident=QTI_RESPONSE_IDENT, rcardinality="Single"
        )
        blank = _qti(response, "render_fib")
        _qti(blank, "response_label", ident="answer1", rshuffle="No")

    processing = _qti(item, "resprocessing")
    outcomes = _qti(processing, "outcomes")
    _qti(outcomes, "decvar", maxvalue="100", minvalue="0", varname="SCORE", vartype="Decimal")
    feedback = _qti_feedback(key)
    if feedback is not None:
        # Shown (or, for essays, given to the grader) whatever was answered.
        always = _qti(processing, "respcondition", **{"continue": "Yes"})
        _qti(_qti(always, "conditionvar"), "other")
        _qti(always, "displayfeedback", feedbacktype="Response", linkrefid="general_fb")

    if key.type is QuestionType.MULTIPLE_CHOICE:
        condition = _qti(processing, "respcondition", **{"continue": "No"})
        variable = _qti(condition, "conditionvar")
        for option in _correct_options(key):
            _qti(variable, "varequal", option.id, respident=QTI_RESPONSE_IDENT)
        _qti(condition, "setvar", "100", action="Set", varname="SCORE")
    elif key.type is QuestionType.MULTIPLE_RESPONSE:
        correct = set(key.correct_option_ids)
        condition = _qti(processing, "respcondition", **{"continue": "No"})
        both = _qti(_qti(condition, "conditionvar"), "and")
        for option in key.options:
            if option.id in correct:
                _qti(both, "varequal", option.id, respident=QTI_RESPONSE_IDENT)
            else:
                _qti(_qti(both, "not"), "varequal", option.id, respident=QTI_RESPONSE_IDENT)
        _qti(condition, "setvar", "100", action="Set", varname="SCORE")
    elif key.type is QuestionType.FILL_IN:
        condition = _qti(processing, "respcondition", **{"continue": "No"})
        variable = _qti(condition, "conditionvar")
        for form in key.accept or (key.answer,):
            _qti(variable, "varequal", form, respident=QTI_RESPONSE_IDENT, case="No")
        _qti(condition, "setvar", "100", action="Set", varname="SCORE")
    # Essays are graded by hand: no scoring condition.

    if feedback is not None:
        item.append(feedback)


def _qti_feedback(key: QuestionKey) -> etree._Element | None:
    feedback = etree.Element(f"{{{QTI_NAMESPACE}}}itemfeedback", ident="general_fb")
    if key.type is QuestionType.FREE_ANSWER:
        # The reference answer is for whoever grades the essay, hence a solution for assessors.
        feedback.set("view", "Assessor")
        solution = _qti(_qti(feedback, "solution"), "solutionmaterial")
        _qti_material(solution, key.answer)
        notes = _essay_grader_notes(key)
        if notes:
            _qti_material(solution, notes)
        return feedback
    if key.explanation:
        _qti_material(_qti(feedback, "flow_mat"), key.explanation)
        return feedback
    return None


def _default_namespace(uri: str, **prefixed: str) -> dict[Any, str]:
    # lxml spells the default namespace as the prefix None, which lxml-stubs does not accept.
    return {None: uri, **prefixed}


def _qti_assessment(
    title: str, keys: Sequence[QuestionKey], ident: str, pools: Sequence[PoolGroup] = ()
) -> bytes:
    root = etree.Element(
        f"{{{QTI_NAMESPACE}}}questestinterop",
        nsmap=_default_namespace(QTI_NAMESPACE),
    )
    assessment = _qti(root, "assessment", ident=ident, title=_clean(title))
    _qti_metadata(assessment, [("cc_maxattempts", "1")])
    section = _qti(assessment, "section", ident="root_section")
    for number, key in enumerate(keys, start=1):
        _qti_item(section, key, _question_name(title, number))
    number = len(keys)
    for group in pools:
        # A section that selects ``draw`` of its items: Canvas's question group "pick N".
        pool = _qti(section, "section", ident=f"pool_{group.line + 1}", title=group.label())
        selection = _qti(_qti(pool, "selection_ordering"), "selection")
        _qti(selection, "selection_number", str(group.draw))
        for key in group.keys:
            number += 1
            _qti_item(pool, key, _question_name(title, number))
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _manifest(ident: str, href: str) -> bytes:
    def cp(
        parent: etree._Element, tag: str, text: str | None = None, **attrs: str
    ) -> etree._Element:
        element = etree.SubElement(parent, f"{{{IMSCP_NAMESPACE}}}{tag}", attrs)
        element.text = text
        return element

    root = etree.Element(
        f"{{{IMSCP_NAMESPACE}}}manifest",
        {"identifier": f"{ident}_manifest"},
        nsmap=_default_namespace(IMSCP_NAMESPACE),
    )
    metadata = cp(root, "metadata")
    cp(metadata, "schema", "IMS Content")
    cp(metadata, "schemaversion", "1.1.3")
    cp(root, "organizations")
    resources = cp(root, "resources")
    resource = cp(resources, "resource", identifier=ident, type=QTI_RESOURCE_TYPE, href=href)
    cp(resource, "file", href=href)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def export_qti(title: str, keys: Sequence[QuestionKey], pools: Sequence[PoolGroup] = ()) -> bytes:
    """A QTI 1.2 package: ``imsmanifest.xml`` plus one ``<questestinterop>`` assessment."""
    ident = _identifier(title, [*keys, *(key for group in pools for key in group.keys)])
    href = f"{ident}/{ident}.xml"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in (
            ("imsmanifest.xml", _manifest(ident, href)),
            (href, _qti_assessment(title, keys, ident, pools)),
        ):
            entry = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            package.writestr(entry, data)
    return buffer.getvalue()


# -- GIFT --------------------------------------------------------------------------------------

_GIFT_SPECIAL = re.compile(r"([~=#{}:])")


def gift_escape(text: str) -> str:
    """Text for GIFT: ``~ = # { } :`` escaped with a backslash, line breaks as ``\\n`` (a blank
    line would end the question). Other backslashes stay as they are: Moodle keeps a backslash
    that does not precede one of these characters."""
    return _GIFT_SPECIAL.sub(r"\\\1", _clean(text)).replace("\n", r"\n")


def _gift_short_answer(text: str) -> str:
    # Moodle's short answers treat * as a wildcard; \* is a literal asterisk.
    return gift_escape(text).replace("*", r"\*")


def _gift_question(key: QuestionKey, name: str) -> str:
    head = f"::{gift_escape(name)}::[plain]{gift_escape(key.prompt)} {{"
    general = f"####{gift_escape(key.explanation)}" if key.explanation else ""
    if key.type is QuestionType.MULTIPLE_CHOICE:
        correct = set(key.correct_option_ids)
        lines = [
            f"{'=' if option.id in correct else '~'}{gift_escape(option.text)}"
            for option in key.options
        ]
    elif key.type is QuestionType.MULTIPLE_RESPONSE:
        weights = _response_weights(key)
        lines = [f"~%{weights[option.id]}%{gift_escape(option.text)}" for option in key.options]
    elif key.type is QuestionType.FILL_IN:
        lines = [f"={_gift_short_answer(form)}" for form in key.accept or (key.answer,)]
    else:
        lines = []
        general = f"####{gift_escape(key.answer)}"
    return "\n".join([head, *(f"\t{line}" for line in lines), *([general] if general else []), "}"])


def _gift_category(title: str) -> str:
    # Moodle splits category paths at "/"; "//" stands for a slash inside a name.
    return "$course$/top/" + " ".join(_clean(title).split()).replace("/", "//")


def _pool_category(title: str, group: PoolGroup) -> str:
    # A subcategory of the exam's: "//" keeps a slash in the title from nesting deeper.
    return f"{_gift_category(title)}/{group.label()}"


def export_gift(title: str, keys: Sequence[QuestionKey], pools: Sequence[PoolGroup] = ()) -> str:
    """The exam as GIFT: one category named after the exam, one question per key; each pool
    line in a subcategory of its own, from which the quiz adds ``draw`` random questions."""
    blocks = [
        f"// {' '.join(_clean(title).split())}\n$CATEGORY: {_gift_category(title)}",
        *(
            _gift_question(key, _question_name(title, number))
            for number, key in enumerate(keys, start=1)
        ),
    ]
    number = len(keys)
    for group in pools:
        blocks.append(
            f"// {group.label()}: add {group.draw} random question(s) from this category"
            f" to the quiz\n$CATEGORY: {_pool_category(title, group)}"
        )
        for key in group.keys:
            number += 1
            blocks.append(_gift_question(key, _question_name(title, number)))
    return "\n\n".join(blocks) + "\n"


# -- Moodle XML --------------------------------------------------------------------------------


def _moodle_text(parent: etree._Element, tag: str, text: str, fmt: str = "html") -> etree._Element:
    element = etree.SubElement(parent, tag, format=fmt) if fmt else etree.SubElement(parent, tag)
    etree.SubElement(element, "text").text = _html(text) if fmt == "html" else _clean(text)
    return element


def _moodle_answer(parent: etree._Element, fraction: str, text: str, fmt: str) -> None:
    answer = etree.SubElement(parent, "answer", fraction=fraction, format=fmt)
    etree.SubElement(answer, "text").text = _html(text) if fmt == "html" else _clean(text)
    feedback = etree.SubElement(answer, "feedback", format="html")
    etree.SubElement(feedback, "text").text = ""


def _moodle_question(quiz: etree._Element, key: QuestionKey, name: str) -> None:
    kind = {
        QuestionType.MULTIPLE_CHOICE: "multichoice",
        QuestionType.MULTIPLE_RESPONSE: "multichoice",
        QuestionType.FILL_IN: "shortanswer",
        QuestionType.FREE_ANSWER: "essay",
    }[key.type]
    question = etree.SubElement(quiz, "question", type=kind)
    _moodle_text(question, "name", name, fmt="")
    _moodle_text(question, "questiontext", key.prompt)
    general = key.explanation if key.type is not QuestionType.FREE_ANSWER else None
    _moodle_text(question, "generalfeedback", general or "")
    etree.SubElement(question, "defaultgrade").text = "1"
    etree.SubElement(question, "penalty").text = "0"
    etree.SubElement(question, "hidden").text = "0"
    etree.SubElement(question, "idnumber").text = _clean(key.question_id)

    if kind == "multichoice":
        single = key.type is QuestionType.MULTIPLE_CHOICE
        etree.SubElement(question, "single").text = "true" if single else "false"
        etree.SubElement(question, "shuffleanswers").text = "true"
        etree.SubElement(question, "answernumbering").text = "abc"
        correct = set(key.correct_option_ids)
        fractions = (
            {option.id: "100" if option.id in correct else "0" for option in key.options}
            if single
            else _response_weights(key)
        )
        for option in key.options:
            _moodle_answer(question, fractions[option.id], option.text, "html")
    elif kind == "shortanswer":
        etree.SubElement(question, "usecase").text = "0"
        for form in key.accept or (key.answer,):
            # Moodle's short answers treat * as a wildcard; \* is a literal asterisk.
            _moodle_answer(question, "100", form.replace("*", r"\*"), "moodle_auto_format")
    else:
        etree.SubElement(question, "responseformat").text = "editor"
        etree.SubElement(question, "responserequired").text = "1"
        etree.SubElement(question, "responsefieldlines").text = "15"
        etree.SubElement(question, "attachments").text = "0"
        etree.SubElement(question, "attachmentsrequired").text = "0"
        grader = etree.SubElement(question, "graderinfo", format="html")
        paragraphs = [key.answer, _essay_grader_notes(key)]
        etree.SubElement(grader, "text").text = "\n".join(
            f"<p>{_html(paragraph)}</p>" for paragraph in paragraphs if paragraph
        )
        _moodle_text(question, "responsetemplate", "")


def export_moodle_xml(
    title: str, keys: Sequence[QuestionKey], pools: Sequence[PoolGroup] = ()
) -> bytes:
    """The exam as a Moodle XML ``<quiz>``: one category named after the exam, then the
    questions; each pool line in a subcategory of its own (its description says how many
    random questions to add from it). Text is HTML (escaped, so card text shows as written)
    inside XML escaping."""
    quiz = etree.Element("quiz")
    category = etree.SubElement(quiz, "question", type="category")
    _moodle_text(category, "category", _gift_category(title), fmt="")
    for number, key in enumerate(keys, start=1):
        _moodle_question(quiz, key, _question_name(title, number))
    number = len(keys)
    for group in pools:
        category = etree.SubElement(quiz, "question", type="category")
        _moodle_text(category, "category", _pool_category(title, group), fmt="")
        _moodle_text(
            category,
            "info",
            f"Add {group.draw} random question(s) from this category to the quiz.",
        )
        for key in group.keys:
            number += 1
            _moodle_question(quiz, key, _question_name(title, number))
    return bytes(etree.tostring(quiz, xml_declaration=True, encoding="UTF-8", pretty_print=True))
