"""Imports of the question banks learning platforms export: IMS QTI 1.2 (a package or a bare
``<questestinterop>`` document), Moodle GIFT and Moodle XML.

Each parser reads the file into neutral items; one assembler turns them into a validated
deck: choice questions become authored questions (4 to 6 options, each with its rationale),
short answers and essays become cards tagged ``fill-in`` and ``free-answer`` so that they
export again as the same kind. Every item the bank cannot represent (hot spots, matching,
numeric and calculated questions, partial credit, essays with no reference answer, ...) is
left out and listed in :attr:`ImportedDeck.skipped` with its line or identifier; a file that
is not well formed raises :class:`DeckImportError` naming the line and item, and nothing of
it is kept.

XML is parsed by lxml with entities, DTD loading and network access all off; a document that
declares entities is refused.
"""

from __future__ import annotations

import html
import io
import re
import tempfile
import zipfile
import zlib
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from lxml import etree

from quizsvc.bank.importers import (
    ID_STEM_LENGTH,
    MAX_TEXT,
    DeckImportError,
    ImportedDeck,
    clean_text,
    require_slug,
    skipped_line,
    slugify,
    split_key_points,
    topic_from,
    unique_id,
)
from quizsvc.bank.loader import normalize_text, validate_bank
from quizsvc.bank.model import AuthoredOption, AuthoredQuestion, Card, Deck
from quizsvc.bank.writer import deck_files, write_deck
from quizsvc.exams.model import Option, QuestionKey, QuestionType

__all__ = [
    "FILL_IN_TAG",
    "FREE_ANSWER_TAG",
    "IMPORT_FORMATS",
    "detect_format",
    "import_bank_file",
    "import_gift",
    "import_moodle_xml",
    "import_qti",
    "question_keys",
    "write_imported_deck",
]

#: Format name -> what it reads, for the CLI and the API.
IMPORT_FORMATS = {
    "qti": "IMS QTI 1.2: a package (.zip with imsmanifest.xml) or one questestinterop XML file",
    "gift": "Moodle GIFT text",
    "moodle": "Moodle XML (<quiz>)",
}
#: Cards made from short-answer questions carry this tag and export again as fill-in.
FILL_IN_TAG = "fill-in"
#: Cards made from essays carry this tag and export again as free answers.
FREE_ANSWER_TAG = "free-answer"
#: The blank of a question whose answer goes inside its text.
BLANK = "_____"
#: Authored questions carry 4 to 6 options (bank/schema.json).
MIN_OPTIONS, MAX_OPTIONS = 4, 6
#: A multiple response question asks for 2 or 3 options (bank/schema.json).
MIN_SELECT, MAX_SELECT = 2, 3
#: Members of a QTI package larger than this are refused rather than read into memory.
MAX_MEMBER_BYTES = 32 << 20
#: Rationales for options whose file gives no feedback of their own.
RIGHT_RATIONALE = "This option is correct."
WRONG_RATIONALE = "This option is not correct."
_KEY_POINTS_HEADING = "key points:"
_BLANK_MARK = "\ue001"


@dataclass
class _Choice:
    text: str
    correct: bool
    feedback: str | None = None


@dataclass
class _Item:
    """One question read from a file, before it becomes a card or an authored question."""

    where: str
    #: "multiple_choice", "multiple_response", "short_answer" or "essay".
    kind: str
    text: str
    topic: str | None = None
    options: list[_Choice] = field(default_factory=list)
    #: Short answer: the accepted forms; essay: the reference answer.
    answers: list[str] = field(default_factory=list)
    key_points: list[str] = field(default_factory=list)
    explanation: str | None = None


@dataclass(frozen=True)
class _Skip:
    where: str
    reason: str


_Read = _Item | _Skip


# -- text --------------------------------------------------------------------------------------


def _from_html(fragment: str) -> str:
    """Plain text of an HTML fragment: raw line breaks are spaces in HTML, tags become lines."""
    return clean_text(re.sub(r"\s*\n\s*", " ", fragment), any_tag=True)


def _plain(text: str) -> str:
    return clean_text(text, markup=False)


