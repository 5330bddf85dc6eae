"""Every benchmark in one run, then one markdown table of ratios measured in that run.

``make bench`` (``HF_HUB_OFFLINE=1 .venv/bin/python -m bench``); about 12-18 minutes on 2 CPU
cores, of which the Locust capacity test (bench/capacity.py) takes about 6. Each benchmark
prints its own details first; a benchmark that fails gets a row saying so instead of
stopping the others. ``python -m bench capacity [options]`` runs the capacity test alone
(its options: ``python -m bench capacity --help``).
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

import capacity
import exam_build
import grading_quality
import grading_speed
import grading_verdict
import item_statistics
import onnx_backend
import question_quality
import service
import spaced_repetition

from quizsvc.config import Settings
from quizsvc.embedding import SentenceTransformerEncoder
from quizsvc.embedding.factory import resolve_backend

T = TypeVar("T")


@dataclass(frozen=True)
class Figure:
    benchmark: str
    measured: str
    baseline: str
    ratio: str
    target: str = "-"
    passed: bool | None = None


COLUMNS = ("benchmark", "measured", "baseline", "ratio", "target", "pass?")


def verdict(passed: bool | None) -> str:
    return "-" if passed is None else ("yes" if passed else "**no**")


def format_table(figures: Sequence[Figure]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for figure in figures:
        cells = (
            figure.benchmark,
            figure.measured,
            figure.baseline,
            figure.ratio,
            figure.target,
            verdict(figure.passed),
        )
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def quality_figures(result: grading_quality.QualityResult) -> list[Figure]:
    return [
        Figure(
            f"grading quality ({result.backend}): Pearson vs human, Mohler "
            f"({result.answers} answers)",
            f"final score {result.pearson_default:.3f} (similarity score, CV "
            f"{result.pearson_cv:.3f})",
            f"raw cosine {result.pearson_cosine:.3f}",
            f"{result.pearson_default / result.pearson_cosine:.2f}x",
        )
    ]


def speed_figures(result: grading_speed.SpeedResult) -> list[Figure]:
    return [
        Figure(
            f"grading ({result.backend}): {result.answers} free answers graded vs raw encode "
            "of them",
            f"{result.grade_seconds * 1000:.0f} ms",
            f"{result.encode_seconds * 1000:.0f} ms",
            f"{result.ratio:.2f}x",
            f"<= {grading_speed.TARGET}x",
            result.ratio <= grading_speed.TARGET,
        )
    ]


def build_figures(result: exam_build.BuildResult) -> list[Figure]:
    return [
        Figure(
            f"exam build in process: {result.questions} questions vs random sample to JSON",
            f"{result.build_ms:.1f} ms",
            f"{result.baseline_ms:.3f} ms",
            f"{result.ratio:.0f}x",
        ),
        Figure(
            f"exam build in process: {result.questions} questions vs GET /v1/health in process",
            f"{result.build_ms:.1f} ms (first 100 builds after start: "
            f"{result.first_builds_ms:.1f} ms)",
            f"{result.health_ms:.3f} ms",
            f"{result.health_ratio:.1f}x",
            f"<= {exam_build.HEALTH_TARGET}x",
            result.health_ratio <= exam_build.HEALTH_TARGET,
        ),
    ]


def question_quality_figures(result: question_quality.QualityResult) -> list[Figure]:
    """Issue items 4 and 5: wrong options of the key's kind and topic, no option overused, no
    prompt naming its answer; fill-in blanks on key terms."""
    q = question_quality
    exams = f"seeds {result.seeds[0].seed}-{result.seeds[-1].seed}, 20 choice questions"
    passed = result.passed
    return [
        Figure(
            f"wrong options of the key's kind / from its topic ({exams})",
            f"{result.same_kind:.1%} / {result.same_topic:.1%}",
            f"{result.wrong_options} wrong options",
            "-",
            f">= {q.SAME_KIND_TARGET:.0%} / >= {q.SAME_TOPIC_TARGET:.0%}",
            passed["same kind"] and passed["same topic"],
        ),
        Figure(
            f"most reused wrong option per exam / prompts naming their answer ({exams}; all "
            f"{result.bank_questions} choice questions of the bank)",
            f"{result.most_reused} / {result.named_answers} and {len(result.bank_named_answers)}",
            "-",
            "-",
            f"<= {q.REUSE_TARGET} / {q.NAMED_ANSWER_TARGET}",
            passed["reuse"] and passed["named answers"],
        ),
        Figure(
            f"fill-in blanks on key terms / mean accepted answers per blank ({result.blanks} "
            "blanks)",
            f"{result.key_blanks:.1%} / {result.mean_accept:.2f}",
            "-",
            "-",
        ),
    ]


def item_statistics_figures(result: item_statistics.StatisticsResult) -> list[Figure]:
    return [
        Figure(
            f"item statistics: {result.attempts} attempts x {result.questions} questions "
            "(response matrix + every statistic)",
            f"{result.seconds * 1000:.0f} ms",
            f"statistics alone {result.compute_seconds * 1000:.0f} ms",
            "-",
            f"< {item_statistics.TARGET_SECONDS:g} s",
            result.passed,
        )
    ]


def repetition_figures(result: spaced_repetition.RepetitionResult) -> list[Figure]:
    fsrs, random = result.fsrs_questions, result.random_questions
    most = max(result.mastery) * spaced_repetition.DAYS
    fsrs_share, random_share = result.mastery[spaced_repetition.EQUAL_COUNT]
    return [
        Figure(
            f"spaced repetition, simulated ({result.learners} learners, {result.cards} cards, "
            f"{spaced_repetition.DAYS} days): questions until 90% of cards at true recall >= 0.9",
            f"FSRS practice {fsrs or f'> {most}'}",
            f"random practice {random or f'> {most}'}",
            f"{random / fsrs:.2f}x fewer" if fsrs and random else "-",
        ),
        Figure(
            f"spaced repetition, simulated: cards mastered on day {spaced_repetition.DAYS} at "
            f"{spaced_repetition.EQUAL_COUNT} questions a day",
            f"FSRS practice {fsrs_share:.1%}",
            f"random practice {random_share:.1%}",
            f"{fsrs_share / random_share:.2f}x",
        ),
    ]


def onnx_figures(results: Sequence[onnx_backend.BackendResult]) -> list[Figure]:
    figures = []
    for result in results:
        int8 = result.name.endswith("int8")
        figures.append(
            Figure(
                f"{result.name} encoder: {onnx_backend.TEXTS} answers, speed vs torch",
                f"{result.encode_seconds:.2f} s",
                f"torch {result.torch_seconds:.2f} s",
                f"{result.speedup:.2f}x faster",
                f">= {onnx_backend.SPEED_TARGET:g}x" if int8 else "-",
                result.speedup >= onnx_backend.SPEED_TARGET if int8 else None,
            )
        )
        figures.append(
            Figure(
                f"{result.name} agreement with torch: grader scores "
                f"({onnx_backend.AGREEMENT_ANSWERS} answers)",
                f"Pearson {result.score_pearson:.4f}; embedding cosine "
                f"{result.embedding_cosine:.4f}",
                f"identical verdicts {result.verdict_agreement:.1%}",
                "-",
                f">= {onnx_backend.AGREEMENT_TARGET}",
                min(result.score_pearson, result.embedding_cosine) >= onnx_backend.AGREEMENT_TARGET,
            )
        )
    return figures


def service_figures(report: service.ServiceReport) -> list[Figure]:
    health, autosave = report.health, report.autosave
    where = f"{report.database}, gunicorn {service.WORKERS} workers"
    throughput = autosave.throughput / health.throughput
    spread = autosave.p99 / autosave.p50
    rss = ", ".join(f"{value:.0f}" for value in report.worker_rss_mb)
    uss = ", ".join(f"{value:.0f}" for value in report.worker_uss_mb)
    return [
        Figure(
            f"autosave PUT throughput, {service.CLIENTS} clients ({where})",
            f"{autosave.throughput:.0f} req/s",
            f"GET /v1/health {health.throughput:.0f} req/s",
            f"{throughput:.0%}",
            ">= 40%",
            throughput >= 0.40,
        ),
        Figure(
            f"autosave PUT latency, {service.CLIENTS} clients",
            f"p99 {autosave.p99 * 1000:.0f} ms",
            f"p50 {autosave.p50 * 1000:.0f} ms",
            f"{spread:.1f}x",
            "<= 10x",
            spread <= 10,
        ),
        Figure(
            f"hello world GET /v1/health latency, {service.CLIENTS} clients",
            f"p99 {health.p99 * 1000:.0f} ms",
            f"p50 {health.p50 * 1000:.0f} ms",
            f"{health.p99 / health.p50:.1f}x",
        ),
        Figure(
            "exam build POST /v1/exams (65 questions), sequential",
            f"{report.build_latency_ms:.0f} ms",
            f"GET /v1/health {report.hello_latency_ms:.2f} ms",
            f"{report.build_latency_ms / report.hello_latency_ms:.0f}x",
        ),
        Figure(
            f"RSS per gunicorn worker (encoder {report.backend})",
            f"{rss} MiB",
            f"unique (not shared with the master) {uss} MiB",
            "-",
        ),
        Figure(
            "cold start: process start to /v1/ready 200",
            f"{report.cold_start_s:.1f} s",
            "-",
            "-",
        ),
    ]


def verdict_figures(result: grading_verdict.VerdictResult) -> list[Figure]:
    """Issue 12's targets, each on data the verdict model was not fitted on."""
    reviewed, plain = result.with_review, result.without_review
    figures = [
        Figure(
            "verdicts, dev held-out half, with review: flagged / wrong graded correct",
            f"{reviewed.flagged:.1%} / {reviewed.wrong_correct}",
            f"review off: 0% / {plain.wrong_correct}",
            "-",
            "<= 20% / 0",
            reviewed.flagged <= 0.20 and reviewed.wrong_correct == 0,
        ),
        Figure(
            "verdicts, dev held-out half, with review: wrong credited / right correct / "
            "partial partial",
            f"{reviewed.wrong_credited:.1%} / {reviewed.right_correct:.1%} / "
            f"{reviewed.partial_partial:.1%}",
            f"review off: {plain.wrong_credited:.1%} / {plain.right_correct:.1%} / "
            f"{plain.partial_partial:.1%}",
            "-",
            "<= 5% / >= 90% / >= 60%",
            reviewed.wrong_credited <= 0.05
            and reviewed.right_correct >= 0.90
            and reviewed.partial_partial >= 0.60,
        ),
        Figure(
            "verdicts, SemEval-2013 CV by question: 2-way macro-F1 SciEntsBank / Beetle",
            f"{result.sciq[0]:.3f} / {result.beetle[0]:.3f}",
            f"cosine {result.sciq[1]:.3f} / {result.beetle[1]:.3f}",
            f"{result.sciq[0] / result.sciq[1]:.2f}x / {result.beetle[0] / result.beetle[1]:.2f}x",
            ">= 0.72 / >= 0.70",
            result.sciq[0] >= 0.72 and result.beetle[0] >= 0.70,
        ),
        Figure(
            "verdicts: calibration error of confidence, SemEval CV / dev held-out",
            f"{result.semeval_ece:.3f} / {result.dev_ece:.3f}",
            "-",
            "-",
            "<= 0.05 each",
            result.semeval_ece <= 0.05 and result.dev_ece <= 0.05,
        ),
        Figure(
            "verdicts: Mohler Pearson r of the final score (CV by assignment)",
            f"{result.mohler_r:.3f}",
            "-",
            "-",
            ">= 0.63",
            result.mohler_r >= 0.63,
        ),
    ]
    return figures


