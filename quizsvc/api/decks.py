"""Imports of question banks (QTI 1.2, GIFT, Moodle XML) as new decks of the bank."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate

from quizsvc.api.auth import STAFF, roles_required
from quizsvc.api.bank_editing import live_bank
from quizsvc.api.errors import ApiError
from quizsvc.api.headers import LOCATION
from quizsvc.api.services import services
from quizsvc.bank import BankError, load_bank
from quizsvc.bank.importers import DeckImportError, ImportedDeck, slugify
from quizsvc.bank.interop import IMPORT_FORMATS, import_bank_file, write_imported_deck
from quizsvc.bank.writer import DeckExistsError, DeckWriteError

log = logging.getLogger(__name__)

blp = Blueprint(
    "decks", __name__, url_prefix="/v1", description="Question bank imports as new decks"
)


def _slug_text(value: str) -> None:
    if not slugify(value):
        raise ValidationError("Needs letters or digits to make a slug from.")


class ImportOptionsSchema(Schema):
    """What both request forms share (multipart form fields or JSON properties)."""

    format = fields.String(
        required=True,
        validate=validate.OneOf(list(IMPORT_FORMATS)),
        metadata={
            "description": "; ".join(f"{name}: {what}" for name, what in IMPORT_FORMATS.items())
        },
    )
    deck = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=200), _slug_text],
        metadata={"description": "Deck name; its slug is the new deck's id."},
    )
    title = fields.String(
        validate=[
            validate.Length(min=1, max=200),
            validate.Regexp(r"\S", error="Must not be blank."),
        ],
        metadata={"description": "Deck title (default: the deck name)."},
    )
    topic = fields.String(
        validate=[validate.Length(min=1, max=200), _slug_text],
        metadata={"description": "One topic for every item (default: from the file)."},
    )
    force = fields.Boolean(
        load_default=False, metadata={"description": "Replace a deck of the same id."}
    )
    dry_run = fields.Boolean(
        load_default=False,
        metadata={"description": "Read and validate only; write nothing."},
    )


class ImportJsonSchema(ImportOptionsSchema):
    text = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"description": "The file's text (GIFT, Moodle XML or a QTI XML document)."},
    )
    file_name = fields.String(
        load_default="upload",
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Named in the skipped-item report and the deck's source."},
    )


class ImportedTopicSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    cards = fields.Integer(required=True)
    questions = fields.Integer(required=True)


class ImportedDeckSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    source = fields.String(allow_none=True)
    cards = fields.Integer(required=True)
    questions = fields.Integer(required=True, metadata={"description": "Authored questions."})
    topics = fields.List(fields.Nested(ImportedTopicSchema), required=True)


class ImportResultSchema(Schema):
    deck = fields.Nested(ImportedDeckSchema, required=True)
    skipped = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Each item left out, with its line or identifier and why."},
    )
    written = fields.Boolean(
        required=True, metadata={"description": "False for a dry run: nothing was written."}
    )


_REQUEST_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "format", "deck"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "format": {"type": "string", "enum": list(IMPORT_FORMATS)},
                    "deck": {"type": "string"},
                    "title": {"type": "string"},
                    "topic": {"type": "string"},
                    "force": {"type": "boolean"},
                    "dry_run": {"type": "boolean"},
                },
            }
        },
        "application/json": {"schema": ImportJsonSchema},
    },
}


def _read_request() -> tuple[dict[str, Any], bytes, str]:
    """The options, the file's bytes and its name, from a multipart upload or a JSON body;
    422 naming the field (under "form", "files" or "json") when one is missing or wrong."""
    if request.mimetype == "multipart/form-data":
        errors: dict[str, Any] = {}
        try:
            options = ImportOptionsSchema().load(request.form.to_dict())
        except ValidationError as exc:
            errors["form"] = exc.messages
            options = {}
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            errors["files"] = {"file": ["Missing data for required field."]}
        if errors:
            raise ApiError(422, _invalid(errors), errors)
        assert upload is not None
        return options, upload.read(), upload.filename or "upload"
    if request.mimetype != "application/json":
        raise ApiError(
            415, "Send the file as multipart/form-data (field 'file') or a JSON body with 'text'."
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        errors = {"json": {"_schema": ["The body must be a JSON object."]}}
        raise ApiError(422, _invalid(errors), errors)
    try:
        options = ImportJsonSchema().load(body)
    except ValidationError as exc:
        errors = {"json": exc.messages}
        raise ApiError(422, _invalid(errors), errors) from None
    return options, options.pop("text").encode("utf-8"), options.pop("file_name")


def _invalid(errors: dict[str, Any]) -> str:
    names = [f"{location}.{name}" for location, found in errors.items() for name in found]
    return "The request has invalid fields: " + ", ".join(names)


def _summary(imported: ImportedDeck, written: bool) -> dict[str, Any]:
    deck = imported.deck
    topics: dict[str, dict[str, Any]] = {}
    for topic, kind in [(card.topic, "cards") for card in imported.cards] + [
        (question.topic, "questions") for question in imported.questions
    ]:
        entry = topics.setdefault(
            topic, {"id": topic, "title": deck.topic_title(topic), "cards": 0, "questions": 0}
        )
        entry[kind] += 1
    return {
        "deck": {
            "id": deck.id,
            "title": deck.title,
            "source": deck.source,
            "cards": len(imported.cards),
            "questions": len(imported.questions),
            "topics": list(topics.values()),
        },
        "skipped": list(imported.skipped),
        "written": written,
    }


@blp.route("/decks/import")
class DeckImport(MethodView):
    @roles_required(*STAFF)
    @blp.doc(requestBody=_REQUEST_BODY)
    @blp.response(
        201,
        ImportResultSchema,
        description="The deck was written to the bank; Location lists its cards.",
        headers=LOCATION,
    )
    @blp.alt_response(200, schema=ImportResultSchema, description="Dry run: nothing written.")
    def post(self) -> tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]:
        """Import a QTI 1.2, GIFT or Moodle XML question bank as a new deck.

        Staff only. Upload the file (multipart/form-data, field ``file``) or send its text in
        a JSON body (``text``; a QTI package must be uploaded). Choice questions become
        authored questions, short answers and essays cards; every item the bank cannot
        represent is listed in ``skipped`` with its line or identifier. A malformed file is
        a 422 naming the item or line, and nothing is written. The deck is written to the
        bank directory as YAML (validated, then moved into place), as ``quizsvc bank import``
        does; 409 when a deck of that id exists and ``force`` is not set.
        """
        options, data, file_name = _read_request()
        field = "file" if request.mimetype == "multipart/form-data" else "text"
        try:
            imported = import_bank_file(
                data,
                file_name,
                options["format"],
                options["deck"],
                options.get("topic"),
                options.get("title"),
            )
        except DeckImportError as exc:
            raise ApiError(422, str(exc), {field: [str(exc)]}) from None
        if options["dry_run"]:
            return _summary(imported, written=False), 200
        app_services = services()
        bank_dir = app_services.settings.bank_dir
        # Items of other decks that live only in the database (created over the API) keep
        # their ids too.
        elsewhere = {card.id for card in app_services.bank if card.deck != imported.deck.id}
        elsewhere |= {q.id for q in app_services.bank.questions if q.deck != imported.deck.id}
        try:
            write_imported_deck(imported, bank_dir, force=options["force"], taken_ids=elsewhere)
        except DeckExistsError:
            raise ApiError(
                409,
                f"A deck {imported.deck.id!r} exists; send force=true to replace it.",
                {"deck": [f"deck {imported.deck.id!r} exists"]},
            ) from None
        except DeckWriteError as exc:
            problems = [str(problem) for problem in exc.problems] or [str(exc)]
            raise ApiError(
                422, f"The imported deck is not valid: {exc}", {field: problems}
            ) from None
        _serve_new_deck(bank_dir, file_name)
        return (
            _summary(imported, written=True),
            201,
            {"Location": url_for("cards.Cards", deck=imported.deck.id)},
        )


def _serve_new_deck(bank_dir: Path, file_name: str) -> None:
    """This process serves the new deck at once: the live bank's YAML base is reloaded and
    the stored card edits are applied over it again. Other worker processes load it when
    they start."""
    live = live_bank()
    try:
        live.base = load_bank(bank_dir)
    except BankError:
        log.exception("bank %s does not load after importing %s", bank_dir, file_name)
        return
    # A revision of None makes the next refresh rebuild the bank from the new base.
    live.revision = None
    live.refresh(services(), force=True)
