"""Which number is "the" score of a finished benchmark run, read from the reference's result files.

Every score is put on one 0-100 scale so it can sit beside the published figure: fractions (MCQ
``_acc.csv``, CRPE) are multiplied by 100, OCRBench's Final Score (0-1000) is divided by 10 (the
reference's ``Final Score Norm``), HallusionBench is the mean of aAcc/fAcc/qAcc (the leaderboard's
figure; the reference code does not compute it). See ``docs/benchmark-protocol.md``.

A rule per benchmark kind, looked up in a dict; each returns ``None`` when its file is not there, so
the report degrades to the ``_score.json`` headline or to "not scored".
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from vleval.protocol import JUDGE_MODEL_IDS


@dataclass
class Headline:
    score: float | None  # 0-100
    label: str  # what the number is, e.g. "Overall accuracy x100 (_acc.csv)"
    native: str  # the value as the reference file holds it
    source_file: Path | None = None
    categories: list[tuple[str, float]] = field(default_factory=list)  # chart bars
    category_unit: str = "%"  # "%" (0-100) or "points" (OCRBench raw counts)


def _number(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _judge_tag_matches(tag: str, judge: str) -> bool:
    """A file's judge tag (a short name such as ``gpt-4o-mini``) against the recorded judge (an API id
    such as ``gpt-4o-mini-2024-07-18``)."""
    return judge == tag or JUDGE_MODEL_IDS.get(tag) == judge or judge.startswith(tag + "-")


def _newest(paths: list[Path], stem: Path, prefer: str | None = None) -> Path | None:
    """The newest of several judges' score files, preferring the one of the recorded judge."""
    if prefer:
        tags = {p: p.name[len(stem.name) + 1 :].removesuffix("_score.csv") for p in paths}
        preferred = [p for p in paths if _judge_tag_matches(tags[p], prefer)]
        if preferred:
            paths = preferred
    return max(paths, key=lambda p: p.stat().st_mtime) if paths else None


def _mcq(stem: Path, judge: str | None, split: str | None = None) -> Headline | None:
    path = stem.with_name(stem.name + "_acc.csv")
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    if table.empty or "Overall" not in table.columns:
        return None
    row = table.iloc[0]
    if split is not None and "split" in table.columns:
        chosen = table[table["split"].astype(str) == split]
        if chosen.empty:
            return None
        row = chosen.iloc[0]
    overall = _number(row["Overall"])
    categories = [
        (str(col), value * 100)
        for col in table.columns
        if col not in ("split", "Overall") and (value := _number(row[col])) is not None
    ]
    where = f"split={row['split']}, " if "split" in table.columns else ""
    return Headline(
        score=None if overall is None else overall * 100,
        label=f"Overall accuracy ({where}fraction x100)",
        native=f"Overall {overall}",
        source_file=path,
        categories=categories,
    )


def _mmmu(stem: Path, judge: str | None) -> Headline | None:
    return _mcq(stem, judge, split="validation")


def _score_csv_rows(path: Path, key_column: str) -> dict[str, pd.Series]:
    table = pd.read_csv(path)
    if key_column not in table.columns:
        return {}
    return {str(row[key_column]): row for _, row in table.iterrows()}


def _judged_csv(stem: Path, judge: str | None, key_column: str, overall_key: str) -> Headline | None:
    candidates = [
        p for p in stem.parent.glob(stem.name + "_*_score.csv") if not p.name.endswith("_score_fine.csv")
    ]
    path = _newest(candidates, stem, prefer=judge)
    if path is None:
        return None
    rows = _score_csv_rows(path, key_column)
    if overall_key not in rows or "acc" not in rows[overall_key]:
        return None
    overall = _number(rows[overall_key]["acc"])
    categories = [
        (name, value)
        for name, row in rows.items()
        if name != overall_key and (value := _number(row.get("acc"))) is not None
    ]
    return Headline(
        score=overall,
        label=f"{overall_key} acc (percent, {path.name.removeprefix(stem.name + '_')})",
        native=f"acc {overall}",
        source_file=path,
        categories=categories,
    )


def _mathvista(stem: Path, judge: str | None) -> Headline | None:
    return _judged_csv(stem, judge, "Task&Skill", "Overall")


def _mmvet(stem: Path, judge: str | None) -> Headline | None:
    return _judged_csv(stem, judge, "Category", "Overall")


