"""The vectorised bootstrap (families' ``row_sums`` / ``category_sums``) against the way intervals
were computed before it, on every benchmark family:

- headline and metric bootstrap intervals are bit-identical to those recorded from the previous code
  (``data/intervals_before.json``: the family's ``aggregate`` re-run on every resample), for the same
  seed, and the scores themselves are unchanged. (Statistics that count right units now get an exact
  Clopper-Pearson interval instead, see ``test_honest_intervals.py``; their bootstrap is still
  checked here.)
- per-category intervals now come from the headline's resamples (a category's units as they fall in
  each resample of the whole benchmark, so its size varies as it would in a new draw of the
  benchmark), where they used to resample each category alone with its size fixed. Their values moved
  for that reason; here they are checked against that definition written out: the family's
  ``category_rows`` and ``category_value`` on each resample's rows.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # interval_cases (tests use --import-mode=importlib)

from interval_cases import CASES, case_id, score_case  # noqa: E402

from vleval.datasets.registry import BENCHMARKS  # noqa: E402
from vleval.families.base import HEADLINE, family_of  # noqa: E402
from vleval.protocol import get_protocol  # noqa: E402
from vleval.stats.core import bootstrap_intervals, clusters  # noqa: E402
from vleval.stats.scores import (  # noqa: E402
    CATEGORY_PREFIX,
    category_key,
    category_sums_checked,
    metric_units,
    score_uncertainty,
)

BEFORE = json.loads((Path(__file__).parent / "data" / "intervals_before.json").read_text())
WRITTEN_OUT_RESAMPLES = 60


@pytest.fixture(scope="module", params=CASES, ids=case_id)
def scored(request, tmp_path_factory):
    return request.param, score_case(request.param, tmp_path_factory.mktemp(case_id(request.param)))


def test_every_family_is_covered():
    assert {family_of(name).name for name, _, _ in CASES} == {
        family_of(card).name for card in BENCHMARKS.values() if card.has_answers
    }


def _bootstrap(result, family, protocol, names, *, categories=False, resamples=2000, seed=0):
    """The percentile bootstrap of ``names`` (metrics, or categories) from the family's sums, as scoring
    runs it for statistics that are not counts of right units (those get Clopper-Pearson)."""
    rows, record = result.rows, result.record
    units = metric_units(record.metrics)
    if categories:
        checked = category_sums_checked(record.categories, family.category_sums(rows, protocol))
        sums = {category_key(n): checked[n] for n in names if n in checked}
        wanted = {name: units[HEADLINE] for name in sums}
    else:
        sums = {n: found for n, found in family.row_sums(rows).items() if n in names}
        wanted = {name: units[name] for name in sums}
    return bootstrap_intervals(rows, family.aggregate, wanted, resamples=resamples, seed=seed, sums=sums)


def test_scores_and_bootstrap_intervals_are_unchanged(scored):
    """The vectorised bootstrap gives the previous code's intervals to the last bit, and every interval
    that is still a bootstrap in the record is that one; the others are exact binomial intervals."""
    case, result = scored
    family, protocol = family_of(case[0]), get_protocol(case[1])
    # a benchmark added after the vectorised bootstrap: no earlier code ran it
    if case_id(case) not in BEFORE:
        pytest.skip(f"{case_id(case)} was registered after intervals_before.json was recorded")
    before = BEFORE[case_id(case)]
    record = result.record
    assert record.headline == before["headline"] and record.metrics == before["metrics"]
    assert record.categories == before["categories"]
    old = {k: v for k, v in before["intervals"].items() if not k.startswith(CATEGORY_PREFIX) and ":" not in k}
    now = _bootstrap(result, family, protocol, old)
    assert set(now) == set(old)
    for name, interval in now.items():  # a zero-width interval now says why in its method
        assert (interval.low, interval.high, interval.level) == (old[name]["low"], old[name]["high"], 0.95)
        assert interval.method.startswith(old[name]["method"]), name
    for name, interval in record.intervals.items():
        if name in old:
            # the bootstrap, or an exact interval, or (zero-width bootstrap) the Wilson fallback
            assert (
                interval == now[name]
                or interval.method.startswith("exact binomial (Clopper-Pearson)")
                or (now[name].low == now[name].high and interval.method.startswith("Wilson score interval"))
            )
    # every category that had an interval still has one (their values: next test)
    assert {k for k in record.intervals if k.startswith(CATEGORY_PREFIX)} == {
        k for k in before["intervals"] if k.startswith(CATEGORY_PREFIX)
    }


def _resampled(rows, groups, draw, renamed):
    """A resample's rows as (original position, copy): a unit drawn k times comes k times, renamed."""
    out, seen = [], {}
    for cluster in sorted(int(c) for c in draw):
        k = seen[cluster] = seen.get(cluster, -1) + 1
        for i in groups[cluster]:
            row = rows[i]
            if k:
                row = dataclasses.replace(
                    row,
                    unit=f"{row.unit}~{k}",
                    groups={n: f"{v}~{k}" if n in renamed else v for n, v in row.groups.items()},
                )
            out.append((i, row))
    return out


