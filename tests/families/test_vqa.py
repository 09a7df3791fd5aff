"""Open-ended VQA (ChartQA relaxed accuracy, TextVQA VQA accuracy, DocVQA/InfoVQA ANLS): each metric's
edge cases, scoring parity with the reference's own ``evaluate`` at both pinned commits (fixture made by
``bench/vqa_scoring_reference.py``), bad answer cells, and ``vleval eval`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from vleval.cli import main
from vleval.datasets.registry import get_benchmark
from vleval.datasets.results import write_xlsx
from vleval.datasets.scoring import evaluate, score_frame
from vleval.errors import DataCorruptError
from vleval.families.vqa import VQAMetric, anls_distance, gold_answers, normalise_answer, score_row
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv, right_answer

OLD, NEW, OURS = get_protocol("2024.12"), get_protocol("2026.08"), get_protocol("vleval-1")
FIXTURE = json.loads((Path(__file__).parent / "data" / "vqa_reference.json").read_text(encoding="utf-8"))
PINNED = sorted(FIXTURE["reference"])


@pytest.mark.parametrize("name", sorted(FIXTURE["cases"]))
@pytest.mark.parametrize("protocol_name", PINNED)
def test_scores_equal_the_references_evaluate(name, protocol_name, tmp_path):
    """The acc table (every split or category and Overall, to the last bit) and each row's score are
    what VLMEvalKit's ImageVQADataset.evaluate gave on the same prediction file."""
    expected = FIXTURE["reference"][protocol_name][name]
    pred = write_xlsx(pd.DataFrame(FIXTURE["cases"][name]), tmp_path / f"M_{name}.xlsx")
    (tmp_path / "no-data").mkdir()
    result = evaluate(
        get_benchmark(name), get_protocol(protocol_name), pred, None, data_dir=tmp_path / "no-data"
    )
    acc = pd.read_csv(tmp_path / f"M_{name}_acc.csv")
    assert len(acc) == 1
    assert {str(k): float(v) for k, v in acc.iloc[0].items()} == expected["acc"]
    assert [row.score for row in result.rows] == expected["hits"]
    assert result.record.headline == expected["acc"]["Overall"]
    assert set(expected["files"]) <= {p.name for p in result.files}
    if "results" in expected:  # e8e78f05's per-row table, column by column as read back
        columns = {"eval_gt": str, "eval_pred": str, "eval_match": str}
        table = pd.read_excel(tmp_path / f"M_{name}_results.xlsx", dtype=columns, keep_default_na=False)
        for column, values in expected["results"].items():
            assert list(table[column]) == values, column


def test_the_pinned_protocols_differ_where_the_reference_did():
    """ChartQA's swapped tolerance (2024.12) and TextVQA's '5.' (2024.12 strips its period) move the
    reference's own numbers; the fixture must show it, else it tests nothing of the quirks."""
    old, new = FIXTURE["reference"]["2024.12"], FIXTURE["reference"]["2026.08"]
    assert old["ChartQA_TEST"]["acc"]["Overall"] != new["ChartQA_TEST"]["acc"]["Overall"]
    assert old["TextVQA_VAL"]["acc"]["Overall"] != new["TextVQA_VAL"]["acc"]["Overall"]


# --------------------------------------------------------------------------------------------------
# the metrics
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("gold", "prediction", "right"),
    [
        ("100", "104.9", True),  # within 5 % of the gold value
        ("100", "105.1", False),
        ("45%", "0.45", True),  # percent signs are read as /100
        ("45%", "45", False),
        ("0", "0", True),  # a zero gold value: only the same text is right
        ("0", "0.0", False),
        ("Yes", " yes ", True),  # text: case ignored, prediction stripped
        ("Yes", "Yes.", False),
        ("2018", "2017", True),  # years are numbers too
    ],
)
def test_relaxed_accuracy(gold, prediction, right):
    assert score_row(VQAMetric.RELAXED_ACCURACY, prediction, [gold], NEW).hit == float(right)


def test_relaxed_accuracy_is_relative_to_the_prediction_under_2024_12():
    assert score_row(VQAMetric.RELAXED_ACCURACY, "95.2", ["100"], OLD).hit == 0.0
    assert score_row(VQAMetric.RELAXED_ACCURACY, "95.2", ["100"], NEW).hit == 1.0
    assert score_row(VQAMetric.RELAXED_ACCURACY, "95.2", ["100"], OURS).hit == 1.0
    assert score_row(VQAMetric.RELAXED_ACCURACY, "13", ["12", "13"], OLD).hit == 1.0  # any gold answer


