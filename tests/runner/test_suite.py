"""A suite file (`vleval run --config`, `vleval slurm --config`, the dry run): models x benchmarks with
settings per benchmark, checked with errors that name the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runner_support import MODEL_NAME

from vleval.cli import main

DOCS = Path(__file__).resolve().parents[2] / "docs" / "suites.md"


def _suite(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[suite]\nmodels = ["m"]\ncott = true\n[benchmarks.MMStar]\n', "[suite] cott: unknown key. Did you mean 'cot'?"),
        ('[suite]\nmodels = ["m"]\n[benchmarks.MMStar]\nprotocol = "2026.08"\n',
         "[benchmarks.MMStar] protocol: set it in [suite]"),
        ('[suite]\nmodels = ["m"]\n[benchmarks.MMStar]\nmax_new_tokens = "lots"\n',
         "[benchmarks.MMStar] max_new_tokens"),
        ('[suite]\nmodels = ["m"]\n[benchmarks.MMStar]\ncot = "yes"\n', "[benchmarks.MMStar] cot must be true or false"),
        ('[suite]\nmodels = ["m"]\n[benchmarks.MMStarr]\n', "Did you mean MMStar"),
        ('[benchmarks.MMStar]\n', "no [suite] table"),
        ('[suite]\nmodels = ["m"]\n[benchmarks.MMStar]\nmax_tiles = 6\n', "[benchmarks.MMStar] max_tiles: unknown key"),
        ('[suite]\nmodels = ["m"\n', "not a TOML file"),
    ],
)  # fmt: skip
def test_a_bad_suite_is_refused_in_one_line_naming_the_key(tmp_path, capsys, text, expected):
    path = _suite(tmp_path, text)
    assert main(["run", "--config", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert (
        expected in err and str(path) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    )


def test_cot_for_mmmu_only_and_a_judge_per_benchmark_run_as_groups(tiny_model, bench_dir, tmp_path, capsys):
    work = tmp_path / "work"
    suite = _suite(
        tmp_path,
        f"""
[suite]
models = ["{tiny_model}"]
work_dir = "work"
data_dir = "{bench_dir}"
skip_md5_check = true
judge = "none"
max_new_tokens = 8
device = "cpu"
no_progress = true

[benchmarks.MMStar]
cot = true
[benchmarks.OCRBench]
""",
    )
    assert main(["run", "--config", str(suite), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "1 model(s) x 1 benchmark(s)" in out and "CoT on" in out and "CoT off" in out
    assert main(["run", "--config", str(suite)]) == 0
    run = json.loads((work / MODEL_NAME / "run.json").read_text())
    # both groups are in the one run.json, each benchmark with the settings it ran with
    assert run["datasets"]["MMStar"]["settings"]["cot"] is True
    assert run["datasets"]["OCRBench"]["settings"]["cot"] is False
    results = json.loads((work / "results.json").read_text())["models"][MODEL_NAME]["benchmarks"]
    assert results["MMStar"]["settings"]["cot"] is True and results["OCRBench"]["settings"]["cot"] is False


def test_slurm_config_forwards_the_suite_to_one_job_per_model(tmp_path, capsys):
    suite = _suite(tmp_path, '[suite]\nmodels = ["InternVL2_5-8B", "InternVL2_5-1B"]\n[benchmarks.MMStar]\n')
    assert main(["slurm", "--config", str(suite), "--log-dir", str(tmp_path / "logs")]) == 0
    out = capsys.readouterr().out
    for model in ("InternVL2_5-8B", "InternVL2_5-1B"):
        assert f"-m vleval run --config {suite.resolve()} --model {model}" in out


def test_every_example_in_the_docs_is_a_valid_suite(tmp_path):
    from vleval.runner.suite import load_suite

    text = DOCS.read_text()
    blocks = text.split("```toml\n")[1:]
    assert len(blocks) >= 3
    for k, block in enumerate(blocks):
        path = tmp_path / f"example{k}.toml"
        path.write_text(block.split("```")[0])
        suite = load_suite(path)
        assert suite.models and suite.benchmarks
