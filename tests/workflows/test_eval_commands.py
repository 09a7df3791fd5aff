"""`vleval eval` from the command line."""

import json

import pytest

from vleval.cli import main
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.errors import VlevalError
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.judge_server import JudgeServer

# synthetic TSVs do not carry the registry's md5: every call here passes --skip-md5-check
SKIP_MD5 = "--skip-md5-check"


def prediction_file(tmp_path, name, text):
    make_benchmark_tsv(name, tmp_path / "data", n=4, seed=2)
    card = get_benchmark(name)
    table = load_table(card, __import__("vleval.protocol").protocol.get_protocol(), root=tmp_path / "data",
                       verify_md5=False)  # fmt: skip
    return write_prediction_file(tmp_path / f"M_{name}.xlsx", table, {i: text(i) for i in table["index"]})


def test_rule_based_benchmark(tmp_path, capsys):
    pred = prediction_file(tmp_path, "OCRBench", lambda i: "nothing legible")
    code = main(
        ["eval", "--data", "OCRBench", "--pred", str(pred), "--data-dir", str(tmp_path / "data"), SKIP_MD5]
    )
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0
    assert "Final Score / 10: 0.00" in out and "reference's Final Score: 0.0000" in out
    assert "M_OCRBench_score.json" in out
    assert "md5 checks are OFF" in captured.err
    assert json.loads((tmp_path / "M_OCRBench_score.json").read_text())["Final Score"] == 0


def test_judge_none_on_mcq_counts_rows_left_unmatched(tmp_path, capsys):
    pred = prediction_file(tmp_path, "MMStar", lambda i: "I would rather not say")
    work = tmp_path / "out"
    code = main(["eval", "--data", "mmstar", "--pred", str(pred), "--judge", "none", "--data-dir",
                 str(tmp_path / "data"), "--work-dir", str(work), "--protocol", "2026.08", SKIP_MD5])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "4 row(s) could not be matched by rule and had no judge" in out
    assert (work / "M_MMStar_exact_matching_result.xlsx").exists()
    assert json.loads((work / "M_MMStar_score.json").read_text())["counts"]["fallback"] == 4


def test_judge_benchmark_without_judge_is_a_clear_error(tmp_path, capsys):
    pred = prediction_file(tmp_path, "MathVista_MINI", lambda i: "7")
    code = main(["eval", "--data", "MathVista_MINI", "--pred", str(pred), "--judge", "none",
                 "--data-dir", str(tmp_path / "data"), SKIP_MD5])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "--judge MODEL --judge-base-url URL" in err and "Traceback" not in err


