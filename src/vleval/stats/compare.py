"""``vleval compare A B``: is B's score really different from A's?

Per benchmark both runs scored, the paired difference B - A on the rows both scored, with a paired
test on the scoring units (exact McNemar for right/wrong units, a paired bootstrap for graded ones),
its interval, Holm-adjusted p-values across the benchmarks, the units whose outcome flipped, and the
smallest difference the sample size could detect. Reads only the result contract
(``<stem>_rows.jsonl``, ``<stem>_score.json``), ``run.json`` and, for the flipped units' questions,
the prediction file.

Two runs are only comparable when they were made the same way: a different protocol, benchmark file
or CoT setting changes scores by itself, so ``compare_runs`` refuses such pairs unless told to allow
them (then the differences are listed first).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vleval.console import step
from vleval.datasets.results import ROWS_SUFFIX, read_rows, read_score
from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.report.format import subset_text
from vleval.settings import describe, differences, marks, settings_of
from vleval.stats.core import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    UNIT,
    PairedResult,
    RowStatistic,
    RowSums,
    holm,
    is_right_wrong,
    pair_rows,
    paired_comparison,
    unit_of,
    unit_values,
)
from vleval.stats.scores import HEADLINE, metric_units
from vleval.types import EvalSettings, RowResult, ScoreRecord

SCORE_FILE_SUFFIXES = ("_score.json", "_vleval.json")  # vleval's own, or beside the reference's
PREDICTION_SUFFIXES = (".xlsx", ".tsv")
TEXT_LIMIT = 300  # characters of a question or prediction shown per flipped row


@dataclass(frozen=True)
class HeadlineStatistic:
    """The headline of a benchmark as a function of its rows, and whether its rows are graded (MM-Vet,
    LLaVA-Bench) rather than right/wrong."""

    statistic: RowStatistic
    graded: bool = False
    # the statistic as column sums of given rows (``BenchmarkFamily.row_sums``), for a fast bootstrap
    sums: Callable[[Sequence[RowResult]], RowSums | None] | None = None


# (dataset, its score record) -> its HeadlineStatistic; the benchmark family's, replaceable in tests
StatisticFor = Callable[[str, ScoreRecord], HeadlineStatistic]


# --------------------------------------------------------------------------------------------------
# Reading one side
# --------------------------------------------------------------------------------------------------
@dataclass
class ScoredBenchmark:
    record: ScoreRecord
    rows_path: Path
    stem: Path  # <model dir>/<model>_<dataset>


@dataclass
class RunSide:
    label: str  # as the user gave it
    model_dir: Path
    run: dict[str, Any]  # run.json ({} when absent, e.g. a directory scored with `vleval eval`)
    benchmarks: dict[str, ScoredBenchmark]

    @property
    def model(self) -> str:
        return str((self.run.get("model") or {}).get("name") or self.model_dir.name)

    def settings(self, dataset: str) -> EvalSettings:
        """How ``dataset`` was scored on this side (``vleval.settings``: the record's, else run.json's)."""
        return settings_of(self.benchmarks[dataset].record, self.run, dataset)


def model_dirs(path: Path) -> list[Path]:
    """``[path]`` when it holds results itself, else its model folders that do (a work directory)."""
    path = Path(path)
    if not path.is_dir():
        raise DataMissingError(f"{path}: no such directory (give a work directory or a model folder in one).")
    if _holds_results(path):
        return [path]
    return sorted(p for p in path.iterdir() if p.is_dir() and _holds_results(p))


def resolve_model_dir(path: Path) -> Path:
    """``path`` itself when it holds results, else its one model folder."""
    models = model_dirs(path)
    if len(models) == 1:
        return models[0]
    if not models:
        raise DataMissingError(
            f"{path}: no scored benchmarks with per-row results (*{ROWS_SUFFIX}); run `vleval run` or "
            f"`vleval eval` first (results scored before per-row results existed: re-score with `vleval eval`)."
        )
    names = ", ".join(p.name for p in models)
    raise VlevalError(f"{path} holds several models ({names}): give one of them, e.g. {models[0]}.")


def model_pairs(dir_a: Path, dir_b: Path) -> list[tuple[Path, Path]]:
    """Model folders to compare: those of the same name in both, or the one model of each side."""
    models_a, models_b = model_dirs(dir_a), model_dirs(dir_b)
    by_name_b = {p.name: p for p in models_b}
    pairs = [(a, by_name_b[a.name]) for a in models_a if a.name in by_name_b]
    if not pairs and len(models_a) == 1 and len(models_b) == 1:
        pairs = [(models_a[0], models_b[0])]
    return pairs


def _holds_results(path: Path) -> bool:
    return any(path.glob(f"*{ROWS_SUFFIX}"))


def read_side(path: Path) -> RunSide:
    model_dir = resolve_model_dir(path)
    run_json = model_dir / "run.json"
    run = _read_json(run_json, "rerun the run to rewrite it") if run_json.is_file() else {}
    benchmarks: dict[str, ScoredBenchmark] = {}
    for rows_path in sorted(model_dir.glob(f"*{ROWS_SUFFIX}")):
        stem = rows_path.with_name(rows_path.name[: -len(ROWS_SUFFIX)])
        record = _read_record(stem)
        if record is not None:
            benchmarks[record.dataset] = ScoredBenchmark(record, rows_path, stem)
    return RunSide(label=str(path), model_dir=model_dir, run=run, benchmarks=benchmarks)


def _read_record(stem: Path) -> ScoreRecord | None:
    for suffix in SCORE_FILE_SUFFIXES[::-1]:  # _vleval.json, when present, is vleval's
        path = stem.with_name(stem.name + suffix)
        if not path.is_file():
            continue
        data = _read_json(path, "re-score with `vleval eval` (predictions are kept)")
        if isinstance(data, dict) and "schema" in data:
            return read_score(path)
    return None


def _read_json(path: Path, fix: str) -> Any:
    """A result file's JSON; a truncated or garbled one is an error naming the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataCorruptError(f"{path}: not valid JSON ({exc}); {fix}.") from None


