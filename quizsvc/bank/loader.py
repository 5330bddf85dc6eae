"""Load a bank directory, validate it against ``bank/schema.json`` and the semantic rules,
and report every problem at once with file, line, card id and field."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from quizsvc.bank.model import AuthoredQuestion, Bank, Card, Deck
from quizsvc.bank.synonyms import synonym_problems

DECK_FILE = "deck.yaml"
#: Authored questions of a deck live in this sub-directory, one file per topic.
QUESTIONS_DIR = "questions"
_SCHEMA_PLACES = (
    # A source checkout or editable install: the schema beside the bank.
    Path(__file__).resolve().parents[2] / "bank" / "schema.json",
    # A regular install (the Docker image): installed as data by pyproject.toml.
    Path(sys.prefix) / "share" / "quizsvc" / "schema.json",
)
SCHEMA_PATH = next((path for path in _SCHEMA_PLACES if path.is_file()), _SCHEMA_PLACES[0])


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    line: int | None
    card_id: str | None
    field: str | None
    message: str

    def sort_key(self) -> tuple[str, int, str, str]:
        """Order by place; ``sorted(problems)`` fails when some lines or ids are None."""
        return (self.file, self.line or 0, self.card_id or "", self.message)

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        parts = [where]
        if self.card_id:
            parts.append(f"card {self.card_id}")
        if self.field:
            parts.append(f"field {self.field!r}")
        return ": ".join(parts) + f": {self.message}"


class BankError(Exception):
    """The bank has problems; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=Problem.sort_key)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the card bank:\n{lines}")


@cache
def load_schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return schema


@cache
def _validator(definition: str) -> jsonschema.protocols.Validator:
    schema = load_schema()
    sub = {**schema["$defs"][definition], "$defs": schema["$defs"]}
    validator_class = jsonschema.validators.validator_for(schema)
    return validator_class(sub, format_checker=validator_class.FORMAT_CHECKER)


