"""Decks and cards of the bank. Learners see prompts only; staff see answers too."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import INCLUDE, Schema, fields, validate

from quizsvc.api.auth import STAFF, authenticated, current_principal, is_staff, roles_required
from quizsvc.api.bank_editing import (
    bank_field,
    create_item,
    edit_item,
    etag,
    read_item,
    refresh_before_request,
    retire_item,
    version_history,
    with_etag,
)
from quizsvc.api.headers import LOCATION
from quizsvc.api.pagination import PageQuerySchema, PageSchema, offset_of, page_of
from quizsvc.api.services import services
from quizsvc.bank import Card
from quizsvc.bank.editing import CARD
from quizsvc.bank.loader import normalize_text

blp = Blueprint(
    "cards",
    __name__,
    url_prefix="/v1",
    description="Decks and cards of the bank; staff create, edit and retire cards, each edit "
    "a new version (PATCH and DELETE take If-Match with the ETag of the version read).",
)
# Every request, whichever blueprint serves it, sees the bank with the stored edits.
blp.before_app_request(refresh_before_request)

ETAG: dict[str, Any] = {
    "ETag": {
        "description": "The card's version; send it back in If-Match to edit or retire it.",
        "schema": {"type": "string"},
    }
}


class TopicSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    cards = fields.Integer(required=True)


class DeckSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(allow_none=True)
    cards = fields.Integer(required=True)
    topics = fields.List(fields.Nested(TopicSchema), required=True)


class DeckListSchema(Schema):
    items = fields.List(fields.Nested(DeckSchema), required=True)


class CardMisconceptionSchema(Schema):
    text = fields.String(required=True)
    explanation = fields.String(required=True)


class CardSchema(Schema):
    """Learners get id, deck, topic and prompt; the other fields are for staff."""

    id = fields.String(required=True)
    deck = fields.String(required=True)
    topic = fields.String(required=True)
    prompt = fields.String(required=True)
    answer = fields.String()
    term = fields.String(allow_none=True)
    key_points = fields.List(fields.String())
    accept = fields.List(fields.String())
    short_answers = fields.List(fields.String())
    misconceptions = fields.List(fields.Nested(CardMisconceptionSchema))
    explanation = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    difficulty = fields.String(allow_none=True)
    source_note = fields.String(allow_none=True)
    version = fields.Integer(
        metadata={"description": "Staff only: 1 as in the YAML bank, one more per edit."}
    )
    retired = fields.Boolean(
        metadata={"description": "Staff only: retired cards are never drawn again."}
    )


class CardInputSchema(Schema):
    """A card as in a deck's YAML files (bank/schema.json, $defs/card), with its deck and
    topic. In a PATCH every field is optional and null clears an optional one."""

    class Meta:
        unknown = INCLUDE

    id = bank_field("Slug, unique across the bank; cannot change.")
    deck = bank_field("An existing deck; cannot change.")
    topic = bank_field("A topic the deck.yaml lists.")
    prompt = bank_field("The question.")
    answer = bank_field("The reference answer.")
    term = bank_field("The term the card defines, if any.")
    key_points = bank_field("The atomic facts a full answer contains (at least one).")
    accept = bank_field("Other correct forms of a short answer.")
    short_answers = bank_field("Terse forms of the answer worth full credit.")
    misconceptions = bank_field("Wrong answers learners give: [{text, explanation}].")
    explanation = bank_field("Shown after grading.")
    tags = bank_field("Slugs.")
    difficulty = bank_field("easy, medium or hard.")
    source_note = bank_field("Where the card came from.")


class VersionAuthorSchema(Schema):
    key_id = fields.Integer(required=True)
    label = fields.String(allow_none=True)
    role = fields.String(allow_none=True)


class VersionSchema(Schema):
    version = fields.Integer(required=True)
    action = fields.String(
        required=True, metadata={"description": "bank-file, created, edited or retired"}
    )
    at = fields.DateTime(
        allow_none=True, metadata={"description": "None for the version from the YAML bank."}
    )
    by = fields.Nested(
        VersionAuthorSchema,
        allow_none=True,
        metadata={"description": "The API key that made the version (None: the YAML bank)."},
    )
    changes = fields.Dict(
        required=True,
        metadata={"description": "{field: {before, after}} for each field that changed."},
    )
    item = fields.Dict(required=True, metadata={"description": "The item as this version was."})


class VersionListSchema(Schema):
    id = fields.String(required=True)
    version = fields.Integer(required=True)
    retired = fields.Boolean(required=True)
    items = fields.List(fields.Nested(VersionSchema), required=True)


class CardQuerySchema(PageQuerySchema):
    deck = fields.String(metadata={"description": "Only this deck."})
    topic = fields.String(metadata={"description": "Only this topic."})
    q = fields.String(
        validate=validate.Length(max=200),
        metadata={"description": "Words that must all appear in the prompt or answer."},
    )


class CardPageSchema(PageSchema):
    items = fields.List(fields.Nested(CardSchema), required=True)


def card_view(card: Card, staff: bool) -> dict[str, Any]:
    if staff:
        return card.to_dict()
    return {"id": card.id, "deck": card.deck, "topic": card.topic, "prompt": card.prompt}


@blp.route("/decks")
class Decks(MethodView):
    @authenticated
    @blp.response(200, DeckListSchema)
    def get(self) -> dict[str, Any]:
        """The decks in the bank with their topics."""
        bank = services().bank
        items = []
        for deck in bank.decks.values():
            topics = bank.topics(deck.id)
            items.append(
                {
                    "id": deck.id,
                    "title": deck.title,
                    "description": deck.description,
                    "cards": sum(topics.values()),
                    "topics": [
                        {"id": topic, "title": deck.topic_title(topic), "cards": count}
                        for topic, count in topics.items()
                    ],
                }
            )
        return {"items": items}


@blp.route("/cards")
class Cards(MethodView):
    @authenticated
    @blp.arguments(CardQuerySchema, location="query")
    @blp.response(200, CardPageSchema)
    def get(self, query: dict[str, Any]) -> dict[str, Any]:
        """Cards, filtered and paginated; ``q`` searches prompt and answer text."""
        staff = is_staff(current_principal())
        cards = services().bank.select(
            query.get("deck"), [query["topic"]] if query.get("topic") else None
        )
        if query.get("q"):
            words = normalize_text(query["q"]).split()
            cards = [
                card
                for card in cards
                if all(
                    word in normalize_text(card.prompt + " " + (card.answer if staff else ""))
                    for word in words
                )
            ]
        start = offset_of(query)
        chosen = cards[start : start + query["page_size"]]
        return page_of([card_view(card, staff) for card in chosen], len(cards), query)

    @roles_required(*STAFF)
    @blp.arguments(CardInputSchema)
    @blp.response(201, CardSchema, headers={**LOCATION, **ETAG})
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Create a card (staff). It is checked as ``quizsvc bank validate`` checks the
        deck it joins; 422 names each field at fault. New exams may draw it at once."""
        view, status, headers = with_etag(create_item(CARD, body), 201)
        headers["Location"] = url_for("cards.CardById", card_id=view["id"])
        return view, status, headers


