"""Scoring a prediction file: dispatch to the benchmark family's scorer, write the reference's result
files beside the predictions, plus ``{stem}_score.json`` and a per-row file.

Each family module (``mcq``, ``yorn``, ``mathvista``, ``ocrbench``, ``mmvet``, ``llavabench``,
``crpe``) exposes ``score(data, card, protocol, judge, *, stem, seed) -> EvalResult``: ``data`` is the
prediction file joined with the benchmark table (``read_prediction_file``), ``stem`` the output path
without suffix (``<dir>/<M>_<D>``), to which the reference's suffixes are appended.
"""

from __future__ import annotations

import csv
import importlib
import json
import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.protocol import Protocol
from vleval.types import BenchmarkCard, Judge, JudgeRequest

# family (BenchmarkCard.family) -> scorer module
SCORERS: dict[str, str] = {
    "mcq": "vleval.datasets.mcq",
    "yorn": "vleval.datasets.yorn",
    "mathvista": "vleval.datasets.mathvista",
    "ocrbench": "vleval.datasets.ocrbench",
    "mmvet": "vleval.datasets.mmvet",
    "llavabench": "vleval.datasets.llavabench",
    "crpe": "vleval.datasets.crpe",
}

JUDGE_REQUIRED_HINT = (
    "Pass a judge: --judge MODEL --judge-base-url URL (any OpenAI-compatible server), or set "
    "OPENAI_API_KEY (and OPENAI_API_BASE) for the protocol's default judge."
)

_PROMPTS = Path(__file__).resolve().parent.parent / "data" / "judge_prompts"


@dataclass
class EvalResult:
    """What scoring one prediction file produced."""

    headline: float | None
    headline_name: str  # e.g. "Overall (fraction)"
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # reference tables by file tag
    files: list[Path] = field(default_factory=list)
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)  # index, extracted, hit, log per row
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)  # extra numbers for _score.json
    protocol: str = ""
    judge_model: str | None = None
    seed: int | None = None


def judge_prompt(name: str) -> str:
    """A reference judge prompt, byte-exact (see ``data/judge_prompts/SOURCES.md``)."""
    return (_PROMPTS / name).read_text(encoding="utf-8")


def require_judge(judge: Judge | None, card: BenchmarkCard) -> Judge:
    if judge is None:
        raise VlevalError(
            f"{card.name} is scored by an LLM judge (the reference refuses to score it without a working "
            f"one), and none is available. {JUDGE_REQUIRED_HINT}"
        )
    return judge


def require_columns(data: pd.DataFrame, columns: tuple[str, ...], card: BenchmarkCard) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataCorruptError(
            f"{card.name}: the predictions lack column(s) {', '.join(missing)} needed for scoring. Keep the "
            f"benchmark TSV under the data directory (--data-dir / $LMUData) so they are joined from it."
        )


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def ask_in_rounds(
    judge: Judge,
    prompts: Mapping[K, str],
    *,
    rounds: int,
    accept: Callable[[K, str], V | None],
    temperature: Callable[[int], float] = lambda i: 0.0,
    max_tokens: int = 2048,
    system: str | None = None,
) -> dict[K, tuple[V | None, list[str]]]:
    """Ask the judge about every prompt; repeat for those whose answer ``accept`` rejects, up to
    ``rounds`` times (round ``i`` at ``temperature(i)``), each round as one batch. ``accept(key,
    answer)`` returns the value read from an answer, or None to ask again. Returns, per key, the first
    accepted value (None if none) and every raw answer received."""
    outputs: dict[K, list[str]] = {k: [] for k in prompts}
    accepted: dict[K, V | None] = {k: None for k in prompts}
    pending = list(prompts)
    for i in range(rounds):
        if not pending:
            break
        requests = [
            JudgeRequest(prompt=prompts[k], system=system, temperature=temperature(i), max_tokens=max_tokens)
            for k in pending
        ]
        answers = judge.ask_many(requests)
        still = []
        for key, answer in zip(pending, answers, strict=True):
            outputs[key].append(answer)
            value = accept(key, answer)
            if value is None:
                still.append(key)
            else:
                accepted[key] = value
        pending = still
    return {k: (accepted[k], outputs[k]) for k in prompts}


