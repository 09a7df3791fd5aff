"""Slurm jobs laid out as the source document's launch script (``internvl2_5_evaluation.md``), one job
per model, running ``vleval run`` under ``srun``.

Per model: ``GPUS_PER_TASK`` = the model card's ``gpus_per_task`` (8 for 38B/78B, else 1),
``--ntasks = GPUS / GPUS_PER_TASK``, ``--ntasks-per-node = GPUS_PER_NODE / GPUS_PER_TASK``,
``--gres=gpu:GPUS_PER_NODE`` (only when GPUs are asked for), log in ``<log-dir>/<model>/evaluation.log``.
The source document's ``srun --async --quotatype`` are options of a customised Slurm that stock Slurm
rejects (``unrecognized option``, exit 255): jobs are submitted without blocking through ``sbatch``,
and ``--quota-type`` / ``--srun-args`` pass cluster-specific options only when asked.

Every value a user controls (paths, model and benchmark names, partition, job name, extra srun options)
reaches the script quoted: the ``srun`` line through ``shlex.quote`` (bash), the ``#SBATCH`` lines in
double quotes, the only quoting sbatch's directive parser knows (Slurm ``src/sbatch/opt.c``,
``_get_argument``: ``"`` toggles quoting, no escapes), with ``%`` doubled in ``--output``/``--error``
(Slurm's file name patterns, sbatch(1) "filename pattern"). Values with control characters (a newline
in a folder name ends a ``#SBATCH`` or comment line and starts a command) are refused, and so are ``"``
and ``\\`` in ``#SBATCH`` values, which that parser cannot carry.

Credentials never enter a script: Slurm keeps scripts and shows them (``scontrol write batch_script``,
``sacct --batch-script``). A URL option that carries credentials (``--judge-base-url``, ``--api-base``)
is left out of the script and reaches the job through the environment sbatch passes on (the option's
``env`` variable: ``OPENAI_API_BASE``, ``VLEVAL_API_BASE``), as the API keys do; the script only checks
that the variable is set.
"""

from __future__ import annotations

import math
import os
import re
import shlex
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from vleval.errors import VlevalError


@dataclass(frozen=True)
class SlurmLayout:
    partition: str | None
    gpus: int
    gpus_per_node: int
    gpus_per_task: int
    ntasks: int
    ntasks_per_node: int

    @property
    def nodes(self) -> int:
        return max(1, math.ceil(self.ntasks / self.ntasks_per_node))