def test_with_a_judge_server(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("LOCAL_LLM", raising=False)
    pred = prediction_file(tmp_path, "MMStar", lambda i: "I would rather not say")
    with JudgeServer() as server:
        code = main(["eval", "--data", "MMStar", "--pred", str(pred), "--judge", "gpt-4o-mini", "--judge-base-url",
                     server.base_url, "--data-dir", str(tmp_path / "data"), "--judge-workers", "2",
                     SKIP_MD5])  # fmt: skip
        assert server.request_count >= 4
    out = capsys.readouterr().out
    assert code == 0 and "judge gpt-4o-mini-2024-07-18" in out
    assert (tmp_path / "M_MMStar_openai_result.xlsx").exists() is False
    assert (tmp_path / "M_MMStar_gpt-4o-mini_result.xlsx").exists()


def test_missing_prediction_file(tmp_path, capsys):
    code = main(
        ["eval", "--data", "OCRBench", "--pred", str(tmp_path / "nope.xlsx"), "--data-dir", str(tmp_path)]
    )
    assert code == 2 and "does not exist" in capsys.readouterr().err


def test_failed_judge_calls_exit_non_zero_with_one_line_and_are_recorded(tmp_path, capsys, monkeypatch):
    """Issue 10 item 1: a judge answering 500 must not become a silent score."""
    monkeypatch.delenv("LOCAL_LLM", raising=False)
    pred = prediction_file(tmp_path, "MMStar", lambda i: "I would rather not say")
    with JudgeServer() as server:
        server.fail_next(10_000, 500)
        code = main(["eval", "--data", "MMStar", "--pred", str(pred), "--judge", "gpt-4o-mini", "--judge-base-url",
                     server.base_url, "--data-dir", str(tmp_path / "data"), SKIP_MD5])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1 and "Traceback" not in captured.err
    [line] = [x for x in captured.err.splitlines() if "judge call failed" in x]
    assert "MMStar" in line and "4 of 4 row(s)" in line and "last error" in line
    assert "retry only those rows" in line
    record = json.loads((tmp_path / "M_MMStar_score.json").read_text())
    assert record["counts"]["failed"] == 4 and record["complete"] is False
    assert "incomplete: 4 judge call(s) failed" in captured.out


def test_partial_prediction_file_is_refused_unless_allowed(tmp_path, capsys):
    """Issue 10 item 10: 3 of 6 rows must not give a score silently."""
    pred = prediction_file(tmp_path, "MMStar", lambda i: "A")
    import pandas as pd

    frame = pd.read_excel(pred)
    frame.iloc[:2].to_excel(pred, index=False)
    args = ["eval", "--data", "MMStar", "--pred", str(pred), "--judge", "none", "--data-dir", str(tmp_path / "data"),
            SKIP_MD5]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "2 of 4 MMStar row(s) have no prediction" in err and "--allow-partial" in err
    assert main([*args, "--allow-partial"]) == 0
    out = capsys.readouterr().out
    assert "partial: 2 row(s) without prediction" in out
    record = json.loads((tmp_path / "M_MMStar_score.json").read_text())
    assert record["partial"] is True and record["complete"] is False
    assert record["counts"]["missing_predictions"] == 2 and record["counts"]["total"] == 2


def test_eval_records_its_settings_so_the_report_knows_version_and_md5_check(tmp_path, capsys):
    """Issue 18 item 3: `vleval eval` writes the settings record (today's report said "vleval ?")."""
    from vleval import __version__
    from vleval.datasets.results import read_score
    from vleval.report.collect import collect_runs

    work = tmp_path / "work" / "M"
    work.mkdir(parents=True)
    pred = prediction_file(tmp_path, "OCRBench", lambda i: "nothing legible")
    moved = pred.rename(work / pred.name)
    assert main(["eval", "--data", "OCRBench", "--pred", str(moved), "--data-dir", str(tmp_path / "data"),
                 SKIP_MD5]) == 0  # fmt: skip
    settings = read_score(work / "M_OCRBench_vleval.json").settings
    assert settings.vleval_version == __version__ and settings.verify_md5 is False
    assert settings.data_md5 and settings.data_md5_matches is False  # the synthetic file is not the real one
    described = collect_runs(tmp_path / "work")[0].settings.describe()
    assert f"vleval {__version__}" in described and "md5 check off" in described


# --------------------------------------------------------------------------------------------------
# run.json: what `vleval eval` scored and how (issue 20)
# --------------------------------------------------------------------------------------------------
def vlmevalkit_folder(tmp_path, name, text):
    """A VLMEvalKit work dir: <work>/M/T<date>_G<commit>/M_<name>.xlsx, no run.json."""
    pred = prediction_file(tmp_path, name, text)
    folder = tmp_path / "work" / "M" / "T20241201_Gb13a37db"
    folder.mkdir(parents=True)
    return pred.rename(folder / pred.name)


def test_eval_of_vlmevalkit_predictions_writes_a_record_that_says_they_were_made_elsewhere(
    tmp_path, capsys, monkeypatch
):
    from vleval.datasets.files import md5_of_file
    from vleval.report.results_file import build_results
    from vleval.settings import settings_of
    from vleval.workdir import read_manifest, recorded_runs, refuse_model_folder, scored_files

    key, password = "sk-evalmanifest-0123456789abcdef", "hunter2hunter2"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    pred = vlmevalkit_folder(tmp_path, "MMStar", lambda i: "A")
    argv = ["eval", "--pred", str(pred), "--judge", "none", "--data-dir", str(tmp_path / "data"), SKIP_MD5,
            "--judge-base-url", f"http://user:{password}@127.0.0.1:9/v1", "--seed", "3"]  # fmt: skip
    monkeypatch.setattr("sys.argv", ["vleval", *argv])
    assert main(argv) == 0
    model_dir = tmp_path / "work" / "M"
    assert str(model_dir / "run.json") in capsys.readouterr().out  # listed with the files written
    text = (model_dir / "run.json").read_text()
    assert key not in text and password not in text  # the command and the judge URL, redacted
    run = read_manifest(model_dir)
    assert run.written_by == "eval" and run.model.name == "M" and run.protocol.name == "2024.12"
    entry = run.benchmark("MMStar")
    assert entry.predictions_by == "elsewhere" and entry.scored_by == "eval"
    assert entry.prediction_file == "T20241201_Gb13a37db/M_MMStar.xlsx"
    assert entry.prediction_md5 == md5_of_file(pred) and entry.prediction_bytes == pred.stat().st_size
    assert entry.settings == {} and run.options_for("MMStar") == {}  # nothing is known of the inference
    scoring = entry.scoring
    assert scoring.judge_requested == "none" and scoring.judge_model is None
    assert scoring.judge_options["judge_base_url"] == "http://***@127.0.0.1:9/v1"
    assert scoring.options["seed"] == 3 and scoring.options["verify_md5"] is False
    assert scoring.command[:2] == ["vleval", "eval"] and scoring.versions["vleval"]
    assert entry.result_files and "M_MMStar_score.json" in entry.result_files
    # what reads it afterwards: the folder is one model's, listed as recorded, its inference unknown
    assert [p.name for p, _ in recorded_runs(tmp_path / "work")] == ["M"]
    [found] = scored_files(model_dir)
    settings = settings_of(found.record(), run, "MMStar")
    assert settings.cot is None and settings.seed == 3 and settings.rule_only
    with pytest.raises(VlevalError, match="is the folder of one model"):  # `run --work-dir` would nest in it
        refuse_model_folder(model_dir)
    results = build_results(tmp_path / "work")["models"]["M"]
    entry = results["benchmarks"]["MMStar"]
    assert (entry["predictions_by"], entry["scored_by"], entry["settings"]) == ("elsewhere", "eval", {})
    assert results["run"]["written_by"] == "eval"


def test_eval_into_a_loose_folder_writes_no_record(tmp_path, capsys):
    pred = prediction_file(tmp_path, "OCRBench", lambda i: "nothing legible")
    assert main(["eval", "--pred", str(pred), "--data-dir", str(tmp_path / "data"), SKIP_MD5]) == 0
    assert "no run.json written" in capsys.readouterr().out
    assert not (tmp_path / "run.json").exists()  # a folder of several models' files is no model's


def test_a_second_eval_adds_its_benchmark_and_an_unreadable_record_is_left_alone(tmp_path, capsys):
    from vleval.workdir import read_manifest

    pred = vlmevalkit_folder(tmp_path, "MMStar", lambda i: "A")
    data = ["--judge", "none", "--data-dir", str(tmp_path / "data"), SKIP_MD5]
    assert main(["eval", "--pred", str(pred), *data]) == 0
    other = prediction_file(tmp_path, "OCRBench", lambda i: "nothing legible")
    other = other.rename(pred.parent / other.name)
    assert main(["eval", "--pred", str(other), *data]) == 0
    run = read_manifest(tmp_path / "work" / "M")
    assert sorted(run.datasets) == ["MMStar", "OCRBench"]
    assert all(e.predictions_by == "elsewhere" for e in run.datasets.values())
    run_json = tmp_path / "work" / "M" / "run.json"
    run_json.write_text('{"schema": 99}')
    capsys.readouterr()
    assert main(["eval", "--pred", str(other), *data]) == 0  # the scores are still written
    err = capsys.readouterr().err
    assert "run.json not updated" in err and "schema 99" in err and "Traceback" not in err
    assert run_json.read_text() == '{"schema": 99}'  # nothing of it lost
