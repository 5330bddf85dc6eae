"""Regrading an exam's graded attempts from the stored answers, as plain data.

After a card's key changes (the bank was corrected) or a new grader version ships, staff
regrade: every graded attempt's stored answers are graded again with the exam's keys (first
rebuilt from the current bank when asked), and a policy decides which new grades replace the
stored ones. A question a person decided (an override, a resolved review or appeal) keeps
its grade unless the regrade is asked to include it.

No web or storage imports here: the store runs :func:`regrade_result` per attempt inside
the attempt's transaction, and the API shows its outcome as a dry run.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from quizsvc.attempts import GradeMany, PublicIds, Timing, build_result
from quizsvc.bank.model import AuthoredQuestion, Bank, Card
from quizsvc.exams.builder import REVERSE_PROMPT, _rng, _without_gloss, card_list_items
from quizsvc.exams.cloze import make_fill_in, word_rarity
from quizsvc.exams.distractors import compact, term_forms
from quizsvc.exams.model import QuestionType
from quizsvc.exams.names import merged_glossary
from quizsvc.reviews import recompute_totals

#: update: the new grade, up or down; only_raise: the new grade where it is higher;
#: full_credit_for_question: full marks for the listed questions, whatever was answered.
POLICIES = ("update", "only_raise", "full_credit_for_question")
#: Grade changes made by a person; their questions are left alone unless asked.
PERSON_KINDS = frozenset({"override", "review", "appeal"})
FULL_CREDIT_NOTE = "Full credit was given for this question when the exam was regraded."
#: A reverse multiple-choice question shows a definition and asks for the card's term.
#: What a regrade replaces in a question of a stored result; the rest (position, the answer,
#: a person's review note) stays.
REGRADED_FIELDS = (
    "score",
    "verdict",
    "confidence",
    "needs_review",
    "feedback",
    "missed_key_points",
    "grader_version",
    "evidence",
    "review_reasons",
    "correct_answer",
    "correct_option_ids",
    "explanation",
)
#: build_result wants a timing; a regrade keeps the stored time used and reads only grades.
_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class RegradeError(ValueError):
    """Options that do not fit (an unknown policy, full credit without questions)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RegradeOptions:
    policy: str = "update"
    #: The exam's own question ids; empty means every question.
    question_ids: tuple[str, ...] = ()
    include_overridden: bool = False
    refresh_keys: bool = False

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise RegradeError("policy", f"must be one of {', '.join(POLICIES)}")
        if self.policy == "full_credit_for_question" and not self.question_ids:
            raise RegradeError("question_ids", "full_credit_for_question needs the questions")
        object.__setattr__(self, "question_ids", tuple(dict.fromkeys(self.question_ids)))

    def in_scope(self, question_id: str) -> bool:
        return not self.question_ids or question_id in self.question_ids

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "question_ids": list(self.question_ids),
            "include_overridden": self.include_overridden,
            "refresh_keys": self.refresh_keys,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RegradeOptions:
        return cls(
            policy=data.get("policy", "update"),
            question_ids=tuple(data.get("question_ids") or ()),
            include_overridden=bool(data.get("include_overridden", False)),
            refresh_keys=bool(data.get("refresh_keys", False)),
        )


def grade_of(item: Mapping[str, Any]) -> dict[str, Any]:
    """A question's grade as the audit trail records it."""
    return {"score": round(float(item["score"]), 4), "verdict": item["verdict"]}


@dataclass(frozen=True)
class QuestionChange:
    """One question whose stored grade the regrade replaces (exam question id)."""

    question_id: str
    before: dict[str, Any]
    after: dict[str, Any]
    #: The question as it will be stored.
    item: dict[str, Any]


@dataclass(frozen=True)
class AttemptRegrade:
    #: The new result (totals recomputed), or None when no grade changes.
    result: dict[str, Any] | None
    changes: tuple[QuestionChange, ...] = ()
    #: Questions whose grade would change but a person decided it: left alone.
    left_alone: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.result is not None