def test_anls_threshold_and_normalisation():
    assert score_row(VQAMetric.ANLS, "abxy", ["abcd"], NEW).hit == 0.5  # exactly 0.5 is kept
    assert score_row(VQAMetric.ANLS, "axy", ["abc"], NEW).hit == 0.0  # 1/3 is below the threshold
    assert score_row(VQAMetric.ANLS, "helo", ["hello"], NEW).hit == pytest.approx(0.8)
    assert score_row(VQAMetric.ANLS, "Invoice ", ["invoice"], NEW).hit == 1.0
    assert score_row(VQAMetric.ANLS, "1/8/93", ["01/08/93", "1/8/93"], NEW).hit == 1.0  # the closest answer
    # the length is the raw texts' (before whitespace is collapsed): 0 edits over 9 characters
    assert anls_distance("new  york", "new york") == 0.0


def test_vqa_accuracy_over_the_annotators():
    """min(1, others agreeing / 3) for each of the ten answers, averaged (leave-one-out)."""
    answers = ["coca cola"] * 3 + ["coke"] * 7
    # 'coca cola' x3: 2 others agree -> 2/3 each; 'coke' x7: 3 others agree -> 1 each
    assert score_row(VQAMetric.VQA_SCORE, "Coca-Cola", answers, NEW).hit == pytest.approx(0.9)
    assert score_row(VQAMetric.VQA_SCORE, "coke", answers, NEW).hit == 1.0
    one = ["the stop sign"] + ["yield"] * 9
    assert score_row(VQAMetric.VQA_SCORE, "stop sign", one, NEW).hit == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Two dogs", "2 dogs"),  # number words
        ("The cat", "cat"),  # articles
        ("dont", "don't"),  # contractions
        ("Hello, World!", "hello world"),  # punctuation
        ("1,000", "1000"),  # a digit comma: punctuation is deleted, not spaced
        ("new\tyork", "new york"),
    ],
)
def test_vqa_answer_normalisation(text, normalised):
    assert normalise_answer(text, NEW) == normalised


def test_a_period_after_a_digit_is_stripped_only_under_2024_12():
    assert normalise_answer("5.", OLD) == "5"
    assert normalise_answer("5.", NEW) == "5."


# --------------------------------------------------------------------------------------------------
# bad answer cells: one line naming the row, exit code 2 from the CLI
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("['a', 'b'", "not a Python list literal"),
        ("[]", "empty list"),
        ("['a', 3]", "list of strings"),
        ("[" + "'x', " * 30_000 + "]", "characters"),
    ],
)
def test_a_bad_answer_cell_is_refused_naming_the_row(cell, message):
    with pytest.raises(DataCorruptError, match=message) as error:
        gold_answers(cell, 17, get_benchmark("DocVQA_VAL"))
    assert "DocVQA_VAL: row 17" in str(error.value) and "\n" not in str(error.value)


def test_answer_cells_read_as_the_reference_reads_them():
    card = get_benchmark("TextVQA_VAL")
    assert gold_answers("['a', 'b']", 1, card) == ["a", "b"]
    assert gold_answers("yes", 1, card) == ["yes"]  # not a list: the one answer
    assert gold_answers("[sic]", 1, card) == ["[sic]"]  # brackets, but not a list of strings
    assert gold_answers("[12, 13]", 1, get_benchmark("ChartQA_TEST")) == ["12", "13"]  # str()ed there


