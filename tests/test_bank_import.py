"""Importing user decks (CSV/TSV and Anki packages) and writing them as bank decks."""

from __future__ import annotations

import csv
import io
import re
import sqlite3
import zipfile
from collections.abc import Sequence
from pathlib import Path

import genanki
import pytest
import yaml
import zstandard

from quizsvc.bank import Bank, Card, Deck, load_bank
from quizsvc.bank.importers import (
    DeckImportError,
    ImportedDeck,
    clean_text,
    import_apkg,
    import_delimited,
    import_file,
    slugify,
    split_key_points,
)
from quizsvc.bank.writer import (
    CARD_KEY_ORDER,
    DeckExistsError,
    DeckWriteError,
    card_document,
    deck_files,
    write_deck,
)

SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

ROWS = [
    (
        "What is L1 regularization?",
        "The sum of the absolute values of the weights",
        "Regularization",
    ),
    ("What is RMSE?", "Root mean squared error", "metrics"),
    ("Name two RNN cell types", "LSTM\nGRU", "RNN"),
    (
        'What does "pipe mode" stream?',
        "Training data, straight from S3, without a full download",
        "",
    ),
]


def write_rows(
    path: Path,
    rows: Sequence[Sequence[str]],
    delimiter: str = ",",
    header: Sequence[str] | None = None,
    encoding: str = "utf-8",
) -> Path:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def written_and_loaded(imported: ImportedDeck, bank_dir: Path) -> Bank:
    write_deck(imported.deck, imported.cards, bank_dir)
    return load_bank(bank_dir)


def assert_sound_ids(cards: Sequence[Card]) -> None:
    ids = [card.id for card in cards]
    assert len(set(ids)) == len(ids)
    assert all(SLUG.match(card_id) and len(card_id) <= 80 for card_id in ids), ids


# -- CSV / TSV ---------------------------------------------------------------------------------


def test_csv_round_trip(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "aws terms.csv", ROWS)
    imported = import_delimited(source, "My AWS Cards", default_topic="General Notes")
    bank = written_and_loaded(imported, tmp_path / "bank")

    assert list(bank.decks) == ["my-aws-cards"]
    assert bank.decks["my-aws-cards"].title == "My AWS Cards"
    loaded = {(card.prompt, card.answer, card.topic) for card in bank}
    assert loaded == {
        ("What is L1 regularization?", ROWS[0][1], "regularization"),
        ("What is RMSE?", "Root mean squared error", "metrics"),
        ("Name two RNN cell types", "LSTM\nGRU", "rnn"),
        (ROWS[3][0], ROWS[3][1], "general-notes"),
    }
    assert {card.id: card for card in bank} == {card.id: card for card in imported.cards}
    assert_sound_ids(list(bank))
    rnn = next(card for card in bank if card.topic == "rnn")
    assert rnn.key_points == ("LSTM", "GRU")
    assert rnn.source_note == "Imported from aws terms.csv row 3"
    assert bank.decks["my-aws-cards"].topics["regularization"] == "Regularization"
    assert imported.skipped == ()


def test_default_topic_is_the_file_name(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "Week 3 cards.csv", [("Front one", "Back one")])
    imported = import_delimited(source, "deck")
    assert [card.topic for card in imported.cards] == ["week-3-cards"]


def test_tsv_round_trip_with_commas_inside_fields(tmp_path: Path) -> None:
    rows = [("What is F1, in words?", "Harmonic mean of precision, recall", "metrics")]
    source = write_rows(tmp_path / "cards.tsv", rows, delimiter="\t")
    bank = written_and_loaded(import_delimited(source, "d"), tmp_path / "bank")
    assert [(c.prompt, c.answer, c.topic) for c in bank] == [rows[0]]


