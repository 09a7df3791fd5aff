import csv
import io

import pandas as pd

from vleval.report.build import write_report
from vleval.report.collect import collect_runs
from vleval.report.summary import build_summary, summary_csv, summary_markdown

MODEL = "InternVL2_5-8B"  # written by conftest.work_dirs


def test_table_numbers_on_one_scale(work_dirs):
    direct, _ = work_dirs
    summary = build_summary(collect_runs(direct), threshold=1.0)
    mmstar = summary.cell(MODEL, "MMStar")
    assert round(mmstar.ours, 2) == 75.00 and mmstar.published.score == 62.8
    assert round(mmstar.diff, 2) == 12.20 and mmstar.flagged(1.0)
    ocr = summary.cell(MODEL, "OCRBench")
    assert round(ocr.ours, 2) == 0.10 and ocr.flagged(1.0)  # Final Score 1 (of 1000) / 10
    hall = summary.cell(MODEL, "HallusionBench")
    assert round(hall.ours, 2) == 50.00 and round(hall.diff, 2) == -0.10  # mean(aAcc, fAcc, qAcc)
    assert not hall.flagged(1.0)


def test_mmmu_uses_the_better_of_direct_and_cot(work_dirs):
    summary = build_summary(collect_runs(work_dirs[0]) + collect_runs(work_dirs[1]))
    mmmu = summary.cell(MODEL, "MMMU_DEV_VAL")
    assert [round(r.score, 2) for r in mmmu.runs] == [50.0, 100.0]
    assert mmmu.chosen.settings.cot is True and round(mmmu.ours, 2) == 100.0
    assert mmmu.rule.startswith("best of direct 50.0 / CoT 100.0")  # both numbers on the cell


def test_threshold_decides_the_highlight(work_dirs):
    summary = build_summary(collect_runs(work_dirs[0]), threshold=20.0)
    assert not summary.cell(MODEL, "MMStar").flagged(summary.threshold)


def test_settings_travel_with_every_cell(work_dirs):
    summary = build_summary(collect_runs(work_dirs[0]))
    mmstar = summary.cell(MODEL, "MMStar").chosen.settings
    assert (mmstar.cot, mmstar.judge, mmstar.protocol, mmstar.version) == (
        False,
        "gpt-3.5-turbo-0125",
        "2024.12",
        "0.1.0",
    )
    assert summary.cell(MODEL, "OCRBench").chosen.settings.judge == "none (rule-based)"
    hall = summary.cell(MODEL, "HallusionBench").chosen.settings.judge
    assert hall.startswith("gpt-3.5-turbo-0125") and "not recorded" in hall


def test_summary_files_beside_the_html(work_dirs, tmp_path):
    files = write_report(list(work_dirs), tmp_path / "out" / "r.html")
    assert files.summary_md.parent == files.html.parent == tmp_path / "out"
    rows = {r["benchmark"]: r for r in csv.DictReader(io.StringIO(files.summary_csv.read_text()))}
    assert rows["MMStar"]["ours"] == "75.0000" and rows["MMStar"]["flagged"] == "yes"
    assert rows["MMMU_DEV_VAL"]["runs"] == "direct 50.00; CoT 100.00"
    assert rows["OCRBench"]["failed"] == "1" and rows["OCRBench"]["status"] == "complete"
    md = files.summary_md.read_text()
    assert "| InternVL2_5-8B |" in md and "75.00 [19.41, 99.37] / 62.8 (+12.20) !" in md


def test_missing_result_files_degrade_to_not_scored(work_dirs):
    direct, _ = work_dirs
    (direct / MODEL / f"{MODEL}_MMStar_acc.csv").unlink()
    (direct / MODEL / f"{MODEL}_MMStar_score.json").unlink()
    rows = direct / MODEL / f"{MODEL}_MMStar_rows.jsonl"
    first, second = rows.read_text().splitlines()[:2]
    rows.write_text(first + "\n" + second[:20])  # an interrupted write
    summary = build_summary(collect_runs(direct))
    cell = summary.cell(MODEL, "MMStar")
    assert cell.ours is None and cell.diff is None
    assert any("not scored" in n for n in cell.chosen.notes)
    assert [s.hit for s in cell.chosen.samples] == [True, None, None, None]  # truncated line skipped
    assert "—" in summary_markdown(summary) and "MMStar,," in summary_csv(summary)


def test_vlmevalkit_run_folders_are_read(work_dirs):
    """VLMEvalKit keeps results in <model>/T<date>_G<commit>/ folders: the newest one is used."""
    direct, _ = work_dirs
    model_dir = direct / MODEL
    old, new = model_dir / "T20241230_Gb13a37db", model_dir / "T20250102_Gb13a37db"
    old.mkdir()
    new.mkdir()
    for name in [p.name for p in model_dir.glob(f"{MODEL}_MMStar*")]:
        (model_dir / name).rename(new / name)
    (old / f"{MODEL}_MMStar.xlsx").write_bytes((new / f"{MODEL}_MMStar.xlsx").read_bytes())
    cell = build_summary(collect_runs(direct)).cell(MODEL, "MMStar")
    assert cell.chosen.pred_file.parent == new and round(cell.ours, 2) == 75.0


