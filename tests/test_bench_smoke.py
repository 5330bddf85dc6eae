"""The benchmark entry point imports, and its table says pass or fail from the figures."""

from __future__ import annotations

import importlib

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