@pytest.mark.parametrize(("suffix", "delimiter"), [(".txt", "\t"), (".csv", "\t"), (".txt", ";")])
def test_delimiter_is_sniffed_from_content(tmp_path: Path, suffix: str, delimiter: str) -> None:
    rows = [("Term, one", "Definition, one"), ("Term two", "Definition two, with comma")]
    source = write_rows(tmp_path / f"cards{suffix}", rows, delimiter=delimiter)
    imported = import_delimited(source, "d", "t")
    assert [(card.prompt, card.answer) for card in imported.cards] == rows


@pytest.mark.parametrize(
    "header",
    [
        ("front", "back", "topic"),
        ("Question", "Answer", "Topic"),
        ("topic", "BACK", "Front"),
        ("term", "definition"),
    ],
)
def test_header_row_names_the_columns(tmp_path: Path, header: tuple[str, ...]) -> None:
    by_name = {"front": "What is a GRU?", "back": "Gated recurrent unit", "topic": "RNN"}
    aliases = {"question": "front", "term": "front", "answer": "back", "definition": "back"}
    row = [by_name[aliases.get(name.lower(), name.lower())] for name in header]
    source = write_rows(tmp_path / "cards.csv", [row], header=header)
    imported = import_delimited(source, "d", "fallback")
    [card] = imported.cards
    assert (card.prompt, card.answer) == ("What is a GRU?", "Gated recurrent unit")
    assert card.topic == ("rnn" if "topic" in [name.lower() for name in header] else "fallback")
    assert card.source_note == "Imported from cards.csv row 2"


def test_without_header_the_first_row_is_a_card(tmp_path: Path) -> None:
    rows = [("Frontal lobe", "Part of the brain"), *ROWS[:1]]
    source = write_rows(tmp_path / "cards.csv", rows)
    imported = import_delimited(source, "d", "t")
    assert [card.prompt for card in imported.cards] == ["Frontal lobe", ROWS[0][0]]


def test_header_with_an_unknown_column_is_an_error(tmp_path: Path) -> None:
    source = write_rows(
        tmp_path / "cards.csv", [("a", "b", "c")], header=("front", "back", "notes")
    )
    with pytest.raises(DeckImportError, match=r"cards\.csv: row 1: unknown column\(s\) 'notes'"):
        import_delimited(source, "d")


def test_utf8_bom_and_header(tmp_path: Path) -> None:
    source = write_rows(
        tmp_path / "cards.csv",
        [("Qué es la precisión?", "TP / (TP + FP)", "métricas")],
        header=("front", "back", "topic"),
        encoding="utf-8-sig",
    )
    [card] = import_delimited(source, "d").cards
    assert (card.prompt, card.answer, card.topic) == (
        "Qué es la precisión?",
        "TP / (TP + FP)",
        "metricas",
    )


def test_utf16_text_export(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "cards.txt", [("Côté", "Verso")], "\t", encoding="utf-16")
    assert [(c.prompt, c.answer) for c in import_delimited(source, "d", "t").cards] == [
        ("Côté", "Verso")
    ]


def test_quoted_multi_line_fields_keep_rows_and_lines_apart(tmp_path: Path) -> None:
    source = tmp_path / "cards.csv"
    source.write_text(
        'front,back\n"Name the\nthree gates","Input gate\nForget gate\nOutput gate"\n'
        "Second,Answer\n"
        "Third\n",
        encoding="utf-8",
    )
    with pytest.raises(DeckImportError) as caught:
        import_delimited(source, "d", "t")
    # The third record starts on line 7: the quoted cells span lines 2-5.
    assert str(caught.value).startswith("cards.csv: row 4 (line 7): missing back column")

    source.write_text(source.read_text("utf-8").replace("Third\n", ""), encoding="utf-8")
    imported = import_delimited(source, "d", "t")
    first, second = imported.cards
    assert first.prompt == "Name the\nthree gates"
    assert first.key_points == ("Input gate", "Forget gate", "Output gate")
    assert second.source_note == "Imported from cards.csv row 3"
    bank = written_and_loaded(imported, tmp_path / "bank")
    assert bank.card(first.id).prompt == "Name the\nthree gates"


