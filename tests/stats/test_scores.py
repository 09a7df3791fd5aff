"""Intervals and bounds for one scored benchmark (``vleval.stats.scores``)."""

from __future__ import annotations

import pytest

from vleval.stats.scores import fill_record, metric_units, score_uncertainty
from vleval.types import RowResult, ScoreRecord


def hallusion_like(rows):
    """aAcc over rows, qAcc over question groups (unit), fAcc over figure groups; headline = mean."""

    def group_acc(key):
        groups: dict[str, list[float]] = {}
        for r in rows:
            groups.setdefault(r.unit if key == "unit" else r.groups[key], []).append(r.score)
        return 100 * sum(all(v) for v in groups.values()) / len(groups)

    a = 100 * sum(r.score for r in rows) / len(rows)
    q, f = group_acc("unit"), group_acc("figure")
    return {"Overall": (a + q + f) / 3, "aAcc": a, "qAcc": q, "fAcc": f}


def test_metric_units():
    assert metric_units(["aAcc", "fAcc", "qAcc"]) == {
        "aAcc": ("unit",),
        "fAcc": ("figure",),
        "qAcc": ("unit",),
        "headline": ("unit", "figure"),
    }
    assert metric_units([]) == {"headline": ("unit",)}


def test_hallusion_like_intervals_use_their_units():
    rows = [
        RowResult(index=i, unit=f"s{i // 4}_q{i % 2}", score=int(i % 3 != 0), decided_by="rule",
                  groups={"figure": f"s{i // 4}_f{(i // 2) % 2}"})
        for i in range(40)
    ]  # fmt: skip
    found = score_uncertainty(rows, hallusion_like, "Overall", ["aAcc", "qAcc", "fAcc"], resamples=200)
    assert set(found.intervals) == {"headline", "aAcc", "qAcc", "fAcc"}
    assert "over 10 connected scoring units and figure groups" in found.intervals["headline"].method
    assert "over 20 scoring units" in found.intervals["qAcc"].method
    assert "over 20 figure groups" in found.intervals["fAcc"].method
    values = hallusion_like(rows)
    for name in ("aAcc", "qAcc", "fAcc"):
        assert found.intervals[name].low <= values[name] <= found.intervals[name].high
    assert found.bounds is None and found.censored == 0


def share(rows):
    return {"Overall": 100 * sum(r.score for r in rows) / len(rows)}


def test_plain_proportion_gets_the_exact_cross_check_and_bounds():
    rows = [RowResult(index=i, unit=str(i), score=int(i < 30), decided_by="rule") for i in range(50)]
    rows[40].decided_by = "fallback"
    rows[41].hit_token_limit = True
    found = score_uncertainty(rows, share, "Overall", resamples=200)
    exact = found.intervals["headline:exact"]
    assert "Clopper-Pearson" in exact.method and exact.low < 60 < exact.high
    assert found.bounds == (pytest.approx(60.0), pytest.approx(64.0)) and found.censored == 2
    record = fill_record(
        ScoreRecord(dataset="MMStar", protocol="2024.12", headline_name="Overall", headline=60.0), found
    )
    assert record.bounds == found.bounds and record.intervals["headline"] == found.intervals["headline"]
    assert not record.notes  # 4 points of bounds are narrower than the interval on 50 rows


def test_wide_bounds_are_noted():
    rows = [
        RowResult(index=i, unit=str(i), score=1, decided_by="fallback" if i < 100 else "rule")
        for i in range(400)
    ]
    found = score_uncertainty(rows, share, "Overall", resamples=200)
    assert found.bounds_wider_than_interval
    record = fill_record(
        ScoreRecord(dataset="MMStar", protocol="2024.12", headline_name="Overall", headline=100.0), found
    )
    assert "wider than its 95% interval" in record.notes[0]


def test_all_right_gives_zero_width_and_no_exact_mismatch():
    rows = [RowResult(index=i, unit=str(i % 5), score=1, decided_by="rule") for i in range(20)]
    found = score_uncertainty(rows, share, "Overall", resamples=100)
    assert (found.intervals["headline"].low, found.intervals["headline"].high) == (100.0, 100.0)
    assert "headline:exact" not in found.intervals  # circular groups: rows are not independent
