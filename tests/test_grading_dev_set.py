"""The labelled development set (``bench/data/grading_dev.jsonl``) keeps the shape the
held-out figures rely on: split by card, labels from the verdicts' vocabulary, and every
kind of answer the grading issue asks for."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from quizsvc.bank import Bank

DEV_SET = Path(__file__).resolve().parent.parent / "bench" / "data" / "grading_dev.jsonl"
KINDS = {
    "full",
    "terse",
    "partial",
    "swap",
    "negated",
    "neighbour",
    "bag",
    "offtopic",
    "empty",
    "dont_know",
}


def rows() -> list[dict[str, str]]:
    return [json.loads(line) for line in DEV_SET.read_text(encoding="utf-8").splitlines() if line]


def test_the_development_set_is_split_by_card_and_labelled_for_every_kind(bank: Bank) -> None:
    answers = rows()
    assert len(answers) >= 400
    halves: dict[str, set[str]] = {"tune": set(), "heldout": set()}
    for row in answers:
        assert row["split"] in halves, row
        assert row["label"] in ("correct", "partial", "incorrect"), row
        assert row["kind"] in KINDS, row
        assert row["reason"].strip(), row
        assert bank.get(row["card_id"]) is not None, row
        halves[row["split"]].add(row["card_id"])
    # No card has answers in both halves: the held-out figures meet only unseen cards.
    assert halves["tune"].isdisjoint(halves["heldout"])
    assert len(halves["heldout"]) >= 0.4 * len(halves["tune"] | halves["heldout"])
    assert {row["kind"] for row in answers} == KINDS
    # An answer appears once per card: a repeated line would weigh twice in the fit.
    repeated = Counter((row["card_id"], row["answer"].strip().casefold()) for row in answers)
    assert max(repeated.values()) == 1
