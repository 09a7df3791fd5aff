"""`vleval run --dry-run`: per benchmark the samples, the progress so far and what is missing, and the
numbers that will not mean what their names say; nothing is loaded or run."""

from __future__ import annotations

from runner_support import MODEL_NAME, run_args

from vleval.cli import main


def test_dry_run_prints_counts_state_and_fetch_commands(reference_run, tiny_model, bench_dir, capsys):
    rc = main(["run", *run_args(tiny_model, bench_dir, reference_run), "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "MMStar" in out and "6 samples" in out and "4 samples" in out and "predictions done" in out
    rc = main(["run", "--model", str(tiny_model), "InternVL2_5-2B", "--data", "MMStar", "CRPE_EXIST",
               "--data-dir", str(bench_dir), "--skip-md5-check", "--dry-run", "--work-dir", str(reference_run)])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 2 and "missing" in out  # what would stop the run stops the dry run too
    assert "vleval models download InternVL2_5-2B" in out and "vleval data download CRPE_EXIST" in out


def test_dry_run_lists_benchmarks_scored_rule_only_by_judge_none(tiny_model, bench_dir, tmp_path, capsys):
    """Issue 18 item 2: `--judge none` is the explicit way to rule-only scoring, and the dry run says
    which benchmarks it concerns (MMStar's protocol names a judge; OCRBench's metric is rule-based)."""
    assert main(["run", *run_args(tiny_model, bench_dir, tmp_path / "work"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "MMStar: rule-only scoring; the protocol's judge (gpt-3.5-turbo-0125) will not be used" in out
    assert "--judge none asks for none" in out and "OCRBench: rule-only" not in out
    assert f"{MODEL_NAME}: a random-weight synthetic checkpoint" in out
