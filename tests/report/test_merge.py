"""Several work dirs in one report (issue 18 item 1): runs made differently are shown side by side,
labelled by what differs; MMMU's best of direct and CoT only where the paper does so; the same
settings twice: the complete one wins, two complete ones that disagree are an error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from vleval.cli import main
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import evaluate
from vleval.errors import VlevalError
from vleval.protocol import get_protocol
from vleval.report.collect import collect_runs
from vleval.report.summary import build_summary, summary_table_text
from vleval.synthetic.scripted_judge import ScriptedJudge
from vleval.types import EvalSettings

MODEL = "InternVL2_5-8B"
TABLE = pd.DataFrame(
    [{"index": i, "question": f"q{i}", "A": "cat", "B": "dog", "C": "cow", "D": "pig", "answer": "A",
      "category": "c", "split": "validation"} for i in range(8)]
)  # fmt: skip


def _run(work: Path, benchmark: str, right: int, *, judged: bool = True, mtime: float | None = None,
         **settings) -> Path:  # fmt: skip
    """A work dir holding one scored benchmark: ``right`` of 8 rows right."""
    model_dir = work / MODEL
    model_dir.mkdir(parents=True, exist_ok=True)
    pred = write_prediction_file(model_dir / f"{MODEL}_{benchmark}.xlsx", TABLE,
                                 {i: "A" if i < right else "B" for i in range(8)})  # fmt: skip
    judge = (
        ScriptedJudge("never asked", short_name="chatgpt-0125", model="gpt-3.5-turbo-0125")
        if judged
        else None
    )
    evaluate(get_benchmark(benchmark), get_protocol("2024.12"), pred, judge, table=TABLE,
             settings=EvalSettings(cot=settings.pop("cot", False), **settings))  # fmt: skip
    if mtime is not None:
        os.utime(pred, (mtime, mtime))
    return work


def test_a_direct_and_a_cot_run_of_mmstar_are_side_by_side_not_the_newest(tmp_path):
    direct = _run(tmp_path / "direct", "MMStar", 6, mtime=1_000)
    cot = _run(tmp_path / "cot", "MMStar", 0, cot=True, mtime=2_000)  # newer, and worse
    summary = build_summary(collect_runs(direct) + collect_runs(cot))
    assert summary.models == [f"{MODEL} [CoT off]", f"{MODEL} [CoT on]"]
    assert round(summary.cell(f"{MODEL} [CoT off]", "MMStar").ours, 2) == 75.0
    assert round(summary.cell(f"{MODEL} [CoT on]", "MMStar").ours, 2) == 0.0
    text = summary_table_text(summary)
    assert "[CoT off]" in text and "[CoT on]" in text and "75.00" in text


def test_a_token_budget_difference_labels_the_rows(tmp_path):
    a = _run(tmp_path / "a", "MMStar", 6, max_new_tokens=16)
    b = _run(tmp_path / "b", "MMStar", 4, max_new_tokens=32)
    summary = build_summary(collect_runs(a) + collect_runs(b))
    assert summary.models == [f"{MODEL} [token budget 16]", f"{MODEL} [token budget 32]"]


def test_mmmu_best_of_direct_and_cot_is_labelled_with_both_numbers(tmp_path):
    direct = _run(tmp_path / "direct", "MMMU_DEV_VAL", 4)
    cot = _run(tmp_path / "cot", "MMMU_DEV_VAL", 6, cot=True)
    cell = build_summary(collect_runs(direct) + collect_runs(cot)).cell(MODEL, "MMMU_DEV_VAL")
    assert cell.rule.startswith("best of direct 50.0 / CoT 75.0") and round(cell.ours, 2) == 75.0


def test_mmmu_runs_that_differ_in_more_than_cot_are_not_merged(tmp_path):
    direct = _run(tmp_path / "direct", "MMMU_DEV_VAL", 4)
    cot = _run(tmp_path / "cot", "MMMU_DEV_VAL", 6, cot=True, max_new_tokens=32)
    summary = build_summary(collect_runs(direct) + collect_runs(cot))
    assert len(summary.models) == 2 and not any(c.rule.startswith("best of") for c in summary.cells)


def test_the_same_settings_twice_the_complete_one_wins(tmp_path):
    complete = _run(tmp_path / "a", "MMStar", 6, mtime=1_000)
    partial = _run(tmp_path / "b", "MMStar", 2, mtime=2_000)
    path = next((partial / MODEL).glob("*_score.json"))
    record = json.loads(path.read_text())
    record["partial"], record["complete"] = True, False
    path.write_text(json.dumps(record))
    cell = build_summary(collect_runs(complete) + collect_runs(partial)).cell(MODEL, "MMStar")
    assert round(cell.ours, 2) == 75.0 and "complete one" in cell.rule


def test_two_complete_runs_that_disagree_are_an_error_unless_prefer_newest(tmp_path, capsys):
    a = _run(tmp_path / "a", "MMStar", 6, mtime=1_000)
    b = _run(tmp_path / "b", "MMStar", 2, mtime=2_000)
    with pytest.raises(VlevalError) as info:
        build_summary(collect_runs(a) + collect_runs(b))
    assert str(a / MODEL / f"{MODEL}_MMStar.xlsx") in str(info.value)
    assert str(b / MODEL / f"{MODEL}_MMStar.xlsx") in str(info.value) and "--prefer newest" in str(info.value)
    assert main(["report", "--work-dir", str(a), "--work-dir", str(b), "--thumbnails", "0"]) == 2
    assert "--prefer newest" in capsys.readouterr().err
    assert main(["report", "--work-dir", str(a), "--work-dir", str(b), "--thumbnails", "0",
                 "--prefer", "newest"]) == 0  # fmt: skip
    cell = build_summary(collect_runs(a) + collect_runs(b), prefer="newest").cell(MODEL, "MMStar")
    assert round(cell.ours, 2) == 25.0 and "--prefer newest" in cell.rule
    assert "--prefer newest" in (a / "summary.md").read_text()


def test_summary_csv_names_the_variant_settings_and_marks(tmp_path):
    direct = _run(tmp_path / "direct", "MMStar", 6, max_new_tokens=16)
    rule_only = _run(tmp_path / "rule", "MMStar", 6, judged=False)
    from vleval.report.build import write_report

    files = write_report([direct, rule_only], tmp_path / "r.html", thumbnails=0)
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(files.summary_csv.read_text())))
    by_variant = {r["variant"]: r for r in rows}
    assert len(rows) == 2 and all(r["model"] == MODEL for r in rows)
    judged = next(r for r in rows if "token budget 16" in r["settings"])
    assert judged["marks"] == "" and "rule-only" not in judged["variant"]
    other = next(r for r in rows if r is not judged)
    assert other["marks"] == "rule-only: the protocol's judge was not used" and by_variant
