"""The front of grading: one ``grade`` for every question type, and ``grade_many`` that
grades a whole submission with a single model call for all of its free answers."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from quizsvc.bank.model import Bank, Card
from quizsvc.bank.synonyms import DeckGlossary
from quizsvc.embedding.base import Encoder
from quizsvc.exams.cloze import make_fill_in, word_rarity
from quizsvc.exams.model import QuestionKey, QuestionType
from quizsvc.grading.choice import grade_multiple_choice, grade_multiple_response
from quizsvc.grading.config import GradingConfig
from quizsvc.grading.fill_in import grade_fill_in
from quizsvc.grading.free_answer import FreeAnswerKey, grade_free_answers
from quizsvc.grading.glossary import Glossary
from quizsvc.grading.model import Grade, ResponseError
from quizsvc.grading.verdict import shipped_verdict_model
from quizsvc.grading.version import GraderVersion, grader_version

#: multiple_choice: an option id; multiple_response: a list of option ids; fill_in and
#: free_answer: text. None means the question was left unanswered.
Response = str | Sequence[str] | None


class Grader:
    """Grades responses against question keys.

    ``encoder`` encodes learner text (never cached, never written to disk);
    ``bank_encoder`` (a :class:`~quizsvc.embedding.CachedEncoder` in production) supplies
    reference, key-point and question vectors. ``glossaries`` maps a deck id to its
    abbreviations; ``deck_overrides`` and ``card_overrides`` map a deck or card id to grading
    settings that replace the defaults of ``config`` (card over deck over config).
    """

    def __init__(
        self,
        encoder: Encoder,
        bank_encoder: Encoder,
        glossaries: Mapping[str, Mapping[str, str]] | None = None,
        config: GradingConfig | None = None,
        deck_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        card_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.encoder = encoder
        self.bank_encoder = bank_encoder
        self.config = config or GradingConfig()
        # DeckGlossary.of keeps a deck's synonym groups, which fill-in grading uses.
        self._glossary_entries = {
            deck: DeckGlossary.of(entries) for deck, entries in (glossaries or {}).items()
        }
        self._deck_overrides = {
            deck: dict(values) for deck, values in (deck_overrides or {}).items()
        }
        self._card_overrides = {
            card: dict(values) for card, values in (card_overrides or {}).items()
        }
        self._glossaries: dict[str, Glossary] = {}
        self._configs: dict[tuple[str, str], GradingConfig] = {}
        self._versions: dict[tuple[str, str], GraderVersion] = {}
        # Resolve every override now, so that a bad setting fails at start-up, not mid-exam.
        for deck in self._deck_overrides:
            self.config_for(deck, "")
        for card in self._card_overrides:
            self.config_for("", card)

    @classmethod
    def for_bank(
        cls,
        bank: Bank,
        encoder: Encoder,
        bank_encoder: Encoder,
        config: GradingConfig | None = None,
        deck_overrides: Mapping[str, Mapping[str, Any]] | None = None,
        card_overrides: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Grader:
        """A grader with each deck's glossary from the bank."""
        glossaries = {deck_id: bank.glossary(deck_id) for deck_id in bank.decks}
        return cls(encoder, bank_encoder, glossaries, config, deck_overrides, card_overrides)

    def glossary(self, deck: str) -> Glossary:
        found = self._glossaries.get(deck)
        if found is None:
            found = Glossary.for_deck(self._glossary_entries.get(deck))
            self._glossaries[deck] = found
        return found

    def config_for(self, deck: str, card_id: str) -> GradingConfig:
        cached = self._configs.get((deck, card_id))
        if cached is None:
            cached = self.config.with_overrides(self._deck_overrides.get(deck)).with_overrides(
                self._card_overrides.get(card_id)
            )
            self._configs[(deck, card_id)] = cached
        return cached

    def version_for(self, key: QuestionKey) -> GraderVersion:
        """The version of the grader as it grades ``key``'s question (its deck's and card's
        settings included)."""
        found = self._versions.get((key.deck, key.card_id))
        if found is None:
            found = grader_version(
                self.encoder.fingerprint,
                self.config_for(key.deck, key.card_id),
                shipped_verdict_model(),
            )
            self._versions[(key.deck, key.card_id)] = found
        return found

    def grade(self, key: QuestionKey, response: Response) -> Grade:
        return self.grade_many([(key, response)])[0]

    def grade_many(self, items: Sequence[tuple[QuestionKey, Response]]) -> list[Grade]:
        """Grades in input order; all free answers go to the model in one ``encode`` call."""
        grades: dict[int, Grade] = {}
        free: list[tuple[int, FreeAnswerKey, str | None, GradingConfig]] = []
        for index, (key, response) in enumerate(items):
            config = self.config_for(key.deck, key.card_id)
            if key.type is QuestionType.MULTIPLE_CHOICE:
                if response is not None and not isinstance(response, str):
                    raise ResponseError(
                        f"question {key.question_id} is multiple choice: answer with one option id"
                    )
                grades[index] = grade_multiple_choice(key, response, config)
            elif key.type is QuestionType.MULTIPLE_RESPONSE:
                if isinstance(response, str):
                    raise ResponseError(
                        f"question {key.question_id} is multiple response: answer with a list "
                        "of option ids"
                    )
                grades[index] = grade_multiple_response(key, response, config)
            else:
                if response is not None and not isinstance(response, str):
                    raise ResponseError(f"question {key.question_id} takes a text answer")
                if key.type is QuestionType.FILL_IN:
                    grades[index] = grade_fill_in(key, response, self.glossary(key.deck), config)
                else:
                    free_key = FreeAnswerKey.from_question(key, self.glossary(key.deck))
                    free.append((index, free_key, response, config))
        if free:
            graded = grade_free_answers(
                [(key, response, config) for _, key, response, config in free],
                self.encoder,
                self.bank_encoder,
            )
            for (index, *_), grade in zip(free, graded, strict=True):
                grades[index] = grade
        return [grades[index] for index in range(len(items))]


