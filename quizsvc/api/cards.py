"""Decks and cards of the bank. Learners see prompts only; staff see answers too."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from quizsvc.api.auth import authenticated, current_principal, is_staff
from quizsvc.api.errors import ApiError
from quizsvc.api.pagination import PageQuerySchema, PageSchema, offset_of, page_of
from quizsvc.api.services import services
from quizsvc.bank import Card
from quizsvc.bank.loader import normalize_text

blp = Blueprint("cards", __name__, url_prefix="/v1", description="Decks and cards of the bank")


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
    explanation = fields.String(allow_none=True)
    tags = fields.List(fields.String())
    difficulty = fields.String(allow_none=True)
    source_note = fields.String(allow_none=True)


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


@blp.route("/cards/<string:card_id>")
class CardById(MethodView):
    @authenticated
    @blp.response(200, CardSchema)
    def get(self, card_id: str) -> dict[str, Any]:
        """One card."""
        card = services().bank.get(card_id)
        if card is None:
            raise ApiError(404, f"No card with id {card_id!r}.")
        return card_view(card, is_staff(current_principal()))
