"""Benchmark families: one object per scorer module that holds everything vleval knows about a kind of
benchmark, so that no other module keeps a table keyed by family names.

A family is one module of the ``vleval.families`` package (or of another package, registered under the
``vleval.families`` entry-point group) that declares one ``FAMILY``; families are discovered, not listed.
It knows:

- the benchmark cards it serves (``BenchmarkCard.family`` names it; ``cards()`` lists them);
- its judge role (``judge_role``, a ``JudgeRole``: each protocol names one judge model per role, and
  ``default_judge(protocol, card)`` is the one lookup; ``judge_required`` where the reference refuses
  to score without a judge);
- its headline: name, how the 0-100 value is made (``headline_unit``), and the per-category values
  the report charts;
- ``score``: the reference's scoring of a prediction table, as tables to write and ``RowResult`` rows
  (no file is written here: ``vleval.datasets.results.write_result_files`` writes everything);
- ``metric``: how its headline is made from rows, picked from the named metrics of
  ``vleval.stats.metrics`` (share of right units, mean grade, point sum, ratio of means, mean of
  sub-metrics), which the statistics and reports ask about units, grades and best scores;
- ``aggregate``: the headline (and sub-scores) as a pure function of the family's rows (the
  metric's by default);
- ``row_sums`` / ``category_sums``: the same numbers as column sums over rows (each scoring unit's
  outcome on one of its rows), computed once, so the bootstrap gets every resample's headline,
  metrics and categories from one matrix product instead of re-running ``aggregate``;
- ``reference_files``: the names of the result files the reference writes;
- ``read_reference``: a reader for the reference's own result files, so ``vleval report`` shows runs
  made with VLMEvalKit too;
- ``judge_profile``: how its judge is asked (templates, answer size, which rows, rounds), from which
  ``vleval.workflows.bill`` computes the dry run's bill; per card (``judge_profile_of``) where its
  cards send different prompts (BLINK's own matching prompt in the MCQ family);
- ``synthetic_rows`` / ``right_answer``: its synthetic benchmark rows (``vleval.synthetic.benchmarks``
  writes them as TSVs) and a prediction its rules read as right;
- ``stand_in_judge``: the local stand-in judge's answer to the prompts its scoring sends
  (``vleval.synthetic.judge_server``).

``family_of(card_or_name)`` is the one lookup.
"""

from __future__ import annotations

import functools
import importlib
import json
import math
import pkgutil
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pandas as pd

from vleval.datasets.cells import cell_text, isna
from vleval.protocol import JudgeRole  # re-exported: the one import a family module needs for it
from vleval.stats.core import RowSums
from vleval.stats.metrics import Metric
from vleval.types import BenchmarkCard, Judge, JudgeInfo, JudgeProfile, RowResult, ScoreRecord

if TYPE_CHECKING:
    from vleval.protocol import Protocol

OPENXLAB = "https://opencompass.openxlab.space/utils"  # where the reference hosts most benchmark TSVs
ENTRY_POINT_GROUP = "vleval.families"  # a third-party family: an entry point naming its module
HEADLINE = "headline"  # the key of the headline in ``aggregate``'s result


@dataclass
class ReferenceOutput:
    """One result file in the reference's format: ``<stem><suffix>``; a DataFrame is written as xlsx or
    csv (by the suffix), a dict as json. ``keep_existing``: leave a file already there untouched."""

    suffix: str
    content: pd.DataFrame | dict[str, Any]
    keep_existing: bool = False


@dataclass
class Scored:
    """What a family's ``score`` returns: the reference's files to write, the rows, the headline on the
    report's 0-100 scale and the reference's own numbers."""

    outputs: list[ReferenceOutput]
    rows: list[RowResult]
    headline: float | None
    headline_name: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # reported tables by file tag
    native: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    categories: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    headline_unit: str | None = None  # where a benchmark's headline is not the family's unit (MME's points)