# --------------------------------------------------------------------------------------------------
# Comparing
# --------------------------------------------------------------------------------------------------
@dataclass
class FlippedRow:
    index: Any
    question: str | None
    a: RowResult
    b: RowResult


@dataclass
class Flip:
    benchmark: str
    unit: str
    a_value: float
    b_value: float
    rows: list[FlippedRow]


@dataclass
class BenchmarkComparison:
    benchmark: str
    paired: PairedResult
    n_rows_a: int
    n_rows_b: int
    p_adjusted: float | None = None
    flips: list[Flip] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """'better' / 'worse' (B against A) when the Holm-adjusted p is below 5%, else 'inconclusive'."""
        difference = self.paired.difference
        if difference is None or self.p_adjusted is None:
            return "not compared"
        if self.p_adjusted < 1 - DEFAULT_LEVEL and difference != 0:
            return "better" if difference > 0 else "worse"
        return "inconclusive"


@dataclass
class Comparison:
    a: RunSide
    b: RunSide
    benchmarks: list[BenchmarkComparison]
    differences: list[str]  # settings that differ (compared only with allow_different_settings)
    other_differences: list[str]
    only_a: list[str]
    only_b: list[str]
    seed: int
    resamples: int

    def tally(self) -> dict[str, int]:
        verdicts = [c.verdict for c in self.benchmarks]
        return {v: verdicts.count(v) for v in ("better", "worse", "inconclusive")}

    @property
    def suite_line(self) -> str:
        t = self.tally()
        return f"B better on {t['better']}, worse on {t['worse']}, inconclusive on {t['inconclusive']}"


def subset_notes(comparison: Comparison) -> list[str]:
    """One line per benchmark scored on a ``--limit`` subset by either run."""
    notes = []
    for c in comparison.benchmarks:
        for side, name in ((comparison.a, "A"), (comparison.b, "B")):
            record = side.benchmarks[c.benchmark].record if c.benchmark in side.benchmarks else None
            if record is not None and record.subset is not None:
                notes.append(f"{c.benchmark} {name}: {subset_text(record.subset)}")
    return notes


