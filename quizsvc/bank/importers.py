"""Import user decks: CSV/TSV (``front,back[,topic]``, as Quizlet and Anki export text) and
Anki ``.apkg`` packages.

Every malformed input raises :class:`DeckImportError` whose message names the file and the
row or note; notes that cannot become a card (empty side, cloze, duplicate front) are skipped
and listed in :attr:`ImportedDeck.skipped`.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import sqlite3
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from quizsvc.bank.loader import normalize_text
from quizsvc.bank.model import AuthoredQuestion, Card, Deck

#: Longest text the schema accepts in one field.
MAX_TEXT = 4000
#: Longest slug the schema accepts.
MAX_SLUG = 80
#: Longer topic names are not kept as titles (the slug's own title is used).
MAX_TOPIC_TITLE = 200
#: Room left in an id for a "-2", "-3", ... suffix when fronts collide.
ID_STEM_LENGTH = MAX_SLUG - 4
#: Collections inside a package, best first: current Anki keeps the real one zstd-compressed
#: in collection.anki21b and leaves a stub collection.anki2 for older versions.
APKG_COLLECTIONS = ("collection.anki21b", "collection.anki21", "collection.anki2")
#: A collection larger than this is refused rather than read into memory.
MAX_COLLECTION_BYTES = 1 << 30
#: Text of the one note in the stub collection that current Anki writes for old versions.
ANKI_STUB_MARKER = "please update to the latest anki version"
DELIMITED_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None}
APKG_SUFFIXES = {".apkg", ".colpkg"}

FRONT_NAMES = {"front", "question", "term", "prompt"}
BACK_NAMES = {"back", "answer", "definition"}
TOPIC_NAMES = {"topic"}
TAGS_NAMES = {"tags"}


class DeckImportError(Exception):
    """A file cannot be imported; the message names the file and, where known, the row or
    note. Named so as not to shadow Python's own ``ImportError``."""

    def __init__(self, file: str, reason: str, where: str | None = None) -> None:
        self.file = file
        self.where = where
        self.reason = reason
        super().__init__(f"{file}: {where}: {reason}" if where else f"{file}: {reason}")


@dataclass(frozen=True)
class ImportedDeck:
    deck: Deck
    cards: tuple[Card, ...]
    #: One line per row or note that was left out, with the reason.
    skipped: tuple[str, ...] = ()
    #: Authored (choice) questions, from formats that carry options (QTI, GIFT, Moodle XML).
    questions: tuple[AuthoredQuestion, ...] = ()
    #: Ids of the cards and questions in the order the file gave them.
    order: tuple[str, ...] = ()


