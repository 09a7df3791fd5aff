"""`vleval run` of an InternVL3.5 -Thinking entry on its tiny Qwen3 checkpoint: the reference's thinking
settings reach the model, the reasoning is kept, unanswered replies are counted as censored, the
settings record says how the numbers were made, and --seeds runs reproducible sampled passes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from runner_support import DATASETS, run_args

from vleval.cli import main
from vleval.settings import differences, non_defaults, settings_from_json

THINKING = "InternVL3_5-1B-Thinking"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("models")
    make_tiny_checkpoint(root / "InternVL3_5-1B", "qwen3")
    return root


def _args(bench_dir: Path, models: Path, work: Path, *extra: str) -> list[str]:
    args = run_args(Path("x"), bench_dir, work, *extra)
    args[args.index("--model") + 1 : args.index("--model") + 2] = [THINKING, "--model-dir", str(models)]
    return args


@pytest.fixture(scope="module")
def two_seeds(bench_dir, models, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("thinking")
    assert main(["run", *_args(bench_dir, models, work, "--seeds", "2")]) == 0
    return work / THINKING


def _predictions(path: Path) -> list[str]:
    return [str(v) for v in pd.read_excel(path)["prediction"]]


def test_a_thinking_entry_runs_with_the_reference_settings_and_counts_censored_replies(two_seeds):
    pred = two_seeds / f"{THINKING}_MMStar.xlsx"
    frame = pd.read_excel(pred)
    assert "thinking" in frame.columns  # the reference's reasoning column (SPLIT_THINK)
    prompts = [json.loads(line) for line in (two_seeds / f"{THINKING}_MMStar_prompts.jsonl").open()]
    assert all(
        p["prompt"].startswith("<|im_start|>system\nYou are an AI assistant that rigorously") for p in prompts
    )
    # 8 new tokens of random weights never close a <think>: every reply is censored, and said so
    marks = json.loads((two_seeds / f"{THINKING}_MMStar_censored.json").read_text())
    assert len(marks) == DATASETS["MMStar"] and set(marks.values()) <= {"no_think_end", "token_limit"}
    rows = [json.loads(line) for line in (two_seeds / f"{THINKING}_MMStar_rows.jsonl").open()]
    assert all(row["extra"]["thinking_censored"] for row in rows)
    record = json.loads((two_seeds / f"{THINKING}_MMStar_score.json").read_text())
    assert any(f"{DATASETS['MMStar']} thinking-mode replies censored" in note for note in record["notes"])
    assert record["bounds"] == [0.0, 100.0]  # censored rows move the score anywhere: shown, not hidden
    settings = settings_from_json(record["settings"])
    shown = non_defaults(settings)
    assert "thinking mode on" in shown and "decoding sampled at temperature 0.6, top_p 0.95" in shown
    assert "token budget 8" in shown  # lowered from the entry's 2**16: the record says so
    assert "sampling seeds 2 (0, 1)" in shown


def test_seeds_are_pooled_and_each_is_reproducible(two_seeds, bench_dir, models, tmp_path):
    record = json.loads((two_seeds / f"{THINKING}_OCRBench_vleval.json").read_text())
    assert record["notes"][0].startswith("mean over 2 sampling seeds")
    assert "one of 2 sampling seeds" in record["intervals"]["headline"]["method"]
    second = two_seeds / "seeds" / "seed1" / f"{THINKING}_MMStar.xlsx"
    own = json.loads((second.parent / f"{THINKING}_MMStar_score.json").read_text())
    assert own["settings"]["sampling_seeds"] == [1]  # a seed's own record names its seed alone
    # another seed draws other tokens
    assert _predictions(second) != _predictions(two_seeds / f"{THINKING}_MMStar.xlsx")
    # the same seed, in a new run, draws the same ones
    work = tmp_path / "again"
    assert main(["run", *_args(bench_dir, models, work, "--data", "MMStar")]) == 0
    again = work / THINKING / f"{THINKING}_MMStar.xlsx"
    assert _predictions(again) == _predictions(two_seeds / f"{THINKING}_MMStar.xlsx")


def test_a_thinking_result_is_never_taken_for_a_plain_one(two_seeds):
    """The settings differ decisively from a greedy run of the same checkpoint (compare refuses them
    without --allow-different-settings, the report never merges them)."""
    from vleval.types import EvalSettings

    thinking = settings_from_json(
        json.loads((two_seeds / f"{THINKING}_MMStar_score.json").read_text())["settings"]
    )
    plain = EvalSettings(protocol=thinking.protocol, cot=thinking.cot)
    labels = {d.label for d in differences(thinking, plain, decisive=True)}
    assert {"thinking mode", "decoding"} <= labels


def test_rescoring_a_thinking_prediction_file_keeps_its_marks(two_seeds, bench_dir, tmp_path):
    """`vleval eval` on a thinking run's prediction file: the censored rows are counted again and the
    settings still say thinking mode and sampled decoding (from the run.json beside it)."""
    import shutil

    folder = shutil.copytree(two_seeds, tmp_path / THINKING)
    pred = folder / f"{THINKING}_MMStar.xlsx"
    assert (
        main(
            ["eval", "--pred", str(pred), "--data-dir", str(bench_dir), "--skip-md5-check", "--judge", "none"]
        )
        == 0
    )
    record = json.loads((folder / f"{THINKING}_MMStar_score.json").read_text())
    assert any("thinking-mode replies censored" in note for note in record["notes"])
    from vleval.datasets.results import read_score
    from vleval.settings import settings_of
    from vleval.workdir import read_manifest

    settings = settings_of(
        read_score(folder / f"{THINKING}_MMStar_score.json"), read_manifest(folder), "MMStar"
    )
    assert settings.thinking and settings.temperature == 0.6


def test_the_dry_run_says_its_bills_are_for_one_seed(bench_dir, models, tmp_path, capsys):
    assert main(["run", *_args(bench_dir, models, tmp_path / "work", "--seeds", "3", "--dry-run")]) == 0
    assert "--seeds 3: each benchmark is inferred and scored 3 times" in capsys.readouterr().out


def test_seeds_for_a_greedy_model_are_refused_in_one_line(bench_dir, models, tmp_path, capsys):
    args = _args(bench_dir, models, tmp_path / "work", "--seeds", "3")
    args[args.index("--model") + 1] = "InternVL3_5-1B"
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert "--seeds 3" in err and "greedily" in err and "Traceback" not in err


def test_compare_reads_every_seed_of_a_several_seed_run(two_seeds, tmp_path, capsys):
    """`vleval compare` of the --seeds 2 run against a copy: every benchmark is compared by its seeds'
    mean (the pooled record's headline), and the output says each side has two seeds."""
    import shutil

    from vleval.datasets.results import read_score, score_record_path

    copy = shutil.copytree(two_seeds, tmp_path / THINKING)
    out = tmp_path / "compare.json"
    assert main(["compare", str(two_seeds), str(copy), "--resamples", "50", "--json", str(out)]) == 0
    assert " 2/2 " in capsys.readouterr().out
    compared = json.loads(out.read_text())["benchmarks"]
    assert {c["benchmark"] for c in compared} == set(DATASETS)
    for c in compared:
        record = read_score(score_record_path(two_seeds / f"{THINKING}_{c['benchmark']}"))
        assert (c["seeds_a"], c["seeds_b"]) == (2, 2)
        assert c["paired"]["a"] == pytest.approx(record.headline)
        assert c["paired"]["difference"] == 0
