"""The named metrics a benchmark family picks from: how a headline (and its sub-metrics) is made from
the family's rows, in the style of inspect_ai's named metrics (``accuracy()``, ``mean()``), but
carrying what the statistics and reports need to know about it instead of leaving them to probe:

- ``ShareRight``: 100 x the share of right scoring units (rows, or groups such as MMBench's circular
  rotations, CRPE's blocks of 4, HallusionBench's question and figure groups); optionally only the
  units of one split (MMMU reports its validation split);
- ``MeanGrade``: 100 x the mean judge grade of the graded rows (MM-Vet's 0-1 grades);
- ``PointSum``: a point per right row, the headline their sum over a divisor (OCRBench's Final Score
  out of 1000, reported / 10);
- ``RatioOfMeans``: 100 x the mean row score over the mean of a reference score carried by each row
  (LLaVA-Bench's relative score against the GPT-4 answer's grade);
- ``MeanOfSubMetrics``: the mean of named sub-metrics, each a metric of its own, over its own units
  (HallusionBench's mean of aAcc, fAcc and qAcc).

Each metric gives, for the rows of one benchmark, its value(s) (``values``: what the family's
``aggregate`` returns), the same numbers as column sums (``row_sums``: ``vleval.stats.core.RowSums``,
for the vectorised bootstrap, with the float operations of ``values``), the unit keys a resample must
keep whole per metric (``unit_keys``), the per-category value and sums, and the facts a statistic asks:
``graded`` (rows carry a grade, not right/wrong), ``best_row_score`` (a row's best score: what a
censored row "all right" gets), ``category_unit`` and ``counts_right_units`` (the value is the share of
right units of one kind: exact McNemar and Clopper-Pearson apply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from vleval.stats.core import ROW, UNIT, RowSums, is_right_wrong, ratio, share, unit_of
from vleval.stats.scores import HEADLINE
from vleval.types import RowResult

NAN = float("nan")


class Metric:
    """Base of the named metrics. Subclasses are frozen dataclasses (their settings are their fields)
    and fill ``values`` and ``row_sums``."""

    name: ClassVar[str]  # what the metric is, in words (reports, docs)
    graded: ClassVar[bool] = False  # rows carry a grade (MM-Vet, LLaVA-Bench) rather than right/wrong
    category_unit: ClassVar[str] = "%"  # the unit of per-category values: '%' (0-100) or 'points'
    best_row_score: float = 1.0  # a row's best score (a censored row "all right" gets it)
    # the stratum key (``vleval.stats.core.stratum_of``) its bootstrap resamples within, where the value
    # gives each stratum a fixed weight whatever its size (MME's sum over categories); None: no strata
    strata: str | None = None

    def values(self, rows: Sequence[RowResult]) -> dict[str, float]:
        """Metric name -> value, the headline under ``HEADLINE``; NaN where undefined. A pure function of
        ``rows``; rows of one scoring unit share ``unit`` (a resample renames a unit's copies)."""
        raise NotImplementedError

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        """``values`` as column sums over ``rows`` (``RowSums``): the same numbers on any collection of
        whole units, the headline under ``HEADLINE``."""
        raise NotImplementedError

    def value(self, rows: Sequence[RowResult]) -> float | None:
        """The headline of ``rows``; None where undefined."""
        found = self.values(rows).get(HEADLINE)
        return None if found is None or np.isnan(found) else float(found)

    def unit_keys(self, names: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
        """The unit keys (``vleval.stats.core.unit_of``) a resample keeps whole, per metric in ``names``
        (a reported metric this metric does not make: the scoring unit) and for ``HEADLINE``."""
        out = {name: (UNIT,) for name in names if name != HEADLINE}
        out[HEADLINE] = (UNIT,)
        return out

    def counts_right_units(self, rows: Sequence[RowResult]) -> bool:
        """Whether the value on ``rows`` is 100 x the share of right units of one kind (``unit_keys``'
        headline key; ``vleval.stats.core.unit_values`` gives each unit's outcome), every unit right or
        wrong: then exact McNemar compares two runs and Clopper-Pearson bounds one."""
        return False

    def is_unit_mean(self, rows: Sequence[RowResult]) -> bool:
        """Whether the value on ``rows`` is 100 x the mean of the scoring units' scores
        (``vleval.stats.core.unit_values``): what prediction-powered inference estimates. A share of
        right units is one."""
        return self.counts_right_units(rows)

    def category_value(self, rows: Sequence[RowResult]) -> float | None:
        """A category's value from its own rows; by default the headline of those rows."""
        return self.value(rows)

    def category_sums(
        self, rows: Sequence[RowResult], categories: Mapping[str, Sequence[RowResult]]
    ) -> dict[str, RowSums]:
        """Each category (its rows, a subset of ``rows`` as the same objects) as column sums over all of
        ``rows``, zero outside it, giving ``category_value`` of the category's units in any resample.
        Default: the headline's sums of the category's rows, placed at their positions."""
        return {
            name: placed(found, rows, members)
            for name, members in categories.items()
            if (found := self.row_sums(members).get(HEADLINE)) is not None
        }


# --------------------------------------------------------------------------------------------------
# Share of right units
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShareRight(Metric):
    """100 x the share of right units. ``over``: ``"row"`` (each row a unit), ``"unit"``
    (``RowResult.unit``: MMBench's circular question, CRPE's block, HallusionBench's question group) or a
    key of ``RowResult.groups`` (HallusionBench's ``"figure"``). A unit is right when it has a row that
    was examined (not ``skipped``: the reference stops at a circular question's first wrong rotation)
    and every examined row is right (score 1). ``split``: a ``groups`` key dividing the units into
    splits, of which only one is reported: ``preferred_split`` where the rows have it, else the first
    by name (MMMU_DEV_VAL: validation)."""

    over: str = UNIT
    split: str | None = None
    preferred_split: str | None = None

    name: ClassVar[str] = "share of right units"

    def headline_split(self, splits: Sequence[str] | set[str]) -> str:
        """The split the value reports among ``splits``: ``preferred_split`` where present, else the first
        by name ('none' for none)."""
        ordered = sorted(splits, key=str)
        if self.preferred_split is not None and self.preferred_split in ordered:
            return self.preferred_split
        return next(iter(ordered), "none")

    def unit_keys(self, names: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
        out = super().unit_keys(names)
        out[HEADLINE] = self._keys()
        return out

    def _keys(self) -> tuple[str, ...]:
        # a share over rows still resamples whole scoring units: rows of one unit are not independent
        return (UNIT,) if self.over in (ROW, UNIT) else (self.over,)

    def counts_right_units(self, rows: Sequence[RowResult]) -> bool:
        """A share of right units, on rows that are right/wrong, of one split and (``over`` rows) each
        its own scoring unit; every examined row scored and every unit with one (as ``unit_values``
        reads them)."""
        if not rows or not is_right_wrong(rows):
            return False
        if self.split is not None and len({self._split_of(row) for row in rows}) > 1:
            return False  # the value is one split's share, the units are all splits'
        if self.over == ROW and len({row.unit for row in rows}) != len(rows):
            return False  # the value counts rows, a resample and McNemar count scoring units
        if any(row.score is None for row in rows if row.decided_by != "skipped"):
            return False
        return all(any(rows[i].decided_by != "skipped" for i in members) for members in self._units(rows))

    def _split_of(self, row: RowResult) -> str:
        return row.groups.get(self.split, "none") if self.split is not None else "none"

    def _units(self, rows: Sequence[RowResult]) -> list[list[int]]:
        """Row positions of each unit, in first-seen order."""
        if self.over == ROW:
            return [[i] for i in range(len(rows))]
        units: dict[str, list[int]] = {}
        for i, row in enumerate(rows):
            units.setdefault(unit_of(row, self.over), []).append(i)
        return list(units.values())

    @staticmethod
    def _right(members: Sequence[RowResult]) -> bool:
        examined = [r for r in members if r.decided_by != "skipped"]
        return bool(examined) and all(r.score == 1 for r in examined)

    def values(self, rows: Sequence[RowResult]) -> dict[str, float]:
        rows = list(rows)
        by_split: dict[str, list[bool]] = {}
        for members in self._units(rows):
            unit = [rows[i] for i in members]
            by_split.setdefault(self._split_of(unit[0]), []).append(self._right(unit))
        if not by_split:
            return {HEADLINE: NAN}
        return {HEADLINE: float(np.mean(by_split[self.headline_split(set(by_split))])) * 100}

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        """Per split, (unit right, unit counted) on each unit's first row; a resample's value is the share
        of its reported split (``headline_split`` of the splits it has units of). At best every unit
        of the reported split is right, the others are not counted."""
        rows = list(rows)
        units = self._units(rows)
        splits = sorted({self._split_of(rows[members[0]]) for members in units}, key=str)
        columns = np.zeros((len(rows), 2 * len(splits)))
        reported = splits.index(self.headline_split(splits)) if splits else -1
        best = np.zeros_like(columns)
        for members in units:
            k = splits.index(self._split_of(rows[members[0]]))
            columns[members[0], 2 * k] = float(self._right([rows[i] for i in members]))
            columns[members[0], 2 * k + 1] = 1.0
            if k == reported:
                best[members[0], 2 * k : 2 * k + 2] = 1.0
        order = list(reversed(range(len(splits))))  # the first present split wins ...
        if self.preferred_split in splits:  # ... unless the resample has units of the preferred one
            order.append(splits.index(self.preferred_split))

        def combine(sums: np.ndarray) -> np.ndarray:
            value = np.full(len(sums), np.nan)
            for k in order:
                present = sums[:, 2 * k + 1] > 0
                value = np.where(present, ratio(sums[:, 2 * k], sums[:, 2 * k + 1]) * 100, value)
            return value

        return {HEADLINE: RowSums(columns, combine, best)}


# --------------------------------------------------------------------------------------------------
# Graded rows
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeanGrade(Metric):
    """100 x the mean grade of the graded rows (score not None): MM-Vet's judge grades 0-1."""

    name: ClassVar[str] = "mean grade"
    graded: ClassVar[bool] = True

    def values(self, rows: Sequence[RowResult]) -> dict[str, float]:
        scores = [r.score for r in rows if r.score is not None]
        return {HEADLINE: sum(scores) / len(scores) * 100 if scores else NAN}

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        return {HEADLINE: self.weighted_sums(rows, [1.0] * len(rows))}

    def is_unit_mean(self, rows: Sequence[RowResult]) -> bool:
        """The mean grade of rows is that of units where every unit is one graded row."""
        graded = [row for row in rows if row.score is not None]
        return bool(graded) and len({row.unit for row in rows}) == len(rows)

    def weighted_sums(self, rows: Sequence[RowResult], weights: Sequence[float]) -> RowSums:
        """(weight x grade, weight) per graded row: the weighted mean grade x 100 (a row weighing 0 is
        left out: how a category's sums over all rows are made)."""
        graded = np.asarray([r.score is not None for r in rows], dtype=float)
        grade = np.asarray([0.0 if r.score is None else float(r.score) for r in rows])
        weight = np.asarray(weights, dtype=float) * graded
        return share(weight * grade, weight)


def ratio_of_means(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Mean of ``numerators`` over mean of ``denominators``, x100 (NaN when the latter is 0)."""
    mean_num, mean_den = float(np.mean(numerators)), float(np.mean(denominators))
    return mean_num / mean_den * 100 if mean_den else NAN


@dataclass(frozen=True)
class RatioOfMeans(Metric):
    """100 x the mean row score over the mean of ``RowResult.extra[reference]`` on the rows with a score,
    rounded to ``decimals`` as the reference's table is: LLaVA-Bench's relative score (the model's
    grade against the GPT-4 answer's, by the same judge), above 100 where the model is graded higher."""

    reference: str = "gpt4_score"
    best_row_score: float = 10.0
    decimals: int = 1

    name: ClassVar[str] = "ratio of mean grades"
    graded: ClassVar[bool] = True

    def values(self, rows: Sequence[RowResult]) -> dict[str, float]:
        counted = [r for r in rows if r.score is not None]
        if not counted:
            return {HEADLINE: NAN}
        value = ratio_of_means([r.score for r in counted], [r.extra[self.reference] for r in counted])
        return {HEADLINE: float(np.round(value, self.decimals))}

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        """(score, reference score, 1) per counted row; at best every counted row graded
        ``best_row_score`` (the reference scores as they are)."""
        counted = [r.score is not None for r in rows]
        columns = np.asarray(
            [
                [r.score, r.extra[self.reference], 1.0] if c else [0.0, 0.0, 0.0]
                for r, c in zip(rows, counted, strict=True)
            ],
            dtype=float,
        ).reshape(len(rows), 3)
        decimals = self.decimals

        def combine(sums: np.ndarray) -> np.ndarray:
            mean_score, mean_reference = ratio(sums[:, 0], sums[:, 2]), ratio(sums[:, 1], sums[:, 2])
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(mean_reference != 0, mean_score / mean_reference * 100, np.nan)
            return np.round(value, decimals)

        best = columns.copy()
        best[:, 0] = self.best_row_score * best[:, 2]
        return {HEADLINE: RowSums(columns, combine, best)}


# --------------------------------------------------------------------------------------------------
# Points
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointSum(Metric):
    """A point per right row; the value is their sum over ``divisor`` (OCRBench: the Final Score out of
    1000, reported / 10). Per-category values are the category's points themselves."""

    divisor: float = 1.0

    name: ClassVar[str] = "sum of points"
    category_unit: ClassVar[str] = "points"

    def values(self, rows: Sequence[RowResult]) -> dict[str, float]:
        return {HEADLINE: sum(r.score == 1 for r in rows) / self.divisor}

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        divisor = self.divisor
        return {
            HEADLINE: RowSums(self._points(rows), lambda sums: sums[:, 0] / divisor, np.ones((len(rows), 1)))
        }

    def category_value(self, rows: Sequence[RowResult]) -> float | None:
        return float(sum(r.score == 1 for r in rows))

    def category_sums(
        self, rows: Sequence[RowResult], categories: Mapping[str, Sequence[RowResult]]
    ) -> dict[str, RowSums]:
        """The category's points (its right rows), zero outside it."""
        points = self._points(rows)
        position = {id(row): i for i, row in enumerate(rows)}
        out = {}
        for name, members in categories.items():
            mask = np.zeros(len(rows))
            mask[[position[id(row)] for row in members]] = 1.0
            out[name] = RowSums(points * mask[:, None], lambda sums: sums[:, 0], mask[:, None])
        return out

    @staticmethod
    def _points(rows: Sequence[RowResult]) -> np.ndarray:
        """One column: 1 for each right row."""
        return np.asarray([[float(r.score == 1)] for r in rows]).reshape(len(rows), 1)


# --------------------------------------------------------------------------------------------------
# Mean of sub-metrics
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MeanOfSubMetrics(Metric):
    """The mean of named sub-metrics (each reported too), each over its own units: HallusionBench's
    mean of aAcc (rows), fAcc (figure groups) and qAcc (question groups). A resample keeps every
    sub-metric's units whole at once."""

    parts: tuple[tuple[str, Metric], ...] = ()

    name: ClassVar[str] = "mean of sub-metrics"

    def unit_keys(self, names: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
        out = super().unit_keys(names)
        own = {name: metric.unit_keys()[HEADLINE] for name, metric in self.parts}
        out.update({name: keys for name, keys in own.items() if name in names})
        out[HEADLINE] = tuple(dict.fromkeys([UNIT, *(k for keys in own.values() for k in keys)]))
        return out

    def values(self, rows: Sequence[RowResult]) -> dict[str, float]:
        if not rows:
            return {HEADLINE: NAN}
        found = {name: metric.values(rows)[HEADLINE] for name, metric in self.parts}
        return {HEADLINE: float(np.mean(list(found.values()))), **found}

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        """Each sub-metric's sums side by side; the headline is the mean of their combinations."""
        parts = {name: metric.row_sums(rows)[HEADLINE] for name, metric in self.parts}
        widths = [found.columns.shape[1] for found in parts.values()]
        starts = np.cumsum([0, *widths])
        columns = np.concatenate([found.columns for found in parts.values()], axis=1)
        combines = [found.combine for found in parts.values()]

        def mean(sums: np.ndarray) -> np.ndarray:
            # the values' float(np.mean([...])), row by row
            return np.stack(
                [
                    combine(sums[:, a:b])
                    for combine, a, b in zip(combines, starts[:-1], starts[1:], strict=True)
                ],
                axis=1,
            ).mean(axis=1)

        bests = [found.best for found in parts.values()]
        best = None if any(b is None for b in bests) else np.concatenate(bests, axis=1)  # type: ignore[arg-type]
        return {HEADLINE: RowSums(columns, mean, best), **parts}


@dataclass(frozen=True)
class OwnRule(Metric):
    """A headline made by a benchmark's own rule that none of the metrics above is (MME's sums of acc and
    acc+ per category, POPE's F1): its family computes it (``aggregate``, ``row_sums``); the statistics
    resample its scoring units and claim nothing more of it (not a share of right units, not a mean).
    ``strata``: where the rule adds per-stratum values (MME's categories), the bootstrap resamples
    within each stratum, so no resample lacks one (which the rule would score as a zero)."""

    rule: str = ""  # the reference's function, e.g. "MME_rating"
    strata: str | None = None

    name: ClassVar[str] = "the benchmark's own rule"

    def values(self, rows: Sequence[RowResult]) -> dict[str, float]:
        raise NotImplementedError(f"{self.rule}: computed by its family's aggregate")

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        raise NotImplementedError(f"{self.rule}: computed by its family's row_sums")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------
def placed(found: RowSums, rows: Sequence[RowResult], members: Sequence[RowResult]) -> RowSums:
    """``found`` (sums over ``members``, a subset of ``rows`` as the same objects) as sums over ``rows``."""
    position = {id(row): i for i, row in enumerate(rows)}
    at = [position[id(row)] for row in members]
    columns = np.zeros((len(rows), found.columns.shape[1]))
    columns[at] = found.columns
    best = None
    if found.best is not None:
        best = np.zeros_like(columns)
        best[at] = found.best
    return RowSums(columns, found.combine, best)