def capacity_figures(report: capacity.CapacityReport) -> list[Figure]:
    best = report.best
    where = f"{report.instances} x quizsvc serve, {report.workers} workers, PostgreSQL, Redis"
    if best is None:
        return [Figure(f"capacity (Locust, {where})", "no level met the SLO", "-", "-")]
    # The claim includes the synchronized start: the smaller of the paced level's equivalent
    # takers and the largest start within 10 s that met the SLO.
    claimed = report.claimed_takers
    per_vcpu = claimed / report.cpus
    started = report.best_burst
    with_start = (
        "synchronized start not measured"
        if report.bursts is None
        else f"synchronized start of {started.learners} met the SLO"
        if started is not None
        else "no synchronized start met the SLO"
    )
    figures = [
        Figure(
            f"capacity (Locust, {where}): highest level meeting the SLO, {best.learners} "
            f"learners at {best.think[0]:g}-{best.think[1]:g} s think = "
            f"{best.equivalent_takers} takers at 15-45 s (equivalent by autosave rate); "
            f"{with_start}; per vCPU, {report.cpus} vCPUs for app + DB + load",
            f"{per_vcpu:.0f} per vCPU ({claimed} takers)",
            f"Moodle 4.5 ~{capacity.MOODLE_TAKERS_PER_VCPU}",
            f"{per_vcpu / capacity.MOODLE_TAKERS_PER_VCPU:.1f}x",
            f">= {capacity.TARGET_TAKERS_PER_VCPU}",
            per_vcpu >= capacity.TARGET_TAKERS_PER_VCPU,
        )
    ]
    for burst in report.bursts or []:
        start = burst.endpoints[capacity.START]
        figures.append(
            Figure(
                f"capacity: synchronized start of {burst.learners} learners within 10 s",
                f"start p99 {start.percentile(0.99) * 1000:.0f} ms, {burst.errors} errors",
                f"p50 {start.percentile(0.5) * 1000:.0f} ms",
                "-",
                "p99 <= 1000 ms, 0 errors",
                burst.meets_slo,
            )
        )
    return figures


