"""The report shows run.json's judge tally (calls made, cache hits, failed calls, tokens) per benchmark:
a real ``vleval run`` of a tiny checkpoint, judged by the local stand-in judge server, then ``vleval
report``; a benchmark without a judge (OCRBench) shows no tally. A second run in eval mode answers
every judge request from the cache, and the report shows that run's tally."""

from __future__ import annotations

import csv
import io
import json
from html import escape
from pathlib import Path

from vleval.cli import main
from vleval.report.build import write_report
from vleval.report.summary import JUDGE_TALLY_COLUMNS
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.checkpoints import make_tiny_checkpoint
from vleval.synthetic.judge_server import JudgeServer

MODEL = "TinyVL-Qwen2"
SUITE = {"MMVet": 3, "OCRBench": 2}  # MM-Vet asks the judge once per row; OCRBench never asks


def _report(work: Path, out: Path) -> tuple[dict[str, dict[str, str]], str, str, dict]:
    files = write_report([work], out / "report.html")
    rows = {r["benchmark"]: r for r in csv.DictReader(io.StringIO(files.summary_csv.read_text()))}
    run_json = json.loads((work / MODEL / "run.json").read_text())
    return rows, files.html.read_text(), files.summary_md.read_text(), run_json["datasets"]


def _assert_tally_shown(tally: dict, row: dict[str, str], html: str, markdown: str) -> None:
    assert row["judge_calls"] == str(tally["calls"])
    assert row["judge_cache_hits"] == str(tally["cache_hits"])
    assert row["judge_call_failures"] == str(tally["failures"])
    assert row["judge_prompt_tokens"] == str(tally["prompt_tokens"])
    assert row["judge_completion_tokens"] == str(tally["completion_tokens"])
    tokens = tally["prompt_tokens"] + tally["completion_tokens"]
    text = (
        f"{tally['calls']:,} calls ({tally['cache_hits']:,} cached), {tally['failures']:,} failed, "
        f"{tokens:,} tokens ({tally['prompt_tokens']:,} in / {tally['completion_tokens']:,} out)"
    )
    assert f'data-role="judge-tally" title="{escape(tally["model"])}">judge: {escape(text)}</div>' in html
    assert f"| {text} |" in markdown


def test_report_shows_the_judge_tally_of_run_json(tmp_path: Path) -> None:
    data_dir = tmp_path / "LMUData"
    for name, n in SUITE.items():
        make_benchmark_tsv(name, data_dir, n=n, seed=0)
    model = make_tiny_checkpoint(tmp_path / MODEL, "qwen2", seed=0)
    work = tmp_path / "work"
    with JudgeServer() as server:
        args = ["run", "--model", str(model), "--data", *SUITE, "--data-dir", str(data_dir), "--work-dir",
                str(work), "--skip-md5-check", "--max-new-tokens", "8", "--device", "cpu", "--batch-size", "4",
                "--no-progress", "--judge-base-url", server.base_url]  # fmt: skip
        assert main(args) == 0
        requests_first = server.request_count
        rows, html, markdown, datasets = _report(work, tmp_path / "report1")
        tally = datasets["MMVet"]["judge"]
        assert tally["calls"] == SUITE["MMVet"] == requests_first  # one call per row, all new
        assert tally["cache_hits"] == 0 and tally["prompt_tokens"] > 0
        _assert_tally_shown(tally, rows["MMVet"], html, markdown)

        assert main([*args, "--mode", "eval"]) == 0  # the judge cache answers every request
        assert server.request_count == requests_first
    rows, html, markdown, datasets = _report(work, tmp_path / "report2")
    tally = datasets["MMVet"]["judge"]
    assert tally["calls"] == 0 and tally["cache_hits"] == SUITE["MMVet"]
    _assert_tally_shown(tally, rows["MMVet"], html, markdown)

    # no judge, no tally: empty columns, no line in the cell
    assert datasets["OCRBench"]["judge"] is None
    assert all(rows["OCRBench"][column] == "" for column in JUDGE_TALLY_COLUMNS)
    assert html.count('data-role="judge-tally"') == 1
