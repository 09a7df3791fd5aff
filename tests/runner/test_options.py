"""One options schema: argparse, RunConfig, `vleval slurm`'s forwarding and run.json agree."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from runner_support import MODEL_NAME

from vleval.cli import build_parser
from vleval.runner.config import (
    OPTIONS,
    RunConfig,
    config_from_args,
    forwarded_args,
    recorded_settings,
    run_config_default,
)

# a value for every option, other than its default
GIVEN = {
    "--work-dir": "w", "--model-dir": "m", "--data-dir": "d", "--mode": "infer", "--protocol": "2026.08",
    "--backend": "openai", "--api-base": "http://user:secret@127.0.0.1:9/v1?api-key=sk-x", "--api-model": "served",
    "--api-workers": "3", "--judge": "gpt-4o-mini", "--judge-base-url": "http://127.0.0.1:8/v1?key=sk-y",
    "--judge-workers": "5", "--judge-timeout": "30.0", "--judge-retry-budget": "90.0", "--max-new-tokens": "7", "--limit": "4", "--log-to": "mlflow", "--seeds": "2", "--batch-size": "3", "--max-image-pixels": "1000",
    "--device": "cpu", "--dtype": "bfloat16", "--attention": "sdpa", "--dist-timeout": "60.0", "--llm-base": "base",
}  # fmt: skip


def _argv() -> list[str]:
    out = []
    for option in OPTIONS:
        out += [option.flag] if option.switch else [option.flag, GIVEN[option.flag]]
    return out


def test_every_option_is_a_run_config_field_with_a_value_to_test():
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    assert all(o.field in fields for o in OPTIONS)
    assert {o.flag for o in OPTIONS if not o.switch} == set(GIVEN)


def test_slurm_forwards_every_option_given_and_the_job_reads_the_same_config():
    argv = ["--model", "m", "--data", "MMStar", *_argv()]
    direct = config_from_args(build_parser().parse_args(["run", *argv]), environ={})
    slurm_args = build_parser().parse_args(["slurm", *[a for a in argv if a != "--dry-run"]])
    forwarded = forwarded_args(slurm_args)
    via_slurm = config_from_args(
        build_parser().parse_args(["run", "--model", "m", "--data", "MMStar", *forwarded]), {}
    )
    assert dataclasses.replace(via_slurm, dry_run=True) == direct
    for option in OPTIONS:  # nothing was left at its default
        if option.forward:
            assert getattr(direct, option.field) != run_config_default(option.field), option.flag
    nothing = build_parser().parse_args(["slurm", "--model", "m", "--data", "MMStar"])
    assert forwarded_args(nothing) == []  # options not given are not forwarded


def test_run_json_records_every_option_with_urls_without_credentials():
    args = build_parser().parse_args(["run", "--model", "m", "--data", "MMStar", *_argv()])
    settings = recorded_settings(config_from_args(args, environ={"VLEVAL_API_KEY": "sk-env"}))
    assert {o.field for o in OPTIONS if o.record} <= set(settings)
    assert settings["api_model"] == "served" and settings["dtype"] == "bfloat16"
    assert settings["api_base"].startswith("http://") and "127.0.0.1:9/v1" in settings["api_base"]
    text = json.dumps(settings)
    assert "secret" not in text and "sk-x" not in text and "sk-y" not in text and "sk-env" not in text


def test_a_run_records_api_base_and_model_in_run_json(reference_run: Path):
    run = json.loads((reference_run / MODEL_NAME / "run.json").read_text())
    assert {"api_base", "api_model", "max_image_pixels", "judge_base_url"} <= set(run["settings"])
    assert run["backend"]["name"] == "hf"  # the backend's own describe()
