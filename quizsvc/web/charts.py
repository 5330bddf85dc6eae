"""Charts for the web pages: inline SVG drawn by pygal, each with a table that says the same.

Pure functions of plain data (no Flask, no storage): the pages read results, item statistics
and the learning log, and hand them here.

The SVG goes inline into pages whose Content-Security-Policy allows no inline script or
style, so what pygal adds for its interactive mode is taken out after rendering: its
``<script>`` (pygal writes one with its configuration even when ``js`` is empty), its
``<style>`` (the look comes from the app's own ``static/charts.css`` instead, keyed to
pygal's class names), the tooltip layer (it needs the script) and its comments (which name
pygal's web site). What is left is shapes, text and ``<title>``/``<desc>``: nothing loads
anything. Every chart also comes as a table (:attr:`Chart.rows`) for people who cannot see
it, and points that matter (flagged items, bars below the pass mark) differ in shape, fill
or label as well as colour.
"""

from __future__ import annotations

import math
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pygal
from lxml import etree

from quizsvc.learning import MASTERED_STABILITY_DAYS, CardMemory, Review, after_review
from quizsvc.statistics import (
    LOW_DISCRIMINATION_BELOW,
    TOO_EASY_ABOVE,
    TOO_HARD_BELOW,
    ItemStatistics,
)

SVG_NAMESPACE = "http://www.w3.org/2000/svg"
#: Drawing size in SVG units; the page scales the drawing to its column (see charts.css).
WIDTH = 640
HEIGHT = 420
#: At most this many moments on a mastery chart (the most recent ones).
MASTERY_POINTS = 40
#: Width of one bar of the score distribution, in percentage points.
SCORE_BIN_WIDTH = 10

#: Human words for the flags of ``quizsvc.statistics``.
FLAG_LABELS: Mapping[str, str] = {
    "too_easy": f"too easy (facility > {TOO_EASY_ABOVE})",
    "too_hard": f"too hard (facility < {TOO_HARD_BELOW})",
    "low_discrimination": f"low discrimination (< {LOW_DISCRIMINATION_BELOW})",
    "negative_discrimination": "negative discrimination",
    "dead_distractor": "dead distractor (an option picked by < 5%)",
    "wrong_way_distractor": "wrong-way distractor (picked more by stronger attempts)",
}


@dataclass(frozen=True)
class Chart:
    """One chart: the SVG markup and its text alternative (a caption and a table)."""

    chart_id: str
    title: str
    #: One or two sentences saying what the chart shows and how to read it.
    description: str
    svg: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    @property
    def empty(self) -> bool:
        return not self.rows


# -- making pygal's SVG fit a strict page ------------------------------------------------------


def _config(chart_id: str, kind: str, title: str) -> pygal.Config:
    config = pygal.Config()
    # No script of pygal's (by default it adds one from a CDN) and no XML prolog inline.
    config.js = []
    config.disable_xml_declaration = True
    config.no_prefix = True
    config.width = WIDTH
    config.height = HEIGHT
    config.title = title
    config.classes = ["pygal-chart", "chart", f"chart-{kind}"]
    config.legend_at_bottom = True
    config.legend_at_bottom_columns = 2
    config.truncate_legend = -1
    config.margin = 16
    config.style = pygal.style.Style(
        font_family="system-ui, sans-serif",
        title_font_size=18,
        label_font_size=14,
        major_label_font_size=14,
        legend_font_size=15,
        value_label_font_size=14,
    )
    return config


#: Legend text, in SVG units: an upper bound on the width of one character at the legend's
#: font size, and the swatch and gap before it.
LEGEND_CHAR_WIDTH = 8.5
LEGEND_SWATCH = 34
LEGEND_ROW_HEIGHT = 24


