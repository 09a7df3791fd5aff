import json
import re

from vleval.report.build import write_compare, write_report

MODEL = "InternVL2_5-8B"  # written by conftest.work_dirs


def _data(html: str) -> dict:
    block = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)
    return json.loads(block.group(1))


def test_report_is_one_offline_file(work_dirs, tmp_path):
    html = write_report(list(work_dirs), tmp_path / "report.html").html.read_text()
    # nothing fetched from anywhere: no external src/href, no stylesheet or script links
    assert not re.search(r'(src|href)\s*=\s*"(https?:)?//', html)
    assert "<link" not in html and "<script src" not in html
    assert "default-src 'none'" in html  # the page itself forbids network loads
    assert "<svg" in html  # charts are inline SVG


def test_table_cells_show_ours_published_diff_and_settings(work_dirs, tmp_path):
    html = write_report(list(work_dirs), tmp_path / "report.html").html.read_text()
    cell = re.search(
        rf'<td class="flag" data-model="{MODEL}" data-benchmark="MMStar".*?</td>', html, re.S
    ).group(0)
    assert (
        '<span data-role="published">62.8</span>' in cell and '<span data-role="diff">+12.20</span>' in cell
    )
    assert ">75.00<" in cell
    # the settings are shown once per run, in the table under the results matrix, not in every cell
    settings = re.search(r'<table class="run-settings".*?</table>', html, re.S).group(0)
    assert "CoT off · judge gpt-3.5-turbo-0125 · protocol 2024.12 · vleval 0.1.0" in settings
    assert "CoT off · judge" not in cell
    hall = re.search(r'<td class="(\w+)" data-model="[^"]+" data-benchmark="HallusionBench"', html).group(1)
    assert hall == "cell"  # within the threshold: not highlighted
    mmmu = re.search(r'data-benchmark="MMMU_DEV_VAL".*?</td>', html, re.S).group(0)
    assert "direct 50.00" in mmmu and "CoT 100.00 ✓" in mmmu


def test_sample_browser_data_has_prompt_verdict_and_escapes_markup(work_dirs, tmp_path):
    html = write_report([work_dirs[0]], tmp_path / "report.html").html.read_text()
    samples = _data(html)["samples"]
    assert len(samples) == 11
    miss = next(s for s in samples if s["b"] == "MMStar" and s["i"] == "4")
    assert miss["runs"][0]["h"] is False and miss["runs"][0]["x"] == "A" and miss["a"] == "D"
    assert miss["o"] == {"A": "cat", "B": "dog", "C": "cow", "D": "pig"}
    data = _data(html)
    prompt = data["prefixes"][miss["runs"][0]["pp"]] + miss["runs"][0]["pr"]  # shared part stored once
    assert prompt.startswith("<|im_start|>user\n<img><IMG_CONTEXT>×512</img>")  # 512 tokens collapsed
    assert prompt.endswith("What is written <b>here</b>?")
    assert miss["runs"][0]["t"] == [2]
    assert "<b>here</b>" in miss["q"]  # kept as text in JSON, rendered with textContent
    assert "What is written <b>here</b>" not in html.split('id="report-data"')[0]
    failed = next(s for s in samples if s["b"] == "OCRBench" and s["i"] == "1")
    assert failed["runs"][0]["f"] is True
    hall = [s["runs"][0]["h"] for s in samples if s["b"] == "HallusionBench"]
    assert hall == [True, False]  # from the reference's auxmatch file (no _rows.jsonl)


def test_script_end_tag_in_a_prediction_cannot_break_the_page(work_dirs, tmp_path):
    import pandas as pd

    pred = work_dirs[0] / MODEL / f"{MODEL}_MMStar.xlsx"
    table = pd.read_excel(pred)
    table.loc[0, "prediction"] = "</script><script>alert(1)</script>"
    table.to_excel(pred, index=False)
    from vleval.datasets.registry import get_benchmark
    from vleval.datasets.scoring import evaluate
    from vleval.protocol import get_protocol

    # scored again: the report shows the scored rows' predictions
    evaluate(get_benchmark("MMStar"), get_protocol("2024.12"), pred, None, data_dir=tmp_path)
    html = write_report([work_dirs[0]], tmp_path / "report.html").html.read_text()
    assert html.count("</script>") == 2  # the JSON block and the page script only
    first = next(s for s in _data(html)["samples"] if s["b"] == "MMStar" and s["i"] == "1")
    assert first["runs"][0]["p"] == "</script><script>alert(1)</script>"


