"""The judge bill: ``--dry-run`` prints per benchmark the judge calls to expect (exact for MM-Vet and
LLaVA-Bench, an upper bound elsewhere), tokens and the judge model; a real run's ``run.json`` records
the calls made, and they equal the bill where it is exact and stay within it where it is a bound."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vleval.cli import main
from vleval.datasets.loading import load_table
from vleval.datasets.registry import get_benchmark
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.checkpoints import make_tiny_checkpoint
from vleval.synthetic.judge_server import JudgeServer
from vleval.workflows.bill import estimate_bill, format_bill, judge_model_for

MODEL = "TinyVL-Qwen2"
SUITE = {
    "MMStar": 3,
    "MMBench_DEV_EN_V11": 2,
    "HallusionBench": 2,
    "MathVista_MINI": 2,
    "MMVet": 3,
    "LLaVABench": 2,
    "OCRBench": 2,
}
EXACT = ("MMVet", "LLaVABench")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("LMUData")
    for name, n in SUITE.items():
        make_benchmark_tsv(name, root, n=n, seed=0)
    return root


def _bills(data_dir: Path, judge: str | None, protocol_name: str = "2024.12") -> dict:
    protocol = get_protocol(protocol_name)
    out = {}
    for name in SUITE:
        card = get_benchmark(name)
        out[name] = estimate_bill(
            card, protocol, load_table(card, protocol, root=data_dir, verify_md5=False), judge
        )
    return out


def test_bill_counts_rows_and_names_the_judge(data_dir: Path) -> None:
    bills = _bills(data_dir, None)
    rows = {name: len(load_table(get_benchmark(name), get_protocol("2024.12"), root=data_dir, verify_md5=False))
            for name in SUITE}  # fmt: skip
    for name in EXACT:
        assert bills[name].exact and bills[name].calls == rows[name]
    assert bills["MMVet"].judge == "gpt-4-1106-preview" and bills["MMStar"].judge == "gpt-3.5-turbo-0125"
    assert not bills["MMStar"].exact and bills["MMStar"].max_calls == rows["MMStar"] * 3  # 3 rounds
    assert bills["HallusionBench"].max_calls == rows["HallusionBench"] * 5
    assert bills["OCRBench"].judge is None and bills["OCRBench"].calls == 0
    assert all(b.prompt_tokens > 0 and b.completion_tokens > 0 for b in bills.values() if b.judge)
    # LLaVA-Bench reviews are long answers; MCQ matching answers a letter
    assert bills["LLaVABench"].completion_tokens / bills["LLaVABench"].calls > 10 * (
        bills["MMStar"].completion_tokens / bills["MMStar"].calls
    )
    assert all(b.judge is None for b in _bills(data_dir, "none").values())
    assert judge_model_for(
        "local:/models/Qwen2.5-7B-Instruct", get_benchmark("MMVet"), get_protocol("2024.12")
    ) == ("local:Qwen2.5-7B-Instruct")
    text = "\n".join(format_bill(list(bills.values())))
    assert "MMVet" in text and "<= " in text


def test_dry_run_bill_matches_the_calls_of_a_real_run(data_dir: Path, tmp_path: Path, capsys) -> None:
    model = make_tiny_checkpoint(tmp_path / MODEL, "qwen2", seed=0)
    work = tmp_path / "work"
    with JudgeServer() as server:
        args = ["run", "--model", str(model), "--data", *SUITE, "--data-dir", str(data_dir), "--work-dir",
                str(work), "--skip-md5-check", "--max-new-tokens", "8", "--device", "cpu", "--batch-size", "4",
                "--no-progress", "--judge-base-url", server.base_url]  # fmt: skip
        assert main([*args, "--dry-run"]) == 0
        dry = capsys.readouterr().out
        assert server.request_count == 0
        assert "judge bill" in dry
        for name in EXACT:
            assert f"{name}" in dry
        assert main(args) == 0
        total_requests = server.request_count
    bills = _bills(data_dir, None)
    run_json = json.loads((work / MODEL / "run.json").read_text())
    calls = {name: (run_json["datasets"][name].get("judge") or {}).get("calls", 0) for name in SUITE}
    for name in EXACT:
        assert calls[name] == bills[name].calls, name  # exact
    for name in SUITE:
        assert calls[name] <= bills[name].max_calls, name  # within the bound
    assert calls["OCRBench"] == 0
    assert sum(calls.values()) == total_requests  # run.json accounts for every request the server saw
