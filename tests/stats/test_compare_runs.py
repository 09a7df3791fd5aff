"""`vleval compare` end to end on the runs of ``conftest.runs``: a real tiny-model run (A) and a copy
whose predictions differ on a known set of rows, re-scored with the real `vleval eval` (B)."""

from __future__ import annotations

import json

import pandas as pd
from stats_support import FLIP_MMSTAR, MODEL, SUITE

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
