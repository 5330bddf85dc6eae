"""Attempt logic without any web or storage concern: per-attempt ordering, deadlines and
turning grades into a result a learner can review."""

from __future__ import annotations

import hashlib
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from quizsvc.exams.model import QuestionKey, QuestionType
from quizsvc.exams.pools import draw_pooled
from quizsvc.reviews import recompute_totals

#: A grader takes (key, response) pairs and returns one grade dict per pair, each with at
#: least ``score`` in [0, 1], ``verdict`` and ``feedback``.
GradeMany = Callable[[Sequence[tuple[QuestionKey, Any]]], list[dict[str, Any]]]


@dataclass(frozen=True)
class Timing:
    started_at: datetime
    deadline: datetime
    grace_seconds: int

    @property
    def accept_until(self) -> datetime:
        return self.deadline + timedelta(seconds=self.grace_seconds)

    def seconds_remaining(self, now: datetime) -> int:
        return max(0, int((self.deadline - now).total_seconds()))

    def is_over(self, now: datetime) -> bool:
        return now > self.accept_until


def make_layout(
    questions: Sequence[Mapping[str, Any]],
    attempt_id: str,
    token: Callable[[], str] = lambda: secrets.token_hex(5),
) -> list[dict[str, Any]]:
    """Question order and option order for one attempt, reproducible from its id, and the
    ids the learner sees: random per attempt, so "q3 -> A" means nothing in anyone else's
    attempt. Only the server maps them back (the layout is stored with the attempt). A
    pooled exam's attempt has only the questions drawn for it (``quizsvc.exams.pools``)."""
    questions = draw_pooled(questions, attempt_id)
    seed = int.from_bytes(hashlib.sha256(attempt_id.encode()).digest()[:8], "big")
    rng = random.Random(seed)
    order = list(range(len(questions)))
    rng.shuffle(order)
    layout = []
    for index in order:
        delivery = questions[index]["delivery"]
        option_ids = [option["id"] for option in delivery.get("options", [])]
        rng.shuffle(option_ids)
        layout.append(
            {
                "question_id": delivery["id"],
                "option_ids": option_ids,
                "public_id": f"q-{token()}",
                "public_options": {option_id: f"o-{token()}" for option_id in option_ids},
            }
        )
    return layout


