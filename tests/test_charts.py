"""The pages' charts: inline SVG a strict CSP lets through, each with a table that says the
same as the drawing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import fsrs
import pytest
from defusedxml import ElementTree

from quizsvc.learning import MASTERED_STABILITY_DAYS, Review, after_review
from quizsvc.statistics import ItemStatistics
from quizsvc.web.charts import (
    Chart,
    LoggedReview,
    card_mastery,
    item_map_chart,
    mastery_chart,
    mastery_history,
    score_bins,
    score_distribution_chart,
)

SVG = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def item(
    question_id: str,
    facility: float | None,
    discrimination: float | None,
    flags: tuple[str, ...] = (),
    topic: str = "networking",
) -> ItemStatistics:
    return ItemStatistics(
        question_id=question_id,
        type="multiple_choice",
        topic=topic,
        card_id=None,
        attempts=40,
        answered_rate=1.0,
        facility=facility,
        discrimination=discrimination,
        upper_lower_index=None,
        median_seconds=None,
        flags=flags,
    )


def logged(card: str, topic: str, attempt: str, rating: int, days: float) -> LoggedReview:
    return LoggedReview(
        "learner-1", card, topic, attempt, Review(fsrs.Rating(rating), START + timedelta(days))
    )


def example_charts() -> list[Chart]:
    log = [
        logged("c1", "networking", "a1", 3, 0),
        logged("c2", "security", "a1", 1, 0.001),
        logged("c1", "networking", "a2", 3, 4),
        logged("c2", "security", "a2", 3, 4.001),
    ]
    return [
        mastery_chart(mastery_history(log, {"networking": "Networking"})),
        score_distribution_chart([12.5, 55.0, 60.0, 100.0], pass_mark=60),
        item_map_chart(
            [item("q1", 0.95, 0.05, ("too_easy", "low_discrimination")), item("q2", 0.5, 0.4)]
        ),
    ]


@pytest.mark.parametrize("chart", example_charts(), ids=lambda chart: chart.chart_id)
def test_svg_is_titled_xml_without_script_style_or_outside_address(chart: Chart) -> None:
    root = ElementTree.fromstring(chart.svg)
    assert root.tag == f"{SVG}svg"
    assert root.get("id") == chart.chart_id
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{chart.chart_id}-title {chart.chart_id}-desc"
    title, desc = root[0], root[1]
    assert (title.tag, title.get("id"), title.text) == (
        f"{SVG}title",
        f"{chart.chart_id}-title",
        chart.title,
    )
    assert (desc.tag, desc.get("id"), desc.text) == (
        f"{SVG}desc",
        f"{chart.chart_id}-desc",
        chart.description,
    )
    tags = {element.tag for element in root.iter()}
    assert f"{SVG}script" not in tags
    assert f"{SVG}style" not in tags
    assert f"{SVG}foreignObject" not in tags
    for element in root.iter():
        assert "style" not in element.attrib, element.tag
        assert XLINK_HREF not in element.attrib
        assert "href" not in element.attrib
        assert not any(name.startswith("on") for name in element.attrib), element.attrib
    # Namespace declarations name the W3C's vocabularies; nothing else may be an address.
    without_namespaces = re.sub(r'xmlns(:\w+)?="[^"]*"', "", chart.svg)
    assert not re.search(r"https?:|//[a-z]", without_namespaces)
    assert "<!--" not in chart.svg
    ids = [element.get("id") for element in root.iter() if element.get("id")]
    assert all(identifier.startswith(chart.chart_id) for identifier in ids), ids


def test_mastery_table_equals_the_replayed_log() -> None:
    log = [
        logged("c1", "networking", "a1", 3, 0),
        logged("c2", "networking", "a1", 1, 0.001),
        logged("c3", "security", "a1", 3, 0.002),
        logged("c1", "networking", "a2", 3, 5),
        logged("c2", "networking", "a2", 3, 5.001),
    ]
    points = mastery_history(reversed(log), {"networking": "Networking", "security": "Security"})
    # One moment per attempt (its last answer), every topic seen by then at each.
    assert [(point.at, point.topic, point.seen) for point in points] == [
        (START + timedelta(0.002), "Networking", 2),
        (START + timedelta(0.002), "Security", 1),
        (START + timedelta(5.001), "Networking", 2),
        (START + timedelta(5.001), "Security", 1),
    ]
    # Independently: the scheduler's own step over each card's reviews up to the moment.
    memories = {}
    for entry in log[:3]:
        memories[entry.card_id] = after_review(
            memories.get(entry.card_id), entry.card_id, "", entry.topic, entry.review
        )
    first_networking = (card_mastery(memories["c1"]) + card_mastery(memories["c2"])) / 2
    assert points[0].mastery == pytest.approx(first_networking)
    assert 0 < points[0].mastery < points[2].mastery <= 1
    assert points[1].mastery == pytest.approx(
        memories["c3"].stability_days / MASTERED_STABILITY_DAYS
    )

    chart = mastery_chart(points)
    assert chart.columns == ("Exam", "When", "Topic", "Cards seen", "Mastered", "Mastery")
    assert chart.rows == tuple(
        (
            "1" if point.at == points[0].at else "2",
            point.at.strftime("%Y-%m-%d %H:%M UTC"),
            point.topic,
            str(point.seen),
            str(point.mastered),
            f"{100 * point.mastery:.0f}%",
        )
        for point in points
    )
    # The drawing carries the same values: one line per topic, a dot per point.
    root = ElementTree.fromstring(chart.svg)
    dots = [element for element in root.iter(f"{SVG}desc") if element.get("class") == "value"]
    assert sorted(float(dot.text) for dot in dots) == sorted(
        round(100 * point.mastery, 1) for point in points
    )
    legend = [
        text.text for text in root.iter(f"{SVG}text") if text.text in ("Networking", "Security")
    ]
    assert sorted(legend) == ["Networking", "Security"]


def test_mastery_keeps_the_latest_moments_and_separates_learners() -> None:
    log = [logged("c1", "networking", f"a{day}", 3, day) for day in range(6)]
    other = LoggedReview("learner-2", "c1", "networking", "b1", Review(fsrs.Rating.Again, START))
    points = mastery_history([*log, other], max_points=3)
    assert [point.at for point in points] == [START + timedelta(day) for day in (3, 4, 5)]
    # Two learners' memories of one card are two cards of the group.
    assert {point.seen for point in points} == {2}


def test_score_bins_count_every_attempt_once() -> None:
    bins = score_bins([0.0, 9.99, 10.0, 59.9, 60.0, 99.5, 100.0, -3.0, float("nan")])
    assert bins == [
        (0, 3),
        (10, 1),
        (20, 0),
        (30, 0),
        (40, 0),
        (50, 1),
        (60, 1),
        (70, 0),
        (80, 0),
        (90, 2),
    ]
    with pytest.raises(ValueError, match="divide 100"):
        score_bins([], width=7)


def test_score_distribution_table_and_bars_agree() -> None:
    percents = [12.5, 55.0, 58.0, 60.0, 61.0, 100.0]
    chart = score_distribution_chart(percents, pass_mark=60)
    assert chart.columns == ("Score band", "Attempts", "Pass mark")
    assert chart.rows[1] == ("10–<20%", "1", "below")
    assert chart.rows[5] == ("50–<60%", "2", "below")
    assert chart.rows[6] == ("60–<70%", "2", "at or above")
    assert chart.rows[9] == ("90–100%", "1", "at or above")
    assert sum(int(row[1]) for row in chart.rows) == len(percents)
    root = ElementTree.fromstring(chart.svg)
    assert "with-pass-mark" in root.get("class", "").split()
    # Each drawn bar's value, per series: below the pass mark, then at or above it.
    drawn = {}
    for series in root.iter(f"{SVG}g"):
        classes = series.get("class", "").split()
        if "series" in classes and any(
            child.get("class") == "bars" for child in series.iter(f"{SVG}g")
        ):
            name = next(name for name in classes if name.startswith("serie-"))
            drawn[name] = sorted(
                float(desc.text)
                for desc in series.iter(f"{SVG}desc")
                if desc.get("class") == "value" and float(desc.text)
            )
    assert drawn == {"serie-0": [1.0, 2.0], "serie-1": [1.0, 2.0]}
    assert "60%" in chart.description
    assert "dashed" in chart.description


def test_empty_score_distribution_has_no_rows_but_still_renders() -> None:
    chart = score_distribution_chart([], pass_mark=None)
    assert chart.empty
    ElementTree.fromstring(chart.svg)


def test_item_map_flags_by_shape_and_label_and_table_lists_every_item() -> None:
    items = [
        item("q-a", 0.95, 0.05, ("too_easy", "low_discrimination")),
        item("q-b", 0.5, 0.42, topic="security"),
        item("q-c", 0.4, -0.3, ("negative_discrimination", "low_discrimination")),
        item("q-d", None, None),
        item("q-e", 1.0, None, ("too_easy",)),
    ]
    chart = item_map_chart(items)
    assert chart.rows == (
        (
            "Q1",
            "networking",
            "0.95",
            "0.05",
            "too easy (facility > 0.9), low discrimination (< 0.1)",
            "yes",
        ),
        ("Q2", "security", "0.50", "0.42", "none", "yes"),
        (
            "Q3",
            "networking",
            "0.40",
            "-0.30",
            "negative discrimination, low discrimination (< 0.1)",
            "yes",
        ),
        ("Q4", "networking", "–", "–", "none", "no (no graded answers)"),
        (
            "Q5",
            "networking",
            "1.00",
            "–",
            "too easy (facility > 0.9)",
            "no (discrimination undefined)",
        ),
    )
    root = ElementTree.fromstring(chart.svg)
    overlay = next(
        element for element in root.iter(f"{SVG}g") if element.get("class") == "plot overlay"
    )
    radii = {}
    for series in overlay:
        name = next(name for name in series.get("class", "").split() if name.startswith("serie-"))
        radii[name] = sorted(float(circle.get("r")) for circle in series.iter(f"{SVG}circle"))
    # Flagged questions (serie-1) are bigger rings than the plain ones (serie-0).
    assert len(radii["serie-0"]) == 1
    assert len(radii["serie-1"]) == 2
    assert min(radii["serie-1"]) > max(radii["serie-0"])
    # ...and numbered: the flagged ones' labels are written on the chart, the others' not.
    labels = sorted(
        text.text for text in root.iter(f"{SVG}text") if text.get("class") == "label" and text.text
    )
    assert labels == ["Q1", "Q3"]
    # The threshold entry of the legend is a dashed line, not a colour square.
    assert any("legend-line" in path.get("class", "").split() for path in root.iter(f"{SVG}path"))
