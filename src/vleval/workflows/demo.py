"""`vleval demo`: the whole pipeline on a laptop, offline, in about a minute.

Builds once (cached under ``~/.cache/vleval/demo`` or ``$VLEVAL_CACHE``) a tiny random-weight
checkpoint in the original InternVL2.5 layout and a mini suite of synthetic benchmark files in the
reference TSV format (real benchmark names, drawn images), then runs the real ``run_evaluation``
(inference, scoring with a local deterministic judge server standing in for the OpenAI judges) and
writes the report. The model is random, so its scores are at chance level.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from vleval.console import step
from vleval.report.build import ReportFiles, write_report
from vleval.report.summary import summary_table_text

# A multiple-choice set, a yes/no set, an OCR set with rendered text, a math set with drawn charts.
DEMO_BENCHMARKS = ("MMStar", "HallusionBench", "OCRBench", "MathVista_MINI")
DEMO_MODEL = "tiny-random-InternVL2_5"  # the folder name is the model name in the results
DEMO_ROWS = 8  # per benchmark
DEMO_MAX_NEW_TOKENS = 16  # a random model rarely stops by itself; keep generation short
DEMO_SEED = 0

DEMO_NOTES = (
    "Demo run: the model is a tiny RANDOM-WEIGHT InternVL2.5-architecture checkpoint and the benchmark "
    "files are synthetic (drawn images, 8 rows each). Its scores are at chance level or below (a random "
    "model often answers nothing) and mean nothing about InternVL2.5; they show that the pipeline runs "
    "end to end.",
    "The judge was a local deterministic stand-in (vleval.synthetic.judge_server on 127.0.0.1), not "
    "an OpenAI model: judge names in the table are the ones the protocol would call.",
    f"Generation was capped at {DEMO_MAX_NEW_TOKENS} new tokens (real runs use the benchmark's budget).",
)


@dataclass
class DemoResult:
    report: ReportFiles
    work_dir: Path
    seconds: float
    text: str  # what the command prints


def demo_cache_dir(override: Path | None = None) -> Path:
    """``override`` (the CLI passes ``$VLEVAL_CACHE``) + ``/demo``, else ``~/.cache/vleval/demo``."""
    return (override / "demo") if override else Path.home() / ".cache" / "vleval" / "demo"


def prepare_assets(cache: Path, *, fresh: bool = False) -> tuple[Path, Path]:
    """(checkpoint folder, data folder), built on first use; both factories skip work already done."""
    from vleval.synthetic.benchmarks import make_benchmark_tsv
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    checkpoint, data = cache / DEMO_MODEL, cache / "data"
    if fresh:
        for path in (checkpoint, data):
            shutil.rmtree(path, ignore_errors=True)
    make_tiny_checkpoint(checkpoint, "qwen2", seed=DEMO_SEED)
    for name in DEMO_BENCHMARKS:
        if not (data / f"{name}.tsv").is_file():
            make_benchmark_tsv(name, data, n=DEMO_ROWS, seed=DEMO_SEED)
    return checkpoint, data


def run_demo_pipeline(cache: Path, *, work_dir: Path | None = None, fresh: bool = False) -> DemoResult:
    from vleval.runner.run import RunConfig, run_evaluation
    from vleval.synthetic.judge_server import JudgeServer

    started = time.monotonic()
    work_dir = Path(work_dir) if work_dir else cache / "work"
    if fresh:  # only the demo model's results, never anything else in a user-given work dir
        shutil.rmtree(work_dir / DEMO_MODEL, ignore_errors=True)
        shutil.rmtree(work_dir / ".judge_cache", ignore_errors=True)
    step("preparing the demo checkpoint and benchmark files")
    checkpoint, data = prepare_assets(cache, fresh=fresh)
    step(f"inference and scoring: {len(DEMO_BENCHMARKS)} benchmarks x {DEMO_ROWS} rows")
    # run_evaluation prints its own table; the demo prints the report's (with published figures)
    with JudgeServer() as judge, contextlib.redirect_stdout(io.StringIO()):
        summary = run_evaluation(
            RunConfig(
                models=[str(checkpoint)],
                datasets=list(DEMO_BENCHMARKS),
                work_dir=work_dir,
                data_dir=data,
                verify_md5=False,  # synthetic files: the registry's md5s are the real files'
                judge_base_url=judge.base_url,
                judge_api_key="demo-local-judge",
                judge_workers=4,
                save_prompts=True,
                max_new_tokens=DEMO_MAX_NEW_TOKENS,
                seed=DEMO_SEED,
                command=["vleval", "demo"],
                stand_in_judge=True,  # every result of the demo carries the mark
            )
        )
    errors = list(summary.errors)
    notes = list(DEMO_NOTES) + [f"error: {e}" for e in errors]
    step("writing the demo report")
    report = write_report([work_dir], data_dir=data, notes=notes, title="vleval demo report")
    step(None)
    seconds = time.monotonic() - started
    lines = [
        "vleval demo — a tiny RANDOM model on synthetic data: its scores are at chance level or below and "
        "say nothing about InternVL2.5; they show the pipeline running end to end (inference, judge, "
        "scoring, report).",
        "The judge was a local deterministic stand-in on 127.0.0.1 (no API key, no network).",
        "",
        summary_table_text(report.summary),
        "",
        *(f"error: {e}" for e in errors),
        f"report:  {report.html}",
        f"summary: {report.summary_md}",
        f"done in {seconds:.0f} s (cache: {cache})",
    ]
    return DemoResult(report=report, work_dir=work_dir, seconds=seconds, text="\n".join(lines))