def _split_key_points(text: str) -> tuple[str, list[str]]:
    """A grader note "reference ... Key points: - a - b" as (reference, key points)."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.strip().lower() == _KEY_POINTS_HEADING:
            points = [re.sub(r"^[-*•]\s*", "", item).strip() for item in lines[index + 1 :]]
            return "\n".join(lines[:index]).strip(), [point for point in points if point]
    return text.strip(), []


def _place_blank(text: str) -> str:
    """The blank stays where the answer goes inside the text; one at the very end is dropped
    (the question simply asks for the answer)."""
    head, _, tail = text.partition(_BLANK_MARK)
    tail = tail.replace(_BLANK_MARK, "")
    return f"{head}{BLANK}{tail}" if tail.strip() else head


# -- XML ---------------------------------------------------------------------------------------


def _xml_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def _parse_xml(data: bytes, file_name: str, member: str | None = None) -> etree._Element:
    """The root of a well-formed document, namespaces stripped; entity declarations refused."""
    where_prefix = f"{member}: " if member else ""
    # Entities are never expanded (resolve_entities=False); a document that declares any is
    # refused outright rather than read with its references left in.
    if re.search(rb"<!ENTITY", data, re.IGNORECASE):
        raise DeckImportError(
            file_name,
            "the document declares XML entities, which are refused (entity expansion attacks)",
            member,
        )
    try:
        root = etree.fromstring(data, _xml_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        reason = str(exc.msg or exc).split(", line ")[0]
        where = f"{where_prefix}line {line}" if line else (member or None)
        raise DeckImportError(file_name, f"not well-formed XML: {reason}", where) from None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
    return root


def _line(element: etree._Element) -> int:
    line: int | None = getattr(element, "sourceline", None)
    return line or 0


def _child(element: etree._Element, tag: str) -> etree._Element | None:
    return next((child for child in element if child.tag == tag), None)


def _child_text(element: etree._Element, *path: str) -> str:
    node: etree._Element | None = element
    for tag in path:
        node = _child(node, tag) if node is not None else None
    return (node.text or "") if node is not None else ""


# -- QTI 1.2 -----------------------------------------------------------------------------------

_QTI_RESPONSES = {
    "response_lid",
    "response_str",
    "response_num",
    "response_xy",
    "response_grp",
    "response_extension",
}
_QTI_UNSUPPORTED_RESPONSES = {
    "response_num": "a numeric response",
    "response_xy": "an x-y (hot spot) response",
    "response_grp": "a grouping (matching) response",
    "response_extension": "a vendor extension response",
}
_QTI_UNSUPPORTED_RENDERS = {
    "render_hotspot": "an image hot spot",
    "render_slider": "a slider",
    "render_extension": "a vendor extension rendering",
}
#: Canvas's question types (item metadata ``question_type``) the bank has no kind for.
_CANVAS_UNSUPPORTED = {
    "calculated_question": "a calculated question",
    "numerical_question": "a numerical question",
    "matching_question": "a matching question",
    "fill_in_multiple_blanks_question": "several blanks in one question",
    "multiple_dropdowns_question": "several drop-downs in one question",
    "file_upload_question": "a file upload",
    "text_only_question": "text only (no question)",
    "true_false_question": "a true/false question (authored questions have 4 to 6 options)",
}


def _inside(element: etree._Element, tag: str, stop: etree._Element) -> bool:
    for ancestor in element.iterancestors():
        if ancestor is stop:
            return False
        if ancestor.tag == tag:
            return True
    return False


def _qti_html(container: etree._Element, skip_inside: str | None = None) -> tuple[str, bool]:
    """The text of every mattext under ``container`` in document order, as HTML (plain text
    escaped), with a blank mark where a string response sits; and whether an image, sound or
    video is part of it."""
    parts: list[str] = []
    media = False
    for element in container.iter():
        if not isinstance(element.tag, str):
            continue
        if skip_inside and _inside(element, skip_inside, container):
            continue
        if element.tag in {"mattext", "matemtext"}:
            raw = element.text or ""
            if (element.get("texttype") or "text/plain").lower() == "text/html":
                parts.append(raw)
            else:
                parts.append(html.escape(re.sub(r"\s+", " ", raw), quote=False))
        elif element.tag == "matbreak":
            parts.append("<br>")
        elif element.tag in {"matimage", "mataudio", "matvideo", "matapplet", "matapplication"}:
            media = True
        elif element.tag in {"response_str", "response_num"} and element is not container:
            parts.append(_BLANK_MARK)
    return "".join(parts), media


def _qti_where(ident: str, element: etree._Element, member: str | None) -> str:
    where = f"item {ident!r} (line {_line(element)})"
    return f"{member}: {where}" if member else where


def _qti_metadata(item: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for metadata_field in item.iter("qtimetadatafield"):
        label = _child_text(metadata_field, "fieldlabel").strip()
        if label:
            found[label] = _child_text(metadata_field, "fieldentry").strip()
    return found


def _qti_topic(item: etree._Element) -> str | None:
    for ancestor in item.iterancestors():
        if ancestor.tag in {"section", "assessment", "objectbank"} and (
            ancestor.get("title") or ""
        ):
            title = ancestor.get("title") or ""
            return title
    return None


@dataclass
class _Condition:
    score: float
    #: respident -> values it must equal (not negated)
    values: dict[str, list[str]]
    always: bool
    feedback: list[str]
    substring: bool


def _qti_conditions(item: etree._Element, where: str, file_name: str) -> list[_Condition]:
    conditions = []
    for processing in item.iter("resprocessing"):
        # After a scoring condition that stops processing (continue="No"), a condition that
        # always holds is reached only by wrong answers: Canvas's "general_incorrect_fb".
        only_when_wrong = False
        for condition in processing.iter("respcondition"):
            variable = _child(condition, "conditionvar")
            values: dict[str, list[str]] = {}
            always = False
            substring = False
            if variable is not None:
                for test in variable.iter():
                    if test.tag == "other":
                        always = True
                    if test.tag == "varsubstring":
                        substring = True
                    if test.tag == "varequal" and not _inside(test, "not", variable):
                        values.setdefault(test.get("respident") or "", []).append(
                            (test.text or "").strip()
                        )
            score = 0.0
            for setvar in condition.iter("setvar"):
                if (setvar.get("action") or "Set") in {"Set", "Add"}:
                    try:
                        score = max(score, float((setvar.text or "0").strip()))
                    except ValueError:
                        raise DeckImportError(
                            file_name,
                            f"setvar value {setvar.text!r} (line {_line(setvar)}) is not a number",
                            where,
                        ) from None
            feedback = [
                link
                for display in condition.iter("displayfeedback")
                if (link := display.get("linkrefid") or "")
            ]
            if always and only_when_wrong:
                continue
            conditions.append(_Condition(score, values, always, feedback, substring))
            if score > 0 and (condition.get("continue") or "No") == "No":
                only_when_wrong = True
    return conditions


def _qti_feedback(item: etree._Element) -> dict[str, tuple[str, list[str]]]:
    """itemfeedback ident -> (its text, the texts of its solution materials)."""
    found: dict[str, tuple[str, list[str]]] = {}
    for feedback in item.iter("itemfeedback"):
        ident = feedback.get("ident") or ""
        solutions = []
        for solution in feedback.iter("solutionmaterial"):
            for material in solution.iter("material"):
                text = _from_html(_qti_html(material)[0])
                if text:
                    solutions.append(text)
        direct = [child for child in feedback if child.tag in {"flow_mat", "material"}]
        text = "\n".join(_from_html(_qti_html(part)[0]) for part in direct).strip()
        found[ident] = (text, solutions)
    return found


def _qti_item(item: etree._Element, file_name: str, member: str | None, seen: set[str]) -> _Read:
    ident = item.get("ident")
    if not ident:
        raise DeckImportError(
            file_name,
            "an <item> has no ident attribute (QTI requires one)",
            f"{member + ': ' if member else ''}line {_line(item)}",
        )
    where = _qti_where(ident, item, member)
    if ident in seen:
        raise DeckImportError(file_name, f"item ident {ident!r} is used twice", where)
    seen.add(ident)
    canvas_type = _qti_metadata(item).get("question_type", "")
    if canvas_type in _CANVAS_UNSUPPORTED:
        return _Skip(where, f"{_CANVAS_UNSUPPORTED[canvas_type]} ({canvas_type})")
    presentation = next(item.iter("presentation"), None)
    if presentation is None:
        return _Skip(where, "the item has no presentation (nothing to ask)")
    responses = [element for element in presentation.iter() if element.tag in _QTI_RESPONSES]
    if not responses:
        return _Skip(where, "the item asks for no response (text only)")
    if len(responses) > 1:
        return _Skip(
            where,
            f"{len(responses)} responses in one item (several blanks or parts); one is supported",
        )
    response = responses[0]
    if response.tag in _QTI_UNSUPPORTED_RESPONSES:
        return _Skip(where, f"{_QTI_UNSUPPORTED_RESPONSES[response.tag]} is not supported")
    render = next((child for child in response.iter() if child.tag.startswith("render_")), None)
    if render is not None and render.tag in _QTI_UNSUPPORTED_RENDERS:
        return _Skip(where, f"{_QTI_UNSUPPORTED_RENDERS[render.tag]} is not supported")
    stem_html, media = _qti_html(presentation, skip_inside="response_label")
    if media:
        return _Skip(where, "the question shows an image, sound or video (media are not imported)")
    text = _place_blank(_from_html(stem_html)).strip()
    if not text:
        return _Skip(where, "the question has no text")
    response_ident = response.get("ident") or ""
    conditions = _qti_conditions(item, where, file_name)
    feedback = _qti_feedback(item)

    def feedback_text(links: Sequence[str]) -> str | None:
        texts = [feedback[link][0] for link in links if link in feedback and feedback[link][0]]
        return "\n".join(texts) or None

    general = [c for c in conditions if c.always and c.score <= 0]
    explanation = feedback_text([link for c in general for link in c.feedback])
    scoring = [c for c in conditions if c.score > 0]
    topic = _qti_topic(item)

    if response.tag == "response_lid":
        if render is None:
            return _Skip(where, "a choice with no rendering is not supported")
        if render.tag != "render_choice":
            return _Skip(where, f"{render.tag} is not supported")
        cardinality = response.get("rcardinality") or "Single"
        if cardinality == "Ordered":
            return _Skip(where, "an ordering question is not supported")
        labels = list(render.iter("response_label"))
        options: dict[str, _Choice] = {}
        for label in labels:
            label_ident = label.get("ident") or ""
            option_html, option_media = _qti_html(label)
            option_text = _from_html(option_html)
            if option_media or not option_text:
                return _Skip(where, f"option {label_ident!r} has no text (media are not imported)")
            if label_ident in options:
                raise DeckImportError(
                    file_name, f"option ident {label_ident!r} is used twice", where
                )
            options[label_ident] = _Choice(option_text, False)
        for condition in conditions:
            for value in condition.values.get(response_ident, []):
                if value not in options:
                    raise DeckImportError(
                        file_name,
                        f"the scoring names option {value!r}, which the item does not have "
                        f"(options: {', '.join(options)})",
                        where,
                    )
        if not scoring:
            return _Skip(where, "no option is marked correct")
        if len({c.score for c in scoring}) > 1:
            return _Skip(where, "partial credit (options that score differently) is not supported")
        correct = {value for c in scoring for value in c.values.get(response_ident, [])}
        if not correct:
            return _Skip(where, "no option is marked correct")
        for option_ident in correct:
            options[option_ident].correct = True
        for condition in conditions:
            named = condition.values.get(response_ident, [])
            text_of_feedback = feedback_text(condition.feedback)
            if text_of_feedback and len(named) == 1 and not condition.always:
                options[named[0]].feedback = text_of_feedback
            elif text_of_feedback and condition.score > 0:
                # Feedback on the whole right answer (several options): the explanation.
                explanation = "\n".join(filter(None, [explanation, text_of_feedback]))
        kind = "multiple_choice" if cardinality == "Single" else "multiple_response"
        return _Item(where, kind, text, topic, list(options.values()), explanation=explanation)

    # A string response: a short answer when answers score, else an essay.
    fib = next(response.iter("render_fib"), None)
    if fib is not None and (fib.get("fibtype") or "String") in {"Integer", "Decimal", "Scientific"}:
        return _Skip(where, "a numeric fill-in is not supported")
    if any(c.substring for c in scoring):
        return _Skip(where, "substring answers (varsubstring) are not supported")
    answers = list(
        dict.fromkeys(
            _plain(value) for c in scoring for value in c.values.get(response_ident, []) if value
        )
    )
    if len({c.score for c in scoring}) > 1:
        return _Skip(where, "partial credit (answers that score differently) is not supported")
    if answers:
        right_feedback = feedback_text([link for c in scoring for link in c.feedback])
        return _Item(
            where,
            "short_answer",
            text,
            topic,
            answers=answers,
            explanation=explanation or right_feedback,
        )
    solutions = [text for _, found in feedback.values() for text in found]
    if not solutions:
        return _Skip(where, "an essay with no reference answer cannot be graded")
    reference, key_points = solutions[0], []
    for note in solutions[1:]:
        _, points = _split_key_points(note)
        key_points.extend(points)
    return _Item(where, "essay", text, topic, answers=[reference], key_points=key_points)


def _qti_documents(data: bytes, file_name: str) -> Iterator[tuple[str | None, etree._Element]]:
    """(member name or None, root) of each QTI document of a package, or of the file itself."""
    if not data.startswith(b"PK\x03\x04"):
        yield None, _parse_xml(data, file_name)
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise DeckImportError(file_name, "not a valid zip package") from None
    with archive:
        names = [
            info.filename
            for info in archive.infolist()
            if info.filename.lower().endswith(".xml")
            and info.filename.lower() != "imsmanifest.xml"
            and not info.is_dir()
        ]
        if "imsmanifest.xml" in archive.namelist():
            manifest = _parse_xml(
                _read_member(archive, "imsmanifest.xml", file_name), file_name, "imsmanifest.xml"
            )
            listed = [
                resource.get("href") or ""
                for resource in manifest.iter("resource")
                if (resource.get("type") or "").startswith("imsqti_xmlv1p2")
            ]
            listed = [href for href in listed if href in archive.namelist()]
            if listed:
                names = listed
        found = False
        for name in names:
            root = _parse_xml(_read_member(archive, name, file_name), file_name, name)
            if root.tag == "questestinterop":
                found = True
                yield name, root
        if not found:
            raise DeckImportError(file_name, "the package holds no QTI questestinterop document")


def _read_member(archive: zipfile.ZipFile, name: str, file_name: str) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise DeckImportError(file_name, f"{name} is too large ({info.file_size} bytes)")
    try:
        return archive.read(name)
    # A damaged archive fails in zlib, or as an encrypted or unknown-compression member.
    except (
        zipfile.BadZipFile,
        OSError,
        EOFError,
        ValueError,
        zlib.error,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise DeckImportError(file_name, f"cannot read {name}: {exc}") from None


def _read_qti(data: bytes, file_name: str) -> list[_Read]:
    read: list[_Read] = []
    seen: set[str] = set()
    for member, root in _qti_documents(data, file_name):
        if root.tag != "questestinterop":
            raise DeckImportError(
                file_name, f"the root element is <{root.tag}>, not QTI's <questestinterop>", member
            )
        for item in root.iter("item"):
            read.append(_qti_item(item, file_name, member, seen))
    return read


# -- GIFT --------------------------------------------------------------------------------------

_GIFT_SPECIALS = "~=#{}:"
_GIFT_FORMATS = {"html", "plain", "moodle", "markdown"}


def _gift_unescape(text: str, short_answer: bool = False) -> str:
    """GIFT's escapes undone: ``\\~ \\= \\# \\{ \\} \\:`` and ``\\n``; other backslashes stay
    (Moodle keeps them). In short answers ``\\*`` is a literal asterisk."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        following = text[index + 1] if index + 1 < len(text) else ""
        if char == "\\" and (following in _GIFT_SPECIALS or following == "n"):
            out.append("\n" if following == "n" else following)
            index += 2
        elif char == "\\" and short_answer and following == "*":
            out.append("*")
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def _gift_find(text: str, target: str, start: int = 0) -> int:
    """Index of the first unescaped ``target`` at or after ``start``, or -1."""
    index = start
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text.startswith(target, index):
            return index
        index += 1
    return -1