def normalize_text(text: str) -> str:
    """Compare-friendly form: unicode-folded, case-folded, single-spaced."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", folded).strip()


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers where each mapping and each of its keys starts, and which
    keys appear twice (PyYAML would silently keep the last value)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[int, int] = {}
        self.key_lines: dict[tuple[int, Any], int] = {}
        self.duplicate_keys: list[tuple[int, str]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        self.lines[id(mapping)] = node.start_mark.line + 1
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                continue
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                self.duplicate_keys.append((line, str(key)))
            seen.add(key)
            self.key_lines[(id(mapping), key)] = line
        return mapping


_LineLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _LineLoader.construct_mapping,
)


@dataclass
class _Parsed:
    data: Any
    lines: dict[int, int]
    key_lines: dict[tuple[int, Any], int]

    def line_of(self, path: Iterable[Any]) -> int | None:
        """Line of the innermost mapping or key on ``path`` (a jsonschema error path)."""
        node = self.data
        line = self.lines.get(id(node))
        for step in path:
            if isinstance(node, dict):
                line = self.key_lines.get((id(node), step), line)
            try:
                node = node[step]
            except (KeyError, IndexError, TypeError):
                break
            line = self.lines.get(id(node), line)
        return line


def _parse_yaml(path: Path, label: str, problems: list[Problem]) -> _Parsed | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(Problem(label, None, None, None, f"cannot read file: {exc}"))
        return None
    loader = _LineLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(exc, "problem", None) or str(exc)
        context = getattr(exc, "context", None)
        context_mark = getattr(exc, "context_mark", None)
        if context and context_mark is not None and context_mark.line + 1 != line:
            # An unclosed quote or bracket is found at the end; say where it was opened.
            context = f"{context} at line {context_mark.line + 1}"
        detail = f"{reason} ({context})" if context else reason
        problems.append(Problem(label, line, None, None, f"invalid YAML: {detail}"))
        return None
    finally:
        loader.dispose()
    for line, key in loader.duplicate_keys:
        problems.append(Problem(label, line, None, key, "key appears twice in the same mapping"))
    return _Parsed(data, loader.lines, loader.key_lines)


def _field_name(path: Iterable[Any]) -> str | None:
    """``["key_points", 1]`` -> ``"key_points[1]"``."""
    name = ""
    for step in path:
        name += f"[{step}]" if isinstance(step, int) else (f".{step}" if name else str(step))
    return name or None


@dataclass
class _SchemaCheck:
    problems: list[Problem]
    #: indices of cards with problems of their own
    bad_cards: set[int]
    #: a problem outside any single card: the file cannot be read card by card
    file_broken: bool


def _schema_problems(parsed: _Parsed, definition: str, label: str) -> _SchemaCheck:
    if parsed.data is None:
        return _SchemaCheck([Problem(label, None, None, None, "file is empty")], set(), True)
    check = _SchemaCheck([], set(), False)
    for error in _validator(definition).iter_errors(parsed.data):
        path = list(error.absolute_path)
        card_id = None
        if len(path) >= 2 and path[0] == "cards" and isinstance(path[1], int):
            check.bad_cards.add(path[1])
            card = parsed.data["cards"][path[1]]
            if isinstance(card, dict) and isinstance(card.get("id"), str):
                card_id = card["id"]
            else:
                card_id = f"#{path[1] + 1}"
            field_path = path[2:]
        else:
            # An unknown top-level key leaves the cards readable; anything else does not.
            if error.validator != "additionalProperties" or path:
                check.file_broken = True
            field_path = path
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            for key in error.instance:
                if key not in known:
                    check.problems.append(
                        Problem(
                            label,
                            parsed.line_of([*path, key]),
                            card_id,
                            _field_name([*field_path, key]),
                            "is not a known field",
                        )
                    )
            continue
        if error.validator == "required" and "'" in error.message:
            field_path = [*field_path, error.message.split("'")[1]]
        check.problems.append(
            Problem(label, parsed.line_of(path), card_id, _field_name(field_path), _friendly(error))
        )
    return check


def _slug_pattern() -> str:
    pattern: str = load_schema()["$defs"]["slug"]["pattern"]
    return pattern


def _friendly(error: jsonschema.ValidationError) -> str:
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "pattern" and schema.get("pattern") == r"\S":
        return "must not be blank"
    if error.validator == "pattern" and schema.get("pattern") == _slug_pattern():
        return f"{error.instance!r} is not a slug (lower-case words joined by hyphens)"
    if error.validator == "required":
        return "is required"
    if error.validator == "minItems" and schema.get("minItems") == 1:
        return "must not be empty"
    if error.validator == "minLength" and schema.get("minLength") == 1:
        return "must not be empty"
    return str(error.message)


def validate_bank(root: Path) -> tuple[Bank, list[Problem]]:
    """Load every deck under ``root`` (a bank directory or a single deck directory).

    Returns the cards that loaded cleanly and the full list of problems; callers that need a
    sound bank use :func:`load_bank`.
    """
    problems: list[Problem] = []
    root = Path(root)
    if not root.is_dir():
        problems.append(Problem(str(root), None, None, None, "bank directory does not exist"))
        return Bank({}, ()), problems
    deck_dirs = (
        [root]
        if (root / DECK_FILE).is_file()
        else sorted(
            child for child in root.iterdir() if child.is_dir() and not child.name.startswith(".")
        )
    )
    if not deck_dirs:
        problems.append(Problem(str(root), None, None, None, "no deck directories found"))

    decks: dict[str, Deck] = {}
    cards: list[_Located] = []
    usable: list[Card] = []
    questions: list[tuple[AuthoredQuestion, str, int | None]] = []
    for deck_dir in deck_dirs:
        deck, deck_cards = _load_deck(deck_dir, root, problems)
        questions.extend(_load_questions(deck_dir, deck, root, problems))
        if deck is not None:
            if deck.id in decks:
                problems.append(
                    Problem(
                        _label(deck_dir / DECK_FILE, root),
                        None,
                        None,
                        "deck",
                        f"deck id {deck.id!r} is used by another deck directory",
                    )
                )
            decks[deck.id] = deck
            usable.extend(located.card for located in deck_cards)
        # Cards of a deck whose deck.yaml is broken still take part in the cross-card checks,
        # so one typo there does not hide their duplicates.
        cards.extend(deck_cards)
    problems.extend(_cross_card_problems(cards))
    card_ids = {located.card.id for located in cards}
    seen_questions: set[str] = set()
    for question, label, line in questions:
        if question.id in card_ids or question.id in seen_questions:
            problems.append(
                Problem(label, line, question.id, "id", "duplicate id (a card or question has it)")
            )
        seen_questions.add(question.id)
    return Bank(decks, tuple(usable), tuple(question for question, _, _ in questions)), problems


def load_bank(root: Path) -> Bank:
    """The bank under ``root``; raises :class:`BankError` listing every problem."""
    bank, problems = validate_bank(root)
    if problems:
        raise BankError(problems)
    return bank


@dataclass(frozen=True)
class _Located:
    """A loaded card and where it was defined, for cross-card messages."""

    card: Card
    file: str
    line: int | None


def _label(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def _load_deck(
    deck_dir: Path, root: Path, problems: list[Problem]
) -> tuple[Deck | None, list[_Located]]:
    """The deck (None when deck.yaml is unusable) and the cards of its topic files."""
    deck_path = deck_dir / DECK_FILE
    deck_label = _label(deck_path, root)
    if not deck_path.is_file():
        problems.append(Problem(deck_label, None, None, None, "deck.yaml is missing"))
        return None, []
    parsed = _parse_yaml(deck_path, deck_label, problems)
    deck: Deck | None = None
    if parsed is not None:
        check = _schema_problems(parsed, "deck_file", deck_label)
        problems.extend(check.problems)
        if not check.problems:
            meta = parsed.data
            deck = Deck(
                id=meta["deck"],
                title=meta["title"],
                description=meta.get("description"),
                source=meta.get("source"),
                topics=dict(meta.get("topics") or {}),
                glossary=dict(meta.get("glossary") or {}),
                synonyms=tuple(tuple(group) for group in meta.get("synonyms") or ()),
            )
            problems.extend(
                Problem(deck_label, parsed.line_of(("synonyms",)), None, "synonyms", message)
                for message in synonym_problems(deck.synonyms)
            )
    cards: list[_Located] = []
    topic_files = sorted(p for p in deck_dir.glob("*.yaml") if p.name != DECK_FILE)
    topic_files += sorted(deck_dir.glob("*.yml"))
    # A deck of authored questions only (a QTI import of choice questions) needs no cards.
    if not topic_files and not any((deck_dir / QUESTIONS_DIR).glob("*.y*ml")):
        problems.append(Problem(deck_label, None, None, None, "deck has no topic files"))
    for topic_path in topic_files:
        cards.extend(_load_topic_file(topic_path, deck, deck_dir.name, root, problems))
    return deck, cards


def _load_topic_file(
    path: Path, deck: Deck | None, fallback_deck_id: str, root: Path, problems: list[Problem]
) -> list[_Located]:
    """The schema-valid cards of one topic file; ``deck`` is None when deck.yaml is broken,
    and then the checks against it are skipped."""
    label = _label(path, root)
    parsed = _parse_yaml(path, label, problems)
    if parsed is None:
        return []
    check = _schema_problems(parsed, "topic_file", label)
    problems.extend(check.problems)
    if check.file_broken:
        return []
    topic = parsed.data["topic"]
    deck_id = deck.id if deck is not None else fallback_deck_id
    if deck is not None and deck.topics and topic not in deck.topics:
        problems.append(
            Problem(
                label,
                parsed.line_of(["topic"]),
                None,
                "topic",
                f"topic {topic!r} is not listed under 'topics' in {DECK_FILE}",
            )
        )
    cards = []
    for index, raw in enumerate(parsed.data["cards"]):
        if index in check.bad_cards:
            continue
        line = parsed.line_of(["cards", index])
        card_problems = []
        expected_values = {"topic": topic} if deck is None else {"deck": deck.id, "topic": topic}
        for key, expected in expected_values.items():
            if key in raw and raw[key] != expected:
                card_problems.append(
                    Problem(
                        label,
                        parsed.line_of(["cards", index, key]),
                        raw["id"],
                        key,
                        f"{raw[key]!r} does not match the file's {key} {expected!r}",
                    )
                )
        answer = normalize_text(raw["answer"])
        seen_accept: set[str] = set()
        for position, alias in enumerate(raw.get("accept", [])):
            norm = normalize_text(alias)
            if norm == answer:
                card_problems.append(
                    Problem(
                        label,
                        parsed.line_of(["cards", index, "accept"]),
                        raw["id"],
                        f"accept[{position}]",
                        f"{alias!r} repeats the answer; list only other forms",
                    )
                )
            elif norm in seen_accept:
                card_problems.append(
                    Problem(
                        label,
                        parsed.line_of(["cards", index, "accept"]),
                        raw["id"],
                        f"accept[{position}]",
                        f"{alias!r} is listed twice",
                    )
                )
            seen_accept.add(norm)
        right_forms = {answer, *seen_accept}
        right_forms.update(normalize_text(text) for text in raw.get("short_answers", []))
        for position, item in enumerate(raw.get("misconceptions", [])):
            if normalize_text(item["text"]) in right_forms:
                card_problems.append(
                    Problem(
                        label,
                        parsed.line_of(["cards", index, "misconceptions"]),
                        raw["id"],
                        f"misconceptions[{position}]",
                        f"{item['text']!r} repeats a right answer (the answer, an accept "
                        "form or a short answer); a misconception must be wrong",
                    )
                )
        seen_points: set[str] = set()
        for position, point in enumerate(raw["key_points"]):
            norm = normalize_text(point)
            if norm in seen_points:
                card_problems.append(
                    Problem(
                        label,
                        parsed.line_of(["cards", index, "key_points"]),
                        raw["id"],
                        f"key_points[{position}]",
                        f"{point!r} is listed twice",
                    )
                )
            seen_points.add(norm)
        problems.extend(card_problems)
        card = Card.from_dict({**raw, "deck": deck_id, "topic": topic})
        cards.append(_Located(card, label, line))
    return cards


def _cross_card_problems(cards: list[_Located]) -> list[Problem]:
    problems = []
    first_by_id: dict[str, _Located] = {}
    first_by_prompt: dict[tuple[str, str], _Located] = {}
    for located in cards:
        card = located.card
        earlier = first_by_id.setdefault(card.id, located)
        if earlier is not located:
            problems.append(
                Problem(
                    located.file,
                    located.line,
                    card.id,
                    "id",
                    f"duplicate id (first defined at {earlier.file}:{earlier.line})",
                )
            )
        twin = first_by_prompt.setdefault((card.deck, normalize_text(card.prompt)), located)
        if twin is not located:
            problems.append(
                Problem(
                    located.file,
                    located.line,
                    card.id,
                    "prompt",
                    f"same prompt as card {twin.card.id} ({twin.file}:{twin.line})",
                )
            )
    return problems


def _load_questions(
    deck_dir: Path, deck: Deck | None, root: Path, problems: list[Problem]
) -> list[tuple[AuthoredQuestion, str, int | None]]:
    """The sound authored questions under ``<deck>/questions/``, with where each is."""
    found: list[tuple[AuthoredQuestion, str, int | None]] = []
    for path in sorted((deck_dir / QUESTIONS_DIR).glob("*.y*ml")):
        label = _label(path, root)
        parsed = _parse_yaml(path, label, problems)
        if parsed is None:
            continue
        check = _schema_problems(parsed, "question_file", label)
        problems.extend(check.problems)
        if check.problems:
            continue
        topic = parsed.data["topic"]
        if deck is not None and deck.topics and topic not in deck.topics:
            problems.append(
                Problem(
                    label,
                    parsed.line_of(["topic"]),
                    None,
                    "topic",
                    f"topic {topic!r} is not listed under 'topics' in {DECK_FILE}",
                )
            )
        deck_id = deck.id if deck is not None else deck_dir.name
        for index, raw in enumerate(parsed.data["questions"]):
            line = parsed.line_of(["questions", index])
            question_problems = [
                Problem(label, line, raw["id"], field, message)
                for field, message in _question_problems(raw)
            ]
            problems.extend(question_problems)
            if not question_problems:
                question = AuthoredQuestion.from_dict({**raw, "deck": deck_id, "topic": topic})
                found.append((question, label, line))
    return found


def _question_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """The rules the schema cannot say: one right option for multiple choice, ``select``
    right ones for multiple response, options unique, the stem not naming an answer."""
    found = []
    options = raw["options"]
    correct = [option for option in options if option.get("correct")]
    if raw["type"] == "multiple_choice":
        if len(correct) != 1:
            found.append(
                ("options", f"multiple choice needs exactly one correct option, not {len(correct)}")
            )
        if "select" in raw:
            found.append(("select", "only multiple response questions say how many to select"))
    else:
        select = raw.get("select")
        if select is None:
            found.append(("select", "multiple response needs 'select' (how many to choose)"))
        elif len(correct) != select:
            found.append(("options", f"select is {select} but {len(correct)} options are correct"))
    for name in ("id", "text"):
        values = [normalize_text(option[name]) for option in options]
        if len(set(values)) != len(values):
            found.append(("options", f"two options have the same {name}"))
    stem = normalize_text(raw["stem"])
    for option in correct:
        if len(option["text"]) > 3 and normalize_text(option["text"]) in stem:
            found.append(("stem", f"the stem contains its answer {option['text']!r}"))
    return found
