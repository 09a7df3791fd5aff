"""One results file per work dir (`results.json`) and the per-sample Parquet export."""

from __future__ import annotations

import json

import pytest

from vleval.cli import main
from vleval.datasets.results import read_rows, read_score
from vleval.report.results_file import RESULTS_SCHEMA, read_results

MODEL = "InternVL2_5-8B"  # written by conftest.work_dirs


def test_results_json_holds_every_scored_benchmark_with_intervals_settings_and_judge(work_dirs, capsys):
    direct, _ = work_dirs
    assert main(["export", "--work-dir", str(direct)]) == 0
    results = read_results(direct / "results.json")
    assert results["schema_version"] == RESULTS_SCHEMA and "vleval" in results["written_by"]
    model = results["models"][MODEL]
    assert model["run"]["settings"]["cot"] is False and model["run"]["protocol"]["name"] == "2024.12"
    # HallusionBench has only VLMEvalKit's own files in the fixture: not a vleval score, left out
    assert sorted(model["benchmarks"]) == ["MMMU_DEV_VAL", "MMStar", "OCRBench"]
    mmstar = model["benchmarks"]["MMStar"]
    record = read_score(direct / MODEL / f"{MODEL}_MMStar_score.json")
    assert mmstar["headline"]["value"] == record.headline == pytest.approx(75.0)
    interval = record.intervals["headline"]
    assert mmstar["headline"]["interval"] == {
        "low": interval.low, "high": interval.high, "level": interval.level, "method": interval.method,
    }  # fmt: skip
    assert mmstar["judge"]["model"] == "gpt-3.5-turbo-0125" and mmstar["protocol"] == "2024.12"
    assert set(mmstar["metrics"]) == set(record.metrics) and mmstar["caveat"] == ""
    assert mmstar["files"]["rows"] == f"{MODEL}/{MODEL}_MMStar_rows.jsonl"
    ocr = model["benchmarks"]["OCRBench"]
    assert ocr["judge"] is None and ocr["native"]["Final Score"] == 1


def test_a_results_file_of_another_schema_is_refused_in_one_line(tmp_path, work_dirs):
    direct, _ = work_dirs
    main(["export", "--work-dir", str(direct)])
    path = direct / "results.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "schema_version": RESULTS_SCHEMA + 1}))
    with pytest.raises(Exception, match="results schema"):
        read_results(path)


def test_export_of_a_work_dir_with_nothing_scored_exits_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["export", "--work-dir", str(tmp_path / "empty")]) == 2
    assert "no scored benchmark" in capsys.readouterr().err


def test_per_sample_parquet_reads_back_with_pyarrow(work_dirs, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    direct, _ = work_dirs
    out = tmp_path / "samples.parquet"
    assert main(["export", "--work-dir", str(direct), "--parquet", str(out)]) == 0
    table = pq.read_table(out).to_pylist()
    rows = read_rows(direct / MODEL / f"{MODEL}_MMStar_rows.jsonl")
    mmstar = [r for r in table if r["benchmark"] == "MMStar"]
    assert [r["index"] for r in mmstar] == [str(r.index) for r in rows]
    assert [r["score"] for r in mmstar] == [r.score for r in rows]
    assert {r["model"] for r in table} == {MODEL} and {r["judge"] for r in mmstar} == {"gpt-3.5-turbo-0125"}
