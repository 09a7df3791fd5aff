"""`vleval compare` end to end on the runs of ``conftest.runs``: a real tiny-model run (A) and a copy
whose predictions differ on a known set of rows, re-scored with the real `vleval eval` (B)."""

from __future__ import annotations

import json

import pandas as pd
from compare_support import FLIP_MMSTAR, MODEL, SUITE

from vleval.cli import main


def test_compare_finds_the_edited_rows(runs, capsys, tmp_path):
    assert main(["compare", str(runs["a"]), str(runs["b"]), "--json", str(tmp_path / "c.json")]) == 0
    text = capsys.readouterr().out
    assert "B better on 0, worse on 0, inconclusive on 3" in text  # 3 flips of 8 are not significant
    report = json.loads((tmp_path / "c.json").read_text())
    by_name = {b["benchmark"]: b for b in report["benchmarks"]}
    index_of = pd.read_excel(runs["a"] / MODEL / f"{MODEL}_MMStar.xlsx")["index"].tolist()
    flipped = [row["index"] for flip in by_name["MMStar"]["flips"] for row in flip["rows"]]
    assert sorted(str(i) for i in flipped) == sorted(str(index_of[p]) for p in FLIP_MMSTAR)
    assert by_name["MMStar"]["paired"]["test"].startswith("exact McNemar")
    assert by_name["OCRBench"]["flips"] == [] and by_name["OCRBench"]["paired"]["difference"] == 0
    assert by_name["HallusionBench"]["paired"]["test"].startswith("paired bootstrap")
    assert len(by_name["HallusionBench"]["flips"]) == 1
    for name in SUITE:
        assert f"{name}" in text
    assert "question" in text and "extracted" in text


def test_same_command_twice_is_byte_identical(runs, capsys):
    outputs = []
    for _ in range(2):
        assert main(["compare", str(runs["a"]), str(runs["b"]), "--seed", "3"]) == 0
        outputs.append(capsys.readouterr().out.encode())
    assert outputs[0] == outputs[1]


def test_refuses_different_cot_setting(runs, capsys):
    assert main(["compare", str(runs["a"]), str(runs["c"])]) == 2
    err = capsys.readouterr().err
    assert "CoT: A off, B on" in err and "--allow-different-settings" in err
    assert main(["compare", str(runs["a"]), str(runs["c"]), "--allow-different-settings"]) == 0
    out = capsys.readouterr().out
    assert out.index("SETTINGS DIFFER") < out.index("benchmark")


def test_eval_of_the_runs_own_predictions_keeps_the_runs_inference_record(runs):
    """B re-scored A's prediction files (edited) with `vleval eval` in the run's folder: its run.json
    keeps what the run did and says what the eval scored."""
    from vleval.workdir import read_manifest

    a, b = read_manifest(runs["a"] / MODEL), read_manifest(runs["b"] / MODEL)
    ran, rescored = a.benchmark("MMStar"), b.benchmark("MMStar")
    assert ran.scored_by == "run" and ran.predictions_by == "run" and ran.prediction_md5
    assert rescored.scored_by == "eval" and rescored.predictions_by == "run"
    assert rescored.settings == ran.settings and rescored.samples == ran.samples
    assert rescored.seconds["infer"] == ran.seconds["infer"] and "eval" in rescored.seconds
    assert rescored.prediction_md5 != ran.prediction_md5  # B edited the predictions: said in a note
    assert any("changed after `vleval run` scored it" in note for note in rescored.notes)
    assert rescored.scoring.judge_requested == "none" and rescored.scoring.command
    assert b.benchmark("OCRBench") == a.benchmark("OCRBench")  # not re-scored: as the run wrote it
    assert (b.command, b.model, b.settings, b.written_by) == (a.command, a.model, a.settings, None)
    assert b.provenance("MMStar") == "re-scored by `vleval eval`" and a.provenance("MMStar") == ""


def test_compare_names_an_eval_of_the_same_predictions_made_elsewhere(runs, tmp_path, capsys):
    import shutil

    from vleval.workdir import read_manifest

    folder = tmp_path / "e" / MODEL
    folder.mkdir(parents=True)
    pred = shutil.copy(runs["a"] / MODEL / f"{MODEL}_MMStar.xlsx", folder)
    assert main(["eval", "--pred", str(pred), "--judge", "none", "--data-dir", str(runs["data"]),
                 "--skip-md5-check"]) == 0  # fmt: skip
    same = read_manifest(runs["a"] / MODEL).benchmark("MMStar").prediction_md5
    assert read_manifest(folder).benchmark("MMStar").prediction_md5 == same  # the run's very predictions
    capsys.readouterr()
    assert main(["compare", str(runs["a"]), str(tmp_path / "e")]) == 2  # how B's were made is unknown
    assert "CoT: A off, B not recorded (MMStar)" in capsys.readouterr().err
    assert main(["compare", str(runs["a"]), str(tmp_path / "e"), "--allow-different-settings"]) == 0
    out = capsys.readouterr().out
    side_b = next(line for line in out.splitlines() if line.startswith("B: "))
    assert "predictions made elsewhere, scored by `vleval eval` (MMStar)" in side_b
    assert "B better on 0, worse on 0, inconclusive on 1" in out


def test_predictions_made_elsewhere_in_a_run_folder_carry_none_of_the_runs_marks(runs, tmp_path):
    """A VLMEvalKit prediction file scored into a folder a `vleval run` of a synthetic checkpoint also
    wrote: its score is not marked with that checkpoint, nor given the run's CoT or token budget."""
    import shutil

    from vleval.settings import SYNTHETIC_MARK, marks, settings_of
    from vleval.workdir import read_manifest, scored_files

    model_dir = tmp_path / MODEL
    shutil.copytree(runs["a"] / MODEL, model_dir)
    reference_run = model_dir / "T20241201_Gb13a37db"
    reference_run.mkdir()
    pred = model_dir / f"{MODEL}_MMStar.xlsx"
    pred = pred.rename(reference_run / pred.name)
    for stale in model_dir.glob(f"{MODEL}_MMStar_*"):  # the run's scoring of its own MMStar file
        stale.unlink()
    assert main(["eval", "--pred", str(pred), "--judge", "none", "--data-dir", str(runs["data"]),
                 "--skip-md5-check"]) == 0  # fmt: skip
    run = read_manifest(model_dir)
    assert run.benchmark("MMStar").predictions_by == "elsewhere" and run.written_by is None
    scored = {found.card.name: found for found in scored_files(model_dir)}
    elsewhere = settings_of(scored["MMStar"].record(), run, "MMStar")
    ran = settings_of(scored["OCRBench"].record(), run, "OCRBench")
    assert SYNTHETIC_MARK in marks(ran) and SYNTHETIC_MARK not in marks(elsewhere)
    assert ran.max_new_tokens == 8 and elsewhere.max_new_tokens is None and elsewhere.cot is None