def with_shown_columns(score: Any) -> Any:
    """``score`` whose rows also carry the question and non-empty options (A-Z) of their table row
    (``RowResult.question``/``options``), so the report and compare need not read the prediction file
    again. Every family's ``score`` is wrapped so (``BenchmarkFamily.__init_subclass__``): a family
    never fills them itself."""

    @functools.wraps(score)
    def scored_with_columns(
        self: BenchmarkFamily, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol,
        judge: Judge | None, *, seed: int,
    ) -> Scored:  # fmt: skip
        scored = score(self, data, card, protocol, judge, seed=seed)
        shown = shown_columns(data)
        for row in scored.rows:
            if str(row.index) in shown:
                row.question, row.options = shown[str(row.index)]
        return scored

    return scored_with_columns


def shown_columns(data: pd.DataFrame) -> dict[str, tuple[str | None, dict[str, str]]]:
    """index -> (question, non-empty options A-Z) of a prediction table."""
    letters = [c for c in data.columns if isinstance(c, str) and len(c) == 1 and c.isupper()]
    questions = data["question"] if "question" in data.columns else [None] * len(data)
    out = {}
    for position, (index, question) in enumerate(zip(data["index"], questions, strict=True)):
        options = {c: cell_text(data[c].iat[position]) for c in letters}
        out[str(index)] = (
            None if isna(question) else cell_text(question),
            {c: text for c, text in options.items() if text},
        )
    return out