def plan_layout(
    *,
    partition: str | None,
    gpus: int,
    gpus_per_node: int,
    gpus_per_task: int,
    cpu_tasks: int = 1,
    cpu_tasks_per_node: int | None = None,
) -> SlurmLayout:
    """The source document's arithmetic; ``gpus == 0`` is a CPU job of ``cpu_tasks`` tasks,
    ``cpu_tasks_per_node`` of them per node (default: all on one node)."""
    if gpus < 0 or gpus_per_node < 0 or cpu_tasks < 1 or (cpu_tasks_per_node or 1) < 1:
        raise VlevalError("--gpus and --gpus-per-node must be >= 0, --ntasks and --ntasks-per-node >= 1")
    if gpus == 0:
        per_node = min(cpu_tasks_per_node or cpu_tasks, cpu_tasks)
        if cpu_tasks % per_node:
            raise VlevalError(
                f"--ntasks-per-node {per_node} does not divide --ntasks {cpu_tasks}; every node runs the "
                "same number of tasks."
            )
        return SlurmLayout(partition, 0, 0, 0, cpu_tasks, per_node)
    if cpu_tasks_per_node is not None:
        raise VlevalError("--ntasks-per-node is for CPU jobs (--gpus 0); GPU jobs use --gpus-per-node")
    if gpus_per_node <= 0:
        raise VlevalError("--gpus-per-node must be > 0 when --gpus > 0")
    per_task = gpus_per_task
    if gpus % per_task or gpus_per_node % per_task:
        raise VlevalError(
            f"{per_task} GPUs per task do not divide --gpus {gpus} and --gpus-per-node {gpus_per_node}; "
            "use multiples of the GPUs per task."
        )
    return SlurmLayout(partition, gpus, gpus_per_node, per_task, gpus // per_task, gpus_per_node // per_task)


_UNSAFE_CATEGORIES = {"Cc", "Zl", "Zp"}  # control characters, line and paragraph separators
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def refuse_control_characters(what: str, value: str) -> str:
    """``value`` unchanged, or a one-line error naming ``what`` when it holds a control character."""
    bad = sorted({c for c in value if unicodedata.category(c) in _UNSAFE_CATEGORIES})
    if bad:
        shown = ", ".join(repr(c) for c in bad)
        raise VlevalError(
            f"{what} {value!r} contains control characters ({shown}); they are refused in job scripts. "
            "Rename the folder or pass another value."
        )
    return value


def sbatch_value(what: str, value: str) -> str:
    """``value`` as one ``#SBATCH`` option argument: double-quoted when it has blanks or quotes."""
    refuse_control_characters(what, value)
    if '"' in value or "\\" in value:
        raise VlevalError(
            f'{what} {value!r} contains " or \\, which #SBATCH lines cannot carry; use a path without them.'
        )
    return f'"{value}"' if not value or any(c.isspace() or c in "'#" for c in value) else value


def sbatch_file_pattern(what: str, path: Path) -> str:
    """A path for ``--output``/``--error``: ``%`` doubled so Slurm does not read it as a pattern."""
    return sbatch_value(what, str(path).replace("%", "%%"))


@dataclass(frozen=True)
class SlurmJob:
    model: str
    layout: SlurmLayout
    run_args: tuple[str, ...]  # arguments after `vleval run`
    log_dir: Path
    workdir: Path
    python: str = field(default_factory=lambda: sys.executable)
    job_name: str | None = None
    quota_type: str | None = None
    srun_args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    # variables the job needs from the submitting environment (URLs with credentials): checked, not set
    required_env: tuple[str, ...] = ()
    time: str | None = None  # --time (Slurm's formats, e.g. 2-00:00:00); None: the partition's default
    account: str | None = None
    qos: str | None = None
    sbatch_args: tuple[str, ...] = ()  # extra #SBATCH options, each "--name=value" or "--flag"

    def __post_init__(self) -> None:
        """Every value that reaches the script is checked here, before anything is printed or written."""
        refuse_control_characters("model name", self.model)
        for what, value in (
            ("--log-dir", str(self.log_dir)),
            ("working directory", str(self.workdir)),
            ("Python interpreter", self.python),
            ("--job-name", self.job_name or ""),
            ("--partition", self.layout.partition or ""),
            ("--quota-type", self.quota_type or ""),
            ("--time", self.time or ""),
            ("--account", self.account or ""),
            ("--qos", self.qos or ""),
        ):
            refuse_control_characters(what, value)
        for value in self.sbatch_args:
            if not value.startswith("-"):
                raise VlevalError(
                    f"--sbatch-args: {value!r} is not an sbatch option; give options such as '--mem=64G "
                    "--constraint=a100' (each becomes one #SBATCH line)."
                )
        for value in (*self.run_args, *self.srun_args):
            refuse_control_characters("argument", value)
        for key, value in self.env:
            if not _ENV_NAME.match(key):
                raise VlevalError(f"{key!r} is not an environment variable name")
            refuse_control_characters(key, value)
        for key in self.required_env:
            if not _ENV_NAME.match(key):
                raise VlevalError(f"{key!r} is not an environment variable name")
        self.script()  # the #SBATCH values' own checks

    @property
    def log_file(self) -> Path:
        return self.log_dir / self.model / "evaluation.log"

    @property
    def script_path(self) -> Path:
        return self.log_dir / self.model / "job.sbatch"

    def script(self) -> str:
        """The sbatch script (bash)."""
        lay = self.layout
        name = self.job_name or f"vleval_{self.model}"
        lines = ["#!/bin/bash", f"#SBATCH --job-name={sbatch_value('job name', name)}"]
        if lay.partition:
            lines.append(f"#SBATCH --partition={sbatch_value('--partition', lay.partition)}")
        lines += [
            f"#SBATCH --nodes={lay.nodes}",
            f"#SBATCH --ntasks={lay.ntasks}",
            f"#SBATCH --ntasks-per-node={lay.ntasks_per_node}",
        ]
        if lay.gpus > 0:
            lines.append(f"#SBATCH --gres=gpu:{lay.gpus_per_node}")
        if self.quota_type:
            lines.append(f"#SBATCH --quotatype={sbatch_value('--quota-type', self.quota_type)}")
        for flag, value in (("--time", self.time), ("--account", self.account), ("--qos", self.qos)):
            if value:
                lines.append(f"#SBATCH {flag}={sbatch_value(flag, value)}")
        for option in self.sbatch_args:
            flag, equals, value = option.partition("=")
            lines.append(
                f"#SBATCH {sbatch_value('--sbatch-args', flag)}"
                + (f"={sbatch_value(flag, value)}" if equals else "")
            )
        log = sbatch_file_pattern("--log-dir", self.log_file)
        lines += [
            f"#SBATCH --chdir={sbatch_value('working directory', str(self.workdir))}",
            f"#SBATCH --output={log}",
            f"#SBATCH --error={log}",
            "set -euo pipefail",
            f"# vleval job for {self.model}: {lay.ntasks} task(s) on {lay.nodes} node(s), "
            + (f"{lay.gpus_per_task} GPU(s) per task" if lay.gpus else "CPU only"),
        ]
        if lay.gpus > 0:
            lines.append(f"export GPUS_PER_TASK={lay.gpus_per_task}")
        for key, value in self.env:
            lines.append(f"export {key}={shlex.quote(value)}")
        for key in self.required_env:
            lines.append(
                f': "${{{key}:?holds a URL with credentials, passed by vleval slurm --submit from its '
                f'environment and never written here; export it before submitting this script by hand}}"'
            )
        srun = [
            "srun",
            "--kill-on-bad-exit=1",
            f"--ntasks={lay.ntasks}",
            f"--ntasks-per-node={lay.ntasks_per_node}",
        ]
        if lay.gpus > 0:
            srun.append(f"--gres=gpu:{lay.gpus_per_node}")
        if self.quota_type:
            srun.append(f"--quotatype={self.quota_type}")  # quoted with the whole line below
        srun += list(self.srun_args)
        command = [self.python, "-u", "-m", "vleval", "run", *self.run_args]
        lines.append(" ".join(shlex.quote(a) for a in srun + command))
        return "\n".join(lines) + "\n"


def gpus_per_task_for(model: str, card_gpus_per_task: int | None) -> int:
    """8 for 38B/78B (the source document's ``[[ $model =~ 38B|78B ]]``), else the card's value or 1."""
    if card_gpus_per_task:
        return card_gpus_per_task
    return 8 if re.search(r"38B|78B", model) else 1


_JOB_ID = re.compile(r"^(\d+)")


def submit(job: SlurmJob, sbatch: str = "sbatch", env: dict[str, str] | None = None) -> str:
    """Write the script and its log folder, submit without blocking; returns the job id. ``env``:
    variables added to the environment sbatch passes on to the job (``job.required_env``)."""
    job.log_file.parent.mkdir(parents=True, exist_ok=True)  # Slurm does not create -o folders
    job.script_path.write_text(job.script(), encoding="utf-8")
    return run_sbatch(job.script_path, job.model, sbatch, env)


def run_sbatch(
    script_path: Path, label: str, sbatch: str = "sbatch", env: dict[str, str] | None = None
) -> str:
    """Submit a written script without blocking; returns the job id. ``env``: variables added to the
    environment sbatch passes on to the job."""
    try:
        proc = subprocess.run(
            [sbatch, "--parsable", str(script_path)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=None if not env else {**os.environ, **env},
        )
    except FileNotFoundError:
        raise VlevalError(
            f"`{sbatch}` not found: submit from a Slurm login node, or run the printed script yourself."
        ) from None
    if proc.returncode != 0:
        raise VlevalError(
            f"sbatch refused the job for {label} (exit {proc.returncode}): {proc.stderr.strip()}. "
            f"Script: {script_path}"
        )
    match = _JOB_ID.match(proc.stdout.strip())
    if not match:
        raise VlevalError(f"sbatch gave no job id for {label}: {proc.stdout.strip()!r}")
    return match.group(1)


# --------------------------------------------------------------------------------------------------
# --array: one job array, one array task per model, instead of one job per model
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SlurmArray:
    """The models' jobs as one Slurm job array: task ``i`` runs ``jobs[i]``'s ``vleval run``. Every
    task of an array gets the same resources, so the models must share one layout."""

    jobs: tuple[SlurmJob, ...]
    job_name: str | None = None

    def __post_init__(self) -> None:
        first = self.jobs[0]
        for job in self.jobs[1:]:
            if job.layout != first.layout:
                raise VlevalError(
                    f"--array: {job.model} needs {job.layout.ntasks} task(s) with {job.layout.gpus_per_task} "
                    f"GPU(s) each, {first.model} {first.layout.ntasks} with {first.layout.gpus_per_task}; the "
                    "tasks of a job array share their resources. Submit one job per model (without --array)."
                )
        self.script()

    @property
    def log_dir(self) -> Path:
        return self.jobs[0].log_dir / "array"

    @property
    def script_path(self) -> Path:
        return self.log_dir / "job.sbatch"

    def log_file(self, task: int) -> Path:
        return self.log_dir / f"task-{task}.log"

    def script(self) -> str:
        """The first job's script with the array's name, logs and one ``case`` branch per model."""
        first = self.jobs[0].script().splitlines()
        name = self.job_name or "vleval_array"
        log = sbatch_value("--log-dir", str(self.log_dir).replace("%", "%%") + "/task-%a.log")
        header = []
        for line in first[: first.index("set -euo pipefail")]:
            if line.startswith("#SBATCH --job-name="):
                line = f"#SBATCH --job-name={sbatch_value('job name', name)}"
            elif line.startswith(("#SBATCH --output=", "#SBATCH --error=")):
                line = line.split("=", 1)[0] + "=" + log
            header.append(line)
        header.append(f"#SBATCH --array=0-{len(self.jobs) - 1}")
        # exports, without the first job's comment and srun line
        setup = [
            x for x in first[first.index("set -euo pipefail") : -1] if not x.startswith("# vleval job for")
        ]
        lines = [*header, *setup, f"# vleval job array: one task per model ({len(self.jobs)})"]
        lines.append('case "$SLURM_ARRAY_TASK_ID" in')
        for task, job in enumerate(self.jobs):
            lines.append(f"  {task})  # {job.model}")
            lines.append(f"    {job.script().splitlines()[-1]} ;;")
        lines += ['  *) echo "vleval: no model for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;', "esac"]
        return "\n".join(lines) + "\n"


def submit_array(array: SlurmArray, sbatch: str = "sbatch", env: dict[str, str] | None = None) -> str:
    """Write the array's script and log folder, submit without blocking; returns the job id. ``env``: as
    for ``submit``."""
    array.log_dir.mkdir(parents=True, exist_ok=True)
    array.script_path.write_text(array.script(), encoding="utf-8")
    label = f"the job array of {', '.join(j.model for j in array.jobs)}"
    return run_sbatch(array.script_path, label, sbatch, env)