def _gift_split(text: str, markers: str) -> list[str]:
    """``text`` cut before every unescaped character of ``markers``."""
    parts: list[str] = []
    start = index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] in markers and index > start:
            parts.append(text[start:index])
            start = index
        index += 1
    parts.append(text[start:])
    return [part for part in parts if part]


def _gift_text(raw: str, fmt: str) -> str:
    text = _gift_unescape(raw)
    if fmt == "html":
        return _from_html(text)
    if fmt == "plain":
        return _plain(text)
    return clean_text(text)


def _gift_blocks(text: str) -> Iterator[tuple[int, str]]:
    """(first line, text) of each block of lines between blank lines; comment lines
    ("//" at the start) are left out."""
    block: list[str] = []
    first = 0
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        if not stripped:
            if block:
                yield first, "\n".join(block)
            block = []
            continue
        if not block:
            first = number
        block.append(line.rstrip("\r"))
    if block:
        yield first, "\n".join(block)


def _gift_weight(token: str, file_name: str, where: str) -> tuple[float | None, str]:
    if not token.startswith("%"):
        return None, token
    end = token.find("%", 1)
    try:
        if end < 0:
            raise ValueError
        return float(token[1:end]), token[end + 1 :]
    except ValueError:
        raise DeckImportError(
            file_name, f"answer weight in {token[:20]!r} is not %number%", where
        ) from None