@blp.route("/cards/<string:card_id>")
class CardById(MethodView):
    @authenticated
    @blp.response(200, CardSchema, headers=ETAG)
    def get(self, card_id: str) -> tuple[dict[str, Any], int, dict[str, str]]:
        """One card, retired ones included (past exams and results name them)."""
        saved = read_item(CARD, card_id)
        if not is_staff(current_principal()):
            return card_view(Card.from_dict(saved.data), staff=False), 200, {}
        return with_etag(saved)

    @roles_required(*STAFF)
    @blp.arguments(CardInputSchema)
    @blp.response(200, CardSchema, headers=ETAG)
    @blp.alt_response(412, description="The card changed since the version If-Match names.")
    @blp.alt_response(428, description="If-Match is missing.")
    def patch(
        self, body: dict[str, Any], card_id: str
    ) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Edit a card (staff): the given fields replace the card's, null clears an optional
        one; ``id`` and ``deck`` cannot change. Needs If-Match with the ETag of the version
        edited (412 when it is no longer current). Exams already built keep the copy they
        froze; a regrade with refreshed keys applies the edit to their attempts."""
        return with_etag(edit_item(CARD, card_id, body, request.headers.get("If-Match")))

    @roles_required(*STAFF)
    @blp.response(204, headers=ETAG)
    @blp.alt_response(412, description="The card changed since the version If-Match names.")
    def delete(self, card_id: str) -> tuple[str, int, dict[str, str]]:
        """Retire a card (staff): new exams and practice never draw it again; it stays
        readable, and past exams and results keep it. If-Match is optional here."""
        saved = retire_item(CARD, card_id, request.headers.get("If-Match"))
        return "", 204, {"ETag": etag(saved.version)}


@blp.route("/cards/<string:card_id>/versions")
class CardVersions(MethodView):
    @roles_required(*STAFF)
    @blp.response(200, VersionListSchema)
    def get(self, card_id: str) -> dict[str, Any]:
        """The card's versions, oldest first: who (the API key), when, what changed
        (field by field) and the card as it was."""
        return version_history(CARD, card_id)
