"""``vleval run`` and ``vleval slurm``: parse arguments, delegate to run.py / slurm.py."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from vleval.errors import VlevalError
from vleval.runner.config import OPTIONS, add_options, config_from_args, forwarded_args

__all__ = ["config_from_args", "forwarded_run_args", "register"]


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
    add_options(run, for_slurm=False)
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
    slurm.add_argument("--time", default=None, help="time limit of each job (sbatch --time, e.g. 2-00:00:00)")
    slurm.add_argument("--account", default=None, help="account to charge (sbatch --account)")
    slurm.add_argument("--qos", default=None, help="quality of service (sbatch --qos)")
    slurm.add_argument(
        "--sbatch-args",
        default="",
        help="extra sbatch options, as one string (e.g. '--mem=200G --constraint=h100'): one #SBATCH line each",
    )
    slurm.add_argument(
        "--skip-preflight",
        action="store_true",
        help="submit even when the checks on this node (weights, data, judge settings) find something missing",
    )
    slurm.add_argument(
        "--array",
        action="store_true",
        help="one Slurm job array (one array task per model) instead of one job per model; the models "
        "must need the same resources",
    )
    slurm.add_argument("--submit", action="store_true", help="submit with sbatch (default: print only)")
    add_options(slurm, for_slurm=True)
    slurm.set_defaults(func=slurm_command)


def run_command(args: argparse.Namespace) -> int:
    from vleval.runner.run import run_evaluation

    if getattr(args, "config", None) is not None:
        return _run_suite(args)
    return _exit_code(run_evaluation(config_from_args(args, command=list(sys.argv))))


def _exit_code(summary) -> int:
    if summary.rank != 0:
        return 0
    if summary.blocked:  # --dry-run found what would stop the run: the same exit code as the run
        return 2
    # failed samples, incomplete scores (failed judge calls) and scoring errors were each said in one
    # line; everything that could be written was written
    return 1 if summary.problems else 0


def _run_suite(args: argparse.Namespace) -> int:
    """``vleval run --config SUITE``: one ``vleval run`` per group of benchmarks with the same settings,
    one after another (vleval.runner.suite); the exit code is the worst of them."""
    from vleval.runner.config import OPTIONS, run_config_default
    from vleval.runner.run import run_evaluation
    from vleval.runner.suite import given_on_command_line, load_suite

    suite = load_suite(args.config)
    models = _suite_models(suite, args)
    wanted = set(args.data or [])
    unknown = wanted - set(suite.benchmarks)
    if unknown:
        raise VlevalError(
            f"--data {', '.join(sorted(unknown))}: not in {suite.path} (it has {', '.join(suite.benchmarks)})."
        )
    command_line = given_on_command_line(args)
    worst = 0
    for group in suite.groups():
        datasets = [d for d in group.datasets if not wanted or d in wanted]
        if not datasets:
            continue
        values = {**group.settings, **command_line}
        fields = {o.field: values.get(o.field, run_config_default(o.field)) for o in OPTIONS}
        group_args = argparse.Namespace(model=models, data=datasets, **fields)
        print(f"# suite {suite.path.name}: {' '.join(datasets)}", file=sys.stderr, flush=True)
        worst = max(worst, _exit_code(run_evaluation(config_from_args(group_args, command=list(sys.argv)))))
    return worst


def _preflight(args: argparse.Namespace, specs: list[str]) -> list[str]:
    """What ``vleval run --dry-run`` of the jobs would find missing on this (login) node: weights
    (model dir or Hugging Face cache), benchmark files, judge key or endpoint. One line each."""
    from vleval.runner.config import OPTIONS, RunConfig, run_config_default
    from vleval.runner.run import plan_run

    problems: list[str] = []
    if getattr(args, "config", None) is not None:
        from vleval.runner.suite import load_suite

        suite = load_suite(args.config)
        groups = [(group.datasets, group.settings) for group in suite.groups()]
    else:
        groups = [(list(args.data), {})]
    given = {o.field: getattr(args, o.field) for o in OPTIONS if hasattr(args, o.field)}
    for datasets, settings in groups:
        values = {o.field: run_config_default(o.field) for o in OPTIONS} | settings | given
        values["dry_run"] = True
        config = RunConfig(models=specs, datasets=datasets, **values)
        try:
            plan = plan_run(config)
        except VlevalError as exc:
            problems.append(str(exc))
            continue
        problems.extend(p for p in plan.problems if p not in problems)
    return problems


def _suite_models(suite, args: argparse.Namespace) -> list[str]:
    if not args.model:
        return list(suite.models)
    missing = [m for m in args.model if m not in suite.models]
    if missing:
        raise VlevalError(
            f"--model {', '.join(missing)}: not in {suite.path} (it has {', '.join(suite.models)})."
        )
    return list(args.model)


def forwarded_run_args(args: argparse.Namespace, model: str) -> list[str]:
    if getattr(args, "config", None) is not None:  # the job reads the same suite file
        data = ["--data", *args.data] if args.data else []
        return ["--config", str(Path(args.config).resolve()), "--model", model, *data, *forwarded_args(args)]
    return ["--model", model, "--data", *args.data, *forwarded_args(args)]


def credential_urls(args: argparse.Namespace) -> dict[str, str]:
    """``{environment variable: URL}`` for the URL options given with credentials inside: a job
    script must not hold them (vleval.runner.slurm), the job's environment carries them instead."""
    from vleval.transport import url_secrets

    out = {}
    for option in OPTIONS:
        value = getattr(args, option.field, None)
        if option.url and option.env and value and url_secrets(str(value)):
            out[option.env] = str(value)
    return out


