"""Question pools: a blueprint line that draws "N questions of type T from topics X
(difficulty D)" per attempt, so that neighbours see different questions of an equal
blueprint.

The exam freezes a larger pool per line when it is built (``pool_size`` questions, each
built by :func:`quizsvc.exams.builder.build_exam` exactly as a fixed question is, then
frozen with its key), and every attempt's layout draws ``draw`` of them with the attempt's
own seed (:func:`draw_pooled`), so each attempt has the same number of questions per line and
is reproducible from its id. Results keep the exam's question ids and each key its card, so
grading, regrades and item statistics work per question and per card across attempts
(statistics count an item over the attempts that were given it).

Lines do not share cards: each line is built from the cards the earlier lines (and the
exam's fixed questions) did not use.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from quizsvc.bank.model import AuthoredQuestion, Card
from quizsvc.embedding.base import Encoder
from quizsvc.exams.builder import (
    SEED_RANGE,
    Blueprint,
    BlueprintError,
    InsufficientQuestionsError,
    QuestionKind,
    build_exam,
)
from quizsvc.exams.model import QuestionType

#: What a pool line may ask for: the blueprint's question kinds and authored scenarios.
POOL_KINDS = (*(kind.value for kind in QuestionKind), "scenario")
MAX_POOL_SIZE = 200


@dataclass(frozen=True)
class PoolLine:
    """Draw ``draw`` questions of ``type`` per attempt from ``pool_size`` frozen ones."""

    type: str
    draw: int
    pool_size: int
    topics: tuple[str, ...] = ()
    difficulty: str | None = None

    def __post_init__(self) -> None:
        if self.type not in POOL_KINDS:
            raise BlueprintError(
                f"pool type must be one of {', '.join(POOL_KINDS)}, got {self.type!r}"
            )
        if not 1 <= self.draw <= self.pool_size <= MAX_POOL_SIZE:
            raise BlueprintError(
                f"a pool draws between 1 and pool_size questions, and pool_size is at most "
                f"{MAX_POOL_SIZE}; got draw {self.draw}, pool_size {self.pool_size}"
            )

    def blueprint(self, deck: str, seed: int) -> Blueprint:
        counts: dict[QuestionType, int] = {}
        reverse = scenario = 0
        if self.type == "scenario":
            scenario = self.pool_size
        elif self.type == QuestionKind.REVERSE_MULTIPLE_CHOICE.value:
            reverse = self.pool_size
        else:
            counts[QuestionType(self.type)] = self.pool_size
        return Blueprint(
            counts=counts,
            reverse=reverse,
            scenario=scenario,
            deck=deck,
            topics=self.topics,
            difficulty=self.difficulty,
            seed=seed,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "draw": self.draw,
            "pool_size": self.pool_size,
            "topics": list(self.topics),
            "difficulty": self.difficulty,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PoolLine:
        return cls(
            type=data["type"],
            draw=data["draw"],
            pool_size=data["pool_size"],
            topics=tuple(data.get("topics") or ()),
            difficulty=data.get("difficulty"),
        )


class PoolLineError(BlueprintError):
    """The bank cannot fill one pool line (with the cards the other lines left)."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(f"pool {line}: {problem}")
        self.line = line
        self.problem = problem


def line_seed(exam_seed: int, line: int) -> int:
    digest = hashlib.sha256(f"{exam_seed}:pool:{line}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_RANGE


def build_pools(
    cards: Sequence[Card],
    deck: str,
    lines: Sequence[PoolLine],
    exam_seed: int,
    bank_encoder: Encoder,
    fixed: Sequence[Mapping[str, Any]],
    authored: Sequence[AuthoredQuestion] = (),
    glossaries: Mapping[str, Mapping[str, str]] | None = None,
    question_card_ids: Iterable[str] | None = None,
    **build_options: Any,
) -> list[dict[str, Any]]:
    """Every line's pool as frozen questions (``{"delivery", "key", "pool"}``), numbered
    after the ``fixed`` ones and built from cards none of them uses. ``build_options`` go
    to ``build_exam`` as they are. Raises :class:`PoolLineError` for a line the bank (or
    what the earlier lines left of it) cannot fill."""
    used = {question["key"]["card_id"] for question in fixed}
    allowed = None if question_card_ids is None else set(question_card_ids)
    frozen: list[dict[str, Any]] = []
    for number, line in enumerate(lines):
        remaining = [
            card.id
            for card in cards
            if card.id not in used and (allowed is None or card.id in allowed)
        ]
        try:
            built = build_exam(
                cards,
                line.blueprint(deck, line_seed(exam_seed, number)),
                bank_encoder,
                authored=[question for question in authored if question.id not in used],
                question_card_ids=remaining,
                glossaries=glossaries,
                **build_options,
            )
        except (BlueprintError, InsufficientQuestionsError) as exc:
            raise PoolLineError(number, str(exc).splitlines()[0]) from exc
        for question in built.questions:
            question_id = f"q{len(fixed) + len(frozen) + 1}"
            key = question.key.to_dict()
            used.add(key["card_id"])
            frozen.append(
                {
                    "delivery": {**question.delivery.to_dict(), "id": question_id},
                    "key": {**key, "question_id": question_id},
                    "pool": {"line": number, "draw": line.draw},
                }
            )
    return frozen


def draw_pooled(questions: Sequence[Mapping[str, Any]], attempt_id: str) -> list[Mapping[str, Any]]:
    """The questions of one attempt: every fixed question and, from each pool line, ``draw``
    of its questions chosen with the attempt's own seed (reproducible from its id)."""
    if not any(question.get("pool") for question in questions):
        return list(questions)
    seed = int.from_bytes(hashlib.sha256(f"pool:{attempt_id}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    by_line: dict[int, list[int]] = {}
    for index, question in enumerate(questions):
        pool = question.get("pool")
        if pool:
            by_line.setdefault(int(pool["line"]), []).append(index)
    chosen = {index for index, question in enumerate(questions) if not question.get("pool")}
    for line in sorted(by_line):
        members = by_line[line]
        draw = int(questions[members[0]]["pool"]["draw"])
        chosen.update(rng.sample(members, min(draw, len(members))))
    return [question for index, question in enumerate(questions) if index in chosen]


def questions_per_attempt(questions: Sequence[Mapping[str, Any]]) -> int:
    """How many questions each attempt is given (fixed ones plus each line's draw)."""
    fixed = sum(1 for question in questions if not question.get("pool"))
    draws = {
        int(question["pool"]["line"]): int(question["pool"]["draw"])
        for question in questions
        if question.get("pool")
    }
    return fixed + sum(draws.values())