class BenchmarkFamily:
    """Base of the seven families; subclasses fill the class attributes and the methods."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "score" in cls.__dict__:
            cls.score = with_shown_columns(cls.__dict__["score"])  # type: ignore[method-assign]

    name: ClassVar[str]
    # where its benchmarks are listed (`vleval data list`, reports): the InternVL2.5 report's table order
    listing_order: ClassVar[int] = 1000
    judge_role: ClassVar[JudgeRole | None] = None  # which of a protocol's judges it asks; None: rule-based
    # the judge extracts a free-form answer (a number, a list): judge-audit's confusion table shows
    # rows as right/wrong against the benchmark's answer, since a matrix of raw answers says nothing
    free_form_answers: ClassVar[bool] = False
    # a row's answer is one of its option letters (a file where it is not is refused as corrupt)
    answer_is_option: ClassVar[bool] = False
    # the headline's scale in a few words where it is not an accuracy in percent (reports' scale note)
    scale: ClassVar[str] = ""
    judge_required: ClassVar[bool] = False
    headline_name: ClassVar[str]
    headline_unit: ClassVar[str]
    required_columns: ClassVar[tuple[str, ...]] = ("index", "prediction")

    # how the headline is made from rows (vleval.stats.metrics): its scoring units, whether rows are
    # graded, a row's best score, the unit of per-category values; statistics and reports ask it
    metric: ClassVar[Metric]

    def cards(self) -> list[BenchmarkCard]:
        """The benchmarks this family owns: its module's ``CARDS``."""
        return list(importlib.import_module(type(self).__module__).CARDS)

    def default_judge(self, protocol: Protocol, card: BenchmarkCard) -> str | None:
        """The reference's default judge short name (VK run.py::get_judge_kwargs); None where the
        metric is rule-based."""
        return protocol.judges[self.judge_role] if self.judge_role else None

    def metric_of(self, card: BenchmarkCard) -> Metric:
        """The metric of one of its cards, what the statistics ask about units and grades. Default: the
        family's ``metric`` (a family whose cards are scored by different rules overrides)."""
        return self.metric

    def scale_of(self, card: BenchmarkCard) -> str:
        """The card's headline scale in a few words where it is not an accuracy in percent, for the
        reports' scale note. Default: the family's ``scale`` (a family whose cards differ overrides)."""
        return self.scale

    def decision_text(self, row: RowResult) -> str:
        """What was decided for a row, as text (judge-audit compares two judges' decisions): the
        extracted option, word or answer, else the grade."""
        return decision_text(row)

    def score(
        self, data: pd.DataFrame, card: BenchmarkCard, protocol: Protocol, judge: Judge | None, *, seed: int
    ) -> Scored:
        raise NotImplementedError

    def aggregate(self, rows: Sequence[RowResult]) -> dict[str, float]:
        """Metric name -> 0-100 value, the headline under ``HEADLINE``; a pure function of ``rows``. Rows
        of one scoring unit share ``unit``: a resampler that draws a unit twice must rename the copy.
        Default: the family's ``metric``."""
        return self.metric.values(rows)

    def category_rows(self, rows: Sequence[RowResult]) -> dict[str, list[RowResult]]:
        """Reported category (a key of ``Scored.categories``) -> the rows its value is computed from
        by ``category_value``, so the statistics can resample that category's units alone. Only
        categories whose value is a statistic of their own rows are listed; the others get no
        interval. Default: the rows grouped by ``RowResult.category``."""
        out: dict[str, list[RowResult]] = {}
        for row in rows:
            if row.category is not None:
                out.setdefault(row.category, []).append(row)
        return out

    def category_value(self, rows: Sequence[RowResult], protocol: Protocol) -> float | None:
        """The reported value of one category from its rows (``category_rows``), in
        ``metric.category_unit``. Default: the metric's (the headline's, or a point sum's points)."""
        return self.metric.category_value(rows)

    def question_keys(self, table: pd.DataFrame, card: BenchmarkCard, protocol: Protocol) -> list[str]:
        """One key per benchmark row naming the question it belongs to, for ``--limit`` (which keeps
        whole questions: rows scored together stay together). Default: each row is a question."""
        return [str(i) for i in table["index"]]

    def row_sums(self, rows: Sequence[RowResult]) -> dict[str, RowSums]:
        """The headline (under ``HEADLINE``) and the metrics of ``aggregate`` as column sums over
        ``rows`` (``vleval.stats.core.RowSums``), giving exactly ``aggregate``'s values on any
        collection of whole units. Statistics it leaves out are recomputed by ``aggregate`` on each
        resample (slow at published sizes). Default: the family's ``metric``."""
        return self.metric.row_sums(rows)

    def category_sums(self, rows: Sequence[RowResult], protocol: Protocol) -> dict[str, RowSums]:
        """Each category of ``category_rows`` as column sums over all of ``rows`` (zero outside the
        category), giving ``category_value`` of the category's rows in any resample of whole units.
        Default: the metric's (``Metric.category_sums``) of ``category_rows``."""
        return self.metric.category_sums(rows, self.category_rows(rows))

    def reference_files(self, card: BenchmarkCard, judge_short_name: str | None) -> list[str]:
        """Suffixes (after ``<model>_<dataset>``) of the files the reference writes when scoring."""
        raise NotImplementedError

    def read_reference(self, stem: Path, judge_model: str | None = None) -> ScoreRecord | None:
        """The headline from the reference's own result files beside ``<stem>.xlsx`` (a run made with
        VLMEvalKit), or None when they are not there. ``judge_model``: prefer that judge's files."""
        raise NotImplementedError

    def reference_rows(self, stem: Path) -> list[RowResult]:
        """Per-row verdicts from the reference's own judge record file, when there is no
        ``_rows.jsonl`` (a run made with VLMEvalKit). Default: none."""
        return []

    # --- the judge's profile, synthetic data and stand-in judge (vleval.workflows.bill, vleval.synthetic)
    # How the judge is asked, for the dry run's bill; a family with a judge role must declare it
    # (the contract suite checks), else its bill would silently be "no judge".
    judge_profile: ClassVar[JudgeProfile | None] = None

    def judge_profile_of(self, card: BenchmarkCard) -> JudgeProfile | None:
        """How the judge is asked for one of its cards (the bill sizes that card's own prompt). Default:
        the family's ``judge_profile`` (a family whose cards send different prompts overrides)."""
        return self.judge_profile

    def synthetic_rows(self, card: BenchmarkCard, rng: random.Random, n: int) -> list[dict[str, Any]]:
        """Synthetic rows of ``card`` in the reference's TSV columns, ``n`` questions, drawn only from
        ``rng`` (same seed, same rows: parity runs and tests depend on the bytes). Default: the builder
        its module's ``SYNTHETIC`` (card name -> builder(rng, n)) holds for the card; a card without one
        is refused rather than given another benchmark's rows."""
        from vleval.errors import VlevalError

        builders = getattr(importlib.import_module(type(self).__module__), "SYNTHETIC", {})
        builder = builders.get(card.name)
        if builder is None:
            raise VlevalError(f"no synthetic builder for {card.name!r} (family {self.name!r}).")
        return builder(rng, n)

    def right_answer(self, card: BenchmarkCard, row: dict[str, Any]) -> str:
        """A prediction this family's rules read as right for a synthetic ``row`` of ``card`` (tests and
        benches that need predictions of a known accuracy). Default: the row's answer."""
        if "answer" not in row:
            from vleval.errors import VlevalError

            raise VlevalError(f"{card.name}: row {row.get('index')} has no answer, so no right answer.")
        return str(row["answer"])

    def stand_in_judge(self, prompt: str) -> str | None:
        """The local stand-in judge's answer to ``prompt`` when it is one this family's scoring sends,
        else None: a deterministic rule that answers sensibly, not a judge. Default: none."""
        return None

    def __repr__(self) -> str:
        return f"<BenchmarkFamily {self.name}>"


