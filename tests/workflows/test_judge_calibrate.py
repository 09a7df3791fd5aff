"""``vleval judge-calibrate`` end to end: a rule-only MMStar run, a cheap judge with a known bias (a
local stand-in server that reads some answers as 'none'), the protocol's judge (the default stand-in
rule) asked only about a seeded sample, both through real HTTP; the scores equal what this test works
out from the predictions by hand, and a second run asks the protocol's judge nothing new."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from vleval.cli import main
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.datasets.results import read_score, score_record_path
from vleval.protocol import get_protocol
from vleval.stats.ppi import ppi_mean, sample_units, stratum_weights
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.judge_server import JudgeServer, message_text, rule_based_answer
from vleval.workflows.judge_calibrate import CALIBRATE_DIR_NAME, parse_subset

MODEL = "TinyVL"
ROWS = 40
LETTERS = "ABCD"


def cheap_rule(model: str, messages: list, temperature: float) -> str:
    """The cheap judge: the stand-in's reading, except that about one answer in three is read as
    'none of the options' (Z): a judge biased towards 'wrong'."""
    answer = rule_based_answer(model, messages, temperature)
    digest = hashlib.sha256(message_text(messages).encode()).digest()[0]
    return "Z" if digest % 3 == 0 else answer


def _make_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rows: int) -> tuple[Path, dict, dict]:
    """A rule-only (--judge none) 2026.08 MMStar run whose every answer needs a judge: the letter comes
    first, and 2026.08 reads a lone letter only among the last five tokens."""
    data_dir = tmp_path / "LMUData"
    make_benchmark_tsv("MMStar", data_dir, n=rows, seed=1)
    monkeypatch.setenv("LMUData", str(tmp_path / "empty"))
    card = get_benchmark("MMStar")
    table = load_table(card, get_protocol("2026.08"), root=data_dir, verify_md5=False)
    answers = dict(zip(table["index"], table["answer"], strict=True))
    meant = {i: (a if i % 3 else LETTERS[(LETTERS.index(a) + 1) % 4]) for i, a in answers.items()}
    preds = {i: f"{x} is what I would pick given the picture shown here" for i, x in meant.items()}
    work = tmp_path / "work"
    pred = write_prediction_file(work / MODEL / f"{MODEL}_MMStar.xlsx", table, preds)
    code = main(["eval", "--data", "MMStar", "--pred", str(pred), "--protocol", "2026.08", "--judge", "none"])
    assert code == 0
    categories = dict(zip(table["index"], table["category"], strict=True))
    return work, {i: meant[i] == answers[i] for i in answers}, categories


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict, dict]:
    return _make_run(tmp_path, monkeypatch, ROWS)


def test_calibrate_reports_the_corrected_score_asking_the_protocol_judge_only_the_sample(run, capsys):
    work, right, categories = run
    args = ["judge-calibrate", "--work-dir", str(work), "--local-judge", "cheap-judge", "--subset", "12",
            "--seed", "5"]  # fmt: skip
    with JudgeServer(answer=cheap_rule) as cheap, JudgeServer() as protocol_judge:
        args += ["--local-judge-base-url", cheap.base_url, "--judge-base-url", protocol_judge.base_url]
        assert main(args) == 0
        assert cheap.request_count == ROWS  # every row once ('Z' is an answer, not asked again)
        assert protocol_judge.request_count == 12  # the sample only: one call per sampled row
        out = capsys.readouterr().out
        # a second run: every answer from the work dir's judge cache
        assert main(args) == 0
        assert protocol_judge.request_count == 12
        report = json.loads((work / "judge_calibrate_cheap-judge.json").read_text())
        stem = work / MODEL / CALIBRATE_DIR_NAME / "cheap-judge" / f"{MODEL}_MMStar"
        record = read_score(score_record_path(stem))
        # a larger sample keeps the smaller one: only the 8 added units are asked
        grown = [*args]
        grown[grown.index("12")] = "20"
        assert main(grown) == 0
        assert protocol_judge.request_count == 20
    assert out.index("judge bill for MMStar") < out.index("PPI-corrected")
    assert "sample, 12 of 40 units" in out and "full run, 40 units" in out

    # by hand: the same seeded, stratified sample
    strata = {str(i): c for i, c in categories.items()}
    sampled = sample_units(strata, 12, seed=5)
    assert len({strata[u] for u in sampled}) == len(set(strata.values()))  # every category in the sample

    assert len(report) == 1 and report[0]["dataset"] == "MMStar"
    c = report[0]["calibration"]
    assert report[0]["label"] == "local judge, PPI-corrected against gpt-4o-mini-2024-07-18 on 12 of 40 rows"
    assert (c["sampled_units"], c["total_units"], c["sampled_rows"]) == (12, 40, 12)
    # the protocol judge reads every answer as written: on the sample, the share of right answers,
    # each category weighted to its share of the benchmark (6 categories of 7 or 6 rows, 2 sampled each)
    weights = stratum_weights(strata, sampled)
    assert weights is not None
    sample_right = [float(right[int(u)]) for u in sampled]
    assert c["sample_score"] == pytest.approx(
        100 * np.average(sample_right, weights=[weights[0][u] for u in sampled])
    )
    # the cheap judge's rows as its score record has them; the corrected score is PPI on these units
    rows = [json.loads(line) for line in (stem.parent / f"{stem.name}_rows.jsonl").read_text().splitlines()]
    cheap_right = {str(r["index"]): r["score"] for r in rows}
    assert c["local_score"] == pytest.approx(100 * np.mean(list(cheap_right.values())))
    assert record.headline == pytest.approx(c["local_score"])
    assert sum(cheap_right.values()) < sum(right.values())  # the cheap judge is biased low
    others = [u for u in strata if u not in set(sampled)]
    expected = ppi_mean(
        np.array(sample_right), np.array([cheap_right[u] for u in sampled]),
        np.array([cheap_right[u] for u in others]), w_labelled=np.array([weights[0][u] for u in sampled]),
        w_unlabelled=np.array([weights[1][u] for u in others]),
    )  # fmt: skip
    assert c["corrected"] == pytest.approx(100 * expected.estimate[0])
    assert c["interval"]["low"] < c["corrected"] < c["interval"]["high"]
    # the record says what the number is, and reads back
    assert record.judge_calibration is not None and record.judge_calibration.corrected == pytest.approx(
        c["corrected"]
    )
    assert record.judge.substitute  # the record's own headline is the cheap judge's
    assert "not the protocol's figure" in out
    assert f"local judge cheap-judge on all 40 rows: {c['local_score']:.2f}" in out


def test_dry_run_prints_the_bill_and_asks_the_protocol_judge_nothing(run, capsys):
    work, _, _ = run
    with JudgeServer(answer=cheap_rule) as cheap, JudgeServer() as protocol_judge:
        code = main(["judge-calibrate", "--work-dir", str(work), "--local-judge", "cheap-judge", "--subset", "25%",
                     "--local-judge-base-url", cheap.base_url, "--judge-base-url", protocol_judge.base_url,
                     "--dry-run"])  # fmt: skip
        assert code == 0 and protocol_judge.request_count == 0
    out = capsys.readouterr().out
    assert "sample, 10 of 40 units" in out and "--dry-run: the bill only" in out


def test_subset_parsing() -> None:
    assert parse_subset("60", 218) == 60 and parse_subset("25%", 218) == 55
    for bad in ("1", "abc"):
        with pytest.raises(Exception, match="--subset"):
            parse_subset(bad, 218)


def test_with_the_open_weights_local_judge(tmp_path, monkeypatch, capsys):
    """``--local-judge local:DIR``: the tiny synthetic open-weights judge (vleval.judge.local) on every
    row, on CPU, offline; the protocol's judge on the sample only."""
    from vleval.judge.local import judge_identity, release_engines
    from vleval.synthetic.judge_checkpoint import make_tiny_judge

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("VLEVAL_JUDGE_ENGINE", "transformers")
    work, _, _ = _make_run(tmp_path, monkeypatch, 12)
    judge_dir = make_tiny_judge(tmp_path / "TinyJudge-Qwen2")
    try:
        with JudgeServer() as protocol_judge:
            code = main(["judge-calibrate", "--work-dir", str(work), "--local-judge", f"local:{judge_dir}",
                         "--subset", "4", "--judge-base-url", protocol_judge.base_url])  # fmt: skip
            assert code == 0 and protocol_judge.request_count == 4
    finally:
        release_engines()
    out = capsys.readouterr().out
    identity = judge_identity(judge_dir)
    assert f"local judge {identity} on all 12 rows:" in out
    assert "local judge, PPI-corrected against gpt-4o-mini-2024-07-18 on 4 of 12 rows:" in out
    stem = work / MODEL / CALIBRATE_DIR_NAME
    records = list(stem.glob("*/TinyVL_MMStar_score.json"))
    assert len(records) == 1
    record = read_score(records[0])
    assert record.judge.kind == "local" and record.judge_calibration.local_judge == identity


