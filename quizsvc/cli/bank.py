"""``quizsvc bank``: validate, inspect, import and export decks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from quizsvc.bank import Bank, BankError, Problem, load_bank, validate_bank
from quizsvc.bank.importers import (
    DeckImportError,
    ImportedDeck,
    import_apkg,
    import_delimited,
    import_file,
    slugify,
)
from quizsvc.bank.interop import (
    IMPORT_FORMATS,
    detect_format,
    import_bank_file,
    write_imported_deck,
)
from quizsvc.bank.loader import DECK_FILE
from quizsvc.bank.writer import DeckExistsError, DeckWriteError
from quizsvc.cli.common import settings_from_env


@click.group()
def bank() -> None:
    """Validate, inspect, import and export card decks."""


def _bank_path(path: Path | None) -> Path:
    return path if path is not None else settings_from_env().bank_dir


@bank.command("validate", short_help="Check decks against the schema and rules.")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def bank_validate(path: Path | None) -> None:
    """Check every deck under PATH (default: the configured bank) and list all problems."""
    root = _bank_path(path)
    loaded, problems = validate_bank(root)
    if problems:
        click.echo(f"{len(problems)} problem(s) in {root}:", err=True)
        for problem in sorted(problems, key=Problem.sort_key):
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    authored = f" and {len(loaded.questions)} authored questions" if loaded.questions else ""
    click.echo(f"{root}: {len(loaded)} cards{authored} in {len(loaded.decks)} deck(s), all valid")


@bank.command("stats")
@click.argument("path", required=False, type=click.Path(path_type=Path))
def bank_stats(path: Path | None) -> None:
    """Cards per topic for each deck."""
    loaded = _load(_bank_path(path))
    for deck in loaded.decks.values():
        topics = loaded.topics(deck.id)
        click.echo(f"{deck.id}: {deck.title}")
        width = max((len(topic) for topic in topics), default=5)
        for topic, count in topics.items():
            click.echo(f"  {topic:<{width}}  {count:>4}")
        click.echo(f"  {'total':<{width}}  {sum(topics.values()):>4} cards in {len(topics)} topics")
    if len(loaded.decks) > 1:
        topic_count = sum(len(loaded.topics(deck)) for deck in loaded.decks)
        click.echo(f"all decks: {len(loaded)} cards in {topic_count} topics")


@bank.command("export")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json"]), default="json", show_default=True)
@click.option("--deck", help="Only this deck.")
@click.option("--topic", "topics", multiple=True, help="Only these topics (repeatable).")
@click.option(
    "--questions",
    "authored",
    is_flag=True,
    help="Export the authored (scenario) questions instead of the cards.",
)
def bank_export(
    path: Path | None, fmt: str, deck: str | None, topics: tuple[str, ...], authored: bool
) -> None:
    """Print the cards (or, with --questions, the authored questions) as a JSON list."""
    loaded = _load(_bank_path(path))
    if deck is not None and deck not in loaded.decks:
        raise click.BadParameter(
            f"no deck {deck!r}; the decks are: {', '.join(loaded.decks)}", param_hint="--deck"
        )
    known_topics = (
        list(dict.fromkeys(q.topic for q in loaded.select_questions(deck)))
        if authored
        else list(loaded.topics(deck))
    )
    unknown = [topic for topic in topics if topic not in known_topics]
    if unknown:
        raise click.BadParameter(
            f"no topic {', '.join(map(repr, unknown))}; the topics are: {', '.join(known_topics)}",
            param_hint="--topic",
        )
    items = (
        [question.to_dict() for question in loaded.select_questions(deck, topics or None)]
        if authored
        else [card.to_dict() for card in loaded.select(deck, topics or None)]
    )
    click.echo(json.dumps(items, indent=2, ensure_ascii=False))


def _slug_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not slugify(value):
        raise click.BadParameter(f"{value!r} has no letters or digits to make a slug from")
    return value


_FORMAT_CHOICES = ["csv", "apkg", *IMPORT_FORMATS]


@bank.command("import", short_help="Import CSV/TSV, Anki .apkg, QTI, GIFT or Moodle XML.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--deck",
    "deck_name",
    required=True,
    callback=_slug_option,
    help="Deck name; its slug is the deck id and directory name, e.g. 'My AWS cards'.",
)
@click.option(
    "--format",
    "format_name",
    type=click.Choice(_FORMAT_CHOICES),
    help="csv (CSV/TSV text), apkg (Anki), qti (QTI 1.2 package or XML), gift, moodle "
    "(Moodle XML). Default: from the file name and content.",
)
@click.option(
    "--topic",
    callback=_slug_option,
    help="Topic for all items. Default: CSV/TSV the topic column or the file name; .apkg each "
    "note's Anki deck name; QTI section titles; GIFT and Moodle categories.",
)
@click.option("--title", help="Deck title (default: the --deck name).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Bank directory to write the deck into (default: the configured bank).",
)
@click.option("--force", is_flag=True, help="Replace an existing deck directory of that name.")
def bank_import(
    file: Path,
    deck_name: str,
    format_name: str | None,
    topic: str | None,
    title: str | None,
    out: Path | None,
    force: bool,
) -> None:
    """Import FILE as a deck: CSV/TSV with front,back[,topic] columns, an Anki .apkg, or a
    question bank in QTI 1.2, GIFT or Moodle XML (choice questions become authored
    questions; short answers and essays become cards).

    The deck is validated before it is written; on any problem nothing is written. Items
    that cannot be represented are listed as warnings.
    """
    bank_dir = _bank_path(out)
    if (bank_dir / DECK_FILE).exists():
        raise click.BadParameter(
            f"{bank_dir} is a deck directory; give the bank directory that holds decks",
            param_hint="--out",
        )
    try:
        if format_name is None:
            with file.open("rb") as handle:
                format_name = detect_format(file.name, handle.read(4096))
        if format_name in IMPORT_FORMATS:
            imported = import_bank_file(
                file.read_bytes(), file.name, format_name, deck_name, topic, title
            )
        elif format_name == "apkg":
            imported = import_apkg(file, deck_name, topic, title)
        elif format_name == "csv":
            imported = import_delimited(file, deck_name, topic, title)
        else:
            imported = import_file(file, deck_name, topic, title)
    except DeckImportError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        target = write_imported_deck(imported, bank_dir, force=force)
    except DeckExistsError as exc:
        raise click.ClickException(f"{exc}; use --force to replace it") from exc
    except DeckWriteError as exc:
        raise click.ClickException(f"{file.name}: the imported deck is not valid: {exc}") from exc
    _report_import(imported, file.name, target)


def _report_import(imported: ImportedDeck, file_name: str, target: Path) -> None:
    for line in imported.skipped:
        click.echo(f"warning: {line}", err=True)
    topics: dict[str, int] = {}
    for topic in [card.topic for card in imported.cards] + [
        question.topic for question in imported.questions
    ]:
        topics[topic] = topics.get(topic, 0) + 1
    questions = f" and {len(imported.questions)} question(s)" if imported.questions else ""
    click.echo(
        f"Imported {len(imported.cards)} card(s){questions} from {file_name} into {target} "
        f"(deck {imported.deck.id}, {len(topics)} topic(s)"
        + (f", {len(imported.skipped)} skipped" if imported.skipped else "")
        + ")"
    )
    width = max(len(name) for name in topics)
    for name, count in topics.items():
        click.echo(f"  {name:<{width}}  {count:>4}")


def _load(root: Path) -> Bank:
    try:
        return load_bank(root)
    except BankError as exc:
        raise click.ClickException(str(exc)) from exc


@bank.command("embed", short_help="Encode the bank once into the embedding cache.")
@click.option("--batch", type=click.IntRange(min=1), default=64, show_default=True)
def bank_embed(batch: int) -> None:
    """Encode every bank text (prompts, answers, key points, accepted forms, terms) into the
    on-disk embedding cache, so that exam builds and grading never wait for the model."""
    from tqdm import tqdm

    from quizsvc.cli.common import configured_bank, configured_encoder
    from quizsvc.exams import bank_texts
    from quizsvc.runtime import EMBEDDING_CACHE_FILE

    settings = settings_from_env()
    texts = bank_texts(configured_bank(settings).cards)
    encoder = configured_encoder(settings, show_progress=False)
    before = encoder.misses
    with tqdm(total=len(texts), unit="text", desc="Embedding bank") as progress:
        for start in range(0, len(texts), batch):
            chunk = texts[start : start + batch]
            encoder.encode(chunk)
            progress.update(len(chunk))
    encoded = encoder.misses - before
    click.echo(
        f"{len(texts)} bank texts: {encoded} encoded, {len(texts) - encoded} already cached "
        f"({settings.cache_dir / EMBEDDING_CACHE_FILE})"
    )