def test_a_bad_answer_cell_exits_2_without_a_traceback(tmp_path, capsys):
    pred = write_xlsx(
        pd.DataFrame([{"index": 1, "question": "q", "answer": "['a', ", "prediction": "a"}]),
        tmp_path / "M_DocVQA_VAL.xlsx",
    )
    code = main(["eval", "--pred", str(pred), "--data-dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2 and "row 1" in err and "Traceback" not in err


# --------------------------------------------------------------------------------------------------
# end to end
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ChartQA_TEST", "TextVQA_VAL", "DocVQA_VAL", "InfoVQA_VAL"])
def test_vleval_eval_on_a_synthetic_file(name, tmp_path, capsys):
    from vleval.datasets.loading import load_table
    from vleval.datasets.predictions import write_prediction_file

    make_benchmark_tsv(name, tmp_path / "data", n=6, seed=1)
    card = get_benchmark(name)
    table = load_table(card, NEW, root=tmp_path / "data", verify_md5=False)
    rows = table.to_dict(orient="records")
    predictions = {row["index"]: right_answer(name, row) if k < 3 else "Z" for k, row in enumerate(rows)}
    folder = tmp_path / "work" / "M"
    pred = write_prediction_file(folder / f"M_{name}.xlsx", table, predictions)
    code = main(["eval", "--pred", str(pred), "--data-dir", str(tmp_path / "data"), "--skip-md5-check"])
    assert code == 0, capsys.readouterr().err
    acc = pd.read_csv(folder / f"M_{name}_acc.csv")
    assert acc["Overall"].iloc[0] == pytest.approx(50.0)
    detail = pd.read_excel(folder / f"M_{name}_results.xlsx", dtype={"eval_pred": str})
    assert (
        list(detail["eval_pred"][3:]) == ["Z", "Z", "Z"] or name == "TextVQA_VAL"
    )  # TextVQA's is normalised
    assert len(detail) == 6 and {"eval_gt", "eval_match", "eval_score"} <= set(detail.columns)


def test_a_row_scored_without_split_or_category_reports_overall_only(tmp_path):
    data = pd.DataFrame([{"index": 1, "answer": "['x']", "prediction": "x"}])
    result = score_frame(data, get_benchmark("InfoVQA_VAL"), NEW, None, stem=tmp_path / "M_InfoVQA_VAL")
    assert list(pd.read_csv(tmp_path / "M_InfoVQA_VAL_acc.csv").columns) == ["Overall"]
    assert result.record.headline == 100.0 and result.record.categories == {}


# --------------------------------------------------------------------------------------------------
# published figures and the dry-run bill
# --------------------------------------------------------------------------------------------------
def test_published_internvl25_figures_for_every_size():
    """arXiv 2412.05271 Table 7 prints ChartQA (test avg) and TextVQA (val) for all seven sizes; its
    DocVQA and InfoVQA columns are the test splits, so the _VAL benchmarks have no published figure."""
    from vleval.report.published import load_published

    table = load_published()
    sizes = ("1B", "2B", "4B", "8B", "26B", "38B", "78B")
    for size in sizes:
        for name in ("ChartQA_TEST", "TextVQA_VAL"):
            assert "2412.05271" in table[(f"InternVL2_5-{size}", name)].source
        assert (f"InternVL2_5-{size}", "DocVQA_VAL") not in table
    assert table[("InternVL2_5-8B", "ChartQA_TEST")].score == 84.8
    assert table[("InternVL2_5-8B", "TextVQA_VAL")].score == 79.1


@pytest.mark.parametrize("protocol", [OLD, NEW, OURS], ids=lambda p: p.name)
def test_the_dry_run_bill_has_no_judge(protocol):
    from vleval.workflows.bill import estimate_bill

    table = pd.DataFrame(FIXTURE["cases"]["DocVQA_VAL"])
    for name in ("ChartQA_TEST", "TextVQA_VAL", "DocVQA_VAL", "InfoVQA_VAL"):
        bill = estimate_bill(get_benchmark(name), protocol, table, None)
        assert bill.judge is None and bill.calls == 0 and "rule-based" in bill.note


@pytest.mark.parametrize(
    ("name", "tiles"), [("ChartQA_TEST", 12), ("TextVQA_VAL", 6), ("DocVQA_VAL", 18), ("InfoVQA_VAL", 24)]
)
def test_the_prompt_and_tiles_the_internvl_wrapper_uses(name, tiles):
    """build_prompt's VQA branch: the question, then the short-answer instruction, with and without
    CoT; an -MPO model switches to its MPO prompt only under CoT, and VQA answers are not cut."""
    from PIL import Image

    from vleval.models.internvl.prompts import build_request
    from vleval.models.registry import get_model
    from vleval.types import Sample

    image = Image.new("RGB", (64, 48), (40, 90, 200))
    row = Sample(dataset=name, index=3, question="What is the total?", options={}, hint=None,
                 image_paths=(), image_loader=lambda: [image])  # fmt: skip
    short = "<image>\nWhat is the total?\nAnswer the question using a single word or phrase."
    for protocol in (OLD, NEW):
        for cot in (False, True):
            request = build_request(row, get_benchmark(name), get_model("InternVL2_5-8B"), protocol, cot)
            assert (request.text, request.max_tiles, request.postprocess) == (short, tiles, "none")
        mpo = get_model("InternVL2_5-8B-MPO")
        assert build_request(row, get_benchmark(name), mpo, protocol, False).text == short
        with_cot = build_request(row, get_benchmark(name), mpo, protocol, True)
        assert (
            with_cot.text != short
            and "What is the total?" in with_cot.text
            and with_cot.postprocess == "none"
        )


def test_diff_protocols_names_the_chartqa_quirk_and_its_rows(tmp_path, capsys):
    pred = write_xlsx(pd.DataFrame(FIXTURE["cases"]["ChartQA_TEST"]), tmp_path / "M_ChartQA_TEST.xlsx")
    code = main(["diff-protocols", "2024.12", "2026.08", "--pred", str(pred), "--data", "ChartQA_TEST",
                 "--data-dir", str(tmp_path / "none")])  # fmt: skip
    out = capsys.readouterr().out
    old, new = (FIXTURE["reference"][p]["ChartQA_TEST"]["acc"]["Overall"] for p in ("2024.12", "2026.08"))
    assert code == 0 and f"headline {old:.2f} -> {new:.2f}" in out
    assert "ChartQA relaxed accuracy arguments swapped: 1 row right -> wrong, 2 rows wrong -> right" in out
