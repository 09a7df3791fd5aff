"""`vleval eval` from the command line."""

import json

import pytest

from vleval.cli import main
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.judge_server import JudgeServer


@pytest.fixture
def md5_free(monkeypatch):
    """Synthetic TSVs do not carry the registry's md5: accept them (loading reads this flag)."""
    import vleval.datasets.scoring as scoring

    monkeypatch.setattr(scoring, "_try_load_table", _load_unchecked)


def _load_unchecked(card, protocol, data_dir, notes):
    return load_table(card, protocol, root=data_dir, verify_md5=False)


def prediction_file(tmp_path, name, text):
    make_benchmark_tsv(name, tmp_path / "data", n=4, seed=2)
    card = get_benchmark(name)
    table = load_table(card, __import__("vleval.protocol").protocol.get_protocol(), root=tmp_path / "data",
                       verify_md5=False)  # fmt: skip
    return write_prediction_file(tmp_path / f"M_{name}.xlsx", table, {i: text(i) for i in table["index"]})


def test_rule_based_benchmark(tmp_path, capsys, md5_free):
    pred = prediction_file(tmp_path, "OCRBench", lambda i: "nothing legible")
    code = main(["eval", "--data", "OCRBench", "--pred", str(pred), "--data-dir", str(tmp_path / "data")])
    out = capsys.readouterr().out
    assert code == 0
    assert "Final Score (0-1000): 0.0000" in out and "M_OCRBench_score.json" in out
    assert json.loads((tmp_path / "M_OCRBench_score.json").read_text())["Final Score"] == 0


def test_judge_none_on_mcq_counts_rows_left_unmatched(tmp_path, capsys, md5_free):
    pred = prediction_file(tmp_path, "MMStar", lambda i: "I would rather not say")
    work = tmp_path / "out"
    code = main(["eval", "--data", "mmstar", "--pred", str(pred), "--judge", "none", "--data-dir",
                 str(tmp_path / "data"), "--work-dir", str(work), "--protocol", "2026.08"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "4 row(s) could not be matched by rule and had no judge" in out
    assert (work / "M_MMStar_exact_matching_result.xlsx").exists()
    assert json.loads((work / "M_MMStar_score.json").read_text())["metrics"]["rows_without_judge"] == 4


def test_judge_benchmark_without_judge_is_a_clear_error(tmp_path, capsys, md5_free):
    pred = prediction_file(tmp_path, "MathVista_MINI", lambda i: "7")
    code = main(["eval", "--data", "MathVista_MINI", "--pred", str(pred), "--judge", "none",
                 "--data-dir", str(tmp_path / "data")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "--judge MODEL --judge-base-url URL" in err and "Traceback" not in err


def test_with_a_judge_server(tmp_path, capsys, md5_free, monkeypatch):
    monkeypatch.delenv("LOCAL_LLM", raising=False)
    pred = prediction_file(tmp_path, "MMStar", lambda i: "I would rather not say")
    with JudgeServer() as server:
        code = main(["eval", "--data", "MMStar", "--pred", str(pred), "--judge", "gpt-4o-mini", "--judge-base-url",
                     server.base_url, "--data-dir", str(tmp_path / "data"), "--judge-workers", "2"])  # fmt: skip
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
