import dataclasses

import pandas as pd
import pytest

from vleval.datasets.loading import load_table
from vleval.datasets.predictions import prediction_texts, read_prediction_file, write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.protocol import Quirk, get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv

PROTOCOL = get_protocol("2024.12")
NO_NAN_QUIRK = dataclasses.replace(PROTOCOL, quirks=PROTOCOL.quirks - {Quirk.EMPTY_PREDICTION_IS_NAN})


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmu")
    out = {}
    for name in ("MMBench_DEV_EN_V11", "MMMU_DEV_VAL"):
        make_benchmark_tsv(name, root, n=4)
        out[name] = load_table(get_benchmark(name), PROTOCOL, root, verify_md5=False)
    return out


TRICKY = ["A", "", "=1+1", "http://example.com/x", "007", "None", "line1\nline2\tTabbed", "B. cat"]


def _predictions(table):
    return {index: TRICKY[i % len(TRICKY)] for i, index in enumerate(table["index"])}


@pytest.mark.parametrize("suffix", [".xlsx", ".tsv"])
def test_round_trip_keeps_layout_and_text(tmp_path, tables, suffix):
    table = tables["MMBench_DEV_EN_V11"]
    preds = _predictions(table)
    path = write_prediction_file(tmp_path / f"M_MMBench_DEV_EN_V11{suffix}", table, preds)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temp file left behind
    frame = read_prediction_file(path)
    assert list(frame.columns) == [c for c in table.columns if c != "image"] + ["prediction"]
    assert frame["index"].tolist() == table["index"].tolist()
    texts = prediction_texts(frame, NO_NAN_QUIRK)
    assert texts == [preds[i] for i in table["index"]]  # formulas, URLs, '007', tabs survive


def test_empty_prediction_reads_back_as_the_reference_does(tmp_path, tables):
    table = tables["MMBench_DEV_EN_V11"]
    path = write_prediction_file(tmp_path / "p.xlsx", table, _predictions(table))
    frame = read_prediction_file(path)
    assert pd.isna(frame["prediction"][1])
    quirky = prediction_texts(frame, PROTOCOL)
    assert quirky[1] == "nan" and quirky[5] == "nan"  # '' and 'None' both become 'nan'
    plain = prediction_texts(frame, NO_NAN_QUIRK)
    assert plain[1] == "" and plain[5] == "None"


def test_minimal_file_is_joined_with_the_dataset(tmp_path, tables):
    table = tables["MMBench_DEV_EN_V11"]
    path = tmp_path / "minimal.tsv"
    pd.DataFrame({"index": [table["index"][2], table["index"][0]], "prediction": ["B", "A"]}).to_csv(
        path, sep="\t", index=False
    )
    frame = read_prediction_file(path, table)
    assert frame["index"].tolist() == [table["index"][2], table["index"][0]]  # file order
    assert frame["answer"].tolist() == [table["answer"][2], table["answer"][0]]
    assert "image" not in frame.columns and frame["prediction"].tolist() == ["B", "A"]


def test_file_columns_win_over_the_dataset(tmp_path, tables):
    table = tables["MMBench_DEV_EN_V11"]
    path = tmp_path / "p.tsv"
    pd.DataFrame({"index": [table["index"][0]], "prediction": ["A"], "A": ["edited"]}).to_csv(
        path, sep="\t", index=False
    )
    assert read_prediction_file(path, table)["A"].tolist() == ["edited"]


def test_unknown_index_names_the_row(tmp_path, tables):
    path = tmp_path / "p.tsv"
    pd.DataFrame({"index": [0, 424242], "prediction": ["A", "B"]}).to_csv(path, sep="\t", index=False)
    with pytest.raises(DataCorruptError, match="row 3: index 424242"):
        read_prediction_file(path, tables["MMBench_DEV_EN_V11"])


