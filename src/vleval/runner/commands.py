"""``vleval run`` and ``vleval slurm``: parse arguments, delegate to run.py / slurm.py."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vleval.errors import VlevalError
from vleval.protocol import DEFAULT_PROTOCOL, PROTOCOLS

# (dest, flag, kind) of the `run` options `vleval slurm` forwards to the job's `vleval run`
_FORWARDED: tuple[tuple[str, str, str], ...] = (
    ("work_dir", "--work-dir", "value"),
    ("model_dir", "--model-dir", "value"),
    ("data_dir", "--data-dir", "value"),
    ("mode", "--mode", "value"),
    ("cot", "--cot", "flag"),
    ("protocol", "--protocol", "value"),
    ("backend", "--backend", "value"),
    ("api_base", "--api-base", "value"),
    ("api_model", "--api-model", "value"),
    ("api_workers", "--api-workers", "value"),
    ("judge", "--judge", "value"),
    ("judge_base_url", "--judge-base-url", "value"),
    ("judge_workers", "--judge-workers", "value"),
    ("save_prompts", "--save-prompts", "flag"),
    ("verbose", "--verbose", "flag"),
    ("skip_md5_check", "--skip-md5-check", "flag"),
    ("max_new_tokens", "--max-new-tokens", "value"),
    ("batch_size", "--batch-size", "value"),
    ("device", "--device", "value"),
    ("dtype", "--dtype", "value"),
    ("dist_timeout", "--dist-timeout", "value"),
    ("no_progress", "--no-progress", "flag"),
)


def _add_run_options(parser: argparse.ArgumentParser, *, for_slurm: bool) -> None:
    parser.add_argument(
        "--model",
        nargs="+",
        required=True,
        metavar="MODEL",
        help="registry names or aliases (InternVL2_5-8B, InternVL2-5-8B) or checkpoint folders",
    )
    parser.add_argument(
        "--data", nargs="+", required=True, metavar="NAME", help="benchmark names (vleval data list)"
    )
    parser.add_argument(
        "--work-dir",
        default="outputs" if not for_slurm else None,
        help="output root: <work-dir>/<model>/<model>_<data>.xlsx (default ./outputs)",
    )
    parser.add_argument(
        "--model-dir", default=None, help="checkpoint root (default $VLEVAL_MODEL_DIR or ./pretrained)"
    )
    parser.add_argument("--data-dir", default=None, help="benchmark files (default $LMUData or ~/LMUData)")
    parser.add_argument(
        "--mode",
        choices=("all", "infer", "eval"),
        default="all" if not for_slurm else None,
        help="all = infer + score (default); infer only; eval only (predictions must exist)",
    )
    parser.add_argument(
        "--cot", action="store_true", help="CoT prompts (same as USE_COT=1 in the environment)"
    )
    parser.add_argument(
        "--protocol",
        choices=sorted(PROTOCOLS),
        default=DEFAULT_PROTOCOL if not for_slurm else None,
        help=f"pinned reference rules (default {DEFAULT_PROTOCOL})",
    )
    parser.add_argument(
        "--backend",
        choices=("hf", "vllm", "openai"),
        default="hf" if not for_slurm else None,
        help="hf = batched transformers (default); vllm = vLLM's engine (pip install 'vleval[vllm]'); "
        "openai = an OpenAI-compatible server you already run (--api-base)",
    )
    parser.add_argument(
        "--api-base",
        default=None,
        help="--backend openai: the server's base URL, e.g. http://127.0.0.1:23333/v1 "
        "(key from $VLEVAL_API_KEY if the server needs one)",
    )
    parser.add_argument("--api-model", default=None, help="--backend openai: model name the server serves")
    parser.add_argument("--api-workers", type=int, default=None, help="--backend openai: parallel requests")
    parser.add_argument(
        "--judge",
        default=None,
        help="judge model short name or API id; 'none' = rule-based only (default: the protocol's)",
    )
    parser.add_argument(
        "--judge-base-url", default=None, help="OpenAI-compatible endpoint (or $OPENAI_API_BASE)"
    )
    parser.add_argument(
        "--judge-workers", type=int, default=16 if not for_slurm else None, help="parallel judge calls"
    )
    parser.add_argument(
        "--save-prompts",
        action="store_true",
        help="write <model>_<data>_prompts.jsonl: full templated prompt and tiles per sample",
    )
    parser.add_argument("--verbose", action="store_true", help="print every prediction")
    parser.add_argument(
        "--skip-md5-check",
        action="store_true",
        help="use benchmark files whose md5 differs from the protocol's (scores not comparable)",
    )
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="override the benchmark's generation budget (smoke tests only)",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=16 if not for_slurm else None,
        help="samples per backend call and per durable progress write",
    )
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: GPUs when visible)")
    parser.add_argument(
        "--dtype", default=None, help="bfloat16/float16/float32 (default: bf16 on GPU, fp32 on CPU)"
    )
    parser.add_argument(
        "--dist-timeout",
        type=float,
        default=None,
        help="seconds a rank may wait for the others (default 43200)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: argparse._SubParsersAction) -> None:
    run = subparsers.add_parser(
        "run",
        help="evaluate models on benchmarks (torchrun/srun aware, resumable)",
        description=(
            "Infer and score every model on every benchmark; outputs in the reference layout "
            "<work-dir>/<model>/<model>_<data>.xlsx plus result files and run.json. Launch with torchrun "
            "or srun for several processes. Killed runs continue where they stopped when run again."
        ),
    )
    _add_run_options(run, for_slurm=False)
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print models x benchmarks, sample counts, what is done and what is missing",
    )
    run.set_defaults(func=run_command)

    slurm = subparsers.add_parser(
        "slurm",
        help="print (or submit) one Slurm job per model running `vleval run` under srun",
        description=(
            "Lays out jobs as the InternVL2.5 evaluation script: 8 GPUs per task for 38B/78B, else 1; "
            "--ntasks = GPUS / GPUS_PER_TASK. Prints the sbatch scripts; --submit submits them with "
            "sbatch (non-blocking). Stock Slurm has no --async/--quotatype: pass --quota-type or "
            "--srun-args only where your cluster knows them."
        ),
    )
    slurm.add_argument("--partition", default=None, help="Slurm partition (default: the cluster's default)")
    slurm.add_argument("--gpus", type=int, default=64, help="GPUs per job (0: CPU job of --ntasks tasks)")
    slurm.add_argument("--gpus-per-node", type=int, default=8)
    slurm.add_argument(
        "--gpus-per-task",
        type=int,
        default=None,
        help="override the model's GPUs per task (8 for 38B/78B, else 1)",
    )
    slurm.add_argument("--ntasks", type=int, default=1, help="tasks of a CPU job (--gpus 0)")
    slurm.add_argument(
        "--ntasks-per-node",
        type=int,
        default=None,
        help="tasks per node of a CPU job (--gpus 0; default: all --ntasks on one node)",
    )
    slurm.add_argument("--quota-type", default=None, help="--quotatype for clusters that know it")
    slurm.add_argument("--srun-args", default="", help="extra srun options, as one string")
    slurm.add_argument("--job-name", default=None)
    slurm.add_argument("--log-dir", default="logs_eval", help="logs in <log-dir>/<model>/evaluation.log")
    slurm.add_argument("--submit", action="store_true", help="submit with sbatch (default: print only)")
    _add_run_options(slurm, for_slurm=True)
    slurm.set_defaults(func=slurm_command)


def config_from_args(args: argparse.Namespace, environ: dict[str, str] | None = None):
    """RunConfig from parsed arguments; USE_COT is read here, once (source document: USE_COT="1")."""
    from vleval.runner.run import RunConfig

    environ = dict(os.environ) if environ is None else environ
    kwargs = {}
    if args.dist_timeout is not None:
        kwargs["dist_timeout_s"] = args.dist_timeout
    return RunConfig(
        models=list(args.model),
        datasets=list(args.data),
        work_dir=Path(args.work_dir),
        model_dir=Path(args.model_dir) if args.model_dir else None,
        data_dir=Path(args.data_dir) if args.data_dir else None,
        mode=args.mode,
        cot=bool(args.cot or environ.get("USE_COT") == "1"),
        protocol=args.protocol,
        backend=args.backend,
        backend_options=_backend_options(args, environ),
        judge=args.judge,
        judge_base_url=args.judge_base_url,
        judge_workers=args.judge_workers,
        save_prompts=args.save_prompts,
        verbose=args.verbose,
        dry_run=getattr(args, "dry_run", False),
        verify_md5=not args.skip_md5_check,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        progress_bar=not args.no_progress,
        command=list(sys.argv),
        **kwargs,
    )


def _backend_options(args: argparse.Namespace, environ: dict[str, str]) -> dict[str, object]:
    """Options of the openai backend; its key is read here, from the environment (never a flag that
    would show in process listings)."""
    if args.backend != "openai":
        return {}
    if not args.api_base:
        raise VlevalError("--backend openai needs --api-base URL (the OpenAI-compatible server to query)")
    options: dict[str, object] = {"api_base": args.api_base}
    if args.api_model:
        options["model"] = args.api_model
    if args.api_workers:
        options["workers"] = args.api_workers
    if environ.get("VLEVAL_API_KEY"):
        options["api_key"] = environ["VLEVAL_API_KEY"]
    return options


def run_command(args: argparse.Namespace) -> int:
    from vleval.runner.run import run_evaluation

    summary = run_evaluation(config_from_args(args))
    if summary.rank != 0:
        return 0
    return 1 if summary.errors else 0


def forwarded_run_args(args: argparse.Namespace, model: str) -> list[str]:
    out = ["--model", model, "--data", *args.data]
    for dest, flag, kind in _FORWARDED:
        value = getattr(args, dest, None)
        if kind == "flag":
            if value:
                out.append(flag)
        elif value is not None:
            out += [flag, str(value)]
    return out


def slurm_command(args: argparse.Namespace) -> int:
    import shlex

    from vleval.runner.slurm import SlurmJob, gpus_per_task_for, plan_layout, submit
    from vleval.runner.targets import looks_like_path

    jobs = []
    for spec in dict.fromkeys(args.model):
        card_gpt = None
        if not looks_like_path(spec):
            from vleval.models.registry import get_model

            card = get_model(spec)  # unknown names fail here, before anything is submitted
            spec_name, card_gpt = card.name, card.gpus_per_task
        else:
            spec_name = Path(spec).resolve().name
        per_task = args.gpus_per_task or gpus_per_task_for(spec_name, card_gpt)
        layout = plan_layout(
            partition=args.partition,
            gpus=args.gpus,
            gpus_per_node=args.gpus_per_node,
            gpus_per_task=per_task,
            cpu_tasks=args.ntasks,
            cpu_tasks_per_node=args.ntasks_per_node,
        )
        model_arg = str(Path(spec).resolve()) if looks_like_path(spec) else spec
        env = (("USE_COT", "1"),) if os.environ.get("USE_COT") == "1" else ()
        jobs.append(
            SlurmJob(
                model=spec_name,
                layout=layout,
                run_args=tuple(forwarded_run_args(args, model_arg)),
                log_dir=Path(args.log_dir).resolve(),
                workdir=Path.cwd(),
                job_name=args.job_name,
                quota_type=args.quota_type,
                srun_args=tuple(shlex.split(args.srun_args)),
                env=env,
            )
        )
    for job in jobs:
        print(f"# ---- {job.model}: {job.script_path}")
        print(job.script())
    if not args.submit:
        print("# not submitted; add --submit to submit these jobs with sbatch.")
        return 0
    for job in jobs:
        try:
            job_id = submit(job)
        except VlevalError as exc:
            print(f"vleval: error: {exc}", file=sys.stderr)
            return 2
        print(f"submitted {job.model}: job {job_id}, log {job.log_file}")
    return 0
