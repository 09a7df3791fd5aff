"""Failures are counted and two runs never collide: the work-dir lock, disk errors, the image pixel
limit, exit codes, and work done once (table read once, images decoded once, scoring beside
inference)."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from runner_support import (
    BATCH_SIZE,
    DATASETS,
    MODEL_NAME,
    run_args,
    run_subprocess,
    subprocess_env,
    vleval_command,
)

from vleval.cli import main
from vleval.errors import VlevalError
from vleval.runner.config import CellResult, RunConfig, RunSummary
from vleval.runner.lock import LOCK_NAME, WorkDirLock
from vleval.runner.run import run_evaluation
from vleval.types import DecisionCounts, Prediction, ScoreRecord


def _config(model: Path, data_dir: Path, work_dir: Path, **kw) -> RunConfig:
    base = dict(
        models=[str(model)], datasets=list(DATASETS), work_dir=work_dir, data_dir=data_dir, verify_md5=False,
        max_new_tokens=8, judge="none", device="cpu", batch_size=BATCH_SIZE, progress_bar=False,
    )  # fmt: skip
    base.update(kw)
    return RunConfig(**base)


class Answers:
    """A backend that answers 'A' and obeys the contract (it never raises for a batch)."""

    def __init__(self, before_generate=None):
        self.seen: list = []
        self.closed = False
        self.before_generate = before_generate

    def generate(self, requests):
        if self.before_generate is not None:
            self.before_generate(requests)
        self.seen.extend((r.dataset, r.index) for r in requests)
        return [Prediction(r.dataset, r.index, "A", raw="A", tiles=(1,)) for r in requests]

    def close(self):
        self.closed = True


# --------------------------------------------------------------------------------------------------
# one run per work dir
# --------------------------------------------------------------------------------------------------
def test_a_second_run_on_a_busy_work_dir_is_refused_at_once_naming_the_holder(
    tiny_model, bench_dir, tmp_path
):
    work = tmp_path / "work"
    holder = WorkDirLock(work / MODEL_NAME).acquire("test-holder")  # this process holds it
    try:
        proc = run_subprocess([*vleval_command(), "run", *run_args(tiny_model, bench_dir, work)], 120)
    finally:
        holder.release()
    assert proc.returncode == 2, proc.stderr[-2000:]
    line = [x for x in proc.stderr.splitlines() if x.startswith("vleval: error:")]
    assert line and "in use by another vleval run" in line[0]
    assert f"pid {os.getpid()} on host {socket.gethostname()}" in line[0]
    assert "Traceback" not in proc.stderr
    assert not (work / MODEL_NAME / ".progress").exists()  # nothing was inferred


def test_the_lock_dies_with_a_killed_holder(tmp_path):
    folder = tmp_path / "model"
    code = (
        "import sys, time; from pathlib import Path; from vleval.runner.lock import WorkDirLock; "
        f"WorkDirLock(Path({str(folder)!r})).acquire('killed'); print('held', flush=True); time.sleep(600)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=subprocess_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(VlevalError, match=f"pid {proc.pid} on host"):
            WorkDirLock(folder).acquire("second")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    lock = WorkDirLock(folder).acquire("after the kill")  # no stale lock
    assert "after the kill" in (folder / LOCK_NAME).read_text()
    lock.release()


def test_stale_temp_files_of_dead_processes_are_removed_on_the_next_start(
    reference_run, tiny_model, bench_dir, tmp_path
):
    work = shutil.copytree(reference_run, tmp_path / "work")
    dead = 2**22 + 12345  # above the default pid_max: no live process has it
    stale = [
        work / MODEL_NAME / f".vleval-tmp.{dead}.run.json",
        work / MODEL_NAME / ".progress" / f"{MODEL_NAME}_MMStar" / f".vleval-tmp.{dead}.compact.jsonl",
    ]
    for path in stale:
        path.write_text('{"half": ')
    run_evaluation(_config(tiny_model, bench_dir, work, backend_factory=lambda p, k: Answers()))
    assert not any(path.exists() for path in stale)


# --------------------------------------------------------------------------------------------------
# disk full, read-only
# --------------------------------------------------------------------------------------------------
def _mount(args: list[str]) -> None:
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"mounting is not allowed here ({proc.stderr.strip()})")


@pytest.fixture
def small_disk(tmp_path):
    folder = tmp_path / "small"
    folder.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    _mount(["-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)])
    yield folder
    subprocess.run(["umount", str(folder)], check=False)


def test_a_full_disk_gives_one_line_naming_the_path_and_keeps_progress(
    reference_run, tiny_model, bench_dir, small_disk
):
    work = small_disk / "work"
    mmstar = f"{MODEL_NAME}_MMStar"  # MMStar is done; OCRBench's first progress write meets the full disk
    shutil.copytree(
        reference_run / MODEL_NAME / ".progress" / mmstar, work / MODEL_NAME / ".progress" / mmstar
    )
    for name in (f"{mmstar}.xlsx", f"{mmstar}_prompts.jsonl"):
        shutil.copy(reference_run / MODEL_NAME / name, work / MODEL_NAME / name)
    filler = small_disk / "filler"
    with filler.open("wb", buffering=0) as fh:  # fill the disk to the last block
        try:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        except OSError:
            pass
    before = {p: p.read_bytes() for p in (work / MODEL_NAME / ".progress").rglob("*.jsonl")}
    proc = run_subprocess(
        [*vleval_command(), "run", *run_args(tiny_model, bench_dir, work), "--mode", "infer"], 180
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    line = [x for x in proc.stderr.splitlines() if x.startswith("vleval: error:")][0]
    assert "the disk is full" in line and str(work / MODEL_NAME / ".progress") in line
    for path, data in before.items():  # progress intact
        assert path.read_bytes() == data


def test_a_read_only_work_dir_gives_one_line_naming_the_path(reference_run, tiny_model, bench_dir, tmp_path):
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("needs root to bind-mount a read-only folder")
    work = shutil.copytree(reference_run, tmp_path / "work")
    (work / MODEL_NAME / f"{MODEL_NAME}_OCRBench.xlsx").unlink()  # something must be written
    _mount(["--bind", str(work), str(work)])
    try:
        _mount(["-o", "remount,bind,ro", str(work)])
        proc = run_subprocess([*vleval_command(), "run", *run_args(tiny_model, bench_dir, work)], 180)
        report_proc = run_subprocess([*vleval_command(), "report", "--work-dir", str(work)], 120)
        pred = work / MODEL_NAME / f"{MODEL_NAME}_MMStar.xlsx"
        eval_proc = run_subprocess(
            [*vleval_command(), "eval", "--data", "MMStar", "--pred", str(pred), "--judge", "none"], 120,
        )  # fmt: skip
    finally:
        subprocess.run(["umount", str(work)], check=False)
    for p in (proc, report_proc, eval_proc):
        assert p.returncode == 2, p.stderr[-2000:]
        assert "Traceback" not in p.stderr
        line = [x for x in p.stderr.splitlines() if x.startswith("vleval: error:")][0]
        assert "read-only" in line and str(work) in line


# --------------------------------------------------------------------------------------------------
# images too large
# --------------------------------------------------------------------------------------------------
def _png(size: tuple[int, int]) -> str:
    buffer = io.BytesIO()
    Image.new("L", size).save(buffer, format="PNG")  # uniform: a tiny file for many pixels
    return base64.b64encode(buffer.getvalue()).decode()


def test_an_image_above_the_pixel_limit_fails_its_sample_with_the_limit_named(
    tiny_model, bench_dir, tmp_path
):
    data = shutil.copytree(bench_dir, tmp_path / "data")
    tsv = data / "MMStar.tsv"
    frame = pd.read_csv(tsv, sep="\t")
    frame.loc[2, "image"] = _png((3000, 2000))
    frame.to_csv(tsv, sep="\t", index=False)
    backend = Answers()
    summary = run_evaluation(
        _config(
            tiny_model,
            data,
            tmp_path / "work",
            datasets=["MMStar"],
            max_image_pixels=5_000_000,
            backend_factory=lambda p, k: backend,
        )  # fmt: skip
    )
    cell = summary.cell(MODEL_NAME, "MMStar")
    assert cell.n_failed == 1 and ("MMStar", 2) not in backend.seen and len(backend.seen) == 5
    text = pd.read_excel(cell.pred_file).set_index("index").loc[2, "prediction"]
    assert "3000 x 2000" in text and "5000000" in text and "--max-image-pixels" in text


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_the_default_pixel_limit_refuses_a_decompression_bomb_without_decoding_it():
    from vleval.datasets.loading import DEFAULT_MAX_IMAGE_PIXELS, ImageTooLargeError, decode_image

    with pytest.raises(ImageTooLargeError, match=str(DEFAULT_MAX_IMAGE_PIXELS)):
        decode_image(_png((13000, 13000)))
    assert decode_image(_png((64, 32))).size == (64, 32)


# --------------------------------------------------------------------------------------------------
# exit codes
# --------------------------------------------------------------------------------------------------
def test_a_run_with_failed_samples_writes_everything_then_exits_non_zero(
    tiny_model, bench_dir, tmp_path, capsys
):
    data = shutil.copytree(bench_dir, tmp_path / "data")
    tsv = data / "MMStar.tsv"
    frame = pd.read_csv(tsv, sep="\t")
    frame.loc[1, "image"] = base64.b64encode(b"not an image " * 10).decode()
    frame.to_csv(tsv, sep="\t", index=False)
    work = tmp_path / "work"
    rc = main(["run", *run_args(tiny_model, data, work)])
    err = capsys.readouterr().err
    assert rc == 1
    assert f"{MODEL_NAME} MMStar: 1 of 6 sample(s) failed" in err and "OCRBench: " not in err
    for name in DATASETS:  # everything that could be written was
        assert (work / MODEL_NAME / f"{MODEL_NAME}_{name}.xlsx").is_file()
        assert (work / MODEL_NAME / f"{MODEL_NAME}_{name}_score.json").is_file()
    run = json.loads((work / MODEL_NAME / "run.json").read_text())
    assert run["datasets"]["MMStar"]["failed"] == 1


def test_an_incomplete_score_is_a_problem_with_rows_and_last_error():
    record = ScoreRecord(
        dataset="MMVet", protocol="2024.12", headline_name="Overall", headline=12.5, complete=False,
        counts=DecisionCounts(judge=5, failed=3, total=8),
    )  # fmt: skip
    cell = CellResult(
        "M", "MMVet", n_samples=8, record=record, headline=12.5, judge_error="HTTP 500 from the judge"
    )
    summary = RunSummary(Path("w"), "2024.12", [cell])
    (line,) = summary.problems
    assert line.startswith("M MMVet: ") and "3 of 8 row(s)" in line and "HTTP 500 from the judge" in line
    assert "retry only those rows" in line
    assert "12.50 (incomplete: 3 judge call(s) failed)" in summary.table()


# --------------------------------------------------------------------------------------------------
# work done once
# --------------------------------------------------------------------------------------------------
def test_each_table_is_read_once_and_each_image_decoded_once(tiny_model, bench_dir, tmp_path, monkeypatch):
    from vleval.datasets import loading

    reads: list[str] = []
    decodes: list = []
    real_read, real_call = loading.read_table, loading.Base64Images.__call__
    monkeypatch.setattr(
        loading, "read_table", lambda path, card: reads.append(card.name) or real_read(path, card)
    )
    monkeypatch.setattr(
        loading.Base64Images, "__call__", lambda self: decodes.append(self.index) or real_call(self)
    )
    backend = Answers()
    run_evaluation(_config(tiny_model, bench_dir, tmp_path / "work", backend_factory=lambda p, k: backend))
    assert sorted(reads) == sorted(DATASETS)  # inference, prediction file and scoring share one read
    assert len(decodes) == sum(DATASETS.values()) == len(backend.seen)  # keys decode nothing
    assert backend.closed  # the backend is closed when its model is done


def test_scoring_of_one_benchmark_runs_while_the_next_one_infers(tiny_model, bench_dir, tmp_path):
    work = tmp_path / "work"
    first_score = work / MODEL_NAME / f"{MODEL_NAME}_MMStar_score.json"

    def wait_for_the_first_score(requests):
        if requests[0].dataset != "OCRBench":
            return
        deadline = time.monotonic() + 60
        while not first_score.exists():  # MMStar is scored while OCRBench waits here
            assert time.monotonic() < deadline, "MMStar was not scored during OCRBench's inference"
            time.sleep(0.05)

    summary = run_evaluation(
        _config(tiny_model, bench_dir, work, backend_factory=lambda p, k: Answers(wait_for_the_first_score))
    )
    assert all(cell.headline is not None for cell in summary.cells)


def test_a_judge_that_refuses_the_key_stops_the_run_after_inference_is_kept(
    tiny_model, tmp_path, monkeypatch
):
    from vleval.errors import JudgeUnavailableError
    from vleval.synthetic.benchmarks import make_benchmark_tsv
    from vleval.synthetic.judge_server import JudgeServer

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    make_benchmark_tsv("MMVet", tmp_path / "data", n=2)
    work = tmp_path / "work"
    with JudgeServer(api_key="sk-right") as server:
        config = _config(
            tiny_model, tmp_path / "data", work, datasets=["MMVet"], judge=None, judge_base_url=server.base_url,
            judge_api_key="sk-wrong", backend_factory=lambda p, k: Answers(),
        )  # fmt: skip
        with pytest.raises(JudgeUnavailableError):
            run_evaluation(config)
    assert (work / MODEL_NAME / f"{MODEL_NAME}_MMVet.xlsx").is_file()  # the predictions are kept


def test_generations_cut_at_the_token_limit_reach_the_score_and_survive_a_copied_prediction_file(
    reference_run, tiny_model, bench_dir, tmp_path
):
    from vleval.datasets.predictions import read_token_limit_hits
    from vleval.datasets.results import read_score

    score_file = reference_run / MODEL_NAME / f"{MODEL_NAME}_MMStar_score.json"
    cut = read_score(score_file).counts.hit_token_limit
    assert cut > 0  # 8 new tokens: the tiny model rarely ends sooner
    frame = pd.read_excel(reference_run / MODEL_NAME / f"{MODEL_NAME}_MMStar.xlsx")
    assert "hit_token_limit" not in frame.columns  # the prediction file keeps the reference's columns
    assert len(read_token_limit_hits(reference_run / MODEL_NAME / f"{MODEL_NAME}_MMStar.xlsx")) == cut
    work = shutil.copytree(reference_run, tmp_path / "work")
    shutil.rmtree(work / MODEL_NAME / ".progress")  # predictions copied without their progress
    run_evaluation(_config(tiny_model, bench_dir, work, datasets=["MMStar"], save_prompts=True))
    assert read_score(work / MODEL_NAME / f"{MODEL_NAME}_MMStar_score.json").counts.hit_token_limit == cut