def test_mmbench_samples_whole_circular_groups(tmp_path, monkeypatch, capsys):
    """MMBench: the unit is a question with all its rotations; the sample takes whole questions, and
    the protocol's judge is asked only about their rotations."""
    data_dir = tmp_path / "LMUData"
    make_benchmark_tsv("MMBench_DEV_EN_V11", data_dir, n=12, seed=2)
    monkeypatch.setenv("LMUData", str(tmp_path / "empty"))
    card = get_benchmark("MMBench_DEV_EN_V11")
    table = load_table(card, get_protocol("2026.08"), root=data_dir, verify_md5=False)
    preds = {
        i: f"{a} is what I would pick given the picture shown here"
        for i, a in zip(table["index"], table["answer"], strict=True)
    }
    work = tmp_path / "work"
    pred = write_prediction_file(work / MODEL / f"{MODEL}_MMBench_DEV_EN_V11.xlsx", table, preds)
    assert (
        main(["eval", "--data", card.name, "--pred", str(pred), "--protocol", "2026.08", "--judge", "none"])
        == 0
    )
    with JudgeServer(answer=cheap_rule) as cheap, JudgeServer() as protocol_judge:
        code = main(["judge-calibrate", "--work-dir", str(work), "--local-judge", "cheap-judge", "--subset", "4",
                     "--local-judge-base-url", cheap.base_url, "--judge-base-url", protocol_judge.base_url])  # fmt: skip
        assert code == 0
        asked = protocol_judge.request_count
    c = json.loads((work / "judge_calibrate_cheap-judge.json").read_text())[0]["calibration"]
    assert (c["sampled_units"], c["total_units"], c["total_rows"]) == (4, 12, len(table))
    groups = {int(i) % 1_000_000 for i in table["index"]}
    assert len(groups) == 12
    # every rotation of the 4 sampled questions, and nothing else: all right, so every rotation is asked
    sample_dir = work / MODEL / CALIBRATE_DIR_NAME / "cheap-judge" / "protocol_judge_sample"
    rows = [json.loads(line) for f in sample_dir.rglob("*_rows.jsonl") for line in f.read_text().splitlines()]
    assert len({r["unit"] for r in rows}) == 4 and len(rows) == c["sampled_rows"] == asked
    sizes = {u: sum(int(i) % 1_000_000 == int(u) for i in table["index"]) for u in {r["unit"] for r in rows}}
    assert c["sampled_rows"] == sum(sizes.values())
    assert "on 4 of 12 units" in capsys.readouterr().out


