"""evaluate(): every benchmark end to end on synthetic files (a real local judge server where the
reference needs a judge), the files it writes, the prompt data files, and batching of judge rounds."""

import hashlib
import json

import pandas as pd
import pytest

from vleval.datasets import scoring
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file, write_token_limit_hits
from vleval.datasets.registry import BENCHMARKS, get_benchmark
from vleval.errors import VlevalError
from vleval.families.base import default_judge
from vleval.judge.client import make_judge
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting, right_answer
from vleval.synthetic.judge_server import JudgeServer
from vleval.synthetic.scripted_judge import ScriptedJudge
from vleval.types import JudgeRequest

PROMPT_SHA256 = {
    "llavabench_rule.txt": "2ce22b562d6008864970ea863ac8a4d385ea6f2e64ab1313a23f825202a9529d",
    "llavabench_system.txt": "8ec001fd8f1a623f9e444c9eca7be1cc3ee529003e931167a1b44958132baf33",
    "mathvista_ice.txt": "3e9cb232be22ebb53f446686e46f0e996d6dd562bc033f0973f31914c79f900b",
    "mcq_match_cn.txt": "6cd5198da4ff3d4179a6db5bf17eeb181fa9e55caba876e632f7c583ac0eeb7c",
    "mcq_match_blink.txt": "8db0a4df9f3b9912cccedb9987f770bbc351339a6bd6464462f6a4a39dd75b8a",
    "mcq_match_en.txt": "133b2beaa0ce149aab95c6d01d4629f034e8861c723fc302ab3853a41e690c86",
    "mmvet_fewshot.txt": "f3e131e1d998e890676bda56a63e404f601cb5166293b1ab0c9fafd9d8567323",
    "yorn_match.txt": "716c90fbf15fd5121199b207187faae67c26b0ee4c697b4a7e91ef84026d092a",
}
# the reference's result files per benchmark (benchmarks.md §0.2, §1-10), judge short names of 2026.08
REFERENCE_FILES = {
    "MMBench_DEV_EN_V11": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "MMStar": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "MMMU_DEV_VAL": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "AI2D_TEST": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "HallusionBench": ["_auxmatch.xlsx", "_score.csv"],
    "MathVista_MINI": ["_gpt-4o-mini.xlsx", "_gpt-4o-mini_score.csv"],
    "OCRBench": ["_score.json"],
    "MMVet": ["_gpt-4-turbo.xlsx", "_gpt-4-turbo_score.csv", "_gpt-4-turbo_score_fine.csv"],
    "LLaVABench": ["_openai_result.xlsx", "_score.csv"],
    "CRPE_EXIST": ["_score.json"],
    "CRPE_RELATION": ["_score.json"],
    "ChartQA_TEST": ["_results.xlsx", "_acc.csv"],
    "TextVQA_VAL": ["_results.xlsx", "_acc.csv"],
    "DocVQA_VAL": ["_results.xlsx", "_acc.csv"],
    "InfoVQA_VAL": ["_results.xlsx", "_acc.csv"],
    "MMBench_DEV_CN_V11": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "RealWorldQA": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "ScienceQA_TEST": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "SEEDBench_IMG": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "SEEDBench2_Plus": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "MMT-Bench_VAL": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "BLINK": ["_gpt-4o-mini_result.xlsx", "_acc.csv"],
    "MME": ["_auxmatch.xlsx", "_score.csv"],
    "POPE": ["_auxmatch.xlsx", "_score.csv"],
}


def test_judge_prompt_files_are_byte_exact():
    for name, digest in PROMPT_SHA256.items():
        text = scoring.judge_prompt(name)
        assert hashlib.sha256(text.encode("utf-8")).hexdigest() == digest, name


@pytest.fixture(scope="module")
def judge_server():
    with JudgeServer() as server:
        yield server


@pytest.mark.parametrize("name", sorted(REFERENCE_FILES))
def test_every_benchmark_end_to_end(name, tmp_path, judge_server):
    base = get_protocol("2026.08")
    tsv = make_benchmark_tsv(name, tmp_path / "data", n=4, seed=1)
    protocol = protocol_accepting(base, {name: tsv})
    card = get_benchmark(name)
    table = load_table(card, protocol, root=tmp_path / "data")
    predictions = {row["index"]: right_answer(card, row) for row in table.to_dict(orient="records")}
    pred = write_prediction_file(tmp_path / "work" / f"M_{name}.xlsx", table, predictions)
    short = default_judge(protocol, card)
    judge = None
    if short is not None:
        judge = make_judge(short, None, base_url=judge_server.base_url, cache_dir=tmp_path / "cache")
    result = scoring.evaluate(card, protocol, pred, judge, data_dir=tmp_path / "data")
    for suffix in REFERENCE_FILES[name]:
        assert (tmp_path / "work" / f"M_{name}{suffix}").exists(), suffix
    summary_name = (
        f"M_{name}_vleval.json" if "_score.json" in REFERENCE_FILES[name] else f"M_{name}_score.json"
    )
    summary = json.loads((tmp_path / "work" / summary_name).read_text())
    assert summary["protocol"] == protocol.name and summary["dataset"] == name
    assert summary["headline"] == pytest.approx(result.record.headline, nan_ok=True)
    rows = [
        json.loads(line) for line in (tmp_path / "work" / f"M_{name}_rows.jsonl").read_text().splitlines()
    ]
    assert rows and "index" in rows[0]
    # each row carries the question and options scoring read (the report and compare show them)
    shown = {str(r["index"]): (r["question"], r["options"]) for r in rows}
    for record in table.to_dict(orient="records"):
        options = {k: str(record[k]) for k in "ABCDEFGH" if k in record and isinstance(record[k], str)}
        assert shown[str(record["index"])] == (str(record["question"]), options), record["index"]
    # on the report's 0-100 scale; OCRBench: Final Score (one point per row) / 10
    expected_best = {"mcq": 100.0, "yorn": 100.0 * 3 / 3, "crpe": 100.0, "ocrbench": len(table) / 10}
    if name == "MME":  # every right: 200 points per category present, of MME's 2800 (sum / 28)
        expected_best["yorn"] = 200 * table["category"].nunique() / 28
    if card.family in expected_best:
        assert result.record.headline == pytest.approx(expected_best[card.family]), result.tables


