"""The ``quizsvc`` command line (click, as Flask's own CLI)."""

from __future__ import annotations

import click

from quizsvc import __version__
from quizsvc.cli.bank import bank


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="quizsvc")
def main() -> None:
    """quizsvc: exam prep from a validated flashcard bank."""


main.add_command(bank)