def family_statistic(dataset: str, record: ScoreRecord) -> HeadlineStatistic:
    """The headline as the benchmark family aggregates it (``BenchmarkFamily.aggregate``)."""
    from vleval.families.base import family_of

    family = family_of(dataset)

    def headline(rows: Sequence[RowResult]) -> float | None:
        value = family.aggregate(list(rows)).get(HEADLINE)
        return None if value is None else float(value)

    return HeadlineStatistic(
        headline,
        graded=bool(getattr(family, "graded", False)),
        sums=lambda rows: family.row_sums(list(rows)).get(HEADLINE),
    )


def share_of_right_units(rows: Sequence[RowResult]) -> float | None:
    values = unit_values(rows)
    return 100.0 * sum(values.values()) / len(values) if values else None


def _is_share_of_right_units(statistic: RowStatistic, *row_sets: Sequence[RowResult]) -> bool:
    """The headline is the share of right units (what McNemar tests): on these rows (right/wrong rows,
    the same value as ``share_of_right_units``) and on a probe where only the first unit is right (so
    that runs right or wrong everywhere do not pass by coincidence). OCRBench's point sum and
    HallusionBench's mean of three accuracies are not, and get the paired bootstrap."""
    for rows in row_sets:
        scored = [r for r in rows if r.score is not None]
        if not scored or not is_right_wrong(rows):
            return False
        first = scored[0].unit
        probe = [r if r.score is None else dataclasses.replace(r, score=float(r.unit == first)) for r in rows]
        for candidate in (rows, probe):
            value, share = statistic(candidate), share_of_right_units(candidate)
            if value is None or share is None or abs(value - share) > 1e-9:
                return False
    return True