def test_the_report_shows_the_corrected_score_beside_the_number_never_in_its_place(run, tmp_path):
    """``vleval report`` after ``judge-calibrate``: the cell keeps its own (rule-only) number; the
    PPI-corrected score appears beside it in the HTML, summary.md and summary.csv, under its label."""
    import csv
    from html import unescape

    from vleval.report.build import write_report

    work, _, _ = run
    before = write_report([work], tmp_path / "before" / "report.html", thumbnails=0)
    with JudgeServer(answer=cheap_rule) as cheap, JudgeServer() as protocol_judge:
        assert main(["judge-calibrate", "--work-dir", str(work), "--local-judge", "cheap-judge", "--subset", "12",
                     "--seed", "5", "--local-judge-base-url", cheap.base_url,
                     "--judge-base-url", protocol_judge.base_url]) == 0  # fmt: skip
    found = json.loads((work / "judge_calibrate_cheap-judge.json").read_text())[0]
    c, label = found["calibration"], found["label"]
    after = write_report([work], tmp_path / "after" / "report.html", thumbnails=0)

    shown = f"{label}: {c['corrected']:.2f} [{c['interval']['low']:.2f}, {c['interval']['high']:.2f}]"
    page, md = unescape(after.html.read_text()), after.summary_md.read_text()
    assert shown in page and "not the protocol's figure" in page
    assert f"- {MODEL} / MMStar: {shown} (local judge cheap-judge alone: {c['local_score']:.2f};" in md
    assert label not in before.html.read_text() and label not in before.summary_md.read_text()
    # the headline is the run's own, as before: in the cell, the markdown table and the csv
    ours = r'data-role="ours">'
    assert page.split(ours)[1].split("<")[0] == unescape(before.html.read_text()).split(ours)[1].split("<")[0]
    table = [line for line in md.splitlines() if line.startswith(f"| {MODEL} |")][0]
    assert table in before.summary_md.read_text() and f"{c['corrected']:.2f}" not in table
    (row,) = csv.DictReader(after.summary_csv.open())
    (old,) = csv.DictReader(before.summary_csv.open())
    assert row["ours"] == old["ours"] and float(row["ours"]) != pytest.approx(c["corrected"])
    assert row["ppi_label"] == label
    assert float(row["ppi_corrected"]) == pytest.approx(c["corrected"], abs=1e-4)
    assert float(row["ppi_interval_low"]) == pytest.approx(c["interval"]["low"], abs=1e-4)
    assert row["verdict"] == "" and old["ppi_label"] == ""
