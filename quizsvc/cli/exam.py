"""``quizsvc exam``: build exams from the card bank."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from quizsvc.cli.common import configured_bank, configured_encoder, settings_from_env
from quizsvc.exams import (
    Blueprint,
    BlueprintError,
    InsufficientQuestionsError,
    QuestionType,
    build_exam,
    check_blueprint,
)
from quizsvc.exams.builder import DIFFICULTIES, Exam
from quizsvc.lms.exports import EXPORT_FORMATS, export_exam

_COUNT = click.IntRange(min=0)


def build_from_options(
    deck: str | None,
    topics: str | None,
    mc: int,
    mr: int,
    fill: int,
    free: int,
    reverse: int,
    difficulty: str | None,
    distractors: int,
    seed: int | None,
    scenario: int = 0,
) -> Exam:
    """The exam the blueprint options of ``exam build`` and ``exam export`` describe."""
    try:
        blueprint = Blueprint(
            counts={
                QuestionType.MULTIPLE_CHOICE: mc,
                QuestionType.MULTIPLE_RESPONSE: mr,
                QuestionType.FILL_IN: fill,
                QuestionType.FREE_ANSWER: free,
            },
            reverse=reverse,
            scenario=scenario,
            deck=deck,
            topics=tuple(topic.strip() for topic in (topics or "").split(",") if topic.strip()),
            difficulty=difficulty,
            seed=seed,
            distractors=distractors,
        )
        settings = settings_from_env()
        loaded = configured_bank(settings)
        # Checked before the model loads, so a typo fails in a moment.
        authored = loaded.select_questions(deck)
        check_blueprint(loaded.cards, blueprint, authored)
        return build_exam(
            loaded.cards,
            blueprint,
            configured_encoder(settings),
            authored=authored,
            glossaries={name: loaded.glossary(name) for name in loaded.decks},
        )
    except (BlueprintError, InsufficientQuestionsError) as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def exam() -> None:
    """Build exams from the card bank."""


@exam.command("build", short_help="Build an exam and print it as JSON.")
@click.option("--deck", help="Only this deck (default: every deck).")
@click.option("--topics", help="Comma-separated topic slugs (default: every topic).")
@click.option("--mc", type=_COUNT, default=0, help="Multiple-choice questions.")
@click.option("--mr", type=_COUNT, default=0, help='Multiple-response ("select TWO") questions.')
@click.option("--fill", type=_COUNT, default=0, help="Fill-in questions.")
@click.option("--free", type=_COUNT, default=0, help="Free-answer questions.")
@click.option(
    "--reverse",
    type=_COUNT,
    default=0,
    help="Reverse multiple-choice questions: a definition is shown, the term is picked.",
)
@click.option(
    "--scenario",
    type=_COUNT,
    default=0,
    help="Authored scenario questions, each option with its rationale.",
)
@click.option("--difficulty", type=click.Choice(DIFFICULTIES), help="Only cards of this level.")
@click.option(
    "--distractors",
    type=click.IntRange(1, 9),
    default=3,
    show_default=True,
    help="Wrong options per multiple-choice question.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    help="Rebuilds the same exam; without it a random seed is drawn and printed in the JSON.",
)
@click.option("--key", is_flag=True, help="Print the answer key with each question (for review).")
def exam_build(key: bool, **blueprint_options: Any) -> None:
    """Build an exam from the configured bank and print it as JSON: the learner's view, or
    with --key each question with its answer key.

    Example: quizsvc exam build --topics metrics,xgboost --mc 10 --fill 5 --free 5 --seed 7
    """
    built = build_from_options(**blueprint_options)
    document = built.key_dict() if key else built.delivery_dict()
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


@exam.command("export", short_help="Build an exam and write it as QTI, GIFT or Moodle XML.")
@click.option(
    "--format",
    "format_name",
    type=click.Choice(list(EXPORT_FORMATS)),
    required=True,
    help="qti: QTI 1.2 zip (Canvas, Blackboard); gift and moodle-xml: Moodle.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="File to write (default: standard output).",
)
@click.option("--title", default="Practice exam", show_default=True, help="The exam's title.")
def exam_export(
    format_name: str, output: Path | None, title: str, **blueprint_options: Any
) -> None:
    """Build an exam from the same options as ``exam build`` and write it, with its answer key,
    in a format learning management systems import.

    Example: quizsvc exam export --format qti --mc 10 --free 5 --seed 7 --output exam.zip
    """
    built = build_from_options(**blueprint_options)
    keys = [question.key for question in built.questions]
    data = export_exam(format_name, title, keys)
    if output is None:
        with click.open_file("-", "wb") as stream:
            stream.write(data)
    else:
        output.write_bytes(data)
    # On stderr, so that standard output stays the file; the seed rebuilds the same exam.
    click.echo(
        f"Wrote {len(keys)} questions to {output or 'standard output'}"
        f" (seed {built.blueprint.seed}).",
        err=True,
    )


# The blueprint options are exactly those of ``exam build`` (all but its --key flag).
exam_export.params[:0] = [param for param in exam_build.params if param.name != "key"]
