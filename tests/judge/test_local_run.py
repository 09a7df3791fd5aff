"""``vleval run ... --judge local:DIR`` end to end on the synthetic suite, on CPU, without network: the
tiny synthetic judge grades every judged benchmark, every result file names it as a substitute judge,
and a second run reuses the judge cache (zero new generations)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vleval.cli import main
from vleval.datasets.registry import get_benchmark
from vleval.datasets.results import read_score, score_record_path
from vleval.judge.local import judge_identity, release_engines
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.checkpoints import make_tiny_checkpoint
from vleval.synthetic.judge_checkpoint import make_tiny_judge

MODEL = "TinyVL-Qwen2"
# every judge role: MCQ circular, Y/N, MathVista extraction, MM-Vet and LLaVA-Bench grading
SUITE = {"MMBench_DEV_EN_V11": 2, "HallusionBench": 2, "MathVista_MINI": 2, "MMVet": 2, "LLaVABench": 2}


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("VLEVAL_JUDGE_ENGINE", "transformers")
    yield
    release_engines()


def _run_args(model: Path, data: Path, work: Path, judge: Path) -> list[str]:
    return [
        "run", "--model", str(model), "--data", *SUITE, "--data-dir", str(data), "--work-dir", str(work),
        "--skip-md5-check", "--max-new-tokens", "8", "--device", "cpu", "--batch-size", "4", "--no-progress",
        "--judge", f"local:{judge}",
    ]  # fmt: skip


def test_run_with_a_local_judge_then_again_from_the_cache(tmp_path: Path, capsys) -> None:
    model = make_tiny_checkpoint(tmp_path / MODEL, "qwen2", seed=0)
    judge = make_tiny_judge(tmp_path / "TinyJudge-Qwen2")
    data = tmp_path / "LMUData"
    for name, n in SUITE.items():
        make_benchmark_tsv(name, data, n=n, seed=0)
    work = tmp_path / "work"

    assert main(_run_args(model, data, work, judge)) == 0
    out = capsys.readouterr().out
    assert "substitute judge" in out
    identity = judge_identity(judge)
    first_scores = {}
    for name in SUITE:
        stem = work / MODEL / f"{MODEL}_{name}"
        record = read_score(score_record_path(stem))
        assert record.judge is not None, name
        assert (record.judge.model, record.judge.kind, record.judge.substitute) == (identity, "local", True)
        assert record.judge.endpoint == str(judge.resolve())
        first_scores[name] = record.headline
    run_json = json.loads((work / MODEL / "run.json").read_text())
    tallies = {name: run_json["datasets"][name]["judge"] for name in SUITE}
    assert all(t["model"] == identity and t["kind"] == "local" for t in tallies.values())
    # MM-Vet and LLaVA-Bench ask about every row; the judge answered them all
    for name in ("MMVet", "LLaVABench"):
        assert tallies[name]["calls"] >= SUITE[name] and tallies[name]["failures"] == 0
    generated = sum(t["calls"] for t in tallies.values())
    assert generated > 0

    # the same command again: predictions reused, every judge answer from the cache
    assert main(_run_args(model, data, work, judge)) == 0
    run_json = json.loads((work / MODEL / "run.json").read_text())
    again = {name: run_json["datasets"][name]["judge"] for name in SUITE}
    assert sum(t["calls"] for t in again.values()) == 0
    assert sum(t["cache_hits"] for t in again.values()) >= sum(t["answered"] for t in tallies.values())
    for name in SUITE:
        stem = work / MODEL / f"{MODEL}_{name}"
        assert read_score(score_record_path(stem)).headline == first_scores[name]


def test_eval_with_a_local_judge(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    from vleval.datasets.loading import load_table
    from vleval.datasets.predictions import write_prediction_file
    from vleval.protocol import get_protocol

    judge = make_tiny_judge(tmp_path / "TinyJudge-Qwen2")
    data = tmp_path / "LMUData"
    make_benchmark_tsv("MMVet", data, n=3, seed=0)
    monkeypatch.setenv("LMUData", str(tmp_path / "empty"))  # score the prediction file's own columns
    table = load_table(get_benchmark("MMVet"), get_protocol("2024.12"), root=data, verify_md5=False)
    pred = write_prediction_file(
        tmp_path / "out" / "M_MMVet.xlsx", table, {i: "a guess" for i in table["index"]}
    )
    assert main(["eval", "--data", "MMVet", "--pred", str(pred), "--judge", f"local:{judge}"]) == 0
    out = capsys.readouterr().out
    assert "substitute judge" in out
    record = read_score(score_record_path(pred.with_suffix("")))
    assert record.judge.kind == "local" and record.judge.substitute
    # the tiny judge grades by its rule: the MM-Vet prompt's grades and the 'Correctness' header
    assert record.complete and record.counts.judge == 3


def test_a_bad_local_judge_folder_stops_the_run_before_inference(tmp_path: Path, capsys) -> None:
    model = make_tiny_checkpoint(tmp_path / MODEL, "qwen2", seed=0)
    data = tmp_path / "LMUData"
    make_benchmark_tsv("MMStar", data, n=2, seed=0)
    work = tmp_path / "work"
    args = ["run", "--model", str(model), "--data", "MMStar", "--data-dir", str(data), "--work-dir", str(work),
            "--skip-md5-check", "--device", "cpu", "--no-progress", "--judge", f"local:{tmp_path / 'nowhere'}"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no such folder" in err and "Traceback" not in err
    assert not (work / MODEL / f"{MODEL}_MMStar.xlsx").exists()