def _gift_question(block: str, line: int, category: str | None, file_name: str) -> _Read:
    where = f"line {line}"
    rest = block.strip()
    if rest.startswith("::"):
        end = _gift_find(rest, "::", 2)
        if end < 0:
            raise DeckImportError(file_name, "the title opened with '::' is not closed", where)
        name = _gift_unescape(rest[2:end]).strip()
        where = f"line {line} ({name!r})" if name else where
        rest = rest[end + 2 :].lstrip()
    fmt = "moodle"
    format_match = re.match(r"\[(\w+)\]", rest)
    if format_match and format_match.group(1).lower() in _GIFT_FORMATS:
        fmt = format_match.group(1).lower()
        rest = rest[format_match.end() :]
    opening = _gift_find(rest, "{")
    if opening < 0:
        if _gift_find(rest, "}") >= 0:
            raise DeckImportError(file_name, "a '}' closes no answer block", where)
        return _Skip(where, "no answer block in braces (a description, not a question)")
    closing = _gift_find(rest, "}", opening + 1)
    if closing < 0:
        raise DeckImportError(file_name, "the answer block opened with '{' is not closed", where)
    inner = rest[opening + 1 : closing]
    nested = _gift_find(inner, "{")
    if nested >= 0:
        raise DeckImportError(file_name, "a '{' inside an answer block (escape it as \\{)", where)
    after = rest[closing + 1 :]
    if _gift_find(after, "{") >= 0:
        return _Skip(where, "several answer blocks in one question are not supported")
    before_text = rest[:opening]
    text = _place_blank(_gift_text(before_text + _BLANK_MARK + after, fmt)).strip()
    if not text:
        return _Skip(where, "the question has no text")

    body = inner.strip()
    general_at = _gift_find(body, "####")
    explanation = None
    if general_at >= 0:
        explanation = _gift_text(body[general_at + 4 :], fmt) or None
        body = body[:general_at].strip()
    if not body:
        if explanation:
            return _Item(where, "essay", text, category, answers=[explanation])
        return _Skip(where, "an essay with no reference answer cannot be graded")
    if body.startswith("#"):
        return _Skip(where, "a numerical question is not supported")
    if re.fullmatch(r"(?i)(t|f|true|false)(\s*#.*)?", body, flags=re.DOTALL):
        return _Skip(where, "a true/false question (authored questions have 4 to 6 options)")
    if body[0] not in "=~":
        raise DeckImportError(
            file_name, f"the answer block must start with '=' or '~', not {body[:20]!r}", where
        )
    choices: list[tuple[str, float | None, str, str | None]] = []
    for token in _gift_split(body, "=~"):
        marker, content = token[0], token[1:].strip()
        weight, content = _gift_weight(content, file_name, where)
        feedback_at = _gift_find(content, "#")
        feedback = None
        if feedback_at >= 0:
            feedback = _gift_text(content[feedback_at + 1 :], fmt) or None
            content = content[:feedback_at]
        if marker == "=" and _gift_find(content, "->") >= 0:
            return _Skip(where, "a matching question is not supported")
        choices.append((marker, weight, content.strip(), feedback))

    if all(marker == "=" for marker, _, _, _ in choices):
        if any(weight is not None and weight != 100 for _, weight, _, _ in choices):
            return _Skip(where, "partial credit answers are not supported")
        forms = []
        for _, _, content, _ in choices:
            if re.search(r"(?<!\\)\*", content):
                return _Skip(where, "wildcard (*) answers are not supported")
            forms.append(_plain(_gift_unescape(content, short_answer=True)))
        return _Item(where, "short_answer", text, category, answers=forms, explanation=explanation)

    options = []
    positive: list[float] = []
    for marker, weight, content, feedback in choices:
        option_text = _gift_text(content, fmt)
        if marker == "=":
            if weight is not None and weight != 100:
                return _Skip(where, "partial credit answers are not supported")
            correct = True
            positive.append(100.0)
        else:
            correct = weight is not None and weight > 0
            if correct and weight is not None:
                positive.append(weight)
        options.append(_Choice(option_text, correct, feedback))
    right = [option for option in options if option.correct]
    if not right:
        return _Skip(where, "no option is marked correct")
    has_full = any(marker == "=" for marker, _, _, _ in choices)
    if has_full:
        if len(right) > 1:
            return _Skip(where, "several right answers in a single-choice question")
        kind = "multiple_choice"
    else:
        share = 100 / len(right)
        if any(abs(weight - share) > 0.01 for weight in positive):
            return _Skip(where, "partial credit (options that score differently) is not supported")
        kind = "multiple_response"
    return _Item(where, kind, text, category, options, explanation=explanation)