def test_html_left_by_anki_and_quizlet_is_stripped(tmp_path: Path) -> None:
    rows = [
        ("What is <b>dropout</b>?", "Randomly&nbsp;drops neurons<br>during training", "nn"),
        ("<div>List boosting algorithms</div>", "<ul><li>AdaBoost</li><li>XGBoost</li></ul>", "nn"),
        ("Is x<y in a plain CSV kept?", "Yes: a &lt; b &amp;&amp; c", "nn"),
    ]
    source = write_rows(tmp_path / "cards.csv", rows)
    cards = import_delimited(source, "d").cards
    assert [(card.prompt, card.answer) for card in cards] == [
        ("What is dropout?", "Randomly drops neurons\nduring training"),
        ("List boosting algorithms", "- AdaBoost\n- XGBoost"),
        ("Is x<y in a plain CSV kept?", "Yes: a < b && c"),
    ]
    assert cards[1].key_points == ("AdaBoost", "XGBoost")


@pytest.mark.parametrize(
    ("raw", "any_tag", "expected"),
    [
        ("a<br/>b<br >c", False, "a\nb\nc"),
        ("<p>One</p><p>Two</p>", False, "One\nTwo"),
        ("x&nbsp;&nbsp; y\u00a0z", False, "x y z"),
        ("<span style='color:red'>red</span> text", False, "red text"),
        ("<custom>kept</custom>", False, "<custom>kept</custom>"),
        ("<custom>gone</custom>[sound:a.mp3]<img src='x.png'>", True, "gone"),
        ("<script>alert(1)</script>safe<!-- note -->", True, "safe"),
        ("<table><tr><td>a</td><td>b</td></tr></table>", True, "a b"),
    ],
)
def test_clean_text(raw: str, any_tag: bool, expected: str) -> None:
    assert clean_text(raw, any_tag=any_tag) == expected


@pytest.mark.parametrize(
    ("back", "points"),
    [
        ("Root mean squared error", ["Root mean squared error"]),
        ("Shrinks weights; can zero them out", ["Shrinks weights", "can zero them out"]),
        ("- LSTM\n- GRU\n* vanilla RNN", ["LSTM", "GRU", "vanilla RNN"]),
        ("1. Collect\n2) Train\n3. Deploy", ["Collect", "Train", "Deploy"]),
        (
            "Too high LR:\n- overshoots\nToo low LR:\n- is slow\nUse a schedule",
            ["Too high LR: overshoots", "Too low LR: is slow", "Use a schedule"],
        ),
        ("Knobs:\n- Learning rate\n- Batch size", ["Knobs: Learning rate", "Knobs: Batch size"]),
        ("Same\nsame\nOther", ["Same", "Other"]),
        ("A; ;", ["A; ;"]),
        ("-1 is the minimum\n2D like images", ["-1 is the minimum", "2D like images"]),
    ],
)
def test_split_key_points(back: str, points: list[str]) -> None:
    assert split_key_points(back) == points


def test_ids_are_unique_slugs_of_deck_and_front(tmp_path: Path) -> None:
    long_front = "What is " + "very " * 40 + "long?"
    rows = [("What is L1?", "a"), ("What is L1!", "b"), ("what-is-l1", "c"), ("¿¿??", "d")]
    rows.append((long_front, "e"))
    source = write_rows(tmp_path / "cards.csv", rows)
    cards = import_delimited(source, "Deck", "t").cards
    assert [card.id for card in cards][:4] == [
        "deck-what-is-l1",
        "deck-what-is-l1-2",
        "deck-what-is-l1-3",
        "deck-card",
    ]
    assert_sound_ids(cards)
    assert cards[4].id.startswith("deck-what-is-very-very")