@functools.cache
def family_modules() -> tuple[str, ...]:
    """The modules declaring a family: every module of the ``vleval.families`` package but this one,
    then the modules the ``vleval.families`` entry points name (installed packages)."""
    import vleval.families as package

    own = [
        f"{package.__name__}.{info.name}"
        for info in pkgutil.iter_modules(package.__path__)
        if not info.ispkg and info.name != "base" and not info.name.startswith("_")
    ]
    plugins = [entry.value.split(":")[0] for entry in metadata.entry_points(group=ENTRY_POINT_GROUP)]
    return tuple(own + sorted(plugins))


def all_families() -> dict[str, BenchmarkFamily]:
    """Family name -> family, for every discovered family module."""
    from vleval.errors import VlevalError

    families: dict[str, BenchmarkFamily] = {}
    for module in family_modules():
        family = getattr(importlib.import_module(module), "FAMILY", None)
        if not isinstance(family, BenchmarkFamily):
            raise VlevalError(f"{module}: a family module must declare FAMILY, a BenchmarkFamily.")
        if family.name in families:
            raise VlevalError(f"{module}: family {family.name!r} is declared twice.")
        families[family.name] = family
    return dict(sorted(families.items(), key=lambda item: item[1].listing_order))


def scale_note() -> str:
    """One sentence for reports and comparisons: each benchmark's scale (``BenchmarkFamily.scale_of``),
    benchmarks of one scale together, in listing order."""
    by_scale: dict[str, list[str]] = {}
    for family in all_families().values():
        for card in family.cards():
            if scale := family.scale_of(card):
                by_scale.setdefault(scale, []).append(card.name)
    scales = [f"{', '.join(names)} = {scale}" for scale, names in by_scale.items()]
    return (
        "Scores and intervals on each benchmark's own scale: "
        + "; ".join(["accuracies in percent (0-100)", *scales])
        + "."
    )


def default_judge(protocol: Protocol, card: BenchmarkCard) -> str | None:
    """The judge short name ``protocol`` names for ``card`` (VK run.py::get_judge_kwargs), asked of the
    card's family; None where its metric is rule-based."""
    return family_of(card).default_judge(protocol, card)


def decision_text(row: RowResult) -> str:
    """``BenchmarkFamily.decision_text``'s default: a failed or skipped row says so; else the extracted
    value, else the grade."""
    if row.decided_by == "failed":
        return "(failed)"
    if row.decided_by == "skipped":  # not examined (an MMBench rotation after its question failed)
        return "(skipped)"
    if row.extracted is not None and not (isinstance(row.extracted, float) and math.isnan(row.extracted)):
        return str(row.extracted)
    return "(none)" if row.score is None else f"{row.score:g}"


