"""The ``quizsvc`` command line (click, as Flask's own CLI)."""

from __future__ import annotations

import click

from quizsvc import __version__
from quizsvc.cli.bank import bank
from quizsvc.cli.bank_edits import bank_write_back
from quizsvc.cli.exam import exam
from quizsvc.cli.grade import grade
from quizsvc.cli.learner import learner
from quizsvc.cli.lti import lti, outbox
from quizsvc.cli.model import model
from quizsvc.cli.regrade import exams
from quizsvc.cli.service import attempts, db, keys, openapi, serve
from quizsvc.cli.stats import stats


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="quizsvc")
def main() -> None:
    """quizsvc: exam prep from a validated flashcard bank."""


bank.add_command(bank_write_back)
main.add_command(bank)
main.add_command(serve)
main.add_command(db)
main.add_command(keys)
main.add_command(attempts)
main.add_command(openapi)
main.add_command(exam)
main.add_command(exams)
main.add_command(grade)
main.add_command(learner)
main.add_command(lti)
main.add_command(outbox)
main.add_command(model)
main.add_command(stats)
