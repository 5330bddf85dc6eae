"""Capacity: how many learners can take an exam at once, measured with Locust.

Shaped like the published Moodle 4.5 load test (JMeter, 2,000 simultaneous takers of a
16-question quiz on a 12-vCPU web server and a 4-vCPU database, about 125 takers per vCPU):
``quizsvc serve`` on PostgreSQL with Redis-backed rate limits (the default per-key limit,
not raised); a 16-question exam (12 multiple choice, 3 fill-in, 1 free answer); each
simulated learner has their own API key, starts an attempt, saves each question once or
twice with a think time before each save, and submits; every learner of a level starts
within the same 10 s. The number of learners ramps level by level.

Think time. Real takers think 15-45 s between saves (Moodle's 30-90 s per page of two
questions), so one level at real pacing lasts 12 minutes or more. The think time is a
parameter (``--think-scale``): the default divides it by 15 (1-3 s), so each simulated
learner makes the requests of 15 real ones. Each level reports both the directly measured
number of simulated learners (with their own synchronized start) and the *equivalent*
number of takers at real pacing: the measured autosave rate divided by one real taker's
(one save per 30 s on average).

The synchronized start is measured at real counts, not scaled: a last phase starts N
learners within 10 s (start only) for ascending N (``--bursts``; by default 250, 500, 750,
1000, 1500, 2000 and 3000 per vCPU, up to the best level's equivalent takers) and stops at
the first N that misses the SLO. The capacity claimed is the smaller of the best level's
equivalent takers and the highest synchronized start meeting the SLO: a class that size can
both start together and take the exam at real pacing.

Per level: request rates, p50/p95/p99 per endpoint, errors, and the CPU used by the app
(gunicorn masters and workers), by the PostgreSQL backends serving the benchmark database
and by the load generator (Locust runs in a child process on the same cores), as a share
of the machine's CPUs. The SLO: autosave p99 <= 300 ms, start p99 <= 1 s, submit p99 <= 2 s,
no errors. Takers per vCPU count every CPU the app, the database and the load generator
share (all of this machine's).

``--instances 2`` runs two ``quizsvc serve`` processes behind Debian's nginx
(bench/cluster.py), sharing PostgreSQL and Redis; the load goes through the proxy.

Run: ``.venv/bin/python bench/capacity.py`` (about 6 minutes on 2 CPU cores, and up to a minute
per synchronized start);
``--levels 100,200 --think-scale 5`` for others.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cluster
from service import throwaway_database

LOAD_SCRIPT = Path(__file__).resolve().parent / "capacity_load.py"
START, AUTOSAVE, SUBMIT = (
    "POST /v1/exams/{id}/attempts",
    "PUT /v1/attempts/{id}/responses/{qid}",
    "POST /v1/attempts/{id}/submit",
)
ENDPOINTS = (START, AUTOSAVE, SUBMIT)
SHORT = {START: "start", AUTOSAVE: "autosave", SUBMIT: "submit"}
EXAM_COUNTS = {"multiple_choice": 12, "fill_in": 3, "free_answer": 1}
#: Real think time between saves (seconds), and its mean.
REAL_THINK = (15.0, 45.0)
REAL_MEAN_THINK = sum(REAL_THINK) / 2
SPAWN_SECONDS = 10.0
#: p99 limits in seconds per endpoint, and no errors.
SLO = {AUTOSAVE: 0.300, START: 1.0, SUBMIT: 2.0}
MOODLE_TAKERS_PER_VCPU = 125
TARGET_TAKERS_PER_VCPU = 500
DEFAULT_LEVELS = (50, 100, 200, 400, 800)
DEFAULT_THINK_SCALE = 15.0
#: gunicorn's sync workers wait for PostgreSQL (each start and submit is several round trips
#: and a commit), so two per CPU keep the CPUs busy while others wait.
WORKERS = 2 * (os.cpu_count() or 1)
REDIS_URL = os.environ.get("QUIZSVC_BENCH_REDIS", "redis://127.0.0.1:6379")
#: A level ends when its learners have submitted, or after this long (unfinished learners
#: then miss the SLO).
MAX_LEVEL_SECONDS = 600.0
#: The start-only bursts are capped: every learner needs a key made before it.
MAX_BURST = 6000
#: Synchronized starts tried by default, per vCPU (ascending; capped at the best level's
#: equivalent takers and MAX_BURST).
DEFAULT_BURSTS_PER_VCPU = (250, 500, 750, 1000, 1500, 2000, 3000)


@dataclass
class Endpoint:
    latencies: list[float] = field(default_factory=list, repr=False)
    errors: int = 0

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass
class Level:
    learners: int
    think: tuple[float, float]
    seconds: float
    finished: int
    endpoints: dict[str, Endpoint]
    #: CPU seconds used during the level.
    app_cpu: float
    db_cpu: float
    load_cpu: float
    cpus: int
    #: Autosaves per second between the first and the last autosave.
    autosave_rate: float
    start_only: bool = False

    @property
    def requests(self) -> int:
        return sum(len(endpoint.latencies) for endpoint in self.endpoints.values())

    @property
    def errors(self) -> int:
        return sum(endpoint.errors for endpoint in self.endpoints.values())

    @property
    def equivalent_takers(self) -> int:
        """Takers at real pacing making as many autosaves a second as this level did."""
        return round(self.autosave_rate * REAL_MEAN_THINK)

    def cpu_share(self, seconds: float) -> float:
        return seconds / (self.seconds * self.cpus)

    @property
    def server_cpu_ms_per_request(self) -> float:
        """CPU of the app and the database per request (the load generator's not counted)."""
        return 1000 * (self.app_cpu + self.db_cpu) / max(1, self.requests)

    @property
    def cpu_bound_takers(self) -> int:
        """Takers at real pacing that every CPU, busy with nothing but this level's requests,
        would serve: an extrapolation from CPU per request, not a measurement."""
        if self.server_cpu_ms_per_request <= 0 or self.autosave_rate <= 0:
            return 0
        requests_per_second = self.cpus * 1000 / self.server_cpu_ms_per_request
        per_taker = (self.requests / self.seconds) / self.equivalent_takers
        return round(requests_per_second / per_taker)

    def slo_misses(self) -> list[str]:
        misses = []
        for name, limit in SLO.items():
            endpoint = self.endpoints.get(name)
            if endpoint is None or not endpoint.latencies:
                if not (self.start_only and name != START):
                    misses.append(f"no {SHORT[name]} measured")
                continue
            p99 = endpoint.percentile(0.99)
            if p99 > limit:
                misses.append(f"{SHORT[name]} p99 {p99 * 1000:.0f} ms > {limit * 1000:.0f} ms")
        if self.errors:
            misses.append(f"{self.errors} errors")
        if self.finished < self.learners:
            misses.append(f"{self.learners - self.finished} learners did not finish")
        return misses

    @property
    def meets_slo(self) -> bool:
        return not self.slo_misses()


@dataclass
class CapacityReport:
    levels: list[Level]
    #: The synchronized starts measured, ascending (None: not run).
    bursts: list[Level] | None
    instances: int
    workers: int
    cpus: int
    think_scale: float

    @property
    def best(self) -> Level | None:
        passing = [level for level in self.levels if level.meets_slo]
        return max(passing, key=lambda level: level.learners) if passing else None

    @property
    def best_burst(self) -> Level | None:
        """The largest synchronized start meeting the SLO (None: none did, or none ran)."""
        passing = [level for level in self.bursts or [] if level.meets_slo]
        return max(passing, key=lambda level: level.learners) if passing else None

    @property
    def claimed_takers(self) -> int:
        """Takers at real pacing the SLO holds for, synchronized start included when it was
        measured: the smaller of the best level's equivalent takers and the largest
        synchronized start meeting the SLO (0 when either failed)."""
        best = self.best
        if best is None:
            return 0
        if self.bursts is None:
            return best.equivalent_takers
        started = self.best_burst
        return min(best.equivalent_takers, started.learners) if started is not None else 0


def burst_counts(equivalent_takers: int, cpus: int) -> list[int]:
    """The default synchronized starts: DEFAULT_BURSTS_PER_VCPU x cpus below the cap, and
    the cap itself (the best level's equivalent takers, at most MAX_BURST)."""
    cap = min(MAX_BURST, equivalent_takers)
    counts = [per_vcpu * cpus for per_vcpu in DEFAULT_BURSTS_PER_VCPU if per_vcpu * cpus < cap]
    return [*counts, cap] if cap > 0 else counts


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


class CpuMeter:
    """CPU seconds of a changing set of processes (gunicorn workers, PostgreSQL backends)."""

    def __init__(self, find: Callable[[], list[psutil.Process]]) -> None:
        self.find = find
        self.seen: dict[int, float] = {}
        self.used = 0.0

    def sample(self) -> None:
        for process in self.find():
            try:
                now = cpu_seconds(process)
            except psutil.Error:
                continue
            self.used += max(0.0, now - self.seen.get(process.pid, now))
            self.seen[process.pid] = now

    def reset(self) -> None:
        self.sample()
        self.used = 0.0


def app_processes(pids: Sequence[int]) -> list[psutil.Process]:
    found = []
    for pid in pids:
        try:
            master = psutil.Process(pid)
            found.append(master)
            found.extend(master.children(recursive=True))
        except psutil.Error:
            continue
    return found


def database_processes(database: str) -> list[psutil.Process]:
    """PostgreSQL backends serving ``database`` (their process title names it)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if cmdline.startswith("postgres:") and f" {database} " in f"{cmdline} ":
            found.append(process)
    return found


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_level(
    url: str,
    exam_id: str,
    keys: list[str],
    think: tuple[float, float],
    meters: tuple[CpuMeter, CpuMeter],
    folder: Path,
    start_only: bool = False,
    max_seconds: float = 600.0,
) -> Level:
    plan = {
        "host": url,
        "exam_id": exam_id,
        "keys": keys,
        "think_min": think[0],
        "think_max": think[1],
        "spawn_seconds": SPAWN_SECONDS,
        "max_seconds": max_seconds,
        "users": len(keys),
        "start_only": start_only,
        "seed": len(keys),
    }
    plan_path, result_path = folder / "plan.json", folder / "result.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    app_meter, db_meter = meters
    for meter in meters:
        meter.reset()
    load_before = children_cpu()
    began = time.monotonic()
    load = subprocess.Popen([sys.executable, str(LOAD_SCRIPT), str(plan_path), str(result_path)])
    while load.poll() is None:
        time.sleep(1.0)
        app_meter.sample()
        db_meter.sample()
    seconds = time.monotonic() - began
    for meter in meters:
        meter.sample()
    if load.returncode != 0:
        raise RuntimeError(f"the Locust process exited with {load.returncode}")
    result = json.loads(result_path.read_text(encoding="utf-8"))
    endpoints: dict[str, Endpoint] = {name: Endpoint() for name in ENDPOINTS}
    autosave_times = []
    for name, latency, ok, _status, ended in result["records"]:
        endpoint = endpoints.setdefault(name, Endpoint())
        endpoint.latencies.append(latency)
        endpoint.errors += not ok
        if name == AUTOSAVE:
            autosave_times.append(ended)
    span = (max(autosave_times) - min(autosave_times)) if len(autosave_times) > 1 else 0.0
    return Level(
        learners=len(keys),
        think=think,
        seconds=seconds,
        finished=result["finished"],
        endpoints=endpoints,
        app_cpu=app_meter.used,
        db_cpu=db_meter.used,
        load_cpu=children_cpu() - load_before,
        cpus=psutil.cpu_count() or 1,
        autosave_rate=len(autosave_times) / span if span > 0 else 0.0,
        start_only=start_only,
    )


def make_keys(database_url: str, count: int, prefix: str) -> list[str]:
    from quizsvc.store import Store

    store = Store(database_url)
    try:
        return [store.create_key("learner", f"{prefix}-{index}")[0] for index in range(count)]
    finally:
        store.engine.dispose()


@contextmanager
def service(
    instances: int, workers: int, folder: Path, database_url: str
) -> Iterator[cluster.Cluster]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "QUIZSVC_DATABASE_URL": database_url,
        "QUIZSVC_RATELIMIT_STORAGE": REDIS_URL,
        "QUIZSVC_LOG_FORMAT": "text",
    }
    # gunicorn's access log to a file would cost the app CPU a real deployment also pays;
    # it stays on (quizsvc serve logs every request).
    with cluster.cluster(env, instances, workers, folder) as running:
        yield running


def measure(
    levels: Sequence[int] = DEFAULT_LEVELS,
    think_scale: float = DEFAULT_THINK_SCALE,
    instances: int = 1,
    workers: int = WORKERS,
    burst: bool = True,
    log: Callable[[str], None] = print,
    level_seconds: float = MAX_LEVEL_SECONDS,
    bursts: Sequence[int] | None = None,
) -> CapacityReport:
    """``bursts``: the synchronized-start counts to try, ascending (default: see
    :func:`burst_counts`); they stop at the first that misses the SLO."""
    from quizsvc.migrate import upgrade
    from quizsvc.store import Store

    think = (REAL_THINK[0] / think_scale, REAL_THINK[1] / think_scale)
    with (
        throwaway_database() as (database_url, kind),
        tempfile.TemporaryDirectory(prefix="quizsvc-capacity-") as temp,
    ):
        if kind != "PostgreSQL":
            raise RuntimeError("the capacity benchmark needs PostgreSQL on 127.0.0.1:5432")
        folder = Path(temp)
        upgrade(database_url)
        store = Store(database_url)
        instructor = store.create_key("instructor")[0]
        store.engine.dispose()
        database = database_url.rsplit("/", 1)[1]
        with service(instances, workers, folder, database_url) as running:
            log(
                f"capacity: {instances} instance(s) x {workers} workers"
                + (" behind nginx" if running.proxy else "")
                + f", PostgreSQL, rate limits in {REDIS_URL}; think {think[0]:g}-{think[1]:g} s"
            )
            exam = requests.post(
                f"{running.url}/v1/exams",
                json={"counts": EXAM_COUNTS, "seed": 7, "time_limit_seconds": 4 * 3600},
                headers={"Authorization": f"Bearer {instructor}"},
                timeout=120,
            )
            exam.raise_for_status()
            exam_id = exam.json()["id"]
            meters = (
                CpuMeter(lambda: app_processes(running.server_pids())),
                CpuMeter(lambda: database_processes(database)),
            )
            # Warm-up, not reported: each worker's first encode and first connections.
            warm_up = make_keys(database_url, 2 * instances * workers, "warm-up")
            run_level(running.url, exam_id, warm_up, (0.05, 0.1), meters, folder)
            measured: list[Level] = []
            for number, learners in enumerate(levels):
                keys = make_keys(database_url, learners, f"level{number}")
                level = run_level(
                    running.url, exam_id, keys, think, meters, folder, max_seconds=level_seconds
                )
                measured.append(level)
                log(describe_level(level))
                if not level.meets_slo and number + 1 < len(levels):
                    log("capacity: SLO missed; the levels above are not run")
                    break
            cpus = psutil.cpu_count() or 1
            report = CapacityReport(measured, None, instances, workers, cpus, think_scale)
            best = report.best
            if burst and best is not None:
                report.bursts = []
                counts = (
                    list(bursts)
                    if bursts is not None
                    else burst_counts(best.equivalent_takers, cpus)
                )
                for number, count in enumerate(counts):
                    keys = make_keys(database_url, count, f"burst{number}")
                    started = run_level(
                        running.url, exam_id, keys, think, meters, folder, start_only=True
                    )
                    report.bursts.append(started)
                    log(describe_level(started))
                    if not started.meets_slo:
                        if number + 1 < len(counts):
                            log("capacity: start SLO missed; the larger bursts are not run")
                        break
        return report


def describe_level(level: Level) -> str:
    parts = [
        f"{'start burst' if level.start_only else 'level'} {level.learners} learners: "
        f"{level.requests / level.seconds:.0f} req/s over {level.seconds:.0f} s"
    ]
    for name in ENDPOINTS:
        endpoint = level.endpoints[name]
        if endpoint.latencies:
            parts.append(
                f"{SHORT[name]} {len(endpoint.latencies)} p50/p95/p99 "
                f"{endpoint.percentile(0.5) * 1000:.0f}/{endpoint.percentile(0.95) * 1000:.0f}/"
                f"{endpoint.percentile(0.99) * 1000:.0f} ms"
            )
    parts.append(f"errors {level.errors}")
    parts.append(
        f"CPU app {level.cpu_share(level.app_cpu):.0%} db {level.cpu_share(level.db_cpu):.0%} "
        f"load {level.cpu_share(level.load_cpu):.0%} "
        f"({level.server_cpu_ms_per_request:.1f} CPU-ms of app + db per request)"
    )
    misses = level.slo_misses()
    parts.append("SLO met" if not misses else "SLO missed: " + ", ".join(misses))
    return "; ".join(parts)


def table(report: CapacityReport) -> str:
    head = (
        "| learners (think {a:g}-{b:g} s) | equivalent takers at 15-45 s | req/s | "
        "start p50/p95/p99 ms | autosave p50/p95/p99 ms | submit p50/p95/p99 ms | errors | "
        "CPU app / db / load | SLO |"
    )
    levels = report.levels + (report.bursts or [])
    if not levels:
        return "(no level ran)"
    think = levels[0].think
    lines = [head.format(a=think[0], b=think[1]), "|" + "---|" * 9]
    for level in levels:
        cells = [
            f"{level.learners}" + (" (start only)" if level.start_only else ""),
            "-" if level.start_only else f"{level.equivalent_takers}",
            f"{level.requests / level.seconds:.0f}",
        ]
        for name in ENDPOINTS:
            endpoint = level.endpoints[name]
            cells.append(
                "/".join(f"{endpoint.percentile(q) * 1000:.0f}" for q in (0.5, 0.95, 0.99))
                if endpoint.latencies
                else "-"
            )
        cells.append(str(level.errors))
        cells.append(
            " / ".join(
                f"{level.cpu_share(seconds):.0%}"
                for seconds in (level.app_cpu, level.db_cpu, level.load_cpu)
            )
        )
        cells.append("met" if level.meets_slo else "missed")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def cpu_note(report: CapacityReport) -> str:
    """The CPU-bound ceiling, extrapolated from the busiest level (labelled as such): on a
    machine shared with other work, latency may miss the SLO long before the CPU runs out."""
    levels = [level for level in report.levels if level.equivalent_takers > 0]
    if not levels:
        return ""
    busiest = max(levels, key=lambda level: level.requests / level.seconds)
    return (
        f"capacity: the app and PostgreSQL used {busiest.server_cpu_ms_per_request:.1f} CPU-ms "
        f"per request at {busiest.learners} learners; all {report.cpus} vCPUs doing only that "
        f"would serve about {busiest.cpu_bound_takers} takers at real pacing "
        f"({busiest.cpu_bound_takers / report.cpus:.0f} per vCPU; an extrapolation, not a "
        "measured level)"
    )


def describe_start(level: Level) -> str:
    start = level.endpoints[START]
    return (
        f"{level.learners} learners starting within {SPAWN_SECONDS:g} s: start p50/p99 "
        f"{start.percentile(0.5) * 1000:.0f}/{start.percentile(0.99) * 1000:.0f} ms, "
        f"{level.errors} errors"
    )


def closing_note(report: CapacityReport) -> str:
    best = report.best
    if best is None:
        return "capacity: no level met the SLO. " + cpu_note(report)
    direct = best.learners / report.cpus
    paced = (
        f"capacity: highest level meeting the SLO: {best.learners} simulated learners at "
        f"{best.think[0]:g}-{best.think[1]:g} s think time, measured directly "
        f"({direct:.0f} per vCPU); their autosave rate ({best.autosave_rate:.1f}/s) is that of "
        f"{best.equivalent_takers} takers at real 15-45 s think time (equivalent, not "
        "simulated one by one)."
    )
    claimed = report.claimed_takers
    per_vcpu = claimed / report.cpus
    versus = (
        f"{per_vcpu:.0f} takers per vCPU on {report.cpus} vCPUs shared by the app, PostgreSQL "
        f"and the load generator, against Moodle's ~{MOODLE_TAKERS_PER_VCPU} (target >= "
        f"{TARGET_TAKERS_PER_VCPU})"
    )
    if report.bursts is None:
        return (
            f"{paced} Synchronized start not measured (--no-burst): {claimed} takers = "
            f"{versus}, without the synchronized start."
        )
    started = report.best_burst
    missed = next((level for level in report.bursts if not level.meets_slo), None)
    if started is None:
        assert missed is not None
        return (
            f"{paced} Synchronized start: none measured met the SLO (smallest: "
            f"{describe_start(missed)}; {', '.join(missed.slo_misses())}), so no capacity "
            f"is claimed: 0 {versus}."
        )
    above = (
        f" The next, {describe_start(missed)}, missed it ({', '.join(missed.slo_misses())})."
        if missed is not None
        else " (No larger start was tried.)"
    )
    return (
        f"{paced} Synchronized start: the largest meeting the SLO was {describe_start(started)}."
        f"{above} Capacity, synchronized start included: {claimed} takers = {versus}."
    )


def main(argv: Sequence[str] | None = None) -> CapacityReport:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--levels",
        default=",".join(str(level) for level in DEFAULT_LEVELS),
        help="learners per level, comma-separated (ascending)",
    )
    parser.add_argument(
        "--think-scale",
        type=float,
        default=DEFAULT_THINK_SCALE,
        help="divide the real 15-45 s think time by this (1 = real pacing)",
    )
    parser.add_argument("--instances", type=int, default=1, help="2+: behind nginx")
    parser.add_argument("--workers", type=int, default=WORKERS, help="gunicorn workers each")
    parser.add_argument(
        "--no-burst", action="store_true", help="skip the synchronized starts (start only)"
    )
    parser.add_argument(
        "--bursts",
        default=None,
        help="synchronized-start counts to try, comma-separated (ascending; they stop at the "
        "first missing the SLO); default: "
        + ", ".join(str(count) for count in DEFAULT_BURSTS_PER_VCPU)
        + " per vCPU up to the best level's equivalent takers",
    )
    parser.add_argument(
        "--level-seconds",
        type=float,
        default=MAX_LEVEL_SECONDS,
        help="longest a level may run; learners not done by then miss the SLO",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    report = measure(
        [int(level) for level in args.levels.split(",")],
        args.think_scale,
        args.instances,
        args.workers,
        burst=not args.no_burst,
        level_seconds=args.level_seconds,
        bursts=[int(count) for count in args.bursts.split(",")] if args.bursts else None,
    )
    print(table(report))
    print(closing_note(report))
    if report.best is not None:
        print(cpu_note(report))
    return report


if __name__ == "__main__":
    main()