def _check_names(args: argparse.Namespace) -> None:
    """Unknown benchmark names fail here, with `vleval run`'s "did you mean", before any job waits
    in a queue to fail on the cluster; so do checkpoint folders that do not exist."""
    from vleval.datasets.registry import get_benchmark
    from vleval.runner.targets import is_hub_repo_id, looks_like_path

    problems = []
    for name in dict.fromkeys(args.data):
        try:
            get_benchmark(name)
        except VlevalError as exc:
            problems.append(str(exc))
    for spec in dict.fromkeys(args.model):
        if looks_like_path(spec) and not is_hub_repo_id(spec) and not Path(spec).is_dir():
            problems.append(f"--model {spec}: no checkpoint folder at {Path(spec).resolve()}")
    if problems:
        raise VlevalError("no job was written or submitted: " + " ".join(problems))


def _url_fields(secret_env: dict[str, str]) -> set[str]:
    return {option.field for option in OPTIONS if option.env in secret_env}


def slurm_command(args: argparse.Namespace) -> int:
    import shlex

    from vleval.runner.slurm import SlurmArray, SlurmJob, gpus_per_task_for, plan_layout, submit, submit_array
    from vleval.runner.targets import is_hub_repo_id, looks_like_path

    if getattr(args, "config", None) is not None:
        from vleval.runner.suite import load_suite

        specs = _suite_models(load_suite(args.config), args)  # checked here, before anything is submitted
    elif not args.model or not args.data:
        raise VlevalError(
            "name the models and benchmarks: --model NAME ... --data NAME ..., or --config FILE"
        )
    else:
        specs = list(args.model)
        _check_names(args)
    secret_env = credential_urls(args)
    job_args = argparse.Namespace(**{k: v for k, v in vars(args).items() if k not in _url_fields(secret_env)})
    jobs = []
    for spec in dict.fromkeys(specs):
        card_gpt = None
        hub = is_hub_repo_id(spec)  # resolved on the node, in its Hugging Face cache, as `vleval run` does
        if hub:
            spec_name = spec.split("/")[-1]
        elif not looks_like_path(spec):
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
        as_given = hub or getattr(args, "config", None) is not None  # the suite names it for the job
        model_arg = str(Path(spec).resolve()) if looks_like_path(spec) and not as_given else spec
        env = (("USE_COT", "1"),) if os.environ.get("USE_COT") == "1" else ()
        jobs.append(
            SlurmJob(
                model=spec_name,
                layout=layout,
                run_args=tuple(forwarded_run_args(job_args, model_arg)),
                log_dir=Path(args.log_dir).resolve(),
                workdir=Path.cwd(),
                job_name=args.job_name,
                quota_type=args.quota_type,
                srun_args=tuple(shlex.split(args.srun_args)),
                env=env,
                required_env=tuple(secret_env),
                time=args.time,
                account=args.account,
                qos=args.qos,
                sbatch_args=tuple(shlex.split(args.sbatch_args)),
            )
        )
    array = SlurmArray(tuple(jobs), job_name=args.job_name) if args.array else None
    if array is not None:
        print(f"# ---- job array of {len(jobs)} model(s): {array.script_path}")
        print(array.script())
    else:
        for job in jobs:
            print(f"# ---- {job.model}: {job.script_path}")
            print(job.script())
    if not args.submit:
        print("# not submitted; add --submit to submit these jobs with sbatch.")
        for name in secret_env:
            print(
                f"# {name}: export it (the URL with its credentials) before submitting these scripts by hand."
            )
        return 0
    problems = _preflight(args, specs)
    for line in problems:
        print(f"vleval: preflight: {line}", file=sys.stderr)
    if problems and not args.skip_preflight:
        print(
            "vleval: error: nothing submitted: the checks on this node found the above. Fix them, or submit "
            "with --skip-preflight when the compute nodes see other paths (each job checks again).",
            file=sys.stderr,
        )
        return 2
    print(
        "# preflight on this node: weights, data and judge settings "
        + ("found" if not problems else "not all found (--skip-preflight)")
        + "; whether the judge endpoint answers is checked on the node, before scoring starts."
    )
    if array is not None:
        try:
            job_id = submit_array(array, env=secret_env)
        except VlevalError as exc:
            print(f"vleval: error: {exc}", file=sys.stderr)
            return 2
        for task, job in enumerate(jobs):
            print(f"submitted {job.model}: job {job_id}_{task}, log {array.log_file(task)}")
        return 0
    for job in jobs:
        try:
            job_id = submit(job, env=secret_env)
        except VlevalError as exc:
            print(f"vleval: error: {exc}", file=sys.stderr)
            return 2
        print(f"submitted {job.model}: job {job_id}, log {job.log_file}")
    return 0