def question_key_for_card(
    card: Card, question_type: QuestionType = QuestionType.FREE_ANSWER
) -> QuestionKey:
    """A key for grading a card's own question outside an exam (the CLI, ad-hoc checks). As a
    fill-in it is the blank an exam would ask (the card's short answer, or one blank of its
    answer sentence), never the whole sentence."""
    if question_type not in (QuestionType.FREE_ANSWER, QuestionType.FILL_IN):
        raise ValueError("a card alone can be graded as free_answer or fill_in only")
    common = QuestionKey(
        question_id=card.id,
        type=question_type,
        card_id=card.id,
        deck=card.deck,
        topic=card.topic,
        prompt=card.prompt,
        answer=card.answer,
        key_points=card.key_points,
        explanation=card.explanation,
    )
    if question_type is QuestionType.FILL_IN:
        made = make_fill_in(card, random.Random(f"fill:{card.id}"), word_rarity([card]))
        if made is None:
            raise ValueError(f"card {card.id} makes no fill-in question")
        return replace(common, prompt=made.prompt, answer=made.accept[0], accept=made.accept)
    return replace(common, **free_answer_fields(card))


def free_answer_fields(card: Card) -> dict[str, Any]:
    """What a card's free-answer key holds beyond its reference, exactly as an exam's key
    holds it (``quizsvc.exams.builder``: ``accept`` is the card's accepted forms, not its
    answer sentence). One definition, so that the verdict model is fitted
    (``bench/grading_verdict.py``) on the keys production grades with: with the answer
    sentence among the short answers, a near copy of it scored as the card's terse form."""
    return {
        "accept": card.accept,
        "short_answers": card.short_answers,
        "misconceptions": card.misconceptions,
    }