def _hallusion(stem: Path, judge: str | None) -> Headline | None:
    path = stem.with_name(stem.name + "_score.csv")
    if not path.is_file():
        return None
    rows = _score_csv_rows(path, "split")
    if "Overall" not in rows:
        return None

    def mean3(row: pd.Series) -> float | None:
        values = [_number(row.get(k)) for k in ("aAcc", "fAcc", "qAcc")]
        return None if None in values else sum(values) / 3  # type: ignore[arg-type]

    overall = rows["Overall"]
    return Headline(
        score=mean3(overall),
        label="mean of aAcc, fAcc, qAcc (percent; the leaderboard's HallusionBench figure)",
        native=", ".join(f"{k} {_number(overall.get(k))}" for k in ("aAcc", "fAcc", "qAcc")),
        source_file=path,
        categories=[(n, v) for n, r in rows.items() if n != "Overall" and (v := mean3(r)) is not None],
    )


def _json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


OCRBENCH_GROUPS = (
    "Text Recognition",
    "Scene Text-centric VQA",
    "Doc-oriented VQA",
    "Key Information Extraction",
    "Handwritten Mathematical Expression Recognition",
)


def _ocrbench(stem: Path, judge: str | None) -> Headline | None:
    path = stem.with_name(stem.name + "_score.json")
    data = _json(path)
    if not data or _number(data.get("Final Score")) is None:
        return None
    final = _number(data["Final Score"])
    return Headline(
        score=final / 10,  # type: ignore[operator]
        label="Final Score / 10 (= Final Score Norm; Final Score is out of 1000)",
        native=f"Final Score {final:g}",
        source_file=path,
        categories=[(g, v) for g in OCRBENCH_GROUPS if (v := _number(data.get(g))) is not None],
        category_unit="points",
    )


def _crpe(stem: Path, judge: str | None) -> Headline | None:
    path = stem.with_name(stem.name + "_score.json")
    data = _json(path)
    if not data or _number(data.get("total")) is None:
        return None
    total = _number(data["total"])
    return Headline(
        score=total * 100,  # type: ignore[operator]
        label="total accuracy (fraction x100)",
        native=f"total {total}",
        source_file=path,
        categories=[
            (k, v * 100)
            for k in ("exist", "subject", "predicate", "object")
            if (v := _number(data.get(k))) is not None
        ],
    )


def _llavabench(stem: Path, judge: str | None) -> Headline | None:
    path = stem.with_name(stem.name + "_score.csv")
    if not path.is_file():
        return None
    rows = _score_csv_rows(path, "split")
    column = "Relative Score (main)"
    if "overall" not in rows or column not in rows["overall"]:
        return None
    overall = _number(rows["overall"][column])
    return Headline(
        score=overall,
        label="Relative Score (main) of overall (percent of the GPT-4 answer's score)",
        native=f"{column} {overall}",
        source_file=path,
        categories=[
            (n, v) for n, r in rows.items() if n != "overall" and (v := _number(r.get(column))) is not None
        ],
    )


Rule = Callable[[Path, "str | None"], "Headline | None"]

# scorer family (BenchmarkCard.family) -> rule; MMMU is an MCQ with its own split rule.
RULES_BY_FAMILY: dict[str, Rule] = {
    "mcq": _mcq,
    "mmmu": _mmmu,
    "yorn": _hallusion,
    "mathvista": _mathvista,
    "ocrbench": _ocrbench,
    "mmvet": _mmvet,
    "llavabench": _llavabench,
    "crpe": _crpe,
}

# Benchmark names the report knows without the dataset registry (reference names).
FAMILY_BY_BENCHMARK: dict[str, str] = {
    "MMBench_TEST_EN_V11": "mcq",
    "MMBench_DEV_EN_V11": "mcq",
    "MMStar": "mcq",
    "AI2D_TEST": "mcq",
    "AI2D_TEST_NO_MASK": "mcq",
    "MMMU_DEV_VAL": "mmmu",
    "MathVista_MINI": "mathvista",
    "HallusionBench": "yorn",
    "OCRBench": "ocrbench",
    "MMVet": "mmvet",
    "LLaVABench": "llavabench",
    "CRPE_EXIST": "crpe",
    "CRPE_RELATION": "crpe",
}


def family_of(benchmark: str) -> str | None:
    if benchmark in FAMILY_BY_BENCHMARK:
        return FAMILY_BY_BENCHMARK[benchmark]
    try:  # a benchmark registered later than this table
        from vleval.datasets.registry import get_benchmark

        family = get_benchmark(benchmark).family
    except Exception:  # registry absent or name unknown: no rule
        return None
    return "mmmu" if "MMMU" in benchmark else family


def read_headline(benchmark: str, stem: Path, judge: str | None = None) -> Headline | None:
    """The benchmark's headline from the reference result files beside ``<stem>.xlsx``."""
    family = family_of(benchmark)
    rule = RULES_BY_FAMILY.get(family or "")
    return rule(stem, judge) if rule else None
