"""Issue 23: `vleval run --model InternVL3_5-GPT-OSS-20B-A4B-Preview` end to end on its tiny GPT-OSS checkpoint
(transformers' GptOssForCausalLM, no checkpoint code): predictions in the harmony template, scores, a
re-score with `vleval eval`, and the report; the -HF twin gives the same predictions."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from runner_support import DATASETS, run_args

from vleval.cli import main

NAME = "InternVL3_5-GPT-OSS-20B-A4B-Preview"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    from vleval.synthetic.checkpoints import make_tiny_checkpoint, make_tiny_hf_checkpoint

    root = tmp_path_factory.mktemp("models")
    make_tiny_checkpoint(root / NAME, "gpt_oss")
    make_tiny_hf_checkpoint(root / f"{NAME}-HF", "gpt_oss")
    return root


def _args(name: str, bench_dir: Path, models: Path, work: Path) -> list[str]:
    args = run_args(Path("x"), bench_dir, work)
    args[args.index("--model") + 1 : args.index("--model") + 2] = [name, "--model-dir", str(models)]
    return args


@pytest.fixture(scope="module")
def work(bench_dir, models, tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("gpt_oss")
    assert main(["run", *_args(NAME, bench_dir, models, work)]) == 0
    return work


def _predictions(path: Path) -> list[str]:
    return [str(v) for v in pd.read_excel(path)["prediction"]]


def test_the_gpt_oss_card_runs_in_its_harmony_template(work):
    out = work / NAME
    run = json.loads((out / "run.json").read_text())
    assert (run["model"]["repo_id"], run["model"]["llm_family"]) == (f"OpenGVLab/{NAME}", "gpt_oss")
    for name, n in DATASETS.items():
        assert len(_predictions(out / f"{NAME}_{name}.xlsx")) == n
        assert (out / f"{NAME}_{name}_score.json").is_file()
        prompts = [json.loads(line) for line in (out / f"{NAME}_{name}_prompts.jsonl").open()]
        # internvl3_5_gpt_oss (IV internvl_chat_gpt_oss conversation.py): harmony roles, <|end|> separators
        assert all(
            p["prompt"].startswith("<|start|>system<|message|>You are InternVL, a large language model")
            and p["prompt"].endswith("<|end|><|start|>assistant")
            and "<img>" in p["prompt"]
            for p in prompts
        )
    assert run["datasets"]["MMStar"]["failed"] == 0


def test_eval_rescores_the_predictions_and_the_report_lists_the_model(work, bench_dir, tmp_path):
    out = work / NAME
    before = json.loads((out / f"{NAME}_MMStar_score.json").read_text())
    rescored = tmp_path / "rescored"
    args = ["eval", "--pred", str(out / f"{NAME}_MMStar.xlsx"), "--data-dir", str(bench_dir)]
    assert main([*args, "--work-dir", str(rescored), "--judge", "none", "--skip-md5-check"]) == 0
    after = json.loads(next(rescored.rglob(f"{NAME}_MMStar_score.json")).read_text())
    assert after["headline"] == before["headline"]
    assert main(["report", "--work-dir", str(work), "--out", str(tmp_path / "r.html")]) == 0
    assert NAME in (tmp_path / "r.html").read_text(encoding="utf-8")


def test_the_hf_twin_predicts_the_same(work, bench_dir, models, tmp_path):
    """The -HF layout (transformers' InternVLForConditionalGeneration over a GPT-OSS text model) is
    evaluated as the original checkpoint of the same weights: same prompts, same predictions."""
    hf = f"{NAME}-HF"
    assert main(["run", *_args(hf, bench_dir, models, tmp_path)]) == 0
    for name in DATASETS:
        assert _predictions(tmp_path / hf / f"{hf}_{name}.xlsx") == _predictions(
            work / NAME / f"{NAME}_{name}.xlsx"
        )


def test_the_dry_run_bill_counts_the_harmony_prompt_as_fed(work, models):
    """run.json's estimate counts the prompt tokens in the template the model was fed (issue 23)."""
    from vleval.models.internvl.tokenizer import load_tokenizer

    out = work / NAME
    run = json.loads((out / "run.json").read_text())
    tokenizer = load_tokenizer(models / NAME)
    for name in DATASETS:
        prompts = [json.loads(line)["prompt"] for line in (out / f"{NAME}_{name}_prompts.jsonl").open()]
        fed = sum(len(tokenizer(p).input_ids) for p in prompts)
        assert run["datasets"][name]["estimate"]["prompt_tokens"] == fed


def test_the_openai_backend_refuses_a_gpt_oss_card_in_one_line(bench_dir, models, tmp_path, capsys):
    """The openai backend would send the InternVL2.5 chat to a harmony-template model: refused, not run."""
    args = [
        *_args(NAME, bench_dir, models, tmp_path / "w"),
        "--backend",
        "openai",
        "--api-base",
        "http://127.0.0.1:9/v1",
    ]
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert "GPT-OSS" in err and "--backend hf" in err and "Traceback" not in err