def regrade_result(
    result: Mapping[str, Any],
    questions: Sequence[Mapping[str, Any]],
    layout: Sequence[Mapping[str, Any]],
    answers: Mapping[str, Any],
    grade_many: GradeMany,
    options: RegradeOptions,
    decided_by_person: Collection[str] = (),
) -> AttemptRegrade:
    """Grade the attempt's stored ``answers`` again with ``questions`` (the exam's, keys
    included) and apply ``options.policy`` to the questions in scope.

    ``decided_by_person`` are the exam question ids a person graded (see
    :data:`PERSON_KINDS`); they keep their grade unless ``options.include_overridden``.
    Grading the same answers with the same keys and grader gives the same grades, so a
    second regrade with the same inputs changes nothing.
    """
    slots = [slot for slot in layout if options.in_scope(slot["question_id"])]
    if not slots:
        return AttemptRegrade(None)
    fresh = build_result(
        questions,
        slots,
        answers,
        grade_many,
        0.0,
        {},
        Timing(_NO_TIME, _NO_TIME, 0),
        _NO_TIME,
    )
    stored = {item["question_id"]: item for item in result.get("questions", [])}
    changes: list[QuestionChange] = []
    left_alone: list[str] = []
    for new in fresh["questions"]:
        question_id = new["question_id"]
        old = stored.get(question_id)
        if old is None:
            continue
        candidate = _candidate(old, new, options.policy)
        if candidate is None or grade_of(candidate) == grade_of(old):
            continue
        if question_id in decided_by_person and not options.include_overridden:
            left_alone.append(question_id)
            continue
        changes.append(QuestionChange(question_id, grade_of(old), grade_of(candidate), candidate))
    if not changes:
        return AttemptRegrade(None, (), tuple(left_alone))
    changed = copy.deepcopy(dict(result))
    by_id = {change.question_id: change.item for change in changes}
    changed["questions"] = [
        by_id.get(item["question_id"], item) for item in changed.get("questions", [])
    ]
    versions = dict(changed.get("grader_versions") or {})
    versions.update(fresh.get("grader_versions") or {})
    changed["grader_versions"] = versions
    return AttemptRegrade(recompute_totals(changed), tuple(changes), tuple(left_alone))


def _candidate(
    old: Mapping[str, Any], new: Mapping[str, Any], policy: str
) -> dict[str, Any] | None:
    """The question as the policy would store it, or None when the policy keeps the old."""
    merged = copy.deepcopy(dict(old))
    merged.update({name: copy.deepcopy(new[name]) for name in REGRADED_FIELDS if name in new})
    if policy == "only_raise" and float(new["score"]) <= float(old["score"]):
        return None
    if policy == "full_credit_for_question":
        feedback = dict(merged.get("feedback") or {})
        text = str(feedback.get("text") or "")
        feedback.update(
            summary=FULL_CREDIT_NOTE,
            text=f"{FULL_CREDIT_NOTE} {text}".strip(),
        )
        merged.update(
            score=1.0,
            verdict="correct",
            confidence=1.0,
            needs_review=False,
            missed_key_points=[],
            feedback=feedback,
        )
    return merged


# -- views ------------------------------------------------------------------------------------


class GradedAttempt(Protocol):
    """What a view reads of a stored attempt."""

    @property
    def id(self) -> str: ...

    @property
    def learner_id(self) -> str: ...

    @property
    def layout(self) -> list[dict[str, Any]]: ...

    @property
    def result(self) -> dict[str, Any] | None: ...


def resolve_question_ids(
    questions: Sequence[Mapping[str, Any]],
    layouts: Iterable[Sequence[Mapping[str, Any]]],
    requested: Sequence[str],
) -> tuple[tuple[str, ...], list[str]]:
    """The exam's question ids for ids given as the exam's own or as any attempt's public
    ones (``layouts``: the attempts'), and the ids that are neither."""
    known = {question["key"]["question_id"] for question in questions}
    wanted = [qid for qid in requested if qid not in known]
    found: dict[str, str] = {}
    if wanted:
        for layout in layouts:
            public = PublicIds.of(layout)
            for qid in wanted:
                exam_id = public.exam_question(qid) if qid not in found else None
                if exam_id is not None:
                    found[qid] = exam_id
            if len(found) == len(wanted):
                break
    unknown = [qid for qid in wanted if qid not in found]
    resolved = tuple(
        dict.fromkeys(qid if qid in known else found.get(qid, qid) for qid in requested)
    )
    return resolved, unknown


def dry_run_view(
    exam_id: str,
    options: RegradeOptions,
    previews: Sequence[tuple[GradedAttempt, AttemptRegrade]],
    keys: Sequence[KeyRefresh] = (),
) -> dict[str, Any]:
    """What a regrade would do: counts, and the attempts it changes (or leaves a question of
    alone), each question's old and new grade in the attempt's public ids."""
    changed = sum(1 for _, regrade in previews if regrade.changed)
    return {
        "dry_run": True,
        "exam_id": exam_id,
        **options.to_dict(),
        "total": len(previews),
        "changed": changed,
        "unchanged": len(previews) - changed,
        "questions_changed": sum(len(regrade.changes) for _, regrade in previews),
        "left_alone": sum(len(regrade.left_alone) for _, regrade in previews),
        "attempts": [
            attempt_diff(
                attempt.id, attempt.learner_id, attempt.layout, attempt.result or {}, regrade
            )
            for attempt, regrade in previews
            if regrade.changed or regrade.left_alone
        ],
        "keys": [entry.to_dict() for entry in keys],
    }