def test_mmbench_test_split_writes_no_score_and_says_where_to_submit(tmp_path):
    name = "MMBench_TEST_EN_V11"
    tsv = make_benchmark_tsv(name, tmp_path, n=3, seed=0)
    protocol = protocol_accepting(get_protocol("2024.12"), {name: tsv})
    table = load_table(get_benchmark(name), protocol, root=tmp_path)
    pred = write_prediction_file(
        tmp_path / "M_MMBench_TEST_EN_V11.xlsx", table, dict.fromkeys(table["index"], "A")
    )
    result = scoring.evaluate(get_benchmark(name), protocol, pred, None, data_dir=tmp_path)
    assert result.record.headline is None and "official MMBench evaluation server" in result.record.notes[0]
    assert not (tmp_path / "M_MMBench_TEST_EN_V11_acc.csv").exists()


def test_judge_benchmarks_refuse_to_run_without_a_judge(tmp_path):
    tsv = make_benchmark_tsv("MMVet", tmp_path, n=2, seed=0)
    protocol = protocol_accepting(get_protocol("2024.12"), {"MMVet": tsv})
    table = load_table(get_benchmark("MMVet"), protocol, root=tmp_path)
    pred = write_prediction_file(tmp_path / "M_MMVet.xlsx", table, dict.fromkeys(table["index"], "x"))
    with pytest.raises(VlevalError, match="--judge MODEL --judge-base-url URL"):
        scoring.evaluate(get_benchmark("MMVet"), protocol, pred, None, data_dir=tmp_path)


def test_prediction_file_alone_is_scored_when_the_benchmark_file_is_absent(tmp_path):
    pred = tmp_path / "M_OCRBench.tsv"
    pd.DataFrame(
        {"index": [1, 2], "answer": ["['cat']", "['dog']"], "category": ["Doc-oriented VQA"] * 2,
         "prediction": ["a cat", "a cow"]}
    ).to_csv(pred, sep="\t", index=False)  # fmt: skip
    result = scoring.evaluate(
        get_benchmark("OCRBench"), get_protocol(), pred, None, data_dir=tmp_path / "empty"
    )
    assert result.record.headline == 0.1 and "not found" in result.record.notes[0]
    assert json.loads((tmp_path / "M_OCRBench_score.json").read_text())["Doc-oriented VQA"] == 1


def test_ask_in_rounds_sends_each_retry_round_as_one_batch():
    judge = ScriptedJudge(lambda r, _: "ok" if r.prompt == "a" or r.temperature > 0 else "bad")
    out = scoring.ask_in_rounds(
        judge, {1: "a", 2: "b", 3: "c"}, rounds=3, accept=lambda k, a: a if a == "ok" else None,
        temperature=lambda i: 0.5 * i,
    )  # fmt: skip
    assert [[r.temperature for r in batch] for batch in judge.batches] == [[0.0, 0.0, 0.0], [0.5, 0.5]]
    assert out == {1: ("ok", ["ok"]), 2: ("ok", ["bad", "ok"]), 3: ("ok", ["bad", "ok"])}
    assert JudgeRequest("x").max_tokens == 2048


def test_reference_files_listed_per_benchmark_cover_the_registry():
    assert set(REFERENCE_FILES) | {"MMBench_TEST_EN_V11", "MMBench_TEST_CN_V11"} == set(BENCHMARKS)


def test_rows_cut_at_the_token_limit_are_marked(tmp_path):
    """From the runner (its progress records it) or the file beside the predictions."""
    name = "MMStar"
    tsv = make_benchmark_tsv(name, tmp_path, n=4, seed=0)
    protocol = protocol_accepting(get_protocol("2024.12"), {name: tsv})
    table = load_table(get_benchmark(name), protocol, root=tmp_path)
    first, second = list(table["index"])[:2]
    pred = write_prediction_file(tmp_path / f"M_{name}.xlsx", table, dict.fromkeys(table["index"], "A"))
    write_token_limit_hits(pred, [second])
    result = scoring.evaluate(get_benchmark(name), protocol, pred, None, table=table, hit_token_limit=[first])
    assert [r.hit_token_limit for r in result.rows] == [True, True, False, False]
    assert result.record.counts.hit_token_limit == 2