def test_empty_sides_and_repeated_fronts_are_skipped_and_listed(tmp_path: Path) -> None:
    rows = [("Kept", "Back"), ("", "Orphan back"), ("No back", ""), ("kept ", "Other back")]
    source = write_rows(tmp_path / "cards.csv", rows)
    imported = import_delimited(source, "d", "t")
    assert [card.prompt for card in imported.cards] == ["Kept"]
    assert imported.skipped == (
        "cards.csv: row 2: the front is empty (images and sounds are not imported), skipped",
        "cards.csv: row 3: the back is empty (images and sounds are not imported), skipped",
        "cards.csv: row 4: same front as row 1, skipped",
    )


def test_anki_text_export_with_directives(tmp_path: Path) -> None:
    source = tmp_path / "export.txt"
    source.write_text(
        "#separator:tab\n#html:true\n#notetype column:1\n#deck column:2\n#tags column:5\n"
        "Basic\tAWS::XGBoost\tWhat is <i>eta</i>?\tThe learning rate\tml::hyper params\n"
        "Basic\tAWS::XGBoost\tWhat is alpha?\tL1 term\t\n",
        encoding="utf-8",
    )
    first, second = import_delimited(source, "d").cards
    assert (first.prompt, first.answer, first.topic) == (
        "What is eta?",
        "The learning rate",
        "xgboost",
    )
    assert first.tags == ("ml-hyper", "params")
    assert first.source_note == "Imported from export.txt row 1"
    assert second.tags == ()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"cards\.csv: the file is empty"),
        (b"   \n\n", r"cards\.csv: the file is empty"),
        (b"front,back\nok,fine\n\xff\xfebad,row\n", r"cards\.csv: line 3: not valid UTF-8"),
        (b"just a front\nanother\n", r"cards\.csv: row 1: missing back column"),
        (b"a,b\nc,d\nonly front\n", r"cards\.csv: row 3: missing back column"),
        (b"front,back\n", r"cards\.csv: no cards found"),
        (b",\n,x\n", r"cards\.csv: no cards found \(1 skipped: row 1 \(line 2\): the front is"),
        (b'a,b\n"c,d\n', r"cards\.csv: line 2: unexpected end of data"),
        (b'a,"b"x\n', r"cards\.csv: line 1: .*check the quotes"),
        (b"a,b,c,d\n", r"cards\.csv: row 1: found 4 columns"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00", r"cards\.csv: this is a binary file"),
        (b"PK\x03\x04\x14\x00", r"cards\.csv: this is a zip archive"),
        (b"#separator:weird\na,b\n", r"cards\.csv: line 1: unknown separator"),
    ],
)
def test_malformed_delimited_files(tmp_path: Path, content: bytes, message: str) -> None:
    source = tmp_path / "cards.csv"
    source.write_bytes(content)
    with pytest.raises(DeckImportError, match=message) as caught:
        import_delimited(source, "d", "t")
    assert caught.value.file == "cards.csv"


def test_trailing_empty_columns_are_not_extra_values(tmp_path: Path) -> None:
    source = tmp_path / "cards.csv"
    source.write_text("Q1,A1,topic-a,,\n", encoding="utf-8")
    [card] = import_delimited(source, "d").cards
    assert card.topic == "topic-a"


def test_long_fields_are_skipped_not_truncated(tmp_path: Path) -> None:
    source = write_rows(tmp_path / "cards.csv", [("Short", "x" * 4001), ("Fine", "Ok")])
    imported = import_delimited(source, "d", "t")
    assert [card.prompt for card in imported.cards] == ["Fine"]
    assert "longer than 4000" in imported.skipped[0]


def test_bad_deck_or_topic_name() -> None:
    with pytest.raises(ValueError, match="deck name"):
        import_delimited(Path("unused.csv"), "!!!")
    assert slugify("Ünïcode Deck -- 2") == "unicode-deck-2"
    assert len(slugify("word " * 40)) <= 80


