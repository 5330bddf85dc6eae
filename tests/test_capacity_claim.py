"""The capacity benchmark claims only what the synchronized start also met (issue 19): the
paced levels' equivalent takers are capped by the largest start within 10 s that met the
SLO, and a start that met none claims nothing."""

from __future__ import annotations

from bench import capacity


def level(learners: int, start_p99: float, start_only: bool = False) -> capacity.Level:
    endpoints = {name: capacity.Endpoint([0.01] * 99) for name in capacity.ENDPOINTS}
    endpoints[capacity.START] = capacity.Endpoint([0.05] * 98 + [start_p99] * 2)
    if start_only:
        endpoints[capacity.AUTOSAVE] = capacity.Endpoint()
        endpoints[capacity.SUBMIT] = capacity.Endpoint()
    return capacity.Level(
        learners=learners,
        think=(1.0, 3.0),
        seconds=60.0,
        finished=learners,
        endpoints=endpoints,
        app_cpu=60.0,
        db_cpu=12.0,
        load_cpu=6.0,
        cpus=2,
        # 4155 takers per vCPU at real pacing, as issue 19's run reported.
        autosave_rate=8310 / capacity.REAL_MEAN_THINK,
        start_only=start_only,
    )


def test_the_claim_is_capped_by_the_largest_synchronized_start_meeting_the_slo() -> None:
    paced = level(800, 0.2)
    assert paced.equivalent_takers == 8310
    bursts = [level(500, 0.6, start_only=True), level(1000, 1.9, start_only=True)]
    report = capacity.CapacityReport([paced], bursts, 1, 4, 2, 15.0)
    assert report.best_burst is bursts[0]
    assert report.claimed_takers == 500
    note = capacity.closing_note(report)
    assert "500 takers = 250 takers per vCPU" in note
    assert "1000 learners starting within 10 s" in note
    assert "missed it" in note
    assert "4155" not in note


def test_no_synchronized_start_meeting_the_slo_claims_nothing() -> None:
    report = capacity.CapacityReport(
        [level(800, 0.2)], [level(500, 17.5, start_only=True)], 1, 4, 2, 15.0
    )
    assert report.claimed_takers == 0
    assert "no capacity is claimed" in capacity.closing_note(report)


def test_without_the_synchronized_start_the_note_says_so() -> None:
    report = capacity.CapacityReport([level(800, 0.2)], None, 1, 4, 2, 15.0)
    assert report.claimed_takers == 8310
    assert "without the synchronized start" in capacity.closing_note(report)


def test_the_default_bursts_climb_per_vcpu_up_to_the_paced_equivalent() -> None:
    assert capacity.burst_counts(8310, 2) == [500, 1000, 1500, 2000, 3000, 4000, 6000]
    assert capacity.burst_counts(1200, 2) == [500, 1000, 1200]
