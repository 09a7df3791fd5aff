"""What a run is asked to do and what it did: the options schema, ``RunConfig``, ``RunPlan``,
``CellResult`` and ``RunSummary``.

``OPTIONS`` is the one list of ``vleval run``'s options. From it come the argparse options of
``vleval run`` and ``vleval slurm``, the ``RunConfig`` built from parsed arguments, the arguments
``vleval slurm`` forwards to the job's ``vleval run``, and the ``settings`` recorded in ``run.json``;
an option cannot be forgotten in one of them. Each option's default is its ``RunConfig`` field's
default (the test suite checks every option has a field). Adding an option: one ``Option`` entry and
one ``RunConfig`` field.

This module imports no runner module but ``targets`` (the manifest, the inference and the run all
read it; it reads none of them).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vleval.console import NO_PROGRESS_DEST, NO_PROGRESS_FLAG, NO_PROGRESS_HELP
from vleval.errors import VlevalError
from vleval.judge.settings import JUDGE_OPTIONS, JudgeSettings, judge_settings_from
from vleval.protocol import DEFAULT_PROTOCOL, PROTOCOLS, Protocol
from vleval.report.format import score_text
from vleval.report.trackers import TRACKERS
from vleval.runner.targets import ModelTarget
from vleval.types import BenchmarkCard, EvalSettings, ScoreRecord

Mode = Literal["all", "infer", "eval"]
MODES: tuple[str, ...] = ("all", "infer", "eval")
BACKEND_NAMES: tuple[str, ...] = ("hf", "vllm", "openai")
# (checkpoint folder, keyword arguments for the backend) -> object with generate(requests)
BackendFactory = Callable[[Path, dict[str, Any]], Any]


@dataclass(frozen=True)
class Option:
    """One option of ``vleval run`` (and of ``vleval slurm``, which forwards it)."""

    flag: str
    field: str  # the RunConfig field (and the argparse dest)
    help: str
    type: Callable[[str], Any] | None = None  # argparse conversion; None: the text as given
    choices: tuple[str, ...] | None = None
    switch: bool = False  # a flag without value; it sets the opposite of the field's default
    url: bool = False  # recorded in run.json with credentials removed
    backend_kwarg: str | None = None  # passed to the backend under this name when set
    forward: bool = True  # `vleval slurm` has it and passes it on to the job's `vleval run`
    record: bool = True  # in run.json's settings
    # A URL option whose value carries credentials reaches a Slurm job through this environment
    # variable, which the job's `vleval run` reads when the option is not given; never the job script.
    env: str | None = None
    metavar: str | None = None  # argparse's name of the value in the help; None: from the flag

    def add_to(self, parser: argparse.ArgumentParser, *, for_slurm: bool) -> None:
        default = run_config_default(self.field)
        kwargs: dict[str, Any] = {"dest": self.field, "help": self.help}
        if self.switch:
            kwargs["action"] = "store_false" if default is True else "store_true"
        else:
            if self.type is not None:
                kwargs["type"] = self.type
            if self.choices is not None:
                kwargs["choices"] = self.choices
            if self.metavar is not None:
                kwargs["metavar"] = self.metavar
        # `vleval slurm` forwards only what was given: absent options stay absent (SUPPRESS)
        kwargs["default"] = argparse.SUPPRESS if for_slurm else default
        if not for_slurm and not self.switch and default is not None:
            kwargs["help"] += " (default %(default)s)"
        parser.add_argument(self.flag, **kwargs)


OPTIONS: tuple[Option, ...] = (
    Option("--work-dir", "work_dir", "output root: <work-dir>/<model>/<model>_<data>.xlsx", type=Path),
    Option(
        "--model-dir", "model_dir", "checkpoint root (default $VLEVAL_MODEL_DIR or ./pretrained)", type=Path
    ),
    Option("--data-dir", "data_dir", "benchmark files (default $LMUData or ~/LMUData)", type=Path),
    Option(
        "--mode", "mode", "all = infer + score; infer only; eval only (predictions must exist)", choices=MODES
    ),
    Option("--cot", "cot", "CoT prompts (same as USE_COT=1 in the environment)", switch=True),
    Option("--protocol", "protocol", "pinned reference rules", choices=tuple(sorted(PROTOCOLS))),
    Option(
        "--backend",
        "backend",
        "hf = batched transformers; vllm = vLLM's engine (pip install 'vleval[vllm]'); "
        "openai = an OpenAI-compatible server you already run (--api-base)",
        choices=BACKEND_NAMES,
    ),
    Option(
        "--api-base",
        "api_base",
        "--backend openai: the server's base URL, e.g. http://127.0.0.1:23333/v1 "
        "(key from $VLEVAL_API_KEY if the server needs one; default $VLEVAL_API_BASE)",
        url=True,
        env="VLEVAL_API_BASE",
    ),
    Option("--api-model", "api_model", "--backend openai: model name the server serves"),
    Option("--api-workers", "api_workers", "--backend openai: parallel requests", type=int),
    Option(
        "--judge",
        "judge",
        "judge model short name or API id; 'none' = rule-based only (default: the protocol's)",
    ),
    # the judge options every command taking a judge shares (vleval.judge.settings.JUDGE_OPTIONS)
    *(
        Option(o.flag, o.dest, o.help, type=o.type, url=o.url, env=o.env, metavar=o.metavar)
        for o in JUDGE_OPTIONS
    ),
    Option(
        "--save-prompts",
        "save_prompts",
        "write <model>_<data>_prompts.jsonl: full templated prompt and tiles per sample",
        switch=True,
    ),
    Option("--verbose", "verbose", "print every prediction", switch=True),
    Option(
        "--skip-md5-check",
        "verify_md5",
        "use benchmark files whose md5 differs from the protocol's (scores not comparable)",
        switch=True,
    ),
    Option(
        "--max-new-tokens",
        "max_new_tokens",
        "override the benchmark's generation budget (smoke tests only)",
        type=int,
    ),
    Option(
        "--limit",
        "limit",
        "the first N questions of each benchmark only (circular groups and paired questions whole), to "
        "smoke-test a checkpoint; scores are marked 'subset of N/M' and not compared with published figures",
        type=lambda text: positive_int(text, "--limit"),
    ),
    Option(
        "--seeds",
        "seeds",
        "sampled decoding (a -Thinking model): run each benchmark N times, sampling seeds 0..N-1; the score "
        "is their mean and its interval includes the spread between seeds (docs/statistics.md)",
        type=lambda text: positive_int(text, "--seeds"),
    ),
    Option("--batch-size", "batch_size", "samples per backend call and per durable progress write", type=int),
    Option(
        "--max-image-pixels",
        "max_image_pixels",
        "a benchmark image that decodes to more pixels fails its sample (default: "
        "vleval.datasets.loading.DEFAULT_MAX_IMAGE_PIXELS, 64 million)",
        type=int,
    ),
    Option("--device", "device", "cpu, cuda or cuda:N (default: GPUs when visible)"),
    Option(
        "--dtype",
        "dtype",
        "bfloat16/float16/float32 (default: bf16, as the reference)",
        backend_kwarg="dtype",
    ),
    Option(
        "--attention",
        "attention",
        "attention kernels: reference = the reference's CPU op order (bit-identical bf16 outputs), "
        "sdpa = PyTorch SDPA (flash kernels on GPUs; vllm runs its own); default auto: sdpa on CUDA, "
        "reference on CPU",
        choices=("auto", "reference", "sdpa"),
        backend_kwarg="attention",
    ),
    Option(
        "--log-to",
        "log_to",
        "also record settings, scores with intervals and the report in an experiment tracker (optional "
        "extras: pip install 'vleval[mlflow]' or 'vleval[wandb]'; where to: MLFLOW_TRACKING_URI, WANDB_*)",
        choices=TRACKERS,
    ),
    Option("--dist-timeout", "dist_timeout_s", "seconds a rank may wait for the others", type=float),
    Option(
        "--mmstar-gain",
        "mmstar_gain",
        "on a benchmark whose card defines multi-modal gain: also answer every question without its image "
        "(and, with --llm-base, with the LLM base) and report the multi-modal gain and leakage beside the "
        "accuracy",
        switch=True,
    ),
    Option(
        "--llm-base",
        "llm_base",
        "--mmstar-gain: the LLM the checkpoint was built on (a chat model folder transformers loads "
        "natively), for the multi-modal leakage",
        type=Path,
    ),
    Option(NO_PROGRESS_FLAG, NO_PROGRESS_DEST, NO_PROGRESS_HELP, switch=True, record=False),
    Option(
        "--dry-run",
        "dry_run",
        "print models x benchmarks, sample counts, what is done and what is missing",
        switch=True,
        forward=False,
        record=False,
    ),
)


@dataclass
class RunConfig:
    """Everything ``vleval run`` takes. ``models``: registry names/aliases or checkpoint folders.
    Fields named by an ``Option`` are the command-line options (their defaults are the CLI's)."""

    models: list[str]
    datasets: list[str]
    work_dir: Path = Path("outputs")
    model_dir: Path | None = None  # default: $VLEVAL_MODEL_DIR or ./pretrained
    data_dir: Path | None = None  # default: $LMUData or ~/LMUData
    mode: Mode = "all"
    cot: bool = False
    protocol: str = DEFAULT_PROTOCOL
    backend: str = "hf"
    api_base: str | None = None  # --backend openai
    api_model: str | None = None
    api_workers: int | None = None
    api_key: str | None = None  # --backend openai, from $VLEVAL_API_KEY; never written anywhere
    judge: str | None = None  # None: the protocol's default per benchmark; "none": rule-based only
    judge_base_url: str | None = None
    judge_api_key: str | None = None  # never written anywhere
    # the judge options' fields: their defaults are JudgeSettings' (vleval.judge.settings)
    judge_workers: int = JudgeSettings.workers
    judge_timeout_s: float | None = JudgeSettings.timeout  # None: the protocol's judge_timeout_s
    judge_retry_budget_s: float | None = JudgeSettings.retry_budget_s  # None: transport's default
    save_prompts: bool = False
    verbose: bool = False
    dry_run: bool = False
    verify_md5: bool = True
    max_new_tokens: int | None = None  # override of the benchmark's budget (tests, smoke runs)
    limit: int | None = None  # --limit: the first N questions of each benchmark (vleval.datasets.subset)
    log_to: str | None = None  # --log-to: an experiment tracker (vleval.report.trackers)
    batch_size: int = 16  # samples per backend call and per durable progress write
    max_image_pixels: int | None = None  # None: vleval.datasets.loading.DEFAULT_MAX_IMAGE_PIXELS
    device: str | None = None  # None: GPUs when visible, else CPU
    dtype: str | None = None
    attention: str | None = None  # None: auto (vleval.models.internvl.modeling.ATTENTION_MODES)
    dist_timeout_s: float = 12 * 3600
    seed: int = 0  # scoring's seeded fallbacks
    seeds: int = 1  # --seeds: sampled decoding's passes per benchmark (vleval.runner.seeds)
    mmstar_gain: bool = False  # --mmstar-gain: text-only (and LLM base) passes of MMStar
    llm_base: Path | None = None  # --llm-base: the LLM base's folder
    progress_bar: bool = True
    command: list[str] | None = None  # the exact command line, for run.json
    # the judge endpoint is a deterministic stand-in (the demo's): results are marked so everywhere
    stand_in_judge: bool = False
    backend_options: dict[str, Any] = field(default_factory=dict)  # extra backend kwargs (programmatic)
    backend_factory: BackendFactory | None = None  # programmatic API: use this instead of --backend

    def judge_settings(self) -> JudgeSettings:
        """How this run reaches and paces its judges: the judge options, the judge's key and the run's
        judge cache (``<work-dir>/.judge_cache``); the protocol's defaults are filled in by
        ``JudgeSettings.under``."""
        from vleval.judge.cache import default_cache_dir

        return judge_settings_from(self, api_key=self.judge_api_key, cache_dir=default_cache_dir(self.work_dir))


def positive_int(text: str, flag: str) -> int:
    """An argparse type: a whole number >= 1 (argparse turns the error into one line, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{flag} takes a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{flag} must be at least 1, not {value}")
    return value


def run_config_default(name: str) -> Any:
    """The default of RunConfig field ``name`` (the CLI's default for the option of that field)."""
    spec = next((f for f in dataclasses.fields(RunConfig) if f.name == name), None)
    if spec is None:
        raise AttributeError(f"RunConfig has no field {name!r} for its option")
    return None if spec.default is dataclasses.MISSING else spec.default


def add_options(parser: argparse.ArgumentParser, *, for_slurm: bool) -> None:
    """``--model``, ``--data`` and every option of ``OPTIONS`` (the forwardable ones for slurm)."""
    parser.add_argument(
        "--model",
        nargs="+",
        metavar="MODEL",
        help="registry names or aliases (InternVL2_5-8B, InternVL2-5-8B), Hub repo ids or checkpoint folders "
        "(with --config: only these of the suite's)",
    )
    parser.add_argument(
        "--data",
        nargs="+",
        metavar="NAME",
        help="benchmark names (vleval data list) (with --config: only these of the suite's)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="SUITE.toml",
        help="a suite file: models x benchmarks with settings per benchmark (docs/suites.md); options on "
        "the command line win over it",
    )
    for option in OPTIONS:
        if option.forward or not for_slurm:
            option.add_to(parser, for_slurm=for_slurm)


def config_from_args(
    args: argparse.Namespace, environ: dict[str, str] | None = None, **extra: Any
) -> RunConfig:
    """RunConfig from parsed ``vleval run`` arguments. USE_COT is read here, once (source document:
    USE_COT="1"); so is the openai backend's key ($VLEVAL_API_KEY: never a flag, which would show in
    process listings)."""
    environ = dict(os.environ) if environ is None else environ
    if not args.model or not args.data:
        raise VlevalError(
            "name the models and benchmarks: --model NAME ... --data NAME ..., or a suite file: --config FILE"
        )
    values = {o.field: getattr(args, o.field) for o in OPTIONS if hasattr(args, o.field)}
    values["cot"] = bool(values.get("cot") or environ.get("USE_COT") == "1")
    config = RunConfig(models=list(args.model), datasets=list(args.data), **values, **extra)
    if config.backend == "openai":
        config.api_key = environ.get("VLEVAL_API_KEY") or None
        # `vleval slurm` passes an --api-base with credentials this way (the judge's URL goes through
        # OPENAI_API_BASE, which the judge reads itself)
        config.api_base = config.api_base or environ.get("VLEVAL_API_BASE") or None
    backend_options(config)  # refuses a missing --api-base before anything starts
    return config


def forwarded_args(args: argparse.Namespace) -> list[str]:
    """The options given to ``vleval slurm`` that the job's ``vleval run`` takes, as arguments."""
    out: list[str] = []
    for option in OPTIONS:
        if not option.forward or not hasattr(args, option.field):
            continue
        value = getattr(args, option.field)
        if option.switch:
            if value != run_config_default(option.field):
                out.append(option.flag)
        elif value is not None:
            out += [option.flag, str(value)]
    return out


def recorded_settings(config: RunConfig) -> dict[str, Any]:
    """The options as ``run.json`` records them: every recorded option, URLs without credentials."""
    from vleval.transport import redact_url

    settings: dict[str, Any] = {}
    for option in OPTIONS:
        if not option.record:
            continue
        value = getattr(config, option.field)
        if isinstance(value, Path):
            value = str(value)
        elif option.url and value is not None:
            value = redact_url(str(value))
        settings[option.field] = value
    if config.backend_factory is not None:
        settings["backend"] = "custom"
    settings["seed"] = config.seed
    return settings


def backend_options(config: RunConfig) -> dict[str, Any]:
    """Keyword arguments the chosen backend takes from the options (besides the device placement)."""
    out: dict[str, Any] = {}
    for option in OPTIONS:
        value = getattr(config, option.field)
        if option.backend_kwarg and value is not None:
            out[option.backend_kwarg] = value
    if config.backend == "openai" and config.backend_factory is None:
        if not config.api_base:
            raise VlevalError("--backend openai needs --api-base URL (the OpenAI-compatible server to query)")
        out["api_base"] = config.api_base
        if config.api_model:
            out["model"] = config.api_model
        if config.api_workers:
            out["workers"] = config.api_workers
        if config.api_key:
            out["api_key"] = config.api_key
    return out | config.backend_options


# --------------------------------------------------------------------------------------------------
# what the run resolved, and what it did
# --------------------------------------------------------------------------------------------------
@dataclass
class RunPlan:
    protocol: Protocol
    models: list[ModelTarget]
    datasets: list[BenchmarkCard]
    tsv: dict[str, Path]
    problems: list[str] = field(default_factory=list)  # reported by --dry-run

    def pred_file(self, work_dir: Path, target: ModelTarget, card: BenchmarkCard) -> Path:
        return work_dir / target.name / f"{target.name}_{card.name}.xlsx"

    def progress_dir(self, work_dir: Path, target: ModelTarget, card: BenchmarkCard) -> Path:
        return work_dir / target.name / ".progress" / f"{target.name}_{card.name}"


@dataclass
class CellResult:
    """One (model, benchmark) of a run: its inference counts and its score."""

    model: str
    dataset: str
    n_samples: int = 0
    n_inferred: int = 0
    n_reused: int = 0
    n_failed: int = 0
    headline: float | None = None
    headline_name: str = ""
    record: ScoreRecord | None = None  # what scoring returned (headline on the 0-100 scale)
    judge: dict[str, Any] | None = None  # the judge's tally (workflows.bill.tally): calls, cache hits, ...
    pred_file: Path | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # scoring failed (predictions are kept)
    judge_error: str | None = None  # the judge's last error (redacted), for an incomplete score
    infer_s: float = 0.0
    eval_s: float = 0.0
    estimate: dict[str, Any] | None = (
        None  # the dry run's bill for this benchmark (vleval.cost.cell_estimate)
    )
    settings: EvalSettings | None = None  # how it was made, handed to scoring (vleval.settings)

    @property
    def incomplete(self) -> bool:
        """Judge calls failed: the number is not a score (re-running retries only those rows)."""
        return self.record is not None and bool(self.record.counts.failed)


@dataclass
class RunSummary:
    work_dir: Path
    protocol: str
    cells: list[CellResult] = field(default_factory=list)
    rank: int = 0
    blocked: list[str] = field(default_factory=list)  # --dry-run: what would stop the run (missing, md5)

    @property
    def failures(self) -> int:
        return sum(c.n_failed for c in self.cells)

    @property
    def errors(self) -> list[str]:
        return [f"{c.model} {c.dataset}: {c.error}" for c in self.cells if c.error]

    @property
    def problems(self) -> list[str]:
        """One line per (model, benchmark) that is not a full result: failed samples, incomplete
        scores, scoring errors. A run with any exits non-zero."""
        lines = []
        for c in self.cells:
            if c.n_failed:
                lines.append(
                    f"{c.model} {c.dataset}: {c.n_failed} of {c.n_samples} sample(s) failed; run the same "
                    "command again to retry only those."
                )
            if c.incomplete:
                from vleval.datasets.scoring import judge_failure_message

                lines.append(f"{c.model} {judge_failure_message(c.record, c.judge_error)}")
            if c.error:
                lines.append(f"{c.model} {c.dataset}: scoring failed: {c.error}")
        return lines

    def cell(self, model: str, dataset: str) -> CellResult:
        for c in self.cells:
            if c.model == model and c.dataset == dataset:
                return c
        raise KeyError((model, dataset))

    def table(self) -> str:
        """Models x benchmarks, headline numbers on the report's 0-100 scale (failed predictions counted
        in brackets)."""
        models = list(dict.fromkeys(c.model for c in self.cells))
        datasets = list(dict.fromkeys(c.dataset for c in self.cells))
        rows = [["model", *datasets]]
        for model in models:
            row = [model]
            for dataset in datasets:
                row.append(_cell_text(self.cell(model, dataset)))
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        names = sorted({f"{c.dataset}: {c.headline_name}" for c in self.cells if c.headline_name})
        if names:
            lines.append("headline: " + "; ".join(names))
        substitutes = sorted({c.record.judge.model for c in self.cells if _substitute(c)})
        if substitutes:
            lines.append(
                f"substitute judge: scores marked so were graded by {', '.join(substitutes)}, not the "
                "protocol's judge: they are not the protocol's numbers"
            )
        if self.failures:
            lines.append(
                f"{self.failures} failed prediction(s); run the same command again to retry only those."
            )
        return "\n".join(lines)


def _substitute(c: CellResult) -> bool:
    judge = getattr(c.record, "judge", None)
    return bool(judge is not None and judge.substitute)


def _cell_text(c: CellResult) -> str:
    """The headline on the report's 0-100 scale, as the report writes it (incomplete scores say so)."""
    text = "error" if c.error else "-" if c.record is None else score_text(c.record)
    if c.n_failed:
        text += f" ({c.n_failed} failed)"
    return text