def _fit_legend(config: pygal.Config, names: Sequence[str], most: int = 3) -> None:
    """As many legend columns as the longest name allows (names are never truncated: two
    topics that begin alike would read the same), and the drawing taller by the extra rows,
    so that entries never overlap and the plot keeps its height."""
    widest = max((len(name) for name in names), default=0) * LEGEND_CHAR_WIDTH + LEGEND_SWATCH
    room = WIDTH - 2 * config.margin
    columns = max(1, min(most, int(room // widest) if widest else most))
    config.legend_at_bottom_columns = columns
    rows = math.ceil(len(names) / columns)
    config.height = HEIGHT + max(0, rows - 2) * LEGEND_ROW_HEIGHT


def _strict_svg(
    rendered: str,
    chart_id: str,
    title: str,
    description: str,
    line_legend: Container[int] = (),
) -> str:
    """pygal's SVG without anything a strict CSP would block, titled for screen readers.
    The legend entries of the series numbered in ``line_legend`` are drawn as a short
    stretch of their line (pygal draws a colour square), so that they show its dashes."""
    root = etree.fromstring(rendered.encode("utf-8"))
    _legend_lines(root, line_legend)
    for node in list(root.iter(etree.Comment)):
        _remove(node)
    for node in list(root.iter(f"{{{SVG_NAMESPACE}}}script", f"{{{SVG_NAMESPACE}}}style")):
        _remove(node)
    for node in list(root.iter(f"{{{SVG_NAMESPACE}}}g")):
        if "tooltip-overlay" in (node.get("class") or "").split():
            _remove(node)
    for node in list(root.iter(f"{{{SVG_NAMESPACE}}}title")):
        # pygal's own chart title (the root's child) is replaced by ours below.
        if node.getparent() is root:
            _remove(node)
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        if "style" in node.attrib:
            del node.attrib["style"]
        # pygal numbers legend entries "activate-serie-N" in every chart: two charts on a
        # page would repeat ids.
        if node is not root and node.get("id", "").startswith("activate-serie"):
            del node.attrib["id"]
    root.set("id", chart_id)
    root.set("role", "img")
    root.set("aria-labelledby", f"{chart_id}-title {chart_id}-desc")
    title_node = etree.Element(f"{{{SVG_NAMESPACE}}}title", id=f"{chart_id}-title")
    title_node.text = title
    desc_node = etree.Element(f"{{{SVG_NAMESPACE}}}desc", id=f"{chart_id}-desc")
    desc_node.text = description
    root.insert(0, desc_node)
    root.insert(0, title_node)
    return etree.tostring(root, encoding="unicode")


def _legend_lines(root: etree._Element, series: Container[int]) -> None:
    for rect in list(root.iter(f"{{{SVG_NAMESPACE}}}rect")):
        classes = (rect.get("class") or "").split()
        colour = next((name for name in classes if name.startswith("color-")), None)
        parent = rect.getparent()
        if colour is None or parent is None or "legend" not in (parent.get("class") or ""):
            continue
        if int(colour.removeprefix("color-")) not in series:
            continue
        x = float(rect.get("x", "0"))
        middle = float(rect.get("y", "0")) + float(rect.get("height", "0")) / 2
        swatch = etree.Element(
            f"{{{SVG_NAMESPACE}}}path",
            d=f"M{x - 10:g} {middle:g} h24",
            # serie-N: the same dash rule as the series' own line (see charts.css).
            attrib={"class": f"line legend-line {colour} serie-{colour.removeprefix('color-')}"},
        )
        swatch.tail = rect.tail
        parent.replace(rect, swatch)


def _remove(node: etree._Element) -> None:
    parent = node.getparent()
    if parent is None:
        return
    # Keep the text that follows the node (lxml stores it on the node as its tail).
    if node.tail:
        previous = node.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + node.tail
        else:
            parent.text = (parent.text or "") + node.tail
    parent.remove(node)


def _percent(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _decimal(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


# -- per-topic mastery over time ---------------------------------------------------------------


@dataclass(frozen=True)
class LoggedReview:
    """One row of the learning log, as the mastery chart needs it."""

    learner_id: str
    card_id: str
    topic: str
    attempt_id: str
    review: Review


@dataclass(frozen=True)
class MasteryPoint:
    """A topic's state at one moment, over the cards seen by then."""

    topic: str
    at: datetime
    seen: int
    mastered: int
    #: Mean over the seen cards of min(1, stability / MASTERED_STABILITY_DAYS): how far the
    #: topic's cards are towards lasting memory (1: every seen card is mastered).
    mastery: float


def card_mastery(memory: CardMemory) -> float:
    """A card's way towards mastery: its stability as a share of the mastery threshold."""
    return min(1.0, memory.stability_days / MASTERED_STABILITY_DAYS)


def mastery_history(
    log: Iterable[LoggedReview],
    titles: Mapping[str, str] | None = None,
    max_points: int = MASTERY_POINTS,
) -> list[MasteryPoint]:
    """Per topic, the mastery after each attempt (the moment of its last answer), replaying
    the log with the scheduler's own step (``quizsvc.learning.after_review``). Over one
    learner's log this is their progress; over several learners' logs, the group's.

    A point is made at the last review of every attempt, so an exam shows as one step; only
    the latest ``max_points`` moments are kept. Topics are named by ``titles`` when given.
    """
    reviews = sorted(log, key=lambda entry: entry.review.reviewed_at)
    attempt_ends: dict[str, datetime] = {}
    for entry in reviews:
        attempt_ends[entry.attempt_id] = entry.review.reviewed_at
    moments = sorted(set(attempt_ends.values()))[-max_points:] if max_points > 0 else []
    names = titles or {}
    memories: dict[tuple[str, str], CardMemory] = {}
    points: list[MasteryPoint] = []
    position = 0

    def snapshot(at: datetime) -> None:
        by_topic: dict[str, list[CardMemory]] = {}
        for memory in memories.values():
            by_topic.setdefault(memory.topic, []).append(memory)
        for topic in sorted(by_topic):
            seen = by_topic[topic]
            points.append(
                MasteryPoint(
                    topic=names.get(topic, topic),
                    at=at,
                    seen=len(seen),
                    mastered=sum(1 for memory in seen if memory.mastered),
                    mastery=sum(card_mastery(memory) for memory in seen) / len(seen),
                )
            )

    for moment in moments:
        while position < len(reviews) and reviews[position].review.reviewed_at <= moment:
            entry = reviews[position]
            key = (entry.learner_id, entry.card_id)
            memories[key] = after_review(
                memories.get(key), entry.card_id, "", entry.topic, entry.review
            )
            position += 1
        snapshot(moment)
    return points


def _moment(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at.utcoffset() is not None else at.isoformat()


def mastery_chart(
    points: Sequence[MasteryPoint], chart_id: str = "mastery-chart", who: str = ""
) -> Chart:
    """A line per topic: mastery (0-100%) after each attempt."""
    title = f"Mastery per topic over time{f' – {who}' if who else ''}"
    description = (
        "One line per topic: how far the topic's answered cards are towards lasting memory "
        f"(100% when the scheduler expects every one to be remembered for "
        f"{MASTERED_STABILITY_DAYS:.0f} days), after each exam. Lines differ in dash "
        "pattern as well as colour; the table below gives every value (over several "
        "learners, each learner's card counts once)."
    )
    config = _config(chart_id, "mastery", title)
    config.range = (0, 100)
    config.y_title = "Mastery (%)"
    config.show_dots = True
    config.dots_size = 4
    moments = sorted({point.at for point in points})
    config.x_labels = [str(number) for number in range(1, len(moments) + 1)]
    config.x_title = "Exam taken (1 = first shown)"
    topics = list(dict.fromkeys(point.topic for point in points))
    _fit_legend(config, topics)
    chart = pygal.Line(config)
    index = {moment: position for position, moment in enumerate(moments)}
    for topic in topics:
        values: list[float | None] = [None] * len(moments)
        for point in points:
            if point.topic == topic:
                values[index[point.at]] = round(100 * point.mastery, 1)
        chart.add(topic, values)
    rows = tuple(
        (
            str(index[point.at] + 1),
            _moment(point.at),
            point.topic,
            str(point.seen),
            str(point.mastered),
            _percent(point.mastery),
        )
        for point in sorted(points, key=lambda point: (point.at, point.topic))
    )
    return Chart(
        chart_id=chart_id,
        title=title,
        description=description,
        svg=_strict_svg(
            chart.render(is_unicode=True),
            chart_id,
            title,
            description,
            line_legend=range(len(topics)),
        ),
        columns=("Exam", "When", "Topic", "Cards seen", "Mastered", "Mastery"),
        rows=rows,
    )


# -- score distribution of an exam -------------------------------------------------------------


def score_bins(percents: Sequence[float], width: int = SCORE_BIN_WIDTH) -> list[tuple[int, int]]:
    """(lower bound, count) per bin of ``width`` points; 100% goes into the top bin."""
    if not 0 < width <= 100 or 100 % width:
        raise ValueError("the bin width must divide 100")
    counts = [0] * (100 // width)
    for percent in percents:
        if not math.isfinite(percent):
            continue
        position = min(int(max(0.0, percent) // width), len(counts) - 1)
        counts[position] += 1
    return [(position * width, count) for position, count in enumerate(counts)]


def _bin_label(lower: int, width: int) -> str:
    upper = lower + width
    return f"{lower}–{upper}%" if upper == 100 else f"{lower}–<{upper}%"


def score_distribution_chart(
    percents: Sequence[float],
    pass_mark: float | None = None,
    chart_id: str = "score-chart",
    width: int = SCORE_BIN_WIDTH,
) -> Chart:
    """Bars of how many graded attempts scored in each band of ``width`` percentage points.
    Bands wholly below the pass mark are drawn hollow with a dashed outline."""
    bins = score_bins(percents, width)
    below = [pass_mark is not None and lower + width <= pass_mark for lower, _ in bins]
    title = "Score distribution"
    described_pass = (
        f" Bands below the pass mark of {pass_mark:g}% are drawn hollow with a dashed outline."
        if pass_mark is not None
        else ""
    )
    description = (
        f"How many of the {len(percents)} graded attempts scored in each band of "
        f"{width} percentage points.{described_pass}"
    )
    config = _config(chart_id, "scores", title)
    if pass_mark is not None:
        config.classes = [*config.classes, "with-pass-mark"]
    config.x_labels = [_bin_label(lower, width) for lower, _ in bins]
    config.x_label_rotation = 30
    config.y_title = "Attempts"
    config.x_title = "Score"
    config.min_scale = 1
    config.max_scale = 10
    config.print_values = True
    config.print_zeroes = False
    top = max((count for _, count in bins), default=0)
    config.range = (0, max(1, top))
    config.y_labels = list(range(0, max(1, top) + 1, max(1, math.ceil(top / 8))))
    chart = pygal.StackedBar(config)
    if pass_mark is not None:
        chart.add(
            f"Below the pass mark ({pass_mark:g}%)",
            [count if low else None for (_, count), low in zip(bins, below, strict=True)],
        )
        chart.add(
            "At or above the pass mark",
            [None if low else count for (_, count), low in zip(bins, below, strict=True)],
        )
    else:
        chart.add("Attempts", [count for _, count in bins])
    rows = tuple(
        (
            _bin_label(lower, width),
            str(count),
            ("below" if low else "at or above") if pass_mark is not None else "–",
        )
        for (lower, count), low in zip(bins, below, strict=True)
    )
    return Chart(
        chart_id=chart_id,
        title=title,
        description=description,
        svg=_strict_svg(chart.render(is_unicode=True), chart_id, title, description),
        columns=("Score band", "Attempts", "Pass mark"),
        rows=rows if percents else (),
    )


# -- the item map ----------------------------------------------------------------------------


def question_labels(items: Sequence[ItemStatistics]) -> dict[str, str]:
    """ "Q1", "Q2"...: each question's number in the exam, as the pages show it."""
    return {item.question_id: f"Q{number}" for number, item in enumerate(items, start=1)}


def _on_the_map(item: ItemStatistics) -> str:
    if item.facility is None:
        return "no (no graded answers)"
    if item.discrimination is None:
        # Everyone scored the same on it (or on the rest): a correlation without spread is
        # undefined, not zero, so the item has no place on the map's vertical axis.
        return "no (discrimination undefined)"
    return "yes"


def item_map_chart(items: Sequence[ItemStatistics], chart_id: str = "item-map") -> Chart:
    """Facility (x) against discrimination (y), one dot per question, with the flag
    thresholds drawn as dashed lines. Flagged questions are hollow rings with their number
    written beside them; the others are small filled dots."""
    labels = question_labels(items)
    title = "Item map: facility against discrimination"
    description = (
        "One point per question: facility (share answering right) across, discrimination "
        "(how well it separates stronger from weaker attempts) up. Dashed lines mark the flag "
        f"thresholds: facility {TOO_HARD_BELOW} and {TOO_EASY_ABOVE}, discrimination "
        f"{LOW_DISCRIMINATION_BELOW}. Flagged questions are hollow rings labelled with their "
        "number; the table below lists every question and its flags."
    )
    config = _config(chart_id, "item-map", title)
    config.stroke = False
    config.print_labels = True
    config.range = (-1, 1)
    config.xrange = (0, 1)
    config.x_labels = [0, 0.2, 0.4, 0.6, 0.8, 0.9, 1]
    config.y_labels = [-1, -0.5, 0, 0.5, 1]
    config.x_title = "Facility"
    config.y_title = "Discrimination"
    chart = pygal.XY(config)
    plotted = [
        item for item in items if item.facility is not None and item.discrimination is not None
    ]
    chart.add(
        "Not flagged",
        [
            {"value": (item.facility, item.discrimination), "label": ""}
            for item in plotted
            if not item.flags
        ],
        dots_size=5,
    )
    chart.add(
        "Flagged (numbered ring)",
        [
            {"value": (item.facility, item.discrimination), "label": labels[item.question_id]}
            for item in plotted
            if item.flags
        ],
        dots_size=9,
    )
    guide = {"stroke": True, "show_dots": False}
    chart.add(
        "Flag thresholds (dashed)",
        [(TOO_HARD_BELOW, -1), (TOO_HARD_BELOW, 1)],
        **guide,
    )
    chart.add(None, [(TOO_EASY_ABOVE, -1), (TOO_EASY_ABOVE, 1)], **guide)
    chart.add(None, [(0, LOW_DISCRIMINATION_BELOW), (1, LOW_DISCRIMINATION_BELOW)], **guide)
    rows = tuple(
        (
            labels[item.question_id],
            item.topic,
            _decimal(item.facility),
            _decimal(item.discrimination),
            ", ".join(FLAG_LABELS.get(flag, flag) for flag in item.flags) or "none",
            _on_the_map(item),
        )
        for item in items
    )
    return Chart(
        chart_id=chart_id,
        title=title,
        description=description,
        svg=_strict_svg(
            chart.render(is_unicode=True), chart_id, title, description, line_legend=(2,)
        ),
        columns=("Question", "Topic", "Facility", "Discrimination", "Flags", "On the map"),
        rows=rows,
    )
