"""Small frictions a new user trips over (issue 22 item 9): `eval` reads the benchmark from the file
name, `--dry-run` fails when the run would, an md5 mismatch is called one, and a model folder given
as a work dir is named with its parent."""

from __future__ import annotations

from vleval.cli import main
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import benchmark_of_file, get_benchmark
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv


def _prediction_file(tmp_path, model: str, name: str):
    make_benchmark_tsv(name, tmp_path / "data", n=4, seed=2)
    table = load_table(get_benchmark(name), get_protocol(), root=tmp_path / "data", verify_md5=False)
    folder = tmp_path / "work" / model
    folder.mkdir(parents=True, exist_ok=True)
    return write_prediction_file(folder / f"{model}_{name}.xlsx", table, {i: "A" for i in table["index"]})


def test_the_benchmark_is_read_from_a_model_dataset_file_name(tmp_path, capsys):
    assert benchmark_of_file("x/InternVL2_5-8B_MMBench_DEV_EN_V11.xlsx").name == "MMBench_DEV_EN_V11"
    assert benchmark_of_file("x/My_Model_MMStar.tsv").name == "MMStar"
    pred = _prediction_file(tmp_path, "M", "OCRBench")
    code = main(["eval", "--pred", str(pred), "--data-dir", str(tmp_path / "data"), "--skip-md5-check"])
    captured = capsys.readouterr()
    assert code == 0 and "--data OCRBench (from the file name)" in captured.err
    assert (pred.parent / "M_OCRBench_score.json").is_file()


def test_a_file_name_without_a_benchmark_asks_for_data(tmp_path, capsys):
    pred = _prediction_file(tmp_path, "M", "OCRBench")
    renamed = pred.rename(pred.with_name("predictions.xlsx"))
    code = main(["eval", "--pred", str(renamed), "--skip-md5-check"])
    err = capsys.readouterr().err
    assert code == 2 and "pass --data NAME" in err and "Traceback" not in err


def test_dry_run_exits_2_and_says_unknown_when_data_is_missing(tmp_path, capsys):
    code = main(["run", "--model", "InternVL2_5-1B", "--data", "MMStar", "--dry-run",
                 "--model-dir", str(tmp_path / "pretrained"), "--data-dir", str(tmp_path / "empty"),
                 "--work-dir", str(tmp_path / "work"), "--judge-base-url", "http://127.0.0.1:9/v1"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 2
    assert "data missing" in out and "vleval data download MMStar" in out
    assert "total: unknown (MMStar not billed)" in out and "0 calls" not in out


def test_an_md5_mismatch_is_called_one_with_skip_md5_check_offered(tmp_path, capsys):
    make_benchmark_tsv("MMStar", tmp_path / "data", n=4, seed=0)  # not the real file: another md5
    code = main(["run", "--model", "InternVL2_5-1B", "--data", "MMStar", "--dry-run", "--judge", "none",
                 "--model-dir", str(tmp_path / "pretrained"), "--data-dir", str(tmp_path / "data"),
                 "--work-dir", str(tmp_path / "work")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 2
    assert "md5 mismatch" in out and "data missing" not in out
    assert "vleval data download MMStar" in out and "--skip-md5-check" in out


def test_a_model_folder_given_as_work_dir_names_its_parent(tmp_path, capsys):
    pred = _prediction_file(tmp_path, "M", "OCRBench")
    assert main(["eval", "--pred", str(pred), "--data-dir", str(tmp_path / "data"), "--skip-md5-check"]) == 0
    capsys.readouterr()
    folder = str(pred.parent)
    commands = [
        ["report", "--work-dir", folder],
        [
            "judge-audit",
            "--work-dir",
            folder,
            "--judge",
            "gpt-4o-mini",
            "--judge-base-url",
            "http://127.0.0.1:9/v1",
        ],
        ["run", "--model", "InternVL2_5-1B", "--data", "OCRBench", "--work-dir", folder, "--dry-run"],
    ]
    for command in commands:
        code = main(command)
        err = capsys.readouterr().err
        assert code == 2, command
        assert "pass its parent" in err and str(pred.parent.resolve().parent) in err, command