def _gift_category(line: str) -> str | None:
    path = line.split(":", 1)[1].strip()
    # "//" stands for a slash inside a name.
    parts = [part.replace("\0", "/") for part in path.replace("//", "\0").split("/")]
    names = [
        part.strip()
        for part in parts
        if part.strip() not in {"", "$course$", "$system$", "$module$", "$cat1$", "top"}
    ]
    return names[-1] if names else None


def _read_gift(data: bytes, file_name: str) -> list[_Read]:
    text = _decode_text(data, file_name)
    read: list[_Read] = []
    category: str | None = None
    for line, block in _gift_blocks(text):
        lines = block.split("\n")
        if lines[0].strip().startswith("$CATEGORY:"):
            category = _gift_category(lines[0].strip())
            block = "\n".join(lines[1:])
            line += 1
            if not block.strip():
                continue
        read.append(_gift_question(block, line, category, file_name))
    return read


def _decode_text(data: bytes, file_name: str) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DeckImportError(
            file_name, "not valid UTF-8; save the file as UTF-8", f"line {line}"
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


# -- Moodle XML --------------------------------------------------------------------------------

_MOODLE_UNSUPPORTED = {
    "truefalse": "a true/false question (authored questions have 4 to 6 options)",
    "matching": "a matching question",
    "randomsamatch": "a random short-answer matching question",
    "numerical": "a numerical question",
    "calculated": "a calculated question",
    "calculatedsimple": "a calculated question",
    "calculatedmulti": "a calculated multiple choice question",
    "multianswer": "an embedded answers (cloze) question",
    "description": "a description (no question)",
    "ddwtos": "a drag and drop into text question",
    "gapselect": "a select missing words question",
    "ddimageortext": "a drag and drop onto image question",
    "ddmarker": "a drag and drop markers question",
    "ordering": "an ordering question",
    "random": "a random question placeholder",
}


def _moodle_text(element: etree._Element | None) -> str:
    if element is None:
        return ""
    raw = _child_text(element, "text")
    fmt = (element.get("format") or "html").lower()
    if fmt == "plain_text":
        return _plain(raw)
    if fmt == "markdown":
        return clean_text(raw)
    return _from_html(raw)


def _moodle_fraction(answer: etree._Element, file_name: str, where: str) -> float:
    try:
        return float(answer.get("fraction") or "")
    except ValueError:
        raise DeckImportError(
            file_name,
            f"answer at line {_line(answer)} has no numeric fraction ({answer.get('fraction')!r})",
            where,
        ) from None


def _moodle_question(question: etree._Element, category: str | None, file_name: str) -> _Read:
    kind = question.get("type") or ""
    name = _child_text(question, "name", "text").strip()
    where = f"question {name!r} (line {_line(question)})" if name else f"line {_line(question)}"
    if not kind:
        raise DeckImportError(file_name, "a <question> has no type attribute", where)
    if kind in _MOODLE_UNSUPPORTED:
        return _Skip(where, f"{_MOODLE_UNSUPPORTED[kind]} ({kind}) is not supported")
    if kind not in {"multichoice", "shortanswer", "essay"}:
        return _Skip(where, f"question type {kind!r} is not supported")
    question_text = _child(question, "questiontext")
    if question_text is not None and re.search(
        r"<img\b", _child_text(question_text, "text"), re.IGNORECASE
    ):
        return _Skip(where, "the question shows an image (images are not imported)")
    text = _moodle_text(question_text)
    if not text:
        return _Skip(where, "the question has no text")
    explanation = _moodle_text(_child(question, "generalfeedback")) or None
    answers = [child for child in question if child.tag == "answer"]

    if kind == "essay":
        grader = _moodle_text(_child(question, "graderinfo"))
        if not grader:
            return _Skip(where, "an essay with no reference answer (grader information)")
        reference, key_points = _split_key_points(grader)
        if not reference:
            return _Skip(where, "an essay with no reference answer (grader information)")
        return _Item(where, "essay", text, category, answers=[reference], key_points=key_points)

    if kind == "shortanswer":
        forms = []
        for answer in answers:
            fraction = _moodle_fraction(answer, file_name, where)
            if 0 < fraction < 100:
                return _Skip(where, "partial credit answers are not supported")
            if fraction < 100:
                continue
            raw = _child_text(answer, "text")
            if re.search(r"(?<!\\)\*", raw):
                return _Skip(where, "wildcard (*) answers are not supported")
            forms.append(_plain(raw.replace("\\*", "*")))
        if not forms:
            return _Skip(where, "no answer has full marks")
        if _child_text(question, "usecase").strip() == "1":
            return _Skip(where, "case-sensitive answers are not supported")
        return _Item(where, "short_answer", text, category, answers=forms, explanation=explanation)

    single = _child_text(question, "single").strip().lower() not in {"false", "0"}
    options = []
    positive = []
    for answer in answers:
        fraction = _moodle_fraction(answer, file_name, where)
        option_text = _moodle_text(answer)
        if not option_text:
            return _Skip(where, f"the answer at line {_line(answer)} has no text (images?)")
        if fraction > 0:
            positive.append(fraction)
        options.append(
            _Choice(option_text, fraction > 0, _moodle_text(_child(answer, "feedback")) or None)
        )
    if not positive:
        return _Skip(where, "no option is marked correct")
    if single:
        if positive != [100.0]:
            return _Skip(where, "partial credit or several right answers in single choice")
        return _Item(where, "multiple_choice", text, category, options, explanation=explanation)
    share = 100 / len(positive)
    if any(abs(fraction - share) > 0.01 for fraction in positive):
        return _Skip(where, "partial credit (options that score differently) is not supported")
    return _Item(where, "multiple_response", text, category, options, explanation=explanation)


def _read_moodle(data: bytes, file_name: str) -> list[_Read]:
    root = _parse_xml(data, file_name)
    if root.tag != "quiz":
        raise DeckImportError(
            file_name,
            f"the root element is <{root.tag}>, not Moodle's <quiz>",
            f"line {_line(root)}",
        )
    read: list[_Read] = []
    category: str | None = None
    for question in root:
        if question.tag != "question":
            continue
        if question.get("type") == "category":
            path = _child_text(question, "category", "text")
            category = _gift_category(f"$CATEGORY:{path}")
            continue
        read.append(_moodle_question(question, category, file_name))
    return read


# -- the deck ----------------------------------------------------------------------------------


@dataclass
class _Assembler:
    deck: str
    file_name: str
    forced_topic: str | None
    fallback_topic: str
    cards: list[Card] = field(default_factory=list)
    questions: list[AuthoredQuestion] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    topics: dict[str, str] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    texts: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    where_of: dict[str, str] = field(default_factory=dict)

    def skip(self, where: str, reason: str) -> None:
        self.skipped.append(skipped_line(self.file_name, where, reason))

    def _topic(self, item: _Item) -> str:
        if self.forced_topic:
            return self.forced_topic
        topic, title = topic_from(item.topic or "", self.fallback_topic)
        if title and topic not in self.topics:
            self.topics[topic] = title
        return topic

    def _new_id(self, text: str) -> str:
        stem = slugify(f"{self.deck} {text}", ID_STEM_LENGTH) or f"{self.deck}-item"
        return unique_id(stem, self.ids)

    def add(self, item: _Item) -> None:
        texts = [item.text, *(o.text for o in item.options), *item.answers]
        if item.explanation:
            texts.append(item.explanation)
        if any(len(text) > MAX_TEXT for text in texts):
            self.skip(item.where, f"a text is longer than {MAX_TEXT} characters")
            return
        earlier = self.texts.setdefault(normalize_text(item.text), item.where)
        if earlier != item.where:
            self.skip(item.where, f"same question text as {earlier}")
            return
        if item.kind in {"multiple_choice", "multiple_response"}:
            self._add_question(item)
        else:
            self._add_card(item)

    def _add_question(self, item: _Item) -> None:
        count = len(item.options)
        if not MIN_OPTIONS <= count <= MAX_OPTIONS:
            self.skip(
                item.where,
                f"{count} options; authored questions have {MIN_OPTIONS} to {MAX_OPTIONS}",
            )
            return
        right = sum(option.correct for option in item.options)
        select = None
        if item.kind == "multiple_response":
            if not MIN_SELECT <= right <= MAX_SELECT:
                self.skip(
                    item.where,
                    f"{right} right options; multiple response asks for {MIN_SELECT} or "
                    f"{MAX_SELECT}",
                )
                return
            select = right
        question_id = self._new_id(item.text)
        self.questions.append(
            AuthoredQuestion(
                id=question_id,
                deck=self.deck,
                topic=self._topic(item),
                type=item.kind,
                stem=item.text,
                options=tuple(
                    AuthoredOption(
                        id="ABCDEF"[index],
                        text=option.text,
                        correct=option.correct,
                        rationale=option.feedback
                        or (RIGHT_RATIONALE if option.correct else WRONG_RATIONALE),
                    )
                    for index, option in enumerate(item.options)
                ),
                sources=(f"Imported from {self.file_name}, {item.where}",),
                select=select,
                explanation=item.explanation,
            )
        )
        self.order.append(question_id)
        self.where_of[question_id] = item.where

    def _add_card(self, item: _Item) -> None:
        answer = item.answers[0]
        if item.kind == "short_answer":
            forms: dict[str, str] = {normalize_text(answer): answer}
            for form in item.answers[1:]:
                forms.setdefault(normalize_text(form), form)
            accept = tuple(list(forms.values())[1:])
            key_points: tuple[str, ...] = (answer,)
            tags = (FILL_IN_TAG,)
        else:
            accept = ()
            unique: dict[str, str] = {}
            for point in item.key_points or split_key_points(answer):
                unique.setdefault(normalize_text(point), point)
            key_points = tuple(unique.values())
            tags = (FREE_ANSWER_TAG,)
        card_id = self._new_id(item.text)
        self.cards.append(
            Card(
                id=card_id,
                deck=self.deck,
                topic=self._topic(item),
                prompt=item.text,
                answer=answer,
                key_points=key_points,
                accept=accept,
                explanation=item.explanation,
                tags=tags,
                source_note=f"Imported from {self.file_name}, {item.where}",
            )
        )
        self.order.append(card_id)
        self.where_of[card_id] = item.where

    def result(self, title: str) -> ImportedDeck:
        deck = Deck(
            id=self.deck, title=title, source=f"Imported from {self.file_name}", topics=self.topics
        )
        return ImportedDeck(
            deck,
            tuple(self.cards),
            tuple(self.skipped),
            questions=tuple(self.questions),
            order=tuple(self.order),
        )


def _validated(imported: ImportedDeck, assembler: _Assembler) -> ImportedDeck:
    """The deck with every item the bank's own validation refuses moved to the skipped list:
    the files are rendered and loaded by the same loader ``bank validate`` uses."""
    for _ in range(3):
        if not imported.cards and not imported.questions:
            break
        with tempfile.TemporaryDirectory(prefix="quizsvc-import-") as staging:
            deck_dir = Path(staging) / imported.deck.id
            for name, text in deck_files(imported.deck, imported.cards, imported.questions).items():
                path = deck_dir / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            _, problems = validate_bank(deck_dir)
        if not problems:
            return imported
        refused: dict[str, list[str]] = {}
        for problem in problems:
            if problem.card_id is None or problem.card_id not in assembler.where_of:
                raise DeckImportError(
                    assembler.file_name, f"the imported deck is not valid: {problem}"
                )
            message = f"{problem.field}: {problem.message}" if problem.field else problem.message
            refused.setdefault(problem.card_id, []).append(message)
        skipped = list(imported.skipped)
        for item_id, messages in refused.items():
            skipped.append(
                skipped_line(
                    assembler.file_name,
                    assembler.where_of[item_id],
                    f"not a valid bank item ({'; '.join(messages)})",
                )
            )
        imported = replace(
            imported,
            cards=tuple(card for card in imported.cards if card.id not in refused),
            questions=tuple(q for q in imported.questions if q.id not in refused),
            order=tuple(item_id for item_id in imported.order if item_id not in refused),
            skipped=tuple(skipped),
        )
    return imported


_READERS = {"qti": _read_qti, "gift": _read_gift, "moodle": _read_moodle}


def import_bank_file(
    data: bytes,
    file_name: str,
    format_name: str,
    deck: str,
    default_topic: str | None = None,
    title: str | None = None,
) -> ImportedDeck:
    """The deck in ``data`` (a QTI, GIFT or Moodle XML file named ``file_name``).

    Topics come from QTI section (or assessment) titles and from GIFT and Moodle categories,
    unless ``default_topic`` is given; items without one get the file name's. Raises
    :class:`DeckImportError` for a malformed file, and when nothing in it can be imported.
    """
    if format_name not in _READERS:
        raise ValueError(f"unknown import format {format_name!r}")
    deck_id = require_slug(deck, "deck name")
    forced = require_slug(default_topic, "topic") if default_topic else None
    if not data.strip():
        raise DeckImportError(file_name, "the file is empty")
    read = _READERS[format_name](data, file_name)
    assembler = _Assembler(deck_id, file_name, forced, slugify(Path(file_name).stem) or deck_id)
    for entry in read:
        if isinstance(entry, _Skip):
            assembler.skip(entry.where, entry.reason)
        else:
            assembler.add(entry)
    imported = _validated(assembler.result(title or deck), assembler)
    if not imported.cards and not imported.questions:
        prefix = f"{file_name}: "
        reasons = "; ".join(line.removeprefix(prefix) for line in imported.skipped[:3])
        more = " ..." if len(imported.skipped) > 3 else ""
        detail = f" ({len(imported.skipped)} skipped: {reasons}{more})" if imported.skipped else ""
        raise DeckImportError(file_name, f"no question could be imported{detail}")
    return imported


def import_qti(
    path: Path, deck: str, default_topic: str | None = None, title: str | None = None
) -> ImportedDeck:
    return import_bank_file(
        Path(path).read_bytes(), Path(path).name, "qti", deck, default_topic, title
    )


def import_gift(
    path: Path, deck: str, default_topic: str | None = None, title: str | None = None
) -> ImportedDeck:
    return import_bank_file(
        Path(path).read_bytes(), Path(path).name, "gift", deck, default_topic, title
    )


def import_moodle_xml(
    path: Path, deck: str, default_topic: str | None = None, title: str | None = None
) -> ImportedDeck:
    return import_bank_file(
        Path(path).read_bytes(), Path(path).name, "moodle", deck, default_topic, title
    )


# -- back to exam questions --------------------------------------------------------------------


def question_keys(imported: ImportedDeck) -> list[QuestionKey]:
    """The imported items as exam questions, in the file's order, as the file asked them:
    authored questions as choice questions, ``fill-in`` cards as fill-in, ``free-answer``
    cards as free answers. What an export of the deck carries, without the exam builder's
    generated questions."""
    cards = {card.id: card for card in imported.cards}
    questions = {question.id: question for question in imported.questions}
    keys = []
    for number, item_id in enumerate(imported.order, start=1):
        question_id = f"q{number}"
        if item_id in questions:
            authored = questions[item_id]
            keys.append(
                QuestionKey(
                    question_id=question_id,
                    type=QuestionType(authored.type),
                    card_id=authored.id,
                    deck=authored.deck,
                    topic=authored.topic,
                    prompt=authored.stem,
                    answer="; ".join(o.text for o in authored.options if o.correct),
                    options=tuple(Option(o.id, o.text) for o in authored.options),
                    correct_option_ids=authored.correct_option_ids,
                    explanation=authored.explanation,
                    option_sources=tuple(authored.id for _ in authored.options),
                    option_rationales=tuple(o.rationale for o in authored.options),
                )
            )
            continue
        card = cards[item_id]
        fill_in = FILL_IN_TAG in card.tags
        keys.append(
            QuestionKey(
                question_id=question_id,
                type=QuestionType.FILL_IN if fill_in else QuestionType.FREE_ANSWER,
                card_id=card.id,
                deck=card.deck,
                topic=card.topic,
                prompt=card.prompt,
                answer=card.answer,
                accept=(card.answer, *card.accept) if fill_in else card.accept,
                key_points=card.key_points,
                explanation=card.explanation,
            )
        )
    return keys


# -- writing -----------------------------------------------------------------------------------


def write_imported_deck(
    imported: ImportedDeck,
    bank_dir: Path,
    *,
    force: bool = False,
    taken_ids: Collection[str] = (),
) -> Path:
    """Write the imported deck into ``bank_dir`` (staged, validated, then moved into place;
    nothing is left behind on failure) and return its directory. Ids of the bank's other
    decks, and ``taken_ids`` (items that live elsewhere, such as cards created over the
    API), are off limits; raises :class:`~quizsvc.bank.writer.DeckWriteError` (or its
    ``DeckExistsError``)."""
    existing, _ = validate_bank(bank_dir) if bank_dir.is_dir() else (None, [])
    taken: set[str] = set(taken_ids)
    if existing is not None:
        taken = {card.id for card in existing if card.deck != imported.deck.id}
        taken |= {q.id for q in existing.questions if q.deck != imported.deck.id}
    return write_deck(
        imported.deck,
        imported.cards,
        bank_dir,
        force=force,
        taken_ids=taken,
        questions=imported.questions,
    )


def detect_format(file_name: str, data: bytes) -> str | None:
    """The import format a file's name or first bytes show, or None (CSV/TSV, .apkg)."""
    suffix = Path(file_name).suffix.lower()
    if suffix == ".gift":
        return "gift"
    if suffix in {".xml", ".zip"} or data.lstrip()[:1] == b"<":
        if data.startswith(b"PK\x03\x04"):
            return "qti" if suffix == ".zip" else None
        head = data[:4096]
        if b"questestinterop" in head:
            return "qti"
        if b"<quiz" in head:
            return "moodle"
    return None