def family_of(card_or_name: BenchmarkCard | str) -> BenchmarkFamily:
    """The family of a benchmark card, or of a registered benchmark name."""
    from vleval.errors import VlevalError

    card = card_or_name
    if isinstance(card_or_name, str):
        from vleval.datasets.registry import get_benchmark

        card = get_benchmark(card_or_name)
    assert isinstance(card, BenchmarkCard)
    try:
        return all_families()[card.family]
    except KeyError:
        raise VlevalError(f"{card.name}: no scorer for benchmark family {card.family!r}.") from None


# --------------------------------------------------------------------------------------------------
# helpers the families share
# --------------------------------------------------------------------------------------------------
def accuracy_by_category(table: pd.DataFrame, name_column: str) -> dict[str, float]:
    """Category -> ``acc`` of a reference score table (MathVista's ``Task&Skill``, MM-Vet's
    ``Category``), the Overall row left out (it is the headline)."""
    return {
        str(name): value
        for name, acc in zip(table[name_column], table["acc"], strict=True)
        if str(name) != "Overall" and (value := number(acc)) is not None
    }


def last_segment(text: str, start: str, end: str | None = None) -> str:
    """The text after the last ``start`` (and before the following ``end``, if given), stripped; empty
    when ``start`` is absent (the stand-in judge's rules read the answer out of a judge prompt)."""
    tail = text.rpartition(start)[2] if start in text else ""
    if end is not None and end in tail:
        tail = tail.partition(end)[0]
    return tail.strip()


def number(value: Any) -> float | None:
    """A finite float, or None."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def plain_index(value: Any) -> int | str:
    """A row index as a JSON-friendly Python value (numpy ints -> int)."""
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    return value if isinstance(value, int | str) else str(value)


def read_json_object(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_csv_rows(path: Path, key_column: str) -> dict[str, pd.Series] | None:
    """The rows of a reference csv keyed by one column, or None when it is absent or unreadable."""
    if not path.is_file():
        return None
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    if key_column not in table.columns:
        return None
    return {str(row[key_column]): row for _, row in table.iterrows()}


def judge_tag_matches(tag: str, judge_model: str) -> bool:
    """A file's judge tag (a short name such as ``gpt-4o-mini``) against a judge model id (such as
    ``gpt-4o-mini-2024-07-18``)."""
    from vleval.protocol import JUDGE_MODEL_IDS

    return judge_model == tag or JUDGE_MODEL_IDS.get(tag) == judge_model or judge_model.startswith(tag + "-")


def judged_file(stem: Path, suffix: str, judge_model: str | None, exclude: str = "") -> Path | None:
    """The newest ``<stem>_<judge tag><suffix>`` file, preferring the given judge's; the reference names
    judged result files after the judge, and a folder may hold several judges' files."""
    candidates = [
        p for p in stem.parent.glob(f"{stem.name}_*{suffix}") if not (exclude and p.name.endswith(exclude))
    ]
    if judge_model:
        tags = {p: p.name[len(stem.name) + 1 :].removesuffix(suffix) for p in candidates}
        preferred = [p for p in candidates if judge_tag_matches(tags[p], judge_model)]
        candidates = preferred or candidates
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def reference_record(
    family: BenchmarkFamily,
    stem: Path,
    source: Path,
    *,
    headline: float | None,
    headline_name: str,
    native: dict[str, float],
    categories: dict[str, float],
    judge_model: str | None = None,
    headline_unit: str | None = None,
) -> ScoreRecord:
    """A ScoreRecord for a result read from the reference's own files (no rows; protocol and dataset
    unknown here: the caller knows the dataset)."""
    return ScoreRecord(
        dataset="",
        protocol="",
        headline_name=headline_name,
        headline=headline,
        headline_unit=headline_unit or family.headline_unit,
        native=native,
        categories=categories,
        category_unit=family.metric.category_unit,
        judge=JudgeInfo(model=judge_model) if judge_model else None,
        reference_files=[source.name],
        notes=[f"read from the reference's result file {source.name}"],
    )
