"""`vleval run` in one process: outputs, run.json, reuse, failures and their retry, errors (the dry run:
test_dry_run.py)."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from runner_support import BATCH_SIZE, DATASETS, MODEL_NAME, assert_same_outputs, run_args

from vleval.cli import main
from vleval.errors import DataMissingError, VlevalError
from vleval.runner.commands import config_from_args
from vleval.runner.run import RunConfig, run_evaluation
from vleval.types import Prediction


def _config(model: Path, data_dir: Path, work_dir: Path, **kw) -> RunConfig:
    base = dict(
        models=[str(model)], datasets=list(DATASETS), work_dir=work_dir, data_dir=data_dir, verify_md5=False,
        max_new_tokens=8, judge="none", device="cpu", batch_size=BATCH_SIZE, save_prompts=True, progress_bar=False,
    )  # fmt: skip
    base.update(kw)
    return RunConfig(**base)


class FakeBackend:
    """Answers 'A' for every request; chosen indices fail (an OOM on a huge image) as the backend
    contract says: a Prediction with ``error``, the other requests of the batch still answered."""

    def __init__(self, fail: set = frozenset()):
        self.fail = set(fail)
        self.seen: list = []
        self.closed = False

    def generate(self, requests):
        self.seen.extend(r.index for r in requests)
        return [
            Prediction(r.dataset, r.index, "", error="RuntimeError CUDA out of memory (simulated)")
            if r.index in self.fail
            else Prediction(r.dataset, r.index, "A", raw="A", tiles=(1,))
            for r in requests
        ]

    def close(self):
        self.closed = True


def test_outputs_in_the_reference_layout_with_run_json(reference_run: Path, tiny_model: Path):
    model_dir = reference_run / MODEL_NAME
    for name in DATASETS:
        pred = model_dir / f"{MODEL_NAME}_{name}.xlsx"
        frame = pd.read_excel(pred)
        assert len(frame) == DATASETS[name] and "prediction" in frame.columns and "image" not in frame.columns
        prompts = [json.loads(line) for line in (model_dir / f"{MODEL_NAME}_{name}_prompts.jsonl").open()]
        assert [p["index"] for p in prompts] == list(frame["index"])
        assert all("<img>" in p["prompt"] and p["tiles"] for p in prompts)
        assert (model_dir / f"{MODEL_NAME}_{name}_score.json").is_file()
    run = json.loads((model_dir / "run.json").read_text())
    assert run["command"] and isinstance(run["command"], list)
    assert {"vleval", "torch", "transformers"} <= set(run["versions"])
    assert run["protocol"]["name"] == "2024.12"
    assert run["model"]["path"] == str(tiny_model) and len(run["model"]["checkpoint_digest"]) == 64
    assert len(run["datasets"]["MMStar"]["tsv_md5"]) == 32
    assert run["datasets"]["MMStar"]["samples"] == 6 and run["datasets"]["MMStar"]["failed"] == 0
    assert run["settings"]["verify_md5"] is False and run["settings"]["cot"] is False
    assert "infer" in run["datasets"]["OCRBench"]["seconds"]


def test_a_second_run_reuses_everything_without_loading_the_model(
    reference_run, tiny_model, bench_dir, tmp_path
):
    work = shutil.copytree(reference_run, tmp_path / "work")

    def no_backend(path, kwargs):
        raise AssertionError("the model must not be loaded when every sample is done")

    summary = run_evaluation(_config(tiny_model, bench_dir, work, backend_factory=no_backend))
    for cell in summary.cells:
        assert cell.n_inferred == 0 and cell.n_reused == DATASETS[cell.dataset]
    assert_same_outputs(work, reference_run)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_a_failing_sample_is_recorded_counted_and_only_it_is_retried(
    tiny_model, bench_dir, tmp_path, capsys, batch_size
):
    broken = FakeBackend(fail={2})
    summary = run_evaluation(
        _config(
            tiny_model,
            bench_dir,
            tmp_path,
            datasets=["MMStar"],
            batch_size=batch_size,
            backend_factory=lambda p, k: broken,
        )  # fmt: skip
    )
    cell = summary.cell(MODEL_NAME, "MMStar")
    assert cell.n_failed == 1 and summary.failures == 1
    frame = pd.read_excel(cell.pred_file)
    failed = frame.loc[frame["index"] == 2, "prediction"].item()
    assert failed.startswith("Failed to obtain answer") and "out of memory" in failed
    assert (frame.loc[frame["index"] != 2, "prediction"] == "A").all()
    assert "(1 failed)" in capsys.readouterr().out

    healthy = FakeBackend()
    summary = run_evaluation(
        _config(tiny_model, bench_dir, tmp_path, datasets=["MMStar"], backend_factory=lambda p, k: healthy)
    )
    assert healthy.seen == [2]  # only the failed sample
    assert summary.cell(MODEL_NAME, "MMStar").n_failed == 0
    assert (pd.read_excel(cell.pred_file)["prediction"] == "A").all()


def test_an_undecodable_image_fails_only_its_sample(tiny_model, bench_dir, tmp_path):
    data = shutil.copytree(bench_dir, tmp_path / "data")
    tsv = data / "MMStar.tsv"
    frame = pd.read_csv(tsv, sep="\t")
    good = frame.loc[1, "image"]
    frame.loc[1, "image"] = base64.b64encode(b"not an image " * 10).decode()  # a truncated download
    frame.to_csv(tsv, sep="\t", index=False)
    work = tmp_path / "work"
    backend = FakeBackend()
    summary = run_evaluation(
        _config(tiny_model, data, work, datasets=["MMStar"], backend_factory=lambda p, k: backend)
    )
    cell = summary.cell(MODEL_NAME, "MMStar")
    assert cell.n_failed == 1 and 1 not in backend.seen and len(backend.seen) == 5
    text = pd.read_excel(cell.pred_file).set_index("index").loc[1, "prediction"]
    assert "Failed to obtain answer" in text and "cannot be decoded" in text

    frame.loc[1, "image"] = good  # the file is repaired: the re-run infers that sample only
    frame.to_csv(tsv, sep="\t", index=False)
    backend.seen.clear()
    summary = run_evaluation(
        _config(tiny_model, data, work, datasets=["MMStar"], backend_factory=lambda p, k: backend)
    )
    assert backend.seen == [1] and summary.cell(MODEL_NAME, "MMStar").n_failed == 0


@pytest.mark.numerics  # the redone samples must equal the first run's: same shapes, same kernels
def test_a_corrupt_progress_file_is_reported_and_its_samples_redone(
    reference_run, tiny_model, bench_dir, tmp_path, capsys
):
    work = shutil.copytree(reference_run, tmp_path / "work")
    (work / MODEL_NAME / f"{MODEL_NAME}_MMStar.xlsx").unlink()
    progress = next((work / MODEL_NAME / ".progress" / f"{MODEL_NAME}_MMStar").glob("*.jsonl"))
    lines = progress.read_text().splitlines(keepends=True)
    lines[0] = lines[0].replace('"prediction": "', '"prediction": "X')  # altered record: checksum fails
    lines[-1] = lines[-1][:40]  # truncated last line
    progress.write_text("".join(lines))
    summary = run_evaluation(_config(tiny_model, bench_dir, work))
    err = capsys.readouterr().err
    assert "not trusted" in err and "truncated" in err and str(progress) in err
    assert summary.cell(MODEL_NAME, "MMStar").n_inferred == 2
    assert summary.cell(MODEL_NAME, "OCRBench").n_inferred == 0
    assert_same_outputs(work, reference_run)


def test_everything_missing_is_named_before_any_work(tmp_path, bench_dir, capsys):
    work = tmp_path / "work"
    rc = main(["run", "--model", "InternVL2_5-1B", "--data", "MMStar", "HallusionBench", "--work-dir", str(work),
               "--model-dir", str(tmp_path / "pretrained"), "--data-dir", str(bench_dir)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and not work.exists()
    assert "checkpoint of InternVL2_5-1B not found" in err and "vleval models download InternVL2_5-1B" in err
    assert "HallusionBench" in err and "vleval data download HallusionBench" in err
    assert "md5" in err  # MMStar: the synthetic file is not the real one


def test_unknown_model_and_benchmark_are_refused(tmp_path, bench_dir):
    with pytest.raises(VlevalError) as info:
        run_evaluation(_config(Path("InternVL9-1B"), bench_dir, tmp_path, models=["InternVL9-1B"],
                               datasets=["MMStarr"]))  # fmt: skip
    assert "InternVL9-1B" in str(info.value) and "MMStarr" in str(info.value)
    assert not (tmp_path / "InternVL9-1B").exists()


def test_missing_weights_in_a_checkpoint_folder(tmp_path, tiny_model, bench_dir):
    partial = shutil.copytree(tiny_model, tmp_path / "Partial")
    for shard in partial.glob("*.safetensors"):
        shard.unlink()
        break
    with pytest.raises(DataMissingError, match="incomplete: missing"):
        run_evaluation(_config(partial, bench_dir, tmp_path / "work"))


def test_eval_mode_needs_predictions_and_rescores_them(reference_run, tiny_model, bench_dir, tmp_path):
    with pytest.raises(DataMissingError, match="--mode infer"):
        run_evaluation(_config(tiny_model, bench_dir, tmp_path / "empty", mode="eval"))
    work = shutil.copytree(reference_run, tmp_path / "work")
    summary = run_evaluation(_config(tiny_model, bench_dir, work, mode="eval"))
    assert summary.cell(MODEL_NAME, "OCRBench").headline is not None
    assert_same_outputs(work, reference_run)


def test_use_cot_is_read_once_at_the_command_line():
    from vleval.cli import build_parser

    args = build_parser().parse_args(["run", "--model", "m", "--data", "MMStar"])
    assert config_from_args(args, {"USE_COT": "1"}).cot is True
    assert config_from_args(args, {}).cot is False


def test_verbose_prints_each_prediction(tiny_model, bench_dir, tmp_path, capsys):
    run_evaluation(
        _config(
            tiny_model,
            bench_dir,
            tmp_path,
            datasets=["OCRBench"],
            verbose=True,
            backend_factory=lambda p, k: FakeBackend(),
        )  # fmt: skip
    )
    out = capsys.readouterr().out
    assert sum(1 for line in out.splitlines() if line.startswith(f"{MODEL_NAME} OCRBench ")) == 4


def test_a_benchmark_that_needs_a_judge_is_refused_before_inference_without_one(
    tiny_model, tmp_path, monkeypatch
):
    from vleval.synthetic.benchmarks import make_benchmark_tsv

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    make_benchmark_tsv("MMVet", tmp_path / "data", n=2)
    config = _config(tiny_model, tmp_path / "data", tmp_path / "work", datasets=["MMVet"])
    with pytest.raises(VlevalError, match="MMVet is scored by an LLM judge.*--mode infer"):
        run_evaluation(config)
    assert not (tmp_path / "work").exists()
    config.mode = "infer"  # inference alone needs no judge
    config.backend_factory = lambda p, k: FakeBackend()
    assert run_evaluation(config).cell(MODEL_NAME, "MMVet").n_inferred == 2


def test_a_prediction_file_without_progress_records_is_reused(
    reference_run, tiny_model, bench_dir, tmp_path, capsys
):
    work = shutil.copytree(reference_run, tmp_path / "work")
    shutil.rmtree(work / MODEL_NAME / ".progress")  # e.g. predictions copied from another machine

    def no_backend(path, kwargs):
        raise AssertionError("finished predictions must be reused")

    summary = run_evaluation(_config(tiny_model, bench_dir, work, backend_factory=no_backend))
    assert all(cell.n_inferred == 0 for cell in summary.cells)
    assert "reusing 6 prediction(s)" in capsys.readouterr().err
    assert_same_outputs(work, reference_run)


def test_models_times_benchmarks_with_a_table_and_a_run_json_per_model(
    tiny_model, bench_dir, tmp_path, capsys
):
    other = shutil.copytree(tiny_model, tmp_path / "TinyVL-Finetuned")
    config = _config(tiny_model, bench_dir, tmp_path / "work", backend_factory=lambda p, k: FakeBackend())
    config.models = [str(tiny_model), str(other)]
    summary = run_evaluation(config)
    assert [(c.model, c.dataset) for c in summary.cells] == [
        (MODEL_NAME, "MMStar"), (MODEL_NAME, "OCRBench"), ("TinyVL-Finetuned", "MMStar"),
        ("TinyVL-Finetuned", "OCRBench"),
    ]  # fmt: skip
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["model", "MMStar", "OCRBench"]
    assert any(line.startswith("TinyVL-Finetuned ") for line in table.splitlines())
    for name in (MODEL_NAME, "TinyVL-Finetuned"):
        run = json.loads((tmp_path / "work" / name / "run.json").read_text())
        assert run["model"]["name"] == name and set(run["datasets"]) == set(DATASETS)


def test_openai_backend_runs_through_vleval_run_against_a_served_model(
    tiny_model, bench_dir, tmp_path, monkeypatch
):
    """`--backend openai --api-base URL`: every sample is asked of the server, with the key from
    $VLEVAL_API_KEY, and its answers become the predictions."""
    from vleval.synthetic.judge_server import JudgeServer

    work = tmp_path / "work"
    monkeypatch.setenv("VLEVAL_API_KEY", "sk-served")
    with JudgeServer(lambda model, messages, temperature: "B", api_key="sk-served") as server:
        rc = main(["run", *run_args(tiny_model, bench_dir, work), "--backend", "openai",
                   "--api-base", server.base_url, "--api-model", "served-tiny"])  # fmt: skip
        assert rc == 0
        assert server.request_count == sum(DATASETS.values())
        assert {body["model"] for body in server.requests} == {"served-tiny"}
    predictions = pd.read_excel(work / MODEL_NAME / f"{MODEL_NAME}_MMStar.xlsx")["prediction"]
    assert set(predictions) == {"B"}


def test_openai_backend_without_api_base_is_refused():
    with pytest.raises(VlevalError, match="--api-base"):
        config_from_args(_parse(["--backend", "openai"]), environ={})


def _parse(extra: list[str]):
    from vleval.cli import build_parser

    return build_parser().parse_args(["run", "--model", "m", "--data", "MMStar", *extra])


def test_run_json_records_the_dry_run_estimate_beside_the_measured_time(
    reference_run: Path, tiny_model: Path
):
    from vleval.models.internvl.tokenizer import load_tokenizer

    model_dir = reference_run / MODEL_NAME
    run = json.loads((model_dir / "run.json").read_text())
    tokenizer = load_tokenizer(tiny_model)
    for name in DATASETS:
        entry = run["datasets"][name]
        prompts = [
            json.loads(line)["prompt"] for line in (model_dir / f"{MODEL_NAME}_{name}_prompts.jsonl").open()
        ]
        fed = sum(len(tokenizer(p).input_ids) for p in prompts)
        assert entry["estimate"]["prompt_tokens"] == fed  # the bill counts exactly what was fed
        low, high = entry["estimate"]["flops"]
        assert 0 < low <= high and entry["seconds"]["infer"] >= 0


def test_a_registered_name_copy_runs_unverified_rule_only_and_is_never_compared(
    tiny_model, bench_dir, tmp_path, capsys, monkeypatch
):
    """Issue 18 items 2 and 4: a random checkpoint copied to pretrained/InternVL2_5-1B, scored without
    a judge key: the dry run and the start of the run say both, the record, the console table and the
    report carry both marks, and the report never sets the number beside the published figure."""
    from vleval.datasets.results import read_score
    from vleval.report.build import write_report
    from vleval.report.published import load_published, published_for

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    pretrained = tmp_path / "pretrained"
    shutil.copytree(tiny_model, pretrained / "InternVL2_5-1B")
    work = tmp_path / "work"
    args = ["run", "--model", "InternVL2_5-1B", "--model-dir", str(pretrained), "--data", "MMStar",
            "--data-dir", str(bench_dir), "--work-dir", str(work), "--skip-md5-check", "--max-new-tokens", "8",
            "--device", "cpu", "--batch-size", "2", "--no-progress"]  # fmt: skip
    assert main([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "InternVL2_5-1B: a random-weight synthetic checkpoint, UNVERIFIED checkpoint" in out
    assert "MMStar: rule-only scoring" in out and "no judge endpoint or key is set" in out
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "UNVERIFIED checkpoint" in captured.err and "MMStar: rule-only scoring" in captured.err
    assert "unverified checkpoint" in captured.out and "rule-only" in captured.out  # the console table
    settings = read_score(work / "InternVL2_5-1B" / "InternVL2_5-1B_MMStar_score.json").settings
    assert settings.checkpoint == "unverified" and settings.synthetic_checkpoint and settings.rule_only
    assert settings.max_new_tokens == 8 and settings.verify_md5 is False and settings.cot is False
    assert published_for(load_published(), "InternVL2_5-1B", "MMStar") is not None
    files = write_report([work], thumbnails=0)
    assert files.summary.cell("InternVL2_5-1B", "MMStar").published is None
    md = files.summary_md.read_text()
    assert "unverified checkpoint" in md and "rule-only" in md and "RANDOM-WEIGHT" in md
    assert "token budget 8" in md and "md5 check off" in md


def test_an_internvl3_5_card_runs_end_to_end_and_unloadable_cards_are_refused(bench_dir, tmp_path, capsys):
    """`vleval run --model InternVL3_5-1B` on its tiny Qwen3 checkpoint: predictions and scores for every
    benchmark, run.json naming the card and its LLM; InternVL3-9B (InternLM3) is refused before any work,
    in one line, exit 2 (a -Thinking entry and an -HF repo run: tests/runner/test_thinking_run.py,
    tests/models/test_hf_native.py)."""
    from vleval.synthetic.checkpoints import make_tiny_checkpoint

    models = tmp_path / "models"
    make_tiny_checkpoint(models / "InternVL3_5-1B", "qwen3")
    work = tmp_path / "work"
    args = run_args(Path("x"), bench_dir, work)
    args[args.index("--model") + 1 : args.index("--model") + 2] = [
        "InternVL3_5-1B",
        "--model-dir",
        str(models),
    ]
    assert main(["run", *args]) == 0
    out = work / "InternVL3_5-1B"
    for name in DATASETS:
        assert (out / f"InternVL3_5-1B_{name}.xlsx").is_file()
        assert (out / f"InternVL3_5-1B_{name}_score.json").is_file()
    run = json.loads((out / "run.json").read_text())
    assert (run["model"]["repo_id"], run["model"]["llm_family"]) == ("OpenGVLab/InternVL3_5-1B", "qwen3")
    capsys.readouterr()
    for name, words in (("InternVL3-9B", "InternLM3"),):
        args[args.index("--model") + 1] = name
        assert main(["run", *args]) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err
