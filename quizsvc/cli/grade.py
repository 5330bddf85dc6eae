"""``quizsvc grade``: grade one answer and print the grade and feedback as JSON."""

from __future__ import annotations

import json

import click

from quizsvc.cli.common import configured_bank, configured_encoder, settings_from_env
from quizsvc.exams.model import QuestionType
from quizsvc.grading import Glossary, Grader, grade_free_answer, question_key_for_card


@click.command("grade")
@click.argument("answer")
@click.option("--card", "card_id", help="Grade against this card of the configured bank.")
@click.option(
    "--type",
    "question_type",
    type=click.Choice([QuestionType.FREE_ANSWER.value, QuestionType.FILL_IN.value]),
    default=QuestionType.FREE_ANSWER.value,
    show_default=True,
    help="Grade the card's question as a free answer or as a fill-in.",
)
@click.option("--reference", help="Ad-hoc: the reference answer (instead of --card).")
@click.option(
    "--key-point",
    "key_points",
    multiple=True,
    help="Ad-hoc: a key point of the reference (repeatable; default: its clauses).",
)
@click.option("--prompt", default="", help="Ad-hoc: the question, if there is one.")
def grade(
    answer: str,
    card_id: str | None,
    question_type: str,
    reference: str | None,
    key_points: tuple[str, ...],
    prompt: str,
) -> None:
    """Grade ANSWER against a card (--card ID) or an ad-hoc reference (--reference TEXT
    --key-point TEXT ...) and print the grade, feedback and evidence as JSON."""
    if (card_id is None) == (reference is None):
        raise click.UsageError("give either --card ID or --reference TEXT")
    if card_id is None and (question_type != QuestionType.FREE_ANSWER.value):
        raise click.UsageError("an ad-hoc reference is graded as a free answer only")
    if card_id is not None and (key_points or prompt):
        raise click.UsageError("--key-point and --prompt go with --reference, not --card")
    settings = settings_from_env()
    if card_id is not None:
        bank = configured_bank(settings)
        card = bank.get(card_id)
        if card is None:
            raise click.ClickException(f"no card {card_id!r} in {settings.bank_dir}")
        bank_encoder = configured_encoder(settings, show_progress=False)
        grader = Grader.for_bank(bank, bank_encoder.encoder, bank_encoder)
        try:
            key = question_key_for_card(card, QuestionType(question_type))
        except ValueError as error:
            raise click.ClickException(str(error)) from None
        result = grader.grade(key, answer)
        if key.type is QuestionType.FILL_IN:
            # Say which blank was graded: a card's sentence can have several.
            click.echo(json.dumps({"question": key.prompt}, ensure_ascii=False), err=True)
    else:
        assert reference is not None
        bank_encoder = configured_encoder(settings, show_progress=False)
        result = grade_free_answer(
            answer,
            reference,
            key_points,
            encoder=bank_encoder.encoder,
            bank_encoder=bank_encoder,
            prompt=prompt,
            glossary=Glossary.for_deck(),
        )
    click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