def totals_of(result: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "score": result.get("score"),
        "percent": result.get("percent"),
        "passed": result.get("passed"),
    }


def attempt_diff(
    attempt_id: str,
    learner_id: str,
    layout: Sequence[Mapping[str, Any]],
    result: Mapping[str, Any],
    regrade: AttemptRegrade,
) -> dict[str, Any]:
    """What the regrade does to one attempt, in the attempt's public question ids."""
    public = PublicIds.of(layout)
    types = {item["question_id"]: item.get("type") for item in result.get("questions", [])}
    return {
        "attempt_id": attempt_id,
        "learner_id": learner_id,
        "before": totals_of(result),
        "after": totals_of(regrade.result if regrade.result is not None else result),
        "questions": [
            {
                "question_id": public.question(change.question_id),
                "exam_question_id": change.question_id,
                "type": types.get(change.question_id),
                "before": change.before,
                "after": change.after,
            }
            for change in regrade.changes
        ],
        "left_alone": [public.question(question_id) for question_id in regrade.left_alone],
    }


def last_change(
    layout: Sequence[Mapping[str, Any]], regrade: AttemptRegrade, job_id: str, policy: str
) -> dict[str, Any]:
    """The result's ``last_change`` (and the ``attempt.regraded`` webhook's detail)."""
    public = PublicIds.of(layout)
    return {
        "cause": "regrade",
        "job_id": job_id,
        "policy": policy,
        "questions": [
            {
                "question_id": public.question(change.question_id),
                "before": change.before,
                "after": change.after,
            }
            for change in regrade.changes
        ],
        "comment": change_comment(job_id, policy),
    }


def change_comment(job_id: str, policy: str) -> str:
    return f"Regrade job {job_id} (policy {policy})."


# -- keys from the current bank ---------------------------------------------------------------


@dataclass(frozen=True)
class KeyRefresh:
    """What rebuilding one question's key from the current bank did."""

    question_id: str
    card_id: str
    type: str
    #: changed | unchanged | kept (the key could not be rebuilt; see ``note``)
    status: str
    changed_fields: tuple[str, ...] = ()
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "card_id": self.card_id,
            "type": self.type,
            "status": self.status,
            "changed_fields": list(self.changed_fields),
            "note": self.note,
        }


@dataclass(frozen=True)
class _Rebuilt:
    key: dict[str, Any] | None
    note: str | None = None


def refresh_keys(
    questions: Sequence[Mapping[str, Any]],
    bank: Bank,
    seed: int | None,
    question_ids: Collection[str] = (),
) -> tuple[list[dict[str, Any]], list[KeyRefresh]]:
    """The exam's questions with the keys of those in ``question_ids`` (all when empty)
    rebuilt from the current bank, and what happened to each.

    What the learner saw never changes: prompts, option ids and option texts stay. Free
    answers take the card's answer, accepted forms, key points, short answers,
    misconceptions and explanation; a fill-in takes the accepted forms of the blank the
    exam asked (rebuilt as the exam builder did, with the exam's seed), and is kept when the
    card now blanks something else; a choice question changes only which of its options are
    right (the card's answer, or term for reverse questions, must be among them); an
    authored question takes its right options, rationales and explanation while its options
    are unchanged. A key that cannot be rebuilt is kept, with a note saying why.
    """
    deck_cards: dict[str, list[Card]] = {}
    for each in bank.cards:
        deck_cards.setdefault(each.deck, []).append(each)
    rarity = {deck: word_rarity(cards) for deck, cards in deck_cards.items()}
    refreshed: list[dict[str, Any]] = []
    report: list[KeyRefresh] = []
    for question in questions:
        key = dict(question["key"])
        question_id = key["question_id"]
        if question_ids and question_id not in question_ids:
            refreshed.append(copy.deepcopy(dict(question)))
            continue
        card = bank.get(key["card_id"])
        authored = _authored(bank, key["card_id"]) if card is None else None
        if card is not None:
            rebuilt = _rebuild_key(
                key,
                card,
                seed,
                rarity.get(card.deck, {}),
                merged_glossary(bank.glossary(card.deck)),
            )
        elif authored is not None:
            rebuilt = _rebuild_authored(key, authored)
        else:
            rebuilt = _Rebuilt(
                None, "no card or authored question of the bank has this id now; the key was kept"
            )
        if rebuilt.key is None:
            new_key = key
            status = "kept"
            changed: tuple[str, ...] = ()
        else:
            new_key = rebuilt.key
            changed = tuple(name for name in new_key if new_key[name] != key.get(name))
            status = "changed" if changed else "unchanged"
        refreshed.append({**copy.deepcopy(dict(question)), "key": copy.deepcopy(new_key)})
        report.append(
            KeyRefresh(question_id, key["card_id"], key["type"], status, changed, rebuilt.note)
        )
    return refreshed, report


