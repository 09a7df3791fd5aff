"""The sample browser shows each row as its card's metric reads it (``metric_of``): right or wrong
for the Y/N family's MME and POPE (their own rules), a grade where a card's metric grades rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import evaluate
from vleval.families.base import default_judge
from vleval.families.yorn import YesNoFamily
from vleval.protocol import get_protocol
from vleval.report.collect import collect_runs
from vleval.stats.metrics import MeanGrade
from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting, right_answer
from vleval.synthetic.scripted_judge import stand_in_judge

YES_NO = ("HallusionBench", "MME", "POPE")


def scored_work_dir(root: Path) -> Path:
    """Each Y/N benchmark scored on 8 synthetic questions, every other one answered right."""
    model_dir = root / "work" / "tiny-model"
    model_dir.mkdir(parents=True)
    for name in YES_NO:
        tsv = make_benchmark_tsv(name, root / "data", n=8)
        protocol = protocol_accepting(get_protocol("2024.12"), {name: tsv})
        card = get_benchmark(name)
        table = load_table(card, protocol, root=root / "data")
        predictions = {
            row["index"]: right_answer(card, row) if k % 2 == 0 else "Z"
            for k, row in enumerate(table.to_dict(orient="records"))
        }
        pred = write_prediction_file(model_dir / f"tiny-model_{name}.xlsx", table, predictions)
        short = default_judge(protocol, card)
        evaluate(card, protocol, pred, stand_in_judge(short) if short else None, table=table)
    return root / "work"


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory) -> Path:
    return scored_work_dir(tmp_path_factory.mktemp("yorn"))


def samples_of(work_dir: Path) -> dict[str, list]:
    return {run.benchmark: run.samples for run in collect_runs(work_dir)}


def test_mme_and_pope_rows_are_shown_right_or_wrong(work_dir):
    for name, samples in samples_of(work_dir).items():
        assert [s.hit for s in samples][:4] == [True, False, True, False], name
        assert not any("score" in s.verdict for s in samples), name


def test_the_report_asks_each_cards_metric(work_dir, monkeypatch):
    """Were MME's card scored by a grade (its metric graded) while the family's own metric is not,
    MME's rows would show their grade and the other cards' rows stay right or wrong: the report
    asks the card (``metric_of``), not the family."""
    family_metric_of = YesNoFamily.metric_of

    def mme_graded(self, card):
        return MeanGrade() if card.name == "MME" else family_metric_of(self, card)

    monkeypatch.setattr(YesNoFamily, "metric_of", mme_graded)
    samples = samples_of(work_dir)
    assert [s.hit for s in samples["MME"]] == [None] * len(samples["MME"])
    assert samples["MME"][0].verdict.startswith("matched by rule · score 1")
    for name in ("HallusionBench", "POPE"):
        assert [s.hit for s in samples[name]][:2] == [True, False], name
