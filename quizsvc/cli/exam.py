"""``quizsvc exam``: build exams from the card bank."""

from __future__ import annotations

import json

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
from quizsvc.exams.builder import DIFFICULTIES

_COUNT = click.IntRange(min=0)


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
def exam_build(
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
    key: bool,
) -> None:
    """Build an exam from the configured bank and print it as JSON: the learner's view, or
    with --key each question with its answer key.

    Example: quizsvc exam build --topics metrics,xgboost --mc 10 --fill 5 --free 5 --seed 7
    """
    try:
        blueprint = Blueprint(
            counts={
                QuestionType.MULTIPLE_CHOICE: mc,
                QuestionType.MULTIPLE_RESPONSE: mr,
                QuestionType.FILL_IN: fill,
                QuestionType.FREE_ANSWER: free,
            },
            reverse=reverse,
            deck=deck,
            topics=tuple(topic.strip() for topic in (topics or "").split(",") if topic.strip()),
            difficulty=difficulty,
            seed=seed,
            distractors=distractors,
        )
        settings = settings_from_env()
        loaded = configured_bank(settings)
        # Checked before the model loads, so a typo fails in a moment.
        check_blueprint(loaded.cards, blueprint)
        built = build_exam(loaded.cards, blueprint, configured_encoder(settings))
    except (BlueprintError, InsufficientQuestionsError) as exc:
        raise click.ClickException(str(exc)) from exc
    document = built.key_dict() if key else built.delivery_dict()
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))