@dataclass(frozen=True)
class PublicIds:
    """Translation between an attempt's public ids and the exam's own. Attempts started
    before public ids existed map every id to itself."""

    questions: Mapping[str, str]
    options: Mapping[str, Mapping[str, str]]

    @classmethod
    def of(cls, layout: Sequence[Mapping[str, Any]]) -> PublicIds:
        return cls(
            {slot["question_id"]: slot.get("public_id", slot["question_id"]) for slot in layout},
            {slot["question_id"]: dict(slot.get("public_options", {})) for slot in layout},
        )

    def question(self, question_id: str) -> str:
        return self.questions.get(question_id, question_id)

    def exam_question(self, public_id: str) -> str | None:
        """The exam's question id for a public one, None when it is not in this attempt."""
        for question_id, public in self.questions.items():
            if public == public_id:
                return question_id
        return None

    def option(self, question_id: str, option_id: str) -> str:
        return self.options.get(question_id, {}).get(option_id, option_id)

    def public_answer(self, question_id: str, answer: Any) -> Any:
        """A stored answer as the learner wrote it (option ids made public)."""
        if not self.options.get(question_id):
            return answer
        if isinstance(answer, str):
            return self.option(question_id, answer)
        if isinstance(answer, list):
            return sorted(self.option(question_id, item) for item in answer)
        return answer

    def exam_answer(self, question_id: str, answer: Any) -> Any:
        """The learner's answer in the exam's option ids; unknown ids stay as they are, so
        that the check that refuses them can name them."""
        mapping = self.options.get(question_id)
        if not mapping:
            return answer
        reverse = {public: option_id for option_id, public in mapping.items()}
        if isinstance(answer, str):
            return reverse.get(answer, answer)
        if isinstance(answer, list):
            return [reverse.get(item, item) if isinstance(item, str) else item for item in answer]
        return answer

    def public_key(self, key: Mapping[str, Any]) -> dict[str, Any]:
        """An answer key (``QuestionKey.to_dict``) in this attempt's public ids."""
        question_id = key["question_id"]
        return {
            **key,
            "question_id": self.question(question_id),
            "options": [
                {**option, "id": self.option(question_id, option["id"])}
                for option in key.get("options", [])
            ],
            "correct_option_ids": sorted(
                self.option(question_id, option_id)
                for option_id in key.get("correct_option_ids", [])
            ),
        }

    def public_result(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """A graded result (stored in the exam's ids) in this attempt's public ids."""
        questions = []
        for item in result.get("questions", []):
            question_id = item["question_id"]
            questions.append(
                {
                    **item,
                    "question_id": self.question(question_id),
                    "options": [
                        {**option, "id": self.option(question_id, option["id"])}
                        for option in item.get("options", [])
                    ],
                    "your_answer": self.public_answer(question_id, item.get("your_answer")),
                    "correct_option_ids": sorted(
                        self.option(question_id, option_id)
                        for option_id in item.get("correct_option_ids", [])
                    ),
                    "rationales": {
                        self.option(question_id, option_id): rationale
                        for option_id, rationale in (item.get("rationales") or {}).items()
                    },
                }
            )
        return {**result, "questions": questions}


def delivery_in_layout(
    questions: Sequence[Mapping[str, Any]], layout: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """The learner's questions in this attempt's order and public ids; only delivery views
    are read."""
    by_id = {question["delivery"]["id"]: question["delivery"] for question in questions}
    public = PublicIds.of(layout)
    delivered = []
    for position, slot in enumerate(layout, start=1):
        question_id = slot["question_id"]
        delivery = dict(by_id[question_id])
        if delivery.get("options"):
            options = {option["id"]: option for option in delivery["options"]}
            delivery["options"] = [
                {**options[option_id], "id": public.option(question_id, option_id)}
                for option_id in slot["option_ids"]
            ]
        delivery["id"] = public.question(question_id)
        delivery["position"] = position
        delivered.append(delivery)
    return delivered


class InvalidAnswer(ValueError):
    """An answer that does not fit its question (wrong shape or unknown option)."""


def check_answer(question: Mapping[str, Any], answer: Any, max_chars: int) -> Any:
    """The answer in canonical form for storage, or :class:`InvalidAnswer` saying why."""
    delivery = question["delivery"]
    kind = QuestionType(delivery["type"])
    option_ids = {option["id"] for option in delivery.get("options", [])}
    if answer is None:
        return None
    if kind is QuestionType.MULTIPLE_CHOICE:
        if not isinstance(answer, str):
            raise InvalidAnswer("must be one option id (a string)")
        if answer not in option_ids:
            raise InvalidAnswer(f"{answer!r} is not an option of this question")
        return answer
    if kind is QuestionType.MULTIPLE_RESPONSE:
        if not isinstance(answer, list) or not all(isinstance(item, str) for item in answer):
            raise InvalidAnswer("must be a list of option ids")
        unknown = [item for item in answer if item not in option_ids]
        if unknown:
            raise InvalidAnswer(f"not options of this question: {', '.join(map(repr, unknown))}")
        return sorted(set(answer))
    if not isinstance(answer, str):
        raise InvalidAnswer("must be text")
    if len(answer) > max_chars:
        raise InvalidAnswer(f"is {len(answer)} characters long; the maximum is {max_chars}")
    return answer


def build_result(
    questions: Sequence[Mapping[str, Any]],
    layout: Sequence[Mapping[str, Any]],
    answers: Mapping[str, Any],
    grade_many: GradeMany,
    pass_mark: float,
    topic_titles: Mapping[str, str],
    timing: Timing,
    finished_at: datetime,
) -> dict[str, Any]:
    """Grade every question (unanswered ones too: they score 0 with the reference shown) in
    one grader call, and summarise per question and per topic."""
    keys = {
        question["key"]["question_id"]: QuestionKey.from_dict(question["key"])
        for question in questions
    }
    ordered_ids = [slot["question_id"] for slot in layout]
    grades = dict(
        zip(
            ordered_ids,
            grade_many([(keys[qid], _blank_to_none(answers.get(qid))) for qid in ordered_ids]),
            strict=True,
        )
    )
    items = []
    for position, qid in enumerate(ordered_ids, start=1):
        key = keys[qid]
        grade = grades[qid]
        options = {option.id: option.text for option in key.options}
        items.append(
            {
                "position": position,
                "question_id": qid,
                "type": key.type.value,
                "topic": key.topic,
                "prompt": key.prompt,
                "options": [option.to_dict() for option in key.options],
                "your_answer": answers.get(qid),
                "your_answer_text": _answer_text(answers.get(qid), options),
                "correct_answer": key.answer,
                "correct_option_ids": list(key.correct_option_ids),
                # Why each option is right or wrong (shown with the correct answers).
                "rationales": {
                    option.id: rationale
                    for option, rationale in zip(key.options, key.option_rationales, strict=False)
                },
                "score": round(float(grade["score"]), 4),
                "verdict": grade["verdict"],
                # Grades stored before confidence existed were all exact or final.
                "confidence": float(grade.get("confidence", 1.0)),
                "needs_review": bool(grade.get("needs_review", False)),
                "feedback": grade["feedback"],
                "missed_key_points": list(grade.get("missed_key_points", [])),
                "explanation": key.explanation,
                "grader_version": grade.get("grader_version"),
                # For staff and the review queue: why the grader was unsure, and what it
                # measured (free answers only; never shown to learners).
                **(
                    {
                        "review_reasons": list(
                            (grade.get("evidence") or {}).get("review_reasons") or []
                        ),
                        "evidence": grade.get("evidence"),
                    }
                    if key.type is QuestionType.FREE_ANSWER
                    else {}
                ),
            }
        )
    versions = {
        grade["grader_version"]: grade["grader_version_details"]
        for grade in grades.values()
        if grade.get("grader_version") and grade.get("grader_version_details")
    }
    # Totals, pass and the topic breakdown come from the items, exactly as after a person
    # changes one (quizsvc.reviews.recompute_totals).
    return recompute_totals(
        {
            "grader_versions": versions,
            "pass_mark": pass_mark,
            "time_used_seconds": max(0, int((finished_at - timing.started_at).total_seconds())),
            "questions": items,
            "topics": [
                {"topic": topic, "title": topic_titles.get(topic, topic)}
                for topic in dict.fromkeys(item["topic"] for item in items)
            ],
        }
    )


def _blank_to_none(answer: Any) -> Any:
    if isinstance(answer, str) and not answer.strip():
        return None
    if isinstance(answer, list) and not answer:
        return None
    return answer


def _answer_text(answer: Any, options: Mapping[str, str]) -> str | None:
    if answer is None:
        return None
    if isinstance(answer, list):
        return "; ".join(options.get(item, item) for item in answer)
    return options.get(answer, answer) if isinstance(answer, str) else str(answer)