def setting_differences(a: RunSide, b: RunSide, datasets: Sequence[str], decisive: bool = True) -> list[str]:
    """'CoT: A off, B on (MMStar, OCRBench)'-style lines, one per differing setting and values: the
    decisive ones (``vleval.settings.Setting.decisive``: not the same experiment), or the others."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for dataset in datasets:
        for d in differences(a.settings(dataset), b.settings(dataset), decisive=decisive):
            found.setdefault((d.label, d.a, d.b), []).append(dataset)
    return [f"{name}: A {va}, B {vb} ({', '.join(ds)})" for (name, va, vb), ds in found.items()]


def compare_runs(
    path_a: Path,
    path_b: Path,
    *,
    datasets: Sequence[str] | None = None,
    allow_different_settings: bool = False,
    seed: int = 0,
    resamples: int = DEFAULT_RESAMPLES,
    statistic_for: StatisticFor = family_statistic,
) -> Comparison:
    a, b = read_side(path_a), read_side(path_b)
    common = sorted(set(a.benchmarks) & set(b.benchmarks))
    if datasets:
        unknown = [d for d in datasets if d not in common]
        if unknown:
            raise VlevalError(
                f"not scored in both runs: {', '.join(unknown)} (both have: {', '.join(common)})."
            )
        common = sorted(datasets)
    if not common:
        raise VlevalError(
            f"{a.model_dir} and {b.model_dir} share no scored benchmark "
            f"(A: {', '.join(sorted(a.benchmarks)) or 'none'}; B: {', '.join(sorted(b.benchmarks)) or 'none'})."
        )
    differences = setting_differences(a, b, common)
    if differences and not allow_different_settings:
        raise VlevalError(
            "the two runs were not made the same way, so their scores differ for that reason alone: "
            + "; ".join(differences)
            + ". Pass --allow-different-settings to compare them anyway."
        )
    comparisons = [
        _compare_benchmark(a, b, dataset, statistic_for, seed=seed, resamples=resamples) for dataset in common
    ]
    for comparison, adjusted in zip(comparisons, holm([c.paired.p_value for c in comparisons]), strict=True):
        comparison.p_adjusted = adjusted
    return Comparison(
        a=a,
        b=b,
        benchmarks=comparisons,
        differences=differences,
        other_differences=setting_differences(a, b, common, decisive=False),
        only_a=sorted(set(a.benchmarks) - set(b.benchmarks)),
        only_b=sorted(set(b.benchmarks) - set(a.benchmarks)),
        seed=seed,
        resamples=resamples,
    )


def _compare_benchmark(
    a: RunSide, b: RunSide, dataset: str, statistic_for: StatisticFor, *, seed: int, resamples: int
) -> BenchmarkComparison:
    side_a, side_b = a.benchmarks[dataset], b.benchmarks[dataset]
    step(f"comparing {dataset} (paired bootstrap, {resamples:,} resamples)")
    rows_a, rows_b = read_rows(side_a.rows_path), read_rows(side_b.rows_path)
    headline = statistic_for(dataset, side_a.record)
    keys = metric_units(side_a.record.metrics)[HEADLINE]
    # McNemar needs one kind of unit and a headline that is the share of right ones
    right_wrong = (
        not headline.graded
        and keys == (UNIT,)
        and _is_share_of_right_units(headline.statistic, *pair_rows(rows_a, rows_b))
    )
    paired = paired_comparison(
        rows_a, rows_b, headline.statistic, keys=keys, mcnemar=right_wrong, resamples=resamples, seed=seed,
        sums=headline.sums,
    )  # fmt: skip
    return BenchmarkComparison(
        benchmark=dataset,
        paired=paired,
        n_rows_a=len(rows_a),
        n_rows_b=len(rows_b),
        flips=flipped_units(dataset, rows_a, rows_b, side_a.stem, side_b.stem),
    )


def flipped_units(
    dataset: str, rows_a: Sequence[RowResult], rows_b: Sequence[RowResult], stem_a: Path, stem_b: Path
) -> list[Flip]:
    """Units (of the headline) with a row whose outcome differs between the runs, in A's row order,
    each with the unit's outcome in A and B (a HallusionBench question group may stay wrong while one
    of its rows turns right) and the rows that changed."""
    common_a, common_b = pair_rows(rows_a, rows_b)
    changed: dict[str, list[tuple[RowResult, RowResult]]] = {}
    for ra, rb in zip(common_a, common_b, strict=True):
        if ra.score != rb.score:
            changed.setdefault(unit_of(ra, UNIT), []).append((ra, rb))
    if not changed:
        return []
    values_a, values_b = unit_values(common_a), unit_values(common_b)
    questions = _questions(stem_a) or _questions(stem_b)
    return [
        Flip(
            dataset,
            name.removeprefix("unit:"),
            values_a.get(name, math.nan),
            values_b.get(name, math.nan),
            [FlippedRow(ra.index, questions.get(str(ra.index)), ra, rb) for ra, rb in pairs],
        )
        for name, pairs in changed.items()
    ]


def _questions(stem: Path) -> dict[str, str]:
    """index -> question, from the prediction file beside the results (empty when it is absent)."""
    import pandas as pd

    for suffix in PREDICTION_SUFFIXES:
        path = stem.with_name(stem.name + suffix)
        if path.is_file():
            frame = (
                pd.read_excel(path, usecols=lambda c: c in ("index", "question"))
                if suffix == ".xlsx"
                else pd.read_csv(path, sep="\t", usecols=lambda c: c in ("index", "question"))
            )
            if "question" not in frame.columns:
                return {}
            return {str(i): str(q) for i, q in zip(frame["index"], frame["question"], strict=True)}
    return {}


# --------------------------------------------------------------------------------------------------
# Text (the command's output) and JSON
# --------------------------------------------------------------------------------------------------
def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _clip(text: Any) -> str:
    shown = json.dumps("" if text is None else str(text), ensure_ascii=False)
    return shown if len(shown) <= TEXT_LIMIT else shown[: TEXT_LIMIT - 4] + '..."'


def _outcome(value: float) -> str:
    if math.isnan(value):
        return "not scored"
    return {1.0: "right", 0.0: "wrong"}.get(value, f"{value:.2f}")


def _row_outcome(row: RowResult) -> str:
    return "not scored" if row.score is None else _outcome(float(row.score))


def _side_line(tag: str, side: RunSide) -> str:
    described = side.model
    if side.benchmarks:
        settings = side.settings(next(iter(side.benchmarks)))
        described += f", {describe(settings)}"
        flagged = [m for name in side.benchmarks for m in marks(side.settings(name))]
        if flagged:
            described += f"; MARKED: {', '.join(dict.fromkeys(flagged))}"
    return f"{tag}: {side.model_dir}  ({described})"


def render_text(comparison: Comparison, *, max_flips: int = 50) -> str:
    lines = [
        "vleval compare: is B different from A?",
        _side_line("A", comparison.a),
        _side_line("B", comparison.b),
    ]
    if comparison.differences:
        lines += ["", "SETTINGS DIFFER (compared anyway, --allow-different-settings):"]
        lines += [f"  {d}" for d in comparison.differences]
    if comparison.other_differences:
        lines += ["", "other differences:"] + [f"  {d}" for d in comparison.other_differences]
    header = (
        "benchmark",
        "units",
        "A",
        "B",
        "B - A",
        "95% interval",
        "p (Holm)",
        "verdict",
        "MDE 80%",
        "test",
    )
    table = [header]
    for c in comparison.benchmarks:
        p = c.paired
        interval = f"[{_num(p.interval.low, True)}, {_num(p.interval.high, True)}]" if p.interval else "-"
        table.append(
            (
                c.benchmark,
                str(p.n_units),
                _num(p.a),
                _num(p.b),
                _num(p.difference, True),
                interval,
                _p(c.p_adjusted),
                c.verdict,
                _num(p.mde),
                p.test,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    lines.append("")
    for row in table:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
    lines += [f"  {note}" for note in subset_notes(comparison)]
    lines += [
        "",
        f"{comparison.suite_line} (Holm-adjusted p < 0.05 across {len(comparison.benchmarks)} benchmark(s)).",
        f"Scores on each benchmark's own scale (percent; OCRBench Final Score / 10; MME sum / 28; LLaVABench's relative "
        f"score can exceed 100), on the rows both runs scored; intervals: paired percentile "
        f"bootstrap over scoring units, {comparison.resamples} resamples, seed {comparison.seed}. MDE 80%: "
        f"the smallest |B - A| this sample size detects 80% of the time.",
    ]
    for label, names in (("only in A", comparison.only_a), ("only in B", comparison.only_b)):
        if names:
            lines.append(f"{label} (not compared): {', '.join(names)}")
    flips = [f for c in comparison.benchmarks for f in c.flips]
    lines += ["", f"Units with a changed row (flips): {len(flips)}"]
    for flip in flips[:max_flips]:
        lines.append(
            f"- {flip.benchmark} unit {flip.unit}: A {_outcome(flip.a_value)} -> B {_outcome(flip.b_value)}"
        )
        for row in flip.rows:
            lines.append(f"    index {row.index}  question {_clip(row.question)}")
            for tag, side in (("A", row.a), ("B", row.b)):
                lines.append(
                    f"      {tag}: {_row_outcome(side)}  prediction {_clip(side.prediction)}  "
                    f"extracted {_clip(side.extracted)}"
                )
    if len(flips) > max_flips:
        lines.append(f"... {len(flips) - max_flips} more (--flips N shows more; --json FILE has all)")
    return "\n".join(lines) + "\n"


def comparison_json(comparison: Comparison) -> dict[str, Any]:
    from vleval.datasets.results import plain

    return plain(
        {
            "a": {"dir": str(comparison.a.model_dir), "model": comparison.a.model},
            "b": {"dir": str(comparison.b.model_dir), "model": comparison.b.model},
            "setting_differences": comparison.differences,
            "other_differences": comparison.other_differences,
            "suite": comparison.tally(),
            "seed": comparison.seed,
            "resamples": comparison.resamples,
            "benchmarks": [
                {
                    "benchmark": c.benchmark,
                    "rows_a": c.n_rows_a,
                    "rows_b": c.n_rows_b,
                    "paired": c.paired,
                    "p_adjusted": c.p_adjusted,
                    "verdict": c.verdict,
                    "flips": c.flips,
                }
                for c in comparison.benchmarks
            ],
            "only_a": comparison.only_a,
            "only_b": comparison.only_b,
        }
    )