def test_the_recorded_judges_score_file_wins_over_a_newer_one(tmp_path):
    from vleval.families.base import family_of

    read_reference = family_of("MathVista_MINI").read_reference
    stem = tmp_path / "M_MathVista_MINI"
    for judge, acc in (("gpt-4o-mini", 40.0), ("gpt-4-turbo", 55.0)):  # gpt-4-turbo written last
        pd.DataFrame([{"Task&Skill": "Overall", "tot": 10, "acc": acc}]).to_csv(
            stem.with_name(f"{stem.name}_{judge}_score.csv"), index=False
        )
    assert read_reference(stem, "gpt-4o-mini-2024-07-18").headline == 40.0
    assert read_reference(stem, "gpt-4-1106-preview").headline == 55.0


def test_failed_judge_calls_and_partial_scoring_show_everywhere(tmp_path):
    """Issue 10 items 1 and 10: an incomplete or partial result is never shown as a plain score."""
    import pandas as pd

    from vleval.datasets.predictions import write_prediction_file
    from vleval.datasets.registry import get_benchmark
    from vleval.datasets.scoring import evaluate
    from vleval.protocol import get_protocol
    from vleval.synthetic.scripted_judge import ScriptedJudge

    model_dir = tmp_path / "work" / MODEL
    model_dir.mkdir(parents=True)
    table = pd.DataFrame(
        [
            {"index": i, "question": f"q{i}", "A": "cat", "B": "dog", "C": "cow", "D": "pig", "answer": "B"}
            for i in range(4)
        ]
    )
    pred = write_prediction_file(
        model_dir / f"{MODEL}_MMStar.xlsx", table, dict.fromkeys(table["index"], "no idea")
    )
    judge = ScriptedJudge(
        "Failed to obtain answer via API. ", short_name="chatgpt-0125", model="gpt-3.5-turbo-0125"
    )
    evaluate(get_benchmark("MMStar"), get_protocol("2024.12"), pred, judge, table=table)
    partial = table.iloc[:2]
    pred = write_prediction_file(
        model_dir / f"{MODEL}_AI2D_TEST.xlsx", partial, dict.fromkeys(partial["index"], "A")
    )
    evaluate(get_benchmark("AI2D_TEST"), get_protocol("2024.12"), pred, None, table=table, allow_partial=True)
    files = write_report([tmp_path / "work"], tmp_path / "r.html")
    rows = {r["benchmark"]: r for r in csv.DictReader(io.StringIO(files.summary_csv.read_text()))}
    assert rows["MMStar"]["judge_failed"] == "4" and rows["MMStar"]["status"].startswith("incomplete")
    assert rows["AI2D_TEST"]["missing_predictions"] == "2" and rows["AI2D_TEST"]["status"].startswith(
        "partial"
    )
    md = files.summary_md.read_text()
    # AI2D was scored without the judge its protocol names: rule-only, marked so beside "partial"
    assert "(incomplete: 4 judge call(s) failed)" in md
    assert "(partial: 2 row(s) without prediction; rule-only: the protocol's judge was not used)" in md
    html = files.html.read_text()
    assert "incomplete: 4 judge call(s) failed" in html and 'data-role="judge-failed"' in html


def test_samples_come_from_the_scored_rows_without_reading_the_prediction_file_again(work_dirs):
    """Rows carry their question and options: the sample browser shows them even when the prediction
    file can no longer be read (it is listed, not read again)."""
    direct, _ = work_dirs
    pred = direct / MODEL / f"{MODEL}_MMStar.xlsx"
    expected = pd.read_excel(pred)
    pred.write_bytes(b"not an xlsx any more")
    cell = build_summary(collect_runs(direct)).cell(MODEL, "MMStar")
    samples = cell.chosen.samples
    assert [s.question for s in samples] == list(expected["question"])
    assert samples[0].options == {k: str(expected.loc[0, k]) for k in "ABCD"}
    assert not any("could not read" in n for n in cell.chosen.notes)


def _renamed_run(work_dir, tmp_path, model: str):
    """The conftest run, its model folder and files renamed to ``model`` (a work dir as VLMEvalKit
    names it: <model>/<model>_<benchmark>...)."""
    import shutil

    target = tmp_path / "renamed" / model
    shutil.copytree(work_dir / MODEL, target)
    for path in sorted(target.rglob(f"{MODEL}_*")):
        path.rename(path.with_name(path.name.replace(MODEL, model, 1)))
    return target.parent


def test_an_internvl35_card_is_set_beside_its_report_figures(work_dirs, tmp_path):
    """InternVL3_5-8B's runs find arXiv 2508.18265's figures; its -Thinking entry finds the reasoning
    table's (MMMU), which the sources tie to thinking mode, and no MMStar figure."""
    plain = build_summary(collect_runs(_renamed_run(work_dirs[0], tmp_path / "a", "InternVL3_5-8B")))
    mmstar = plain.cell("InternVL3_5-8B", "MMStar")
    assert mmstar.published.score == 69.3 and "2508.18265" in mmstar.published.source
    assert round(mmstar.diff, 2) == 5.70  # 75.00 - 69.3
    thinking = build_summary(
        collect_runs(_renamed_run(work_dirs[0], tmp_path / "b", "InternVL3_5-8B-Thinking"))
    )
    assert thinking.cell("InternVL3_5-8B-Thinking", "MMMU_DEV_VAL").published.score == 73.4
    assert thinking.cell("InternVL3_5-8B-Thinking", "MMStar").published is None
