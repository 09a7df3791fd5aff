"""``vleval run --data MMStar --mmstar-gain --llm-base DIR`` on the tiny checkpoint and its tiny LLM
base: a text-only pass and an LLM-base pass beside the ordinary one, each scored like it, and MG / ML
in the score record and on the console equal to the three passes' own scores as the MMStar paper
defines them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vleval.cli import main
from vleval.datasets.results import read_score, score_record_path
from vleval.runner.gain import LLM_BASE, TEXT_ONLY, pass_file

MODEL = "TinyVL-Qwen2"


def _args(model: Path, data: Path, work: Path, *extra: str) -> list[str]:
    return ["run", "--model", str(model), "--data", "MMStar", "--data-dir", str(data), "--work-dir", str(work),
            "--skip-md5-check", "--max-new-tokens", "8", "--judge", "none", "--device", "cpu", "--dtype", "float32",
            "--batch-size", "3", "--no-progress", *extra]  # fmt: skip


def test_gain_and_leakage_end_to_end(tiny_model, bench_dir, tmp_path, capsys):
    from vleval.synthetic.checkpoints import make_tiny_base_llm

    base = make_tiny_base_llm(tmp_path / "Qwen2.5-tiny-Instruct", seed=0)
    work = tmp_path / "work"
    assert main(_args(tiny_model, bench_dir, work, "--mmstar-gain", "--llm-base", str(base))) == 0
    out = capsys.readouterr().out
    pred = work / MODEL / f"{MODEL}_MMStar.xlsx"
    scores = {}
    for kind in (TEXT_ONLY, LLM_BASE):
        path = pass_file(pred, kind)
        assert path.is_file()
        scores[kind] = read_score(score_record_path(path.with_suffix(""))).headline
    record = read_score(score_record_path(pred.with_suffix("")))
    gain = record.multimodal_gain
    assert gain is not None and gain.units == 6
    assert gain.with_images == pytest.approx(record.headline)
    assert gain.without_images == pytest.approx(scores[TEXT_ONLY])
    assert gain.llm_base == pytest.approx(scores[LLM_BASE])
    assert gain.gain == pytest.approx(record.headline - scores[TEXT_ONLY])
    assert gain.leakage == pytest.approx(max(0.0, scores[TEXT_ONLY] - scores[LLM_BASE]))
    assert gain.llm_base_model == "Qwen2.5-tiny-Instruct"
    assert f"{MODEL} MMStar: multi-modal gain MG {gain.gain:.2f}" in out
    run_json = json.loads((work / MODEL / "run.json").read_text())
    assert run_json["settings"]["mmstar_gain"] is True
    # the report's summary shows them beside the accuracy
    assert main(["report", "--work-dir", str(work)]) == 0
    summary = (work / "summary.md").read_text(encoding="utf-8")
    assert "## Beside the accuracy" in summary and f"{MODEL} / MMStar: multi-modal gain MG" in summary


def test_gain_options_are_checked_before_anything_runs(tiny_model, bench_dir, tmp_path, capsys):
    work = tmp_path / "work"
    assert main(_args(tiny_model, bench_dir, work, "--llm-base", str(tmp_path))) == 2
    assert "add --mmstar-gain" in capsys.readouterr().err
    args = _args(tiny_model, bench_dir, work, "--mmstar-gain")
    args[args.index("MMStar")] = "OCRBench"
    assert main(args) == 2
    assert "--mmstar-gain needs --data MMStar" in capsys.readouterr().err
    assert (
        main(_args(tiny_model, bench_dir, work, "--mmstar-gain", "--llm-base", str(tmp_path / "nope"))) == 2
    )
    assert "no config.json" in capsys.readouterr().err
    assert not (work / MODEL / f"{MODEL}_MMStar.xlsx").exists()
