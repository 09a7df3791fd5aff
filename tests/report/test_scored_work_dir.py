"""The report reads what the real scorers write: synthetic benchmark files, prediction files and
`evaluate` with the local judge server, then the report's numbers against the scorers' headlines."""

from __future__ import annotations

import warnings

import pytest

from vleval.families.base import default_judge
from vleval.report.build import write_report

# benchmark -> what the 0-100 headline is made of
SCALE = {
    "MMStar": "Overall fraction x 100",
    "MMMU_DEV_VAL": "validation Overall fraction x 100",
    "HallusionBench": "mean(aAcc, fAcc, qAcc), percent",
    "OCRBench": "Final Score out of 1000, / 10",
    "MathVista_MINI": "percent",
    "MMVet": "percent",
    "CRPE_RELATION": "fraction x 100",
}


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    from vleval.datasets.loading import load_table
    from vleval.datasets.predictions import write_prediction_file
    from vleval.datasets.registry import get_benchmark
    from vleval.datasets.scoring import evaluate
    from vleval.judge.client import make_judge
    from vleval.protocol import get_protocol
    from vleval.synthetic.benchmarks import make_benchmark_tsv
    from vleval.synthetic.judge_server import JudgeServer

    root = tmp_path_factory.mktemp("scored")
    protocol = get_protocol("2024.12")
    model_dir = root / "work" / "tiny-model"
    model_dir.mkdir(parents=True)
    headlines = {}
    with JudgeServer() as server, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in SCALE:
            card = get_benchmark(name)
            make_benchmark_tsv(name, root / "data", n=8)
            table = load_table(card, protocol, root / "data", verify_md5=False)
            answers = table["answer"] if "answer" in table else table["index"]
            # every other row answers with the gold answer
            predictions = {
                ix: (str(a) if k % 2 == 0 else "I cannot tell")
                for k, (ix, a) in enumerate(zip(table["index"], answers, strict=True))
            }
            pred = write_prediction_file(model_dir / f"tiny-model_{name}.xlsx", table, predictions)
            judge = make_judge(
                None,
                default_judge(protocol, card),
                base_url=server.base_url,
                api_key="test",
                cache_dir=root / "cache",
            )
            headlines[name] = evaluate(card, protocol, pred, judge, table=table).record.headline
    files = write_report([root / "work"], data_dir=root / "data")
    return files, headlines


def test_report_scores_match_the_scorers_on_one_scale(scored):
    files, headlines = scored
    for name in SCALE:
        cell = files.summary.cell("tiny-model", name)
        assert cell is not None, name
        assert cell.ours == pytest.approx(headlines[name]), name
        assert cell.published is None  # a model nobody published


def test_verdicts_settings_and_thumbnails_come_through(scored):
    files, _ = scored
    mmstar = files.summary.cell("tiny-model", "MMStar").chosen
    assert [s.hit for s in mmstar.samples][:4] == [True, False, True, False]
    assert all(s.image.startswith("data:image/jpeg;base64,") for s in mmstar.samples)
    assert mmstar.settings.protocol == "2024.12" and mmstar.settings.judge == "gpt-3.5-turbo-0125"
    ocr = files.summary.cell("tiny-model", "OCRBench").chosen
    assert ocr.settings.judge == "none (rule-based)"
    assert any("1000" in note for note in ocr.notes)  # the scorer's note on the /10 normalisation
    mathvista = files.summary.cell("tiny-model", "MathVista_MINI").chosen.record
    assert mathvista.categories  # per task/skill bars
    html = files.html.read_text()
    assert html.count("<svg") >= len(SCALE) - 1
    assert files.html.stat().st_size < 2_000_000


def test_report_shows_the_eval_judge_of_vlmevalkit_predictions(tmp_path, monkeypatch):
    """A VLMEvalKit work dir scored with `vleval eval` and a judge: the report names that judge, says
    the predictions were made elsewhere, and knows nothing of how they were made."""
    from vleval.cli import main
    from vleval.datasets.loading import load_table
    from vleval.datasets.predictions import write_prediction_file
    from vleval.datasets.registry import get_benchmark
    from vleval.protocol import get_protocol
    from vleval.report.collect import collect_runs
    from vleval.synthetic.benchmarks import make_benchmark_tsv
    from vleval.synthetic.judge_server import JudgeServer

    for name in ("OPENAI_API_KEY", "OPENAI_API_BASE", "LOCAL_LLM"):
        monkeypatch.delenv(name, raising=False)
    make_benchmark_tsv("MMStar", tmp_path / "data", n=4, seed=2)
    table = load_table(get_benchmark("MMStar"), get_protocol(), root=tmp_path / "data", verify_md5=False)
    folder = tmp_path / "work" / "M" / "T20241201_Gb13a37db"
    answers = {i: "I would rather not say" for i in table["index"]}  # the judge is asked on every row
    pred = write_prediction_file(folder / "M_MMStar.xlsx", table, answers)
    args = ["eval", "--pred", str(pred), "--judge", "gpt-4o-mini", "--data-dir", str(tmp_path / "data")]
    with JudgeServer() as server:
        assert main([*args, "--judge-base-url", server.base_url, "--skip-md5-check", "--no-progress"]) == 0
    [run] = collect_runs(tmp_path / "work")
    assert run.settings.judge == "gpt-4o-mini-2024-07-18" and run.settings.full.judge_is_protocols is False
    assert run.settings.cot is None and run.settings.backend is None  # not recorded: made elsewhere
    assert "predictions made elsewhere, scored by `vleval eval`" in run.notes