# --------------------------------------------------------------------------------------------------
# Writers in the reference's formats (VK smp/file.py::dump)
# --------------------------------------------------------------------------------------------------
def write_xlsx(frame: pd.DataFrame, path: Path) -> Path:
    with pd.ExcelWriter(
        path,
        engine="xlsxwriter",
        engine_kwargs={"options": {"strings_to_formulas": False, "strings_to_urls": False}},
    ) as writer:
        # fixed creation time: the same rows give a byte-identical file (resume tests)
        writer.book.set_properties({"created": datetime(2000, 1, 1, tzinfo=UTC)})
        frame.to_excel(writer, index=False)
    return path


def write_csv(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False, encoding="utf-8", quoting=csv.QUOTE_ALL)
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(obj: Any, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(_plain(obj), fh, indent=4, ensure_ascii=False)
    return path


def xlsx_round_trip(value: Any) -> Any:
    """What a cell value reads back as after the reference's xlsx dump + pandas load: empty strings and
    pandas' default NA spellings ('nan', 'None', 'N/A', ...) become NaN."""
    if isinstance(value, str) and value in _PANDAS_NA:
        return float("nan")
    return value


_PANDAS_NA = frozenset(
    ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A",
     "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------------
def scorer_for(card: BenchmarkCard):
    try:
        module_name = SCORERS[card.family]
    except KeyError:
        raise VlevalError(f"{card.name}: no scorer for benchmark family {card.family!r}.") from None
    return importlib.import_module(module_name)


def evaluate(
    card: BenchmarkCard,
    protocol: Protocol,
    pred_file: Path,
    judge: Judge | None,
    *,
    table: pd.DataFrame | None = None,
    seed: int = 0,
    out_dir: Path | None = None,
    data_dir: Path | None = None,
) -> EvalResult:
    """Score ``pred_file`` as the reference does under ``protocol`` and write the result files into
    ``out_dir`` (default: beside the predictions). ``table``: the loaded benchmark; None loads it from
    ``data_dir`` ($LMUData) when present, else scores the prediction file's own columns."""
    from vleval.datasets.predictions import prediction_texts, read_prediction_file

    pred_file = Path(pred_file)
    notes: list[str] = []
    if table is None:
        table = _try_load_table(card, protocol, data_dir, notes)
    data = read_prediction_file(pred_file, table)
    # the text scoring sees: an empty prediction is 'nan' under Quirk.EMPTY_PREDICTION_IS_NAN
    data["prediction"] = prediction_texts(data, protocol)
    out_dir = Path(out_dir) if out_dir is not None else pred_file.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = out_dir / pred_file.stem
    result = scorer_for(card).score(data, card, protocol, judge, stem=stem, seed=seed)
    result.notes[:0] = notes
    result.protocol = protocol.name
    result.judge_model = judge.model if judge is not None else None
    result.files.extend(_write_vleval_files(result, card, stem))
    return result


def _try_load_table(card: BenchmarkCard, protocol: Protocol, data_dir: Path | None, notes: list[str]):
    from vleval.datasets.loading import load_table

    try:
        return load_table(card, protocol, root=data_dir, verify_md5=True)
    except DataMissingError:
        notes.append(
            f"{card.file_name} not found in the data directory: scored the prediction file's own columns."
        )
        return None


def _write_vleval_files(result: EvalResult, card: BenchmarkCard, stem: Path) -> list[Path]:
    files = []
    summary = {
        "dataset": card.name,
        "protocol": result.protocol,
        "judge_model": result.judge_model,
        "headline_name": result.headline_name,
        "headline": result.headline,
        "seed": result.seed,
        "metrics": result.metrics,
        "tables": {name: table.to_dict(orient="records") for name, table in result.tables.items()},
        "notes": result.notes,
    }
    # where the reference's own file is {stem}_score.json (OCRBench, CRPE) it stays byte-for-byte the
    # reference's; vleval's summary goes beside it
    reference_json = stem.parent / f"{stem.name}_score.json"
    target = (
        reference_json if reference_json not in result.files else stem.parent / f"{stem.name}_vleval.json"
    )
    files.append(write_json(summary, target))
    rows_path = stem.parent / f"{stem.name}_rows.jsonl"
    with open(rows_path, "w", encoding="utf-8") as fh:
        for record in result.rows.to_dict(orient="records"):
            fh.write(json.dumps(_plain(record), ensure_ascii=False) + "\n")
    files.append(rows_path)
    return files
