"""`vleval compare` end to end: one real tiny-model run of the synthetic suite (A), a copy whose
predictions differ on a known set of rows, re-scored with the real `vleval eval` (B)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from vleval.cli import main
from vleval.datasets.results import read_rows

# scoring writes the per-row contract once the benchmark families exist
pytest.importorskip("vleval.datasets.families", reason="needs the benchmark families (per-row results)")

MODEL = "TinyVL-Qwen2"
SUITE = {"MMStar": 8, "HallusionBench": 8, "OCRBench": 4}
FLIP_MMSTAR = (0, 3, 5)  # rows of MMStar whose verdict B turns around
FLIP_HALLUSION = 0  # position of the HallusionBench row B answers the other way


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    from vleval.synthetic.benchmarks import make_benchmark_tsv
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    root = tmp_path_factory.mktemp("compare")
    checkpoint = make_tiny_checkpoint(root / MODEL, "qwen2", seed=0)
    data = root / "data"
    for name, n in SUITE.items():
        make_benchmark_tsv(name, data, n=n, seed=0)
    a = root / "a"
    args = ["--model", str(checkpoint), "--data", *SUITE, "--data-dir", str(data), "--work-dir", str(a)]
    args += [
        "--skip-md5-check",
        "--max-new-tokens",
        "8",
        "--judge",
        "none",
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert main(["run", *args]) == 0
    b = root / "b"
    shutil.copytree(a, b)
    flip_mmstar(b / MODEL, data)
    flip_hallusion(b / MODEL, data)
    c = root / "c"  # as B, but its run.json says CoT was on
    shutil.copytree(b, c)
    run_json = c / MODEL / "run.json"
    run = json.loads(run_json.read_text())
    run["settings"]["cot"] = True
    run_json.write_text(json.dumps(run))
    return {"a": a, "b": b, "c": c, "data": data}


def _rescore(model_dir: Path, dataset: str, data: Path) -> None:
    pred = model_dir / f"{MODEL}_{dataset}.xlsx"
    args = ["eval", "--data", dataset, "--pred", str(pred), "--judge", "none", "--data-dir", str(data)]
    assert main([*args, "--skip-md5-check"]) == 0


def _hits(model_dir: Path, dataset: str) -> dict[str, float]:
    rows = read_rows(model_dir / f"{MODEL}_{dataset}_rows.jsonl")
    return {str(r.index): r.score for r in rows}


def flip_mmstar(model_dir: Path, data: Path) -> None:
    """B answers FLIP_MMSTAR rows right where A was wrong and wrong where A was right."""
    pred = model_dir / f"{MODEL}_MMStar.xlsx"
    frame = pd.read_excel(pred)
    hits = _hits(model_dir, "MMStar")
    for position in FLIP_MMSTAR:
        answer = frame.loc[position, "answer"]
        right = hits[str(frame.loc[position, "index"])] == 1
        frame.loc[position, "prediction"] = ("B" if answer == "A" else "A") if right else answer
    frame.to_excel(pred, index=False)
    _rescore(model_dir, "MMStar", data)


def flip_hallusion(model_dir: Path, data: Path) -> None:
    pred = model_dir / f"{MODEL}_HallusionBench.xlsx"
    frame = pd.read_excel(pred)
    hits = _hits(model_dir, "HallusionBench")
    answer = frame.loc[FLIP_HALLUSION, "answer"]
    right = hits[str(frame.loc[FLIP_HALLUSION, "index"])] == 1
    frame.loc[FLIP_HALLUSION, "prediction"] = ("No" if answer == "Yes" else "Yes") if right else answer
    frame.to_excel(pred, index=False)
    _rescore(model_dir, "HallusionBench", data)


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
    assert "CoT: A False, B True" in err and "--allow-different-settings" in err
    assert main(["compare", str(runs["a"]), str(runs["c"]), "--allow-different-settings"]) == 0
    out = capsys.readouterr().out
    assert out.index("SETTINGS DIFFER") < out.index("benchmark")