# -- Anki packages -----------------------------------------------------------------------------

MODEL = genanki.Model(
    1607392319,
    "Simple",
    fields=[{"name": "Front"}, {"name": "Back"}],
    templates=[{"name": "Card 1", "qfmt": "{{Front}}", "afmt": "{{Back}}"}],
)
ANKI_NOTES = {
    "AWS ML::Metrics": [
        (
            "What is <b>recall</b>?",
            "TP / (TP + FN)<br>the share of positives found",
            ["aws::ml", "metrics"],
        ),
        ("What is precision?", "TP&nbsp;/ (TP + FP)", []),
    ],
    "AWS ML::XGBoost": [
        (
            "Name XGBoost's <i>regularization</i> terms",
            "<ul><li>alpha</li><li>lambda</li></ul>",
            [],
        ),
    ],
}
TIMESTAMP = 1_700_000_000.0


def make_apkg(
    path: Path,
    notes: dict[str, list[tuple[str, str, list[str]]]] = ANKI_NOTES,
    model: genanki.Model = MODEL,
) -> Path:
    decks = []
    for number, (name, deck_notes) in enumerate(notes.items()):
        deck = genanki.Deck(2059400110 + number, name)
        for front, back, tags in deck_notes:
            deck.add_note(genanki.Note(model=model, fields=[front, back], tags=tags))
        decks.append(deck)
    genanki.Package(decks).write_to_file(str(path), timestamp=TIMESTAMP)
    return path


def collection_of(package: Path) -> bytes:
    with zipfile.ZipFile(package) as archive:
        return archive.read("collection.anki2")


