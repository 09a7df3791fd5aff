"""`vleval demo` from a cold cache: tiny random checkpoint, synthetic suite, real pipeline, report."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from vleval.cli import main
from vleval.workflows.demo import DEMO_BENCHMARKS, DEMO_MODEL


def _run_cli(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VLEVAL_CACHE", str(cache))  # the CLI reads it once
        code, first = _run_cli(["demo"])
        code_again, second = _run_cli(["demo"])
    return cache / "demo", code, first, code_again, second


def test_demo_prints_table_report_path_and_says_the_model_is_random(demo_run):
    demo, code, printed, _, _ = demo_run
    assert code == 0
    assert "RANDOM" in printed and "chance level" in printed and "local deterministic stand-in" in printed
    for name in DEMO_BENCHMARKS:
        assert name in printed
    report = demo / "work" / "report.html"
    assert f"report:  {report}" in printed and report.is_file()
    assert "error:" not in printed


def test_demo_runs_the_real_pipeline_with_the_judge(demo_run):
    demo = demo_run[0]
    model_dir = demo / "work" / DEMO_MODEL
    for name in DEMO_BENCHMARKS:
        assert (model_dir / f"{DEMO_MODEL}_{name}.xlsx").is_file()
        assert (model_dir / f"{DEMO_MODEL}_{name}_prompts.jsonl").is_file()
    settings = json.loads((model_dir / "run.json").read_text())["settings"]
    assert settings["judge_base_url"].startswith("http://127.0.0.1:")
    assert (model_dir / f"{DEMO_MODEL}_MathVista_MINI_gpt-4o-mini_score.csv").is_file()  # judged
    html = (demo / "work" / "report.html").read_text()
    assert "local deterministic stand-in" in html and "RANDOM-WEIGHT" in html
    assert "data:image/jpeg;base64," in html  # thumbnails of the drawn images


def test_second_demo_reuses_the_cache(demo_run):
    demo, _, _, code_again, second = demo_run
    assert code_again == 0 and "report:" in second
    assert list((demo / DEMO_MODEL).glob("*.safetensors"))  # the cached checkpoint
    datasets = json.loads((demo / "work" / DEMO_MODEL / "run.json").read_text())["datasets"]
    inferred = {name: entry.get("inferred_this_run") for name, entry in datasets.items()}
    assert set(inferred.values()) == {0}, inferred  # predictions reused, nothing generated again


def test_a_later_report_of_the_demo_dir_keeps_its_marks(demo_run, tmp_path):
    """Issue 18 item 7: the marks live in the records, so `vleval report --work-dir <demo dir>` (not the
    demo itself) still says random weights and stand-in judge, in the table and in the banners."""
    from vleval.datasets.results import read_score

    demo, _, printed, _, _ = demo_run
    assert "synthetic random-weight checkpoint" in printed and "stand-in judge" in printed  # the demo's table
    record = read_score(demo / "work" / DEMO_MODEL / f"{DEMO_MODEL}_MMStar_score.json")
    assert record.settings.synthetic_checkpoint and record.settings.stand_in_judge
    out = tmp_path / "again.html"
    code, text = _run_cli(
        ["report", "--work-dir", str(demo / "work"), "--out", str(out), "--thumbnails", "0"]
    )
    assert code == 0 and "synthetic random-weight checkpoint" in text
    html = out.read_text()
    assert "RANDOM-WEIGHT" in html and "local deterministic stand-in" in html
    assert "synthetic random-weight checkpoint" in (tmp_path / "summary.md").read_text()