def slugify(text: str, max_length: int = MAX_SLUG) -> str:
    """Lower-case ASCII words joined by single hyphens, cut at a word boundary."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[: max_length + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:max_length]
    return slug.strip("-")


def require_slug(name: str, what: str) -> str:
    slug = slugify(name)
    if not slug:
        raise ValueError(f"{what} {name!r} has no letters or digits to make a slug from")
    return slug


# -- text cleaning -----------------------------------------------------------------------------

_KNOWN_TAGS = (
    "a|abbr|b|big|blockquote|br|center|code|del|div|em|font|h[1-6]|hr|i|img|ins|kbd|li|mark|"
    "ol|p|pre|q|s|samp|small|span|strike|strong|sub|sup|table|tbody|td|tfoot|th|thead|tr|tt|u|ul"
)
_BLOCK_TAGS = {"blockquote", "br", "div", "hr", "p", "pre", "table", "tr", "ul", "ol", "center"}
_KNOWN_TAG_RE = re.compile(rf"<\s*(/?)\s*({_KNOWN_TAGS})\b[^<>]*?/?\s*>", re.IGNORECASE)
_ANY_TAG_RE = re.compile(r"<\s*(/?)\s*([a-zA-Z][a-zA-Z0-9]*)\b[^<>]*?/?\s*>")
_DROPPED_BLOCK_RE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_COMMENT_RE = re.compile(r"<!--.*?-->", re.DOTALL)
_ANKI_SOUND_RE = re.compile(r"\[sound:[^\]]*\]")
_CLOZE_RE = re.compile(r"\{\{c\d+::")
_SPACES = "\u00a0\u2007\u202f\u2009\u200a\u2002\u2003\t"
#: Stands for the edge of a block element until runs of them are merged into one line break.
_BLOCK_EDGE = "\ue000"
_INVISIBLE = "\u200b\ufeff\u00ad"


def clean_text(text: str, any_tag: bool = False, markup: bool = True) -> str:
    """Plain text from a field that may hold the HTML Anki and Quizlet leave behind.

    Line breaks and list items become lines ("- item"); entities are decoded. ``any_tag``
    (Anki fields, which are always HTML) removes every tag; otherwise only well-known HTML
    tags are removed, so that text such as "a<b" in a plain CSV survives. ``markup=False``
    (an Anki text export marked "#html:false") only tidies whitespace.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if markup:
        text = _strip_markup(text, any_tag)
    text = text.translate({ord(space): " " for space in _SPACES})
    text = "".join(ch for ch in text if ch == "\n" or not _is_invisible(ch))
    lines = [re.sub(r" {2,}", " ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", text)


def _is_invisible(ch: str) -> bool:
    return ch in _INVISIBLE or unicodedata.category(ch) == "Cc"


def _strip_markup(text: str, any_tag: bool) -> str:
    text = _COMMENT_RE.sub("", _DROPPED_BLOCK_RE.sub("", text))
    text = _ANKI_SOUND_RE.sub("", text)
    pattern = _ANY_TAG_RE if any_tag else _KNOWN_TAG_RE

    def replace(match: re.Match[str]) -> str:
        closing, name = match.group(1), match.group(2).lower()
        if name == "br":
            return "\n"
        if name == "li":
            return _BLOCK_EDGE if closing else f"{_BLOCK_EDGE}- "
        if name in _BLOCK_TAGS or re.fullmatch(r"h[1-6]", name):
            return _BLOCK_EDGE
        if name in {"td", "th"}:
            return "" if closing else " "
        return ""

    text = pattern.sub(replace, text)
    # "<div>a</div><div>b</div>" is two lines, not lines with blank ones between them.
    text = re.sub(rf"[ \t]*(?:{_BLOCK_EDGE}[ \t\n]*)+", "\n", text)
    return html.unescape(text)


_BULLET_RE = re.compile(r"^(?:[-*•·–—]|\d{1,2}[.)]|[a-z]\))\s+")


def split_key_points(back: str) -> list[str]:
    """The key points of a back: each line of a multi-line back, or the parts of a
    one-line back separated by semicolons; otherwise the whole back.

    Bullets and numbers are removed. A "Label:" line followed by lines prefixes them
    ("Too high LR:" + "- overshoots" -> "Too high LR: overshoots"), so each point stands on
    its own.
    """
    lines = [line for line in back.split("\n") if line.strip()]
    if len(lines) == 1:
        parts = [part.strip() for part in lines[0].split(";")]
        points = parts if len(parts) > 1 and all(re.search(r"\w", p) for p in parts) else lines
    else:
        points = []
        label: str | None = None
        label_used = True
        for line in lines:
            item = _BULLET_RE.sub("", line).strip()
            is_bullet = item != line.strip()
            if not is_bullet and item.endswith(":"):
                if label is not None and not label_used:
                    points.append(label)
                label, label_used = item, False
                continue
            if label is not None and is_bullet:
                points.append(f"{label} {item}")
                label_used = True
            else:
                if label is not None and not label_used:
                    points.append(label)
                label, label_used = None, True
                points.append(item)
        if label is not None and not label_used:
            points.append(label)
    unique: dict[str, str] = {}
    for point in points:
        point = point.strip()
        if point and re.search(r"\w", point):
            unique.setdefault(normalize_text(point), point)
    return list(unique.values()) or [back]


# -- building cards ----------------------------------------------------------------------------


@dataclass
class _Note:
    """One row or note, cleaned, before it becomes a card."""

    where: str
    source: str
    front: str
    back: str
    topic: str
    topic_title: str | None = None
    tags: tuple[str, ...] = ()


@dataclass
class _Builder:
    deck: str
    file_name: str
    cards: list[Card] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    topics: dict[str, str] = field(default_factory=dict)
    ids: set[str] = field(default_factory=set)
    fronts: dict[str, str] = field(default_factory=dict)

    def skip(self, where: str, reason: str) -> None:
        self.skipped.append(skipped_line(self.file_name, where, reason))

    def add(self, note: _Note) -> None:
        if not note.front:
            self.skip(note.where, "the front is empty (images and sounds are not imported)")
            return
        if not note.back:
            self.skip(note.where, "the back is empty (images and sounds are not imported)")
            return
        if _CLOZE_RE.search(note.front):
            self.skip(note.where, "cloze notes are not supported")
            return
        for side, text in (("front", note.front), ("back", note.back)):
            if len(text) > MAX_TEXT:
                self.skip(note.where, f"the {side} is longer than {MAX_TEXT} characters")
                return
        earlier = self.fronts.setdefault(normalize_text(note.front), note.where)
        if earlier != note.where:
            self.skip(note.where, f"same front as {earlier}")
            return
        if note.topic_title and note.topic not in self.topics:
            self.topics[note.topic] = note.topic_title
        self.cards.append(
            Card(
                id=self._new_id(note.front),
                deck=self.deck,
                topic=note.topic,
                prompt=note.front,
                answer=note.back,
                key_points=tuple(split_key_points(note.back)),
                tags=note.tags,
                source_note=f"Imported from {self.file_name} {note.source}",
            )
        )

    def _new_id(self, front: str) -> str:
        stem = slugify(f"{self.deck} {front}", ID_STEM_LENGTH) or self.deck
        if stem == self.deck:
            stem = f"{self.deck}-card"
        return unique_id(stem, self.ids)

    def result(self, title: str, source: str) -> ImportedDeck:
        if not self.cards:
            prefix = f"{self.file_name}: "
            reasons = "; ".join(line.removeprefix(prefix) for line in self.skipped[:3])
            more = " ..." if len(self.skipped) > 3 else ""
            detail = f" ({len(self.skipped)} skipped: {reasons}{more})" if self.skipped else ""
            raise DeckImportError(self.file_name, f"no cards found{detail}")
        deck = Deck(id=self.deck, title=title, source=source, topics=dict(self.topics))
        return ImportedDeck(deck, tuple(self.cards), tuple(self.skipped))


def skipped_line(file_name: str, where: str, reason: str) -> str:
    """How an import lists an item it left out (``ImportedDeck.skipped``)."""
    return f"{file_name}: {where}: {reason}, skipped"


def unique_id(stem: str, taken: set[str]) -> str:
    """``stem``, else ``stem-2``, ``stem-3``, ...: the first that is not in ``taken``, which
    holds it from then on."""
    item_id, number = stem, 1
    while item_id in taken:
        number += 1
        item_id = f"{stem}-{number}"
    taken.add(item_id)
    return item_id


def _tag_slugs(raw: str) -> tuple[str, ...]:
    slugs = (slugify(tag.replace("::", " ")) for tag in raw.split())
    return tuple(dict.fromkeys(slug for slug in slugs if slug))


def topic_from(text: str, default_topic: str) -> tuple[str, str | None]:
    """Slug and title of a topic given as free text, or the default when it has no slug."""
    slug, title = slugify(text), text.strip()
    if not slug:
        return default_topic, None
    return slug, (title if title != slug and len(title) <= MAX_TOPIC_TITLE else None)


# -- CSV / TSV ---------------------------------------------------------------------------------

_ANKI_DIRECTIVE_RE = re.compile(
    r"^#(separator|html|tags|deck|notetype|columns|(?:guid|notetype|deck|tags) column):(.*)$"
)
_ANKI_SEPARATORS = {
    "tab": "\t",
    "comma": ",",
    "semicolon": ";",
    "space": " ",
    "pipe": "|",
    "colon": ":",
}
_SNIFFED_DELIMITERS = ("\t", ",", ";", "|")
_SNIFF_LINES = 20


def _decode(data: bytes, file_name: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode text" export.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise DeckImportError(file_name, f"not valid UTF-16 text: {exc.reason}") from None
    if b"\x00" in data[:8192]:
        raise DeckImportError(
            file_name, "this is a binary file, not CSV/TSV text (export the deck as text)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DeckImportError(
            file_name,
            f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8",
            f"line {line}",
        ) from None


@dataclass
class _Layout:
    """Which column holds what, from Anki's "#key:value" lines or an optional header row."""

    front: int = 0
    back: int = 1
    topic: int | None = 2
    tags: int | None = None
    deck: int | None = None
    #: Anki exports may carry more note fields than front and back; other files may not
    #: carry more columns than they name.
    extra_columns_allowed: bool = False

    @property
    def width(self) -> int:
        used = [self.front, self.back, self.topic, self.tags, self.deck]
        return max(column for column in used if column is not None) + 1


def _anki_directives(lines: list[str]) -> dict[str, str]:
    """Anki 2.1.55+ text exports start with lines such as "#separator:tab"."""
    directives: dict[str, str] = {}
    for line in lines:
        match = _ANKI_DIRECTIVE_RE.match(line.rstrip("\r"))
        if not match:
            break
        directives[match.group(1)] = match.group(2).strip()
    return directives


def _sniff_delimiter(sample: list[str], suffix_hint: str | None) -> str | None:
    """The delimiter that splits the most sample lines into the same number (2 to 4) of
    cells; the extension's delimiter wins ties. Commas and semicolons are common inside card
    text, so consistency, not the mere presence of a delimiter, decides. Lines are parsed one
    by one, so quoted multi-line cells only blur the count."""
    candidates = [suffix_hint] if suffix_hint else []
    candidates += [c for c in _SNIFFED_DELIMITERS if c != suffix_hint]
    best, best_score = None, 0
    for candidate in candidates:
        counts = []
        for line in sample:
            cells = next(csv.reader([line], delimiter=candidate), [])
            while cells and not cells[-1].strip():
                cells.pop()
            counts.append(len(cells))
        usable = [count for count in counts if 2 <= count <= 4]
        if not usable:
            continue
        score = counts.count(Counter(usable).most_common(1)[0][0])
        if score > best_score:
            best, best_score = candidate, score
    return best


def _anki_column(directives: dict[str, str], key: str, file_name: str) -> int | None:
    if key not in directives:
        return None
    value = directives[key]
    if not value.isdigit() or int(value) < 1:
        raise DeckImportError(file_name, f"'#{key}:{value}' must name a column number from 1")
    return int(value) - 1


def _anki_layout(directives: dict[str, str], file_name: str) -> _Layout:
    columns = {
        key: _anki_column(directives, f"{key} column", file_name)
        for key in ("guid", "notetype", "deck", "tags")
    }
    meta = {column for column in columns.values() if column is not None}
    fields = [column for column in range(max(meta, default=0) + 3) if column not in meta]
    return _Layout(
        front=fields[0],
        back=fields[1],
        topic=None,
        tags=columns["tags"],
        deck=columns["deck"],
        extra_columns_allowed=True,
    )


def _header_layout(cells: list[str], file_name: str, where: str) -> _Layout | None:
    """The layout a header row names, or None when the row is not a header."""
    names = [cell.strip().lower() for cell in cells]

    def find(wanted: set[str]) -> int | None:
        return next((i for i, name in enumerate(names) if name in wanted), None)

    front, back = find(FRONT_NAMES), find(BACK_NAMES)
    if front is None or back is None:
        return None
    known = FRONT_NAMES | BACK_NAMES | TOPIC_NAMES | TAGS_NAMES
    unknown = [cell for cell, name in zip(cells, names, strict=True) if name and name not in known]
    if unknown:
        raise DeckImportError(
            file_name,
            f"unknown column(s) {', '.join(map(repr, unknown))} in the header row; "
            "the columns are front, back, topic and tags",
            where,
        )
    return _Layout(front=front, back=back, topic=find(TOPIC_NAMES), tags=find(TAGS_NAMES))


def _rows(
    text: str, delimiter: str, file_name: str, first_line: int, quoted: bool = True
) -> Iterator[tuple[int, list[str]]]:
    """(file line where the record starts, cells) of each record; csv errors name the line."""
    stream = io.StringIO(text, newline="")
    reader = (
        csv.reader(stream, delimiter=delimiter, strict=True)
        if quoted
        else csv.reader(stream, delimiter=delimiter, strict=True, quoting=csv.QUOTE_NONE)
    )
    start = first_line
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise DeckImportError(
                file_name,
                f"{exc}; check the quotes of this record",
                f"line {first_line + max(reader.line_num - 1, 0)}",
            ) from None
        yield start, cells
        start = first_line + reader.line_num


def _records(
    text: str, delimiter: str, file_name: str, first_line: int
) -> list[tuple[int, list[str]]]:
    try:
        return list(_rows(text, delimiter, file_name, first_line))
    except DeckImportError:
        if delimiter != "\t":
            raise
        # Quizlet writes tab-separated text without any quoting, so a field may well start
        # with a quote character; Anki quotes its TSV fields properly and parses above.
        return list(_rows(text, delimiter, file_name, first_line, quoted=False))


def import_delimited(
    path: Path, deck: str, default_topic: str | None = None, title: str | None = None
) -> ImportedDeck:
    """Cards from a CSV or TSV file with ``front,back[,topic]`` columns.

    The delimiter comes from the extension (.csv, .tsv) checked against the content, or from
    Anki's "#separator:" line. A first row naming the columns (front/question/term,
    back/answer/definition, topic, tags) is a header. The topic column wins; rows without one
    get ``default_topic``, else the file name.
    """
    path = Path(path)
    name = path.name
    deck_id = require_slug(deck, "deck name")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DeckImportError(name, f"cannot read the file: {exc.strerror or exc}") from None
    if not data.strip():
        raise DeckImportError(name, "the file is empty")
    if data.startswith(b"PK\x03\x04"):
        raise DeckImportError(name, "this is a zip archive, not CSV/TSV text (an .apkg?)")
    text = _decode(data, name)

    # Split on "\n" only, as the csv module does, so that line numbers agree with it.
    lines = text.split("\n")
    directives = _anki_directives(lines)
    body = "\n".join(lines[len(directives) :])
    first_line = len(directives) + 1
    sample = [line for line in body.split("\n") if line.strip()][:_SNIFF_LINES]
    if not sample:
        raise DeckImportError(name, "no rows after the '#' header lines")

    separator = directives.get("separator")
    if separator is not None:
        delimiter = _ANKI_SEPARATORS.get(separator.lower(), separator)
        if len(delimiter) != 1:
            raise DeckImportError(name, f"unknown separator {separator!r}", "line 1")
    else:
        sniffed = _sniff_delimiter(sample, DELIMITED_SUFFIXES.get(path.suffix.lower()))
        if sniffed is None:
            raise DeckImportError(
                name,
                "missing back column: expected front and back separated by a comma or a tab",
                "row 1",
            )
        delimiter = sniffed
    anki = any(key in directives for key in ("separator", "html")) or any(
        key.endswith(" column") for key in directives
    )
    layout = _anki_layout(directives, name) if anki else _Layout()
    markup = directives.get("html", "true").lower() != "false"
    topic_fallback = (
        require_slug(default_topic, "topic")
        if default_topic
        else slugify(directives.get("deck", "").split("::")[-1]) or slugify(path.stem) or deck_id
    )
    common_tags = _tag_slugs(directives.get("tags", ""))

    builder = _Builder(deck_id, name)
    row_number = 0
    for line, cells in _records(body, delimiter, name, first_line):
        if not any(cell.strip() for cell in cells):
            continue
        row_number += 1
        where = f"row {row_number}" + (f" (line {line})" if line != row_number else "")
        if row_number == 1 and not anki:
            header = _header_layout(cells, name, where)
            if header is not None:
                layout = header
                continue
        if len(cells) <= max(layout.front, layout.back):
            raise DeckImportError(
                name,
                f"missing back column: found {len(cells)} column(s), expected front and back "
                f"separated by {_DELIMITER_NAMES.get(delimiter, repr(delimiter))}",
                where,
            )
        if not layout.extra_columns_allowed and any(c.strip() for c in cells[layout.width :]):
            raise DeckImportError(
                name,
                f"found {len(cells)} columns, expected front, back and an optional topic; "
                "name the columns in a header row (front, back, topic, tags) or remove the "
                "extra values",
                where,
            )

        def cell(column: int | None, cells: Sequence[str] = cells) -> str:
            return cells[column] if column is not None and column < len(cells) else ""

        topic_text = cell(layout.topic) or cell(layout.deck).split("::")[-1]
        topic, topic_title = topic_from(topic_text, topic_fallback)
        builder.add(
            _Note(
                where=where,
                source=f"row {row_number}",
                front=clean_text(cell(layout.front), markup=markup),
                back=clean_text(cell(layout.back), markup=markup),
                topic=topic,
                topic_title=topic_title,
                tags=tuple(dict.fromkeys(common_tags + _tag_slugs(cell(layout.tags)))),
            )
        )
    return builder.result(title or deck, f"Imported from {name}")


_DELIMITER_NAMES = {"\t": "a tab", ",": "a comma", ";": "a semicolon", " ": "a space"}


# -- Anki packages -----------------------------------------------------------------------------


def _read_collection(path: Path) -> tuple[str, bytes]:
    """Name and SQLite bytes of the best collection inside an Anki package."""
    name = path.name
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a zip file"
        raise DeckImportError(name, f"not a valid Anki package ({reason})") from None
    with archive:
        members = set(archive.namelist())
        chosen = next((member for member in APKG_COLLECTIONS if member in members), None)
        if chosen is None:
            raise DeckImportError(
                name, f"no Anki collection inside (expected one of {', '.join(APKG_COLLECTIONS)})"
            )
        info = archive.getinfo(chosen)
        if info.file_size > MAX_COLLECTION_BYTES:
            raise DeckImportError(name, f"{chosen} is too large ({info.file_size} bytes)")
        try:
            data = archive.read(chosen)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise DeckImportError(name, f"cannot read {chosen}: {exc}") from None
    if chosen.endswith("b"):
        data = _zstd_decompress(data, name, chosen)
    return chosen, data


def _zstd_decompress(data: bytes, file_name: str, member: str) -> bytes:
    try:
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            result = reader.read(MAX_COLLECTION_BYTES + 1)
    except zstandard.ZstdError as exc:
        raise DeckImportError(file_name, f"{member} is not valid zstd data ({exc})") from None
    if len(result) > MAX_COLLECTION_BYTES:
        raise DeckImportError(file_name, f"{member} is too large once decompressed")
    return result


def _open_sqlite(data: bytes, file_name: str, member: str) -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(data)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.Error as exc:
        connection.close()
        raise DeckImportError(
            file_name, f"{member} is not a readable SQLite database ({exc})"
        ) from None
    return connection


def _anki_deck_names(connection: sqlite3.Connection) -> dict[int, str]:
    """Deck id -> name ("Parent::Child"): a ``decks`` table in current collections, JSON in
    ``col.decks`` in older ones."""
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    if "decks" in tables:
        return {
            int(deck_id): str(name).replace("\x1f", "::")
            for deck_id, name in connection.execute("SELECT id, name FROM decks")
        }
    row = connection.execute("SELECT decks FROM col").fetchone()
    decks = json.loads(row[0]) if row and row[0] else {}
    return {int(deck_id): str(deck.get("name", "")) for deck_id, deck in decks.items()}


def _note_decks(connection: sqlite3.Connection) -> dict[int, int]:
    """Note id -> deck id of its first card."""
    found: dict[int, int] = {}
    for note_id, deck_id in connection.execute("SELECT nid, did FROM cards ORDER BY nid, ord"):
        found.setdefault(int(note_id), int(deck_id))
    return found


def import_apkg(
    path: Path, deck: str, default_topic: str | None = None, title: str | None = None
) -> ImportedDeck:
    """Cards from an Anki package: first field front, second field back, tags as tags.

    The topic is ``default_topic`` when given, else the (last part of the) Anki deck name of
    the note's first card, else the file name.
    """
    path = Path(path)
    name = path.name
    deck_id = require_slug(deck, "deck name")
    forced_topic = require_slug(default_topic, "topic") if default_topic else None
    fallback_topic = slugify(path.stem) or deck_id
    member, data = _read_collection(path)
    connection = _open_sqlite(data, name, member)
    try:
        try:
            notes = connection.execute("SELECT id, flds, tags FROM notes ORDER BY id").fetchall()
            deck_names = _anki_deck_names(connection) if forced_topic is None else {}
            note_decks = _note_decks(connection) if forced_topic is None else {}
        except (sqlite3.Error, json.JSONDecodeError, ValueError, AttributeError) as exc:
            raise DeckImportError(name, f"{member} is not an Anki collection ({exc})") from None
    finally:
        connection.close()

    if (
        member == "collection.anki2"
        and notes
        and all(ANKI_STUB_MARKER in str(flds).lower() for _, flds, _ in notes)
    ):
        raise DeckImportError(
            name,
            "the package holds only the stub collection that tells old Anki versions to "
            "update; its real collection.anki21b is missing",
        )
    builder = _Builder(deck_id, name)
    for note_id, flds, tags in notes:
        where = f"note {note_id}"
        if not isinstance(flds, str):
            raise DeckImportError(name, "fields are not text", where)
        fields = flds.split("\x1f")
        if len(fields) < 2:
            builder.skip(where, "the note has only one field (no back)")
            continue
        if forced_topic is not None:
            topic, topic_title = forced_topic, None
        else:
            anki_deck = deck_names.get(note_decks.get(int(note_id), -1), "")
            topic, topic_title = topic_from(anki_deck.split("::")[-1], fallback_topic)
        builder.add(
            _Note(
                where=where,
                source=where,
                front=clean_text(fields[0], any_tag=True),
                back=clean_text(fields[1], any_tag=True),
                topic=topic,
                topic_title=topic_title,
                tags=_tag_slugs(tags if isinstance(tags, str) else ""),
            )
        )
    return builder.result(title or deck, f"Imported from {name}")


def import_file(
    path: Path, deck: str, default_topic: str | None = None, title: str | None = None
) -> ImportedDeck:
    """Import by extension (.apkg/.colpkg, .csv/.tsv/.txt), or by content for others."""
    path = Path(path)
    if not path.is_file():
        raise DeckImportError(path.name, "no such file")
    suffix = path.suffix.lower()
    if suffix in APKG_SUFFIXES:
        return import_apkg(path, deck, default_topic, title)
    if suffix not in DELIMITED_SUFFIXES:
        with path.open("rb") as handle:
            if handle.read(4) == b"PK\x03\x04":
                return import_apkg(path, deck, default_topic, title)
    return import_delimited(path, deck, default_topic, title)
