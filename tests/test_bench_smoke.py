"""The benchmark entry point imports, and its table says pass or fail from the figures."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

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


def test_capacity_levels_judge_the_slo_and_count_equivalent_takers() -> None:
    from bench import capacity

    def level(autosave_p99: float, errors: int = 0) -> capacity.Level:
        endpoints = {name: capacity.Endpoint([0.01] * 99) for name in capacity.ENDPOINTS}
        endpoints[capacity.AUTOSAVE] = capacity.Endpoint([0.01] * 98 + [autosave_p99] * 2)
        endpoints[capacity.SUBMIT].errors = errors
        return capacity.Level(
            learners=100,
            think=(1.0, 3.0),
            seconds=60.0,
            finished=100,
            endpoints=endpoints,
            app_cpu=60.0,
            db_cpu=12.0,
            load_cpu=6.0,
            cpus=2,
            autosave_rate=20.0,
        )

    assert level(0.25).meets_slo
    assert level(0.35).slo_misses() == ["autosave p99 350 ms > 300 ms"]
    assert level(0.25, errors=1).slo_misses() == ["1 errors"]
    # 20 autosaves a second are what 600 takers saving every 30 s (15-45 s) make.
    assert level(0.25).equivalent_takers == 600
    assert level(0.25).cpu_share(60.0) == 0.5
    report = capacity.CapacityReport([level(0.25), level(0.35)], None, 1, 2, 2, 15.0)
    assert report.best is not None
    assert report.best.learners == 100
    assert "300 takers per vCPU" in capacity.closing_note(report)


@pytest.mark.postgres
@pytest.mark.http
def test_capacity_bench_runs_a_tiny_level_end_to_end() -> None:
    """Locust against a real ``quizsvc serve`` on PostgreSQL and Redis: 3 learners."""
    from bench import capacity

    report = capacity.measure([3], think_scale=300.0, burst=False, log=lambda line: None)
    (only,) = report.levels
    assert only.finished == 3
    assert only.errors == 0, capacity.describe_level(only)
    counts = {name: len(endpoint.latencies) for name, endpoint in only.endpoints.items()}
    assert counts[capacity.START] == counts[capacity.SUBMIT] == 3
    assert 3 * 16 <= counts[capacity.AUTOSAVE] <= 3 * 32
    assert only.app_cpu > 0