def test_bad_prediction_files(tmp_path):
    with pytest.raises(DataMissingError):
        read_prediction_file(tmp_path / "absent.xlsx")
    with pytest.raises(VlevalError, match=".xlsx or .tsv"):
        read_prediction_file(tmp_path / "p.csv")
    no_pred = tmp_path / "p.tsv"
    pd.DataFrame({"index": [1]}).to_csv(no_pred, sep="\t", index=False)
    with pytest.raises(DataCorruptError, match="'prediction'"):
        read_prediction_file(no_pred)
    duplicate = tmp_path / "d.tsv"
    pd.DataFrame({"index": [1, 1], "prediction": ["A", "B"]}).to_csv(duplicate, sep="\t", index=False)
    with pytest.raises(DataCorruptError, match="repeats"):
        read_prediction_file(duplicate)


def test_writer_refuses_incomplete_or_foreign_predictions(tmp_path, tables):
    table = tables["MMBench_DEV_EN_V11"]
    preds = _predictions(table)
    first = table["index"][0]
    with pytest.raises(DataMissingError, match=f"index {first}"):
        write_prediction_file(tmp_path / "p.xlsx", table, {k: v for k, v in preds.items() if k != first})
    with pytest.raises(DataCorruptError, match="99999999"):
        write_prediction_file(tmp_path / "p.xlsx", table, {**preds, 99999999: "A"})
    assert not list(tmp_path.iterdir())


def test_multi_image_paths_and_extra_columns(tmp_path, tables):
    table = tables["MMMU_DEV_VAL"]
    preds = {i: "A" for i in table["index"]}
    thinking = {i: f"thought {i}" for i in table["index"]}
    path = write_prediction_file(tmp_path / "p.xlsx", table, preds, extra_columns={"thinking": thinking})
    frame = read_prediction_file(path, table)
    assert frame.columns[-2:].tolist() == ["prediction", "thinking"]
    multi = [v for v in frame["image_path"] if str(v).startswith("[")]
    assert multi and all(eval(v)[0].endswith("_1.png") for v in multi)  # list literal, as written


@pytest.mark.parametrize("suffix", [".xlsx", ".tsv"])
def test_prediction_files_follow_the_umask(tmp_path, tables, suffix):
    """Issue 10 item 8: created like every other file, not 0600."""
    import os

    old = os.umask(0o022)
    try:
        table = tables["MMBench_DEV_EN_V11"]
        path = write_prediction_file(tmp_path / f"M_MMBench_DEV_EN_V11{suffix}", table, _predictions(table))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_xlsx_cell_limit_is_said_and_rows_named_in_the_result_files(tmp_path, tables):
    """Issue 10 item 17: a prediction longer than an xlsx cell is cut there (as the reference's file
    is); the warning and the score record name the row, and _rows.jsonl keeps the text scoring saw."""
    import json

    from vleval.datasets.scoring import evaluate

    table = tables["MMBench_DEV_EN_V11"]
    long_text = "A " + "x" * 40_000
    preds = {index: ("A" if i else long_text) for i, index in enumerate(table["index"])}
    with pytest.warns(UserWarning, match="cut in the xlsx"):
        pred = write_prediction_file(tmp_path / "M_MMBench_DEV_EN_V11.xlsx", table, preds)
    first = str(table["index"].iloc[0])
    result = evaluate(get_benchmark("MMBench_DEV_EN_V11"), PROTOCOL, pred, None, table=table)
    assert result.record.truncated_in_xlsx == [first]
    assert any("cell limit" in note for note in result.record.notes)
    saved = json.loads((tmp_path / "M_MMBench_DEV_EN_V11_score.json").read_text())
    assert saved["truncated_in_xlsx"] == [first]
    # a .tsv keeps the full text: the result xlsx cuts it, _rows.jsonl does not
    tsv = write_prediction_file(tmp_path / "N_MMBench_DEV_EN_V11.tsv", table, preds)
    result = evaluate(get_benchmark("MMBench_DEV_EN_V11"), PROTOCOL, tsv, None, table=table)
    assert result.record.truncated_in_xlsx == [first]
    rows = [
        json.loads(line) for line in (tmp_path / "N_MMBench_DEV_EN_V11_rows.jsonl").read_text().splitlines()
    ]
    assert [r["prediction"] for r in rows if str(r["index"]) == first] == [long_text]