def test_category_intervals_are_the_category_within_each_headline_resample(scored):
    """The family's own category statistic on each resample's rows, written out with a loop."""
    case, result = scored
    family, protocol, rows = family_of(case[0]), get_protocol(case[1]), result.rows
    record = result.record
    keys = metric_units(record.metrics)[HEADLINE]
    fast = _bootstrap(result, family, protocol, record.categories, categories=True,
                      resamples=WRITTEN_OUT_RESAMPLES, seed=4)  # fmt: skip
    names = [n for n in record.categories if category_key(n) in fast]
    assert {category_key(n) for n in names} == {k for k in record.intervals if k.startswith(CATEGORY_PREFIX)}
    groups = clusters(rows, keys)
    draws = np.random.default_rng(4).integers(0, len(groups), size=(WRITTEN_OUT_RESAMPLES, len(groups)))
    members = {n: {id(r) for r in m} for n, m in family.category_rows(rows).items()}
    values = {n: [] for n in names}
    for draw in draws:
        resample = _resampled(rows, groups, draw, {k for k in keys if k not in ("row", "unit")})
        for name in names:
            inside = [copy for i, copy in resample if id(rows[i]) in members[name]]
            value = family.category_value(inside, protocol)
            values[name].append(np.nan if value is None else value)
    for name in names:
        finite = np.asarray(values[name])[np.isfinite(values[name])]
        low, high = np.quantile(finite, [0.025, 0.975])
        found = fast[category_key(name)]
        assert (found.low, found.high) == pytest.approx((low, high), abs=1e-9), name


def test_the_aggregation_is_not_rerun_per_resample(scored):
    case, result = scored
    family, rows = family_of(case[0]), result.rows
    calls = []

    def counting(resampled):
        calls.append(len(resampled))
        return family.aggregate(resampled)

    score_uncertainty(rows, counting, HEADLINE, result.record.metrics, resamples=500,
                      sums=family.row_sums(rows))  # fmt: skip
    assert len(calls) <= 3  # the full rows, and the censoring bounds' two


def test_paired_comparison_is_unchanged_by_the_family_sums(scored):
    """``vleval compare``'s paired bootstrap: with the family's sums, the same interval, standard
    error, p-value and detectable difference as with the aggregation re-run on every resample."""
    from vleval.stats.compare import family_statistic
    from vleval.stats.core import paired_comparison

    case, result = scored
    rows_a = result.rows
    # B: every fifth scored row turned around (graded rows: moved to the other end)
    rows_b = [
        dataclasses.replace(r, score=(1.0 - r.score if r.score in (0, 1) else r.score / 2))
        if k % 5 == 0 and r.score is not None
        else r
        for k, r in enumerate(rows_a)
    ]
    headline = family_statistic(case[0], result.record)
    keys = metric_units(result.record.metrics)[HEADLINE]
    slow, fast = (
        paired_comparison(
            rows_a, rows_b, headline.statistic, keys=keys, mcnemar=False, resamples=120, seed=1, sums=sums
        )  # fmt: skip
        for sums in (None, headline.sums)
    )
    assert fast == slow
    assert slow.interval is not None
    for rows in (rows_a, rows_b):  # the sums were used, not left aside as not reproducing the headline
        assert headline.sums(rows).value() == pytest.approx(headline.statistic(rows), abs=1e-9)