def attempt(name: str, run: Callable[[], T], failures: list[Figure]) -> T | None:
    print(f"\n## {name}\n", flush=True)
    started = time.perf_counter()
    try:
        result = run()
    except Exception as exc:
        traceback.print_exc()
        failures.append(Figure(name, f"FAILED: {type(exc).__name__}: {exc}"[:160], "-", "-"))
        return None
    print(f"({name}: {time.perf_counter() - started:.0f} s)", flush=True)
    return result


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if sys.argv[1:2] == ["capacity"]:
        capacity.main(sys.argv[2:])
        return
    started = time.perf_counter()
    settings = Settings.from_env()
    figures: list[Figure] = []
    failures: list[Figure] = []

    backend = resolve_backend(settings)
    quality = attempt(
        f"grading quality, {backend} (bench/grading_quality.py)", grading_quality.main, failures
    )
    if quality is not None:
        figures += quality_figures(quality)
    torch_quality = quality
    if backend != "torch":
        # The thresholds must hold on every backend the service may run (torch on a GPU).
        torch_quality = attempt(
            "grading quality, torch (bench/grading_quality.py)",
            lambda: grading_quality.main("torch"),
            failures,
        )
        if torch_quality is not None:
            figures += quality_figures(torch_quality)

    verdict_result = attempt(
        "grading verdicts (bench/grading_verdict.py)", grading_verdict.main, failures
    )
    if verdict_result is not None:
        figures += verdict_figures(verdict_result)

    speed = attempt("grading speed (bench/grading_speed.py)", grading_speed.measure, failures)
    if speed is not None:
        figures += speed_figures(speed)

    build = attempt("exam build (bench/exam_build.py)", exam_build.main, failures)
    if build is not None:
        figures += build_figures(build)

    questions = attempt(
        "question quality (bench/question_quality.py)",
        lambda: question_quality.main([]),
        failures,
    )
    if questions is not None:
        figures += question_quality_figures(questions)

    item_stats = attempt(
        "item statistics (bench/item_statistics.py)", item_statistics.main, failures
    )
    if item_stats is not None:
        figures += item_statistics_figures(item_stats)

    repetition = attempt(
        "spaced repetition (bench/spaced_repetition.py)", spaced_repetition.main, failures
    )
    if repetition is not None:
        figures += repetition_figures(repetition)

    torch_model = SentenceTransformerEncoder(
        model=settings.model, device="cpu", batch_size=settings.batch_size
    )
    backends = attempt(
        "ONNX Runtime encoder (bench/onnx_backend.py)",
        lambda: onnx_backend.measure(
            torch_model, torch_quality.grades if torch_quality is not None else None
        ),
        failures,
    )
    if backends is not None:
        figures += onnx_figures(backends)

    report = attempt("service under load (bench/service.py)", service.measure, failures)
    if report is not None:
        figures += service_figures(report)

    capacity_report = attempt(
        "capacity under load, Locust (bench/capacity.py)",
        lambda: capacity.main([]),
        failures,
    )
    if capacity_report is not None:
        figures += capacity_figures(capacity_report)

    print(f"\n## Summary ({time.perf_counter() - started:.0f} s, {os.cpu_count()} CPUs)\n")
    print(format_table(figures + failures))


if __name__ == "__main__":
    main()