def test_compare_shows_score_change_and_changed_verdicts(work_dirs, tmp_path):
    out = write_compare(work_dirs[0], work_dirs[1], tmp_path / "compare.html")
    html = out.read_text()
    row = re.search(r'<tr data-model="[^"]+" data-benchmark="MMMU_DEV_VAL">.*?</tr>', html, re.S).group(0)
    assert '<td data-role="a">50.00</td>' in row and '<td data-role="b">100.00</td>' in row
    assert '<td class="delta-up" data-role="delta">+50.00</td>' in row
    assert '<td data-role="changed">1 of 3</td>' in row
    samples = _data(html)["samples"]
    assert [(s["i"], [r["h"] for r in s["runs"]]) for s in samples] == [("validation_Art_1", [False, True])]
    assert samples[0]["runs"][0]["label"].startswith("A · ")


def test_compare_names_runs_present_on_one_side_only(work_dirs, tmp_path):
    html = write_compare(work_dirs[1], work_dirs[0], tmp_path / "compare.html").read_text()
    assert "only in B: InternVL2_5-8B · MMStar" in html
    assert "only in A:" not in html


def test_the_same_directory_twice_counts_once(work_dirs, tmp_path):
    files = write_report([work_dirs[0], work_dirs[0]], tmp_path / "r.html")
    assert len(files.summary.cell(MODEL, "MMStar").runs) == 1


def test_direct_and_cot_runs_side_by_side_in_the_sample_browser(work_dirs, tmp_path):
    html = write_report(list(work_dirs), tmp_path / "report.html").html.read_text()
    mmmu = [s for s in _data(html)["samples"] if s["b"] == "MMMU_DEV_VAL"]
    assert [[r["label"] for r in s["runs"]] for s in mmmu] == [["direct 50.00", "CoT 100.00 (used)"]] * 3
    assert [[r["h"] for r in s["runs"]] for s in mmmu] == [[True, True], [True, True], [False, True]]


def test_an_empty_prediction_is_shown_as_empty_and_rows_say_how_they_were_decided(work_dirs, tmp_path):
    """Issue 18 item 7: a model that answered nothing shows "(empty)" (the sample browser leaves empty
    values out), and the browser's label is not "judge verdict" (OCRBench has no judge)."""
    from pathlib import Path

    from vleval.report.collect import SampleRecord
    from vleval.report.html import sample_json

    empty = sample_json(None, SampleRecord(index="1", prediction=""))  # type: ignore[arg-type]
    assert empty["p"] == "(empty)"
    assert sample_json(None, SampleRecord(index="1", prediction="A"))["p"] == "A"  # type: ignore[arg-type]
    script = (Path(__file__).parents[2] / "src/vleval/report/assets/report.js").read_text()
    assert "judge verdict" not in script and "how it was decided" in script
    html = write_report(list(work_dirs), tmp_path / "report.html").html.read_text()
    assert "judge verdict" not in html


def test_a_wide_results_matrix_is_cut_into_even_groups_of_benchmarks():
    """Up to 12 benchmarks the results matrix is one table; 25 make three of 9, 8 and 8 (never a stub
    table of one or two), in the order given (the browser test checks they fit a laptop)."""
    from vleval.report.html import benchmark_groups

    names = [f"B{k}" for k in range(25)]
    assert benchmark_groups(names[:11]) == [names[:11]]
    assert benchmark_groups(names[:12]) == [names[:12]]
    assert [len(g) for g in benchmark_groups(names[:13])] == [7, 6]
    groups = benchmark_groups(names)
    assert [len(g) for g in groups] == [9, 8, 8] and sum(groups, []) == names
