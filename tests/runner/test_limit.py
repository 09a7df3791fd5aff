"""`vleval run --limit N`: the first N questions only, marked as a subset everywhere its score shows."""

from __future__ import annotations

import csv
import io
import json
import shutil

from runner_support import DATASETS, run_args
from test_run import FakeBackend, _config

from vleval.cli import main
from vleval.datasets.results import read_score
from vleval.report.results_file import read_results
from vleval.runner.run import run_evaluation

MARK = "subset of 2/6: not comparable to published figures"


def test_a_limited_run_infers_scores_and_marks_only_the_first_questions(
    tiny_model, bench_dir, tmp_path, capsys
):
    # a folder named as a published model: its full score would be set beside the paper's figure
    model = shutil.copytree(tiny_model, tmp_path / "InternVL2_5-1B")
    backend = FakeBackend()
    work = tmp_path / "work"
    summary = run_evaluation(
        _config(model, bench_dir, work, datasets=["MMStar"], limit=2, backend_factory=lambda p, k: backend)
    )
    assert backend.seen == [0, 1]  # the first two questions of six, nothing else inferred
    cell = summary.cell("InternVL2_5-1B", "MMStar")
    assert MARK in summary.table()
    record = read_score(work / "InternVL2_5-1B" / "InternVL2_5-1B_MMStar_score.json")
    assert record.subset is not None and (record.subset.rows, record.subset.of_rows) == (2, 6)
    assert record.counts.total == 2 and cell.record.subset == record.subset
    run = json.loads((work / "InternVL2_5-1B" / "run.json").read_text())
    assert run["settings"]["limit"] == 2
    # the work dir's results.json, written by the run, carries the subset and its mark
    entry = read_results(work / "results.json")["models"]["InternVL2_5-1B"]["benchmarks"]["MMStar"]
    assert entry["subset"]["of_questions"] == 6 and MARK in entry["caveat"]

    # the report: the mark, and neither the published figure nor a verdict beside it
    assert main(["report", "--work-dir", str(work), "--out", str(tmp_path / "r.html")]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "summary.csv").read_text())))
    (row,) = [r for r in rows if r["benchmark"] == "MMStar"]
    assert MARK in row["status"] and row["published"] == "" and row.get("verdict", "") == ""
    html = (tmp_path / "r.html").read_text()
    assert MARK in html and "not compared with the published figure" in html

    # vleval compare marks the subset too, and refuses a subset against a full run by default
    limited_copy = shutil.copytree(work, tmp_path / "work-b")
    assert main(["compare", str(work), str(limited_copy)]) == 0
    assert f"MMStar A: {MARK}" in capsys.readouterr().out

    # the same command without --limit infers only the other four and the mark is gone
    backend.seen.clear()
    summary = run_evaluation(
        _config(model, bench_dir, work, datasets=["MMStar"], backend_factory=lambda p, k: backend)
    )
    assert sorted(backend.seen) == [2, 3, 4, 5]
    assert summary.cell("InternVL2_5-1B", "MMStar").record.subset is None and "subset" not in summary.table()
    capsys.readouterr()
    assert main(["compare", str(limited_copy), str(work)]) == 2  # subset against full: other rows
    assert "questions" in capsys.readouterr().err

    # a later --limit run on the full predictions scores the subset of them, marked again
    summary = run_evaluation(_config(model, bench_dir, work, datasets=["MMStar"], limit=2, mode="eval"))
    assert summary.cell("InternVL2_5-1B", "MMStar").record.counts.total == 2 and MARK in summary.table()


def test_the_dry_run_bills_only_the_subset(tiny_model, bench_dir, tmp_path, capsys):
    rc = main(["run", *run_args(tiny_model, bench_dir, tmp_path / "work"), "--limit", "2", "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "2 of 6 samples (2/6 questions)" in out and f"2 of {DATASETS['OCRBench']} samples" in out
    assert "not comparable to published figures" in out


def test_slurm_forwards_the_limit_to_the_jobs_run():
    from vleval.cli import build_parser
    from vleval.runner.config import forwarded_args

    args = build_parser().parse_args(
        ["slurm", "--partition", "P", "--model", "m", "--data", "MMStar", "--limit", "5"]
    )
    forwarded = forwarded_args(args)
    assert forwarded[forwarded.index("--limit") + 1] == "5"