def test_blank_answer_and_empty_prediction_file_are_clear_errors(tmp_path, tables):
    """Issue 10 item 11: not the 'submit to the MMBench server' message, not an IndexError."""
    from vleval.datasets.scoring import evaluate

    card = get_benchmark("MMBench_DEV_EN_V11")
    table = tables["MMBench_DEV_EN_V11"].copy()
    table.loc[1, "answer"] = float("nan")
    pred = write_prediction_file(tmp_path / "M_MMBench_DEV_EN_V11.tsv", table, _predictions(table))
    index = table["index"].iloc[1]
    with pytest.raises(
        DataCorruptError, match=rf"'answer' cell is empty in the row\(s\) with index {index}\b"
    ):
        evaluate(card, PROTOCOL, pred, None, table=table)
    header_only = tmp_path / "H_MMBench_DEV_EN_V11.tsv"
    header_only.write_text("index\tprediction\n")
    with pytest.raises(
        DataCorruptError, match="H_MMBench_DEV_EN_V11.tsv: has a header but no prediction rows"
    ):
        evaluate(card, PROTOCOL, header_only, None)


def _cells_as_written(path):
    """The prediction cells read as text, nothing turned into NaN or a number (what scoring keeps)."""
    if path.suffix == ".xlsx":
        column = pd.read_excel(path, dtype=str, keep_default_na=False)["prediction"]
    else:
        column = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)["prediction"]
    return [str(v) for v in column]


@pytest.mark.parametrize("suffix", [".xlsx", ".tsv"])
@pytest.mark.parametrize(
    "cells, reads",
    [  # (cells of the 4 rows, reads of an xlsx, reads of a TSV)
        (["007", " NA", "True", "=1+1\nline2\tTabbed"], (1, 1)),  # text pandas keeps: read once
        (["A", "", "None", "NA"], (2, 2)),  # '' and NA words are NaN to pandas: read again
        (["7", "8", "007", "1.50"], (2, 1)),  # numbers to pandas' xlsx reader (the TSV reads them as text)
    ],
)
def test_prediction_cells_as_written_with_one_read_where_pandas_kept_them(
    tmp_path, tables, monkeypatch, suffix, cells, reads
):
    table = tables["MMBench_DEV_EN_V11"]
    preds = {index: cells[i % len(cells)] for i, index in enumerate(table["index"])}
    path = write_prediction_file(tmp_path / f"p{suffix}", table, preds)
    calls = []
    reader = "read_excel" if suffix == ".xlsx" else "read_csv"
    real = getattr(pd, reader)
    monkeypatch.setattr(pd, reader, lambda *a, **k: calls.append(1) or real(*a, **k))
    frame = read_prediction_file(path, table)
    monkeypatch.undo()
    assert prediction_texts(frame, NO_NAN_QUIRK) == _cells_as_written(path)
    assert len(calls) == reads[0 if suffix == ".xlsx" else 1]


def test_typed_xlsx_cells_read_as_the_text_reader_gives_them(tmp_path, tables):
    """A prediction xlsx written by another tool holds numbers, booleans and text in one column."""
    import openpyxl

    table = tables["MMBench_DEV_EN_V11"]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["index", "prediction"])
    for index, cell in zip(table["index"], [7, 1.5, True, "abc", "007", 2.0, "B", "C"], strict=False):
        sheet.append([int(index), cell])
    path = tmp_path / "typed.xlsx"
    book.save(path)
    frame = read_prediction_file(path, table)
    assert prediction_texts(frame, NO_NAN_QUIRK) == _cells_as_written(path)