def repackage(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in {"media": b"{}", **members}.items():
            archive.writestr(name, data)
    return path


@pytest.fixture(scope="module")
def stub_collection(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The legacy collection current Anki puts beside collection.anki21b."""
    stub = {
        "Default": [
            (
                "Please update to the latest Anki version, then import the .apkg file again.",
                "",
                [],
            )
        ]
    }
    return collection_of(make_apkg(tmp_path_factory.mktemp("stub") / "stub.apkg", stub))


EXPECTED_ANKI_CARDS = {
    ("What is recall?", "TP / (TP + FN)\nthe share of positives found", "metrics"),
    ("What is precision?", "TP / (TP + FP)", "metrics"),
    ("Name XGBoost's regularization terms", "- alpha\n- lambda", "xgboost"),
}


def test_apkg_round_trip(tmp_path: Path) -> None:
    package = make_apkg(tmp_path / "aws.apkg")
    imported = import_apkg(package, "Anki AWS")
    bank = written_and_loaded(imported, tmp_path / "bank")

    assert {(card.prompt, card.answer, card.topic) for card in bank} == EXPECTED_ANKI_CARDS
    assert bank.decks["anki-aws"].topics == {"metrics": "Metrics", "xgboost": "XGBoost"}
    recall = next(card for card in bank if card.prompt == "What is recall?")
    assert recall.tags == ("aws-ml", "metrics")
    assert recall.key_points == ("TP / (TP + FN)", "the share of positives found")
    assert re.fullmatch(r"Imported from aws\.apkg note \d+", recall.source_note or "")
    regularization = next(card for card in bank if card.topic == "xgboost")
    assert regularization.key_points == ("alpha", "lambda")
    assert_sound_ids(list(bank))


def test_apkg_topic_option_overrides_deck_names(tmp_path: Path) -> None:
    imported = import_apkg(make_apkg(tmp_path / "aws.apkg"), "d", default_topic="Exam Prep")
    assert {card.topic for card in imported.cards} == {"exam-prep"}


def test_anki21b_is_read_instead_of_the_stub(tmp_path: Path, stub_collection: bytes) -> None:
    real = collection_of(make_apkg(tmp_path / "real.apkg"))
    package = repackage(
        tmp_path / "new-anki.apkg",
        {
            "collection.anki2": stub_collection,
            "collection.anki21b": zstandard.ZstdCompressor().compress(real),
        },
    )
    imported = import_file(package, "d")
    assert {(c.prompt, c.answer, c.topic) for c in imported.cards} == EXPECTED_ANKI_CARDS
    assert not any("update" in card.prompt.lower() for card in imported.cards)


def test_anki21b_compressed_without_content_size(tmp_path: Path, stub_collection: bytes) -> None:
    real = collection_of(make_apkg(tmp_path / "real.apkg"))
    stream = io.BytesIO()
    with zstandard.ZstdCompressor().stream_writer(stream, closefd=False) as writer:
        writer.write(real)
    package = repackage(
        tmp_path / "streamed.apkg",
        {"collection.anki2": stub_collection, "collection.anki21b": stream.getvalue()},
    )
    assert len(import_apkg(package, "d").cards) == 3


def test_anki21_is_preferred_over_anki2(tmp_path: Path, stub_collection: bytes) -> None:
    real = collection_of(make_apkg(tmp_path / "real.apkg"))
    package = repackage(
        tmp_path / "legacy.apkg", {"collection.anki2": stub_collection, "collection.anki21": real}
    )
    assert len(import_apkg(package, "d").cards) == 3


def test_only_the_stub_is_a_clear_error(tmp_path: Path, stub_collection: bytes) -> None:
    package = repackage(tmp_path / "stub-only.apkg", {"collection.anki2": stub_collection})
    with pytest.raises(DeckImportError, match=r"stub-only\.apkg: .*collection\.anki21b"):
        import_apkg(package, "d")


def test_current_schema_deck_table_names_topics(tmp_path: Path) -> None:
    """Collections of Anki 2.1.50+ keep decks in a ``decks`` table, names split by 0x1f."""
    real = tmp_path / "collection.sqlite"
    real.write_bytes(collection_of(make_apkg(tmp_path / "real.apkg")))
    with sqlite3.connect(real) as connection:
        deck_ids = [row[0] for row in connection.execute("SELECT DISTINCT did FROM cards")]
        connection.execute("CREATE TABLE decks (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        for number, deck_id in enumerate(sorted(deck_ids)):
            connection.execute(
                "INSERT INTO decks VALUES (?, ?)", (deck_id, f"Course\x1fPart {number + 1}")
            )
        connection.execute("UPDATE col SET decks = ''")
    connection.close()
    package = repackage(
        tmp_path / "schema18.apkg",
        {"collection.anki21b": zstandard.ZstdCompressor().compress(real.read_bytes())},
    )
    imported = import_apkg(package, "d")
    assert {card.topic for card in imported.cards} == {"part-1", "part-2"}


def test_anki_notes_that_cannot_be_cards_are_skipped(tmp_path: Path) -> None:
    notes = {
        "Deck": [
            ("Kept", "Back", []),
            ("<img src='only-an-image.png'>", "Back of an image", []),
            ("No back", "[sound:x.mp3]", []),
            ("{{c1::Paris}} is the capital of France", "Geography", []),
        ]
    }
    imported = import_apkg(make_apkg(tmp_path / "mixed.apkg", notes), "d")
    assert [card.prompt for card in imported.cards] == ["Kept"]
    reasons = [re.sub(r"note \d+", "note N", line) for line in imported.skipped]
    assert reasons == [
        "mixed.apkg: note N: the front is empty (images and sounds are not imported), skipped",
        "mixed.apkg: note N: the back is empty (images and sounds are not imported), skipped",
        "mixed.apkg: note N: cloze notes are not supported, skipped",
    ]


def test_single_field_notes_are_skipped(tmp_path: Path) -> None:
    model = genanki.Model(
        1607392320,
        "One field",
        fields=[{"name": "Text"}],
        templates=[{"name": "Card 1", "qfmt": "{{Text}}", "afmt": "{{Text}}"}],
    )
    deck = genanki.Deck(2059400200, "D")
    deck.add_note(genanki.Note(model=model, fields=["Only a front"]))
    package = tmp_path / "one.apkg"
    genanki.Package(deck).write_to_file(str(package), timestamp=TIMESTAMP)
    with pytest.raises(DeckImportError, match=r"one\.apkg: no cards found \(1 skipped: note \d+"):
        import_apkg(package, "d")


@pytest.mark.parametrize(
    ("members", "message"),
    [
        (None, r"not a valid Anki package"),
        ({"media": b"{}"}, r"no Anki collection inside"),
        ({"collection.anki2": b"not sqlite at all" * 100}, r"not a readable SQLite database"),
        ({"collection.anki21b": b"\x28\xb5\x2f\xfd garbage"}, r"not valid zstd data"),
        ({"collection.anki21b": b"plain bytes"}, r"not valid zstd data"),
    ],
)
def test_malformed_packages(tmp_path: Path, members: dict[str, bytes] | None, message: str) -> None:
    package = tmp_path / "broken.apkg"
    if members is None:
        package.write_bytes(b"\x00\x01binary garbage, not a zip" * 10)
    else:
        repackage(package, members)
    with pytest.raises(DeckImportError, match=rf"^broken\.apkg: .*{message}"):
        import_apkg(package, "d")


def test_sqlite_without_notes_is_not_a_collection(tmp_path: Path) -> None:
    database = tmp_path / "other.sqlite"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE things (id INTEGER)")
    connection.close()
    package = repackage(tmp_path / "other.apkg", {"collection.anki2": database.read_bytes()})
    with pytest.raises(DeckImportError, match=r"other\.apkg: collection\.anki2 is not an Anki"):
        import_apkg(package, "d")


def test_import_file_dispatches_on_content(tmp_path: Path) -> None:
    package = make_apkg(tmp_path / "aws.apkg")
    renamed = package.rename(tmp_path / "download.bin")
    assert len(import_file(renamed, "d").cards) == 3
    with pytest.raises(DeckImportError, match="no such file"):
        import_file(tmp_path / "missing.csv", "d")


# -- writing decks -----------------------------------------------------------------------------


def sample_cards(deck: str = "demo") -> list[Card]:
    return [
        Card(
            id="demo-multi",
            deck=deck,
            topic="basics",
            prompt="List the steps",
            answer="First step\nSecond step",
            key_points=("First step", "Second step"),
            accept=("Steps",),
            term="Steps",
            explanation="Why: 'because' — with: colons and # hashes",
            tags=("list", "steps"),
            difficulty="medium",
            source_note="Written by hand",
        ),
        Card(
            id="demo-plain",
            deck=deck,
            topic="deck",
            prompt="yes",
            answer="null",
            key_points=("1.5",),
        ),
    ]


def test_written_yaml_is_ordered_block_style_and_omits_empty_fields() -> None:
    deck = Deck("demo", "Demo", topics={"basics": "The Basics"})
    files = deck_files(deck, sample_cards())
    assert set(files) == {"deck.yaml", "basics.yaml", "topic-deck.yaml"}
    basics = files["basics.yaml"]
    assert basics.startswith("# The Basics\n")
    assert "answer: |-\n      First step\n      Second step\n" in basics
    assert "{" not in basics
    assert "[" not in basics
    keys = re.findall(r"^    ([a-z_]+):", basics, flags=re.MULTILINE)
    assert keys == [key for key in CARD_KEY_ORDER if key in keys]
    assert list(card_document(sample_cards()[1])) == ["id", "prompt", "answer", "key_points"]
    assert yaml.safe_load(files["deck.yaml"]) == {
        "deck": "demo",
        "title": "Demo",
        "topics": {"basics": "The Basics", "deck": "Deck"},
    }


def test_written_deck_loads_back_identically(tmp_path: Path) -> None:
    deck = Deck(
        "demo", "Demo", description="A deck", source="Hand", glossary={"LR": "learning rate"}
    )
    cards = sample_cards()
    target = write_deck(deck, cards, tmp_path / "bank")
    assert target == tmp_path / "bank" / "demo"
    bank = load_bank(tmp_path / "bank")
    assert sorted(bank, key=lambda card: card.id) == cards
    assert bank.decks["demo"].glossary == {"LR": "learning rate"}
    assert [path.name for path in (tmp_path / "bank").iterdir()] == ["demo"]


def test_real_bank_survives_a_write_round_trip(bank: Bank, tmp_path: Path) -> None:
    for deck in bank.decks.values():
        write_deck(deck, bank.select(deck.id), tmp_path / "bank")
    rewritten = load_bank(tmp_path / "bank")
    assert {card.id: card for card in rewritten} == {card.id: card for card in bank}
    assert dict(rewritten.decks) == dict(bank.decks)


def test_existing_deck_is_replaced_only_with_force(tmp_path: Path) -> None:
    deck = Deck("demo", "Demo")
    write_deck(deck, sample_cards(), tmp_path)
    with pytest.raises(DeckExistsError):
        write_deck(deck, sample_cards()[:1], tmp_path)
    assert len(load_bank(tmp_path)) == 2
    write_deck(deck, sample_cards()[:1], tmp_path, force=True)
    assert [card.id for card in load_bank(tmp_path)] == ["demo-multi"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["demo"]
    assert sorted(path.name for path in (tmp_path / "demo").iterdir()) == [
        "basics.yaml",
        "deck.yaml",
    ]


def test_invalid_deck_leaves_nothing_behind(tmp_path: Path) -> None:
    deck = Deck("demo", "Demo")
    first = sample_cards()[0]
    twin = Card(**{**first.__dict__, "id": "demo-twin"})  # same prompt: a loader problem
    with pytest.raises(DeckWriteError) as caught:
        write_deck(deck, [first, twin], tmp_path / "bank")
    assert "same prompt as card demo-multi" in str(caught.value)
    assert [problem.field for problem in caught.value.problems] == ["prompt"]
    assert list((tmp_path / "bank").iterdir()) == []


def test_failed_force_keeps_the_old_deck(tmp_path: Path) -> None:
    deck = Deck("demo", "Demo")
    write_deck(deck, sample_cards(), tmp_path)
    bad = Card(**{**sample_cards()[0].__dict__, "key_points": ("a", "A")})
    with pytest.raises(DeckWriteError):
        write_deck(deck, [bad], tmp_path, force=True)
    assert len(load_bank(tmp_path)) == 2
    assert sorted(path.name for path in tmp_path.iterdir()) == ["demo"]


def test_write_refuses_ids_of_other_decks_and_foreign_cards(tmp_path: Path) -> None:
    deck = Deck("demo", "Demo")
    with pytest.raises(DeckWriteError, match="demo-plain"):
        write_deck(deck, sample_cards(), tmp_path, taken_ids={"demo-plain", "elsewhere"})
    with pytest.raises(DeckWriteError, match="no cards"):
        write_deck(deck, [], tmp_path)
    with pytest.raises(ValueError, match="belongs to deck 'other'"):
        write_deck(deck, sample_cards("other"), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_unquoted_tsv_with_leading_quotes_reads_as_written(tmp_path: Path) -> None:
    source = tmp_path / "quizlet.tsv"
    source.write_text(
        '"Attention" paper\tIntroduced the Transformer\nBERT\t"Bidirectional"\n', "utf-8"
    )
    cards = import_delimited(source, "d", "t").cards
    assert [(card.prompt, card.answer) for card in cards] == [
        ('"Attention" paper', "Introduced the Transformer"),
        ("BERT", '"Bidirectional"'),
    ]
