"""The benchmark entry point imports, and its table says pass or fail from the figures."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from bench.service import LoadResult


def test_table_formats_rows_and_marks_misses() -> None:
    entry = importlib.import_module("bench.__main__")
    table = entry.format_table(
        [
            entry.Figure("grading", "110 ms", "100 ms", "1.10x", "<= 1.15x", True),
            entry.Figure("autosave | PUT", "10 req/s", "100 req/s", "10%", ">= 40%", False),
            entry.Figure("cold start", "5.0 s", "-", "-"),
        ]
    )
    lines = table.splitlines()
    assert lines[0] == "| benchmark | measured | baseline | ratio | target | pass? |"
    assert len(lines) == 5
    assert lines[2].endswith("| yes |")
    assert lines[3].endswith("| **no** |")
    assert "autosave / PUT" in lines[3]
    assert lines[4].endswith("| - |")


def test_load_percentiles_come_from_the_latencies() -> None:
    result = LoadResult(100, 2.0, [index / 1000 for index in range(100, 0, -1)], 0)
    assert result.throughput == 50
    assert result.p50 == 0.051
    assert result.p99 == 0.1


def test_exported_reviews_join_the_tuning_half_only(tmp_path: Path) -> None:
    """``bench/grading_verdict.py --reviews FILE`` learns from people's verdicts, but never
    from a card of the held-out half (that would flatter the held-out figures)."""
    from bench.grading_verdict import review_rows

    dev = [
        {"card_id": "tuned-card", "split": "tune"},
        {"card_id": "held-card", "split": "heldout"},
    ]
    reviews = [
        {
            "card_id": "tuned-card",
            "type": "free_answer",
            "answer": "a",
            "human": {"verdict": "partial"},
        },
        {
            "card_id": "held-card",
            "type": "free_answer",
            "answer": "b",
            "human": {"verdict": "correct"},
        },
        {
            "card_id": "tuned-card",
            "type": "fill_in",
            "answer": "c",
            "human": {"verdict": "correct"},
        },
        {"card_id": "tuned-card", "type": "free_answer", "answer": "d", "human": {}},
    ]
    path = tmp_path / "reviews.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in reviews) + "\n", encoding="utf-8")
    assert review_rows(path, dev) == [
        {
            "card_id": "tuned-card",
            "split": "tune",
            "kind": "review",
            "answer": "a",
            "label": "partial",
        }
    ]