def _rebuild_key(
    key: Mapping[str, Any],
    card: Card,
    seed: int | None,
    rarity: Mapping[str, int],
    glossary: Mapping[str, str],
) -> _Rebuilt:
    kind = QuestionType(key["type"])
    common = {**key, "key_points": list(card.key_points), "explanation": card.explanation}
    if kind is QuestionType.FREE_ANSWER:
        note = None
        if compact(card.prompt) != compact(key["prompt"]):
            note = "the card's prompt changed; the exam keeps the prompt its learners answered"
        return _Rebuilt(
            {
                **common,
                "answer": card.answer,
                "accept": list(card.accept),
                "short_answers": list(card.short_answers),
                "misconceptions": [item.to_dict() for item in card.misconceptions],
            },
            note,
        )
    if kind is QuestionType.FILL_IN:
        if seed is None:
            return _Rebuilt(None, "the exam has no seed to rebuild its fill-in; the key was kept")
        # As the exam builder made it: with the deck's glossary (its accept-list variants).
        made = make_fill_in(card, _rng(seed, "fill", card.id), rarity, glossary)
        if made is None:
            return _Rebuilt(None, "the card makes no fill-in question now; the key was kept")
        if made.prompt != key["prompt"]:
            return _Rebuilt(
                None, "the card's fill-in now asks for something else; the key was kept"
            )
        return _Rebuilt({**common, "answer": made.accept[0], "accept": list(made.accept)})
    options = list(key.get("options") or [])
    if kind is QuestionType.MULTIPLE_RESPONSE:
        right = card_list_items(card)
    elif key["prompt"].startswith(REVERSE_PROMPT):
        right = term_forms(card.term) if card.term else ()
    else:
        # The builder shows a long answer in one of the card's shorter right forms.
        right = (card.answer, *card.short_answers, _without_gloss(card.answer))
    wanted = {compact(text) for text in right if text}
    matches = [option for option in options if compact(option["text"]) in wanted]
    expected = len(key.get("correct_option_ids") or []) or 1
    if kind is QuestionType.MULTIPLE_CHOICE and len(matches) != 1:
        what = "is not among the options" if not matches else "matches several options"
        return _Rebuilt(None, f"the card's answer {what}; the key was kept")
    if kind is QuestionType.MULTIPLE_RESPONSE and len(matches) != expected:
        return _Rebuilt(
            None,
            f"{len(matches)} options are right by the card, the question asks for "
            f"{expected}; the key was kept",
        )
    correct = [option["id"] for option in matches]
    if sorted(correct) == sorted(key.get("correct_option_ids") or []):
        return _Rebuilt(common)
    return _Rebuilt(
        {
            **common,
            "correct_option_ids": correct,
            "answer": "; ".join(option["text"] for option in matches),
        }
    )


def _authored(bank: Bank, question_id: str) -> AuthoredQuestion | None:
    try:
        return bank.question(question_id)
    except KeyError:
        return None


def _rebuild_authored(key: Mapping[str, Any], authored: AuthoredQuestion) -> _Rebuilt:
    """An authored (scenario) question: which of its options are right, its rationales and
    explanation, as long as its options are still those the learners saw."""
    shown = [(option["id"], option["text"]) for option in key.get("options") or []]
    if shown != [(option.id, option.text) for option in authored.options]:
        return _Rebuilt(None, "the authored question's options changed; the key was kept")
    return _Rebuilt(
        {
            **key,
            "answer": "; ".join(option.text for option in authored.options if option.correct),
            "correct_option_ids": list(authored.correct_option_ids),
            "explanation": authored.explanation,
            "option_rationales": [option.rationale for option in authored.options],
        }
    )
