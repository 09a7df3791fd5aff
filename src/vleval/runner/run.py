"""``vleval run`` as a function: models x benchmarks, inferred (resumably, on all ranks) then scored
(on rank 0), with a summary table and ``run.json``.

Order of work: validate everything first (one error naming all that is missing and how to fetch it);
infer every (model, benchmark) across ranks; then rank 0 scores them (judge phases run while the other
ranks have already finished, so no rank waits on a collective during a long judge phase).
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vleval.errors import DataMissingError, VlevalError
from vleval.protocol import DEFAULT_PROTOCOL, Protocol, get_protocol
from vleval.runner import manifest
from vleval.runner.dist import DistInfo, ProcessGroup, assign_gpus, init_dist
from vleval.runner.infer import DatasetJob, DatasetOutcome, infer_dataset
from vleval.runner.progress import load_progress
from vleval.runner.targets import ModelTarget, checkpoint_digest, resolve_model
from vleval.types import BenchmarkCard

Mode = Literal["all", "infer", "eval"]
MODES: tuple[str, ...] = ("all", "infer", "eval")
# Scorers that refuse to score without an LLM judge (vleval.datasets.scoring.require_judge; the
# reference asserts a working judge for these): checked before any inference starts.
JUDGE_REQUIRED_FAMILIES = frozenset({"mathvista", "mmvet", "llavabench"})
# (checkpoint folder, keyword arguments for the backend) -> object with generate(requests)
BackendFactory = Callable[[Path, dict[str, Any]], Any]


@dataclass
class RunConfig:
    """Everything ``vleval run`` takes. ``models``: registry names/aliases or checkpoint folders."""

    models: list[str]
    datasets: list[str]
    work_dir: Path = Path("outputs")
    model_dir: Path | None = None  # default: $VLEVAL_MODEL_DIR or ./pretrained
    data_dir: Path | None = None  # default: $LMUData or ~/LMUData
    mode: Mode = "all"
    cot: bool = False
    protocol: str = DEFAULT_PROTOCOL
    backend: str = "hf"
    judge: str | None = None  # None: the protocol's default per benchmark; "none": rule-based only
    judge_base_url: str | None = None
    judge_api_key: str | None = None  # never written anywhere
    judge_workers: int = 16
    save_prompts: bool = False
    verbose: bool = False
    dry_run: bool = False
    verify_md5: bool = True
    max_new_tokens: int | None = None  # override of the benchmark's budget (tests, smoke runs)
    batch_size: int = 16  # samples per backend call and per durable progress write
    device: str | None = None  # None: GPUs when visible, else CPU
    dtype: str | None = None
    dist_timeout_s: float = 12 * 3600
    seed: int = 0  # scoring's seeded fallbacks
    progress_bar: bool = True
    command: list[str] | None = None  # the exact command line, for run.json
    backend_options: dict[str, Any] = field(
        default_factory=dict
    )  # extra backend kwargs (openai: api_base, ...)
    backend_factory: BackendFactory | None = None  # programmatic API: use this instead of --backend


@dataclass
class CellResult:
    model: str
    dataset: str
    n_samples: int = 0
    n_inferred: int = 0
    n_reused: int = 0
    n_failed: int = 0
    headline: float | None = None
    headline_name: str = ""
    pred_file: Path | None = None
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None  # scoring failed (predictions are kept)
    infer_s: float = 0.0
    eval_s: float = 0.0


@dataclass
class RunSummary:
    work_dir: Path
    protocol: str
    cells: list[CellResult] = field(default_factory=list)
    rank: int = 0

    @property
    def failures(self) -> int:
        return sum(c.n_failed for c in self.cells)

    @property
    def errors(self) -> list[str]:
        return [f"{c.model} {c.dataset}: {c.error}" for c in self.cells if c.error]

    def cell(self, model: str, dataset: str) -> CellResult:
        for c in self.cells:
            if c.model == model and c.dataset == dataset:
                return c
        raise KeyError((model, dataset))

    def table(self) -> str:
        """Models x benchmarks, headline numbers (failed predictions counted in brackets)."""
        models = list(dict.fromkeys(c.model for c in self.cells))
        datasets = list(dict.fromkeys(c.dataset for c in self.cells))
        rows = [["model", *datasets]]
        for model in models:
            row = [model]
            for dataset in datasets:
                c = self.cell(model, dataset)
                text = "error" if c.error else "-" if c.headline is None else f"{c.headline:.2f}"
                if c.n_failed:
                    text += f" ({c.n_failed} failed)"
                row.append(text)
            rows.append(row)
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        names = sorted({f"{c.dataset}: {c.headline_name}" for c in self.cells if c.headline_name})
        if names:
            lines.append("headline: " + "; ".join(names))
        if self.failures:
            lines.append(
                f"{self.failures} failed prediction(s); run the same command again to retry only those."
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# plan and validation
# --------------------------------------------------------------------------------------------------
@dataclass
class RunPlan:
    protocol: Protocol
    models: list[ModelTarget]
    datasets: list[BenchmarkCard]
    tsv: dict[str, Path]
    problems: list[str] = field(default_factory=list)  # reported by --dry-run

    def model_dir(self, work_dir: Path, target: ModelTarget) -> Path:
        return work_dir / target.name

    def pred_file(self, work_dir: Path, target: ModelTarget, card: BenchmarkCard) -> Path:
        return work_dir / target.name / f"{target.name}_{card.name}.xlsx"

    def progress_dir(self, work_dir: Path, target: ModelTarget, card: BenchmarkCard) -> Path:
        return work_dir / target.name / ".progress" / f"{target.name}_{card.name}"


def plan_run(config: RunConfig) -> RunPlan:
    """Resolve and check every model and benchmark; one error lists everything that is missing."""
    from vleval.datasets.files import require_tsv
    from vleval.datasets.registry import get_benchmark

    if config.mode not in MODES:
        raise VlevalError(f"unknown mode {config.mode!r}; use one of {', '.join(MODES)}")
    if not config.models or not config.datasets:
        raise VlevalError("name at least one model (--model) and one benchmark (--data)")
    protocol = get_protocol_checked(config.protocol)
    problems: list[str] = []
    missing_only = True
    targets: list[ModelTarget] = []
    for spec in dict.fromkeys(config.models):
        try:
            target = resolve_model(spec, config.model_dir)
        except VlevalError as exc:
            problems.append(str(exc))
            missing_only = missing_only and isinstance(exc, DataMissingError)
            continue
        targets.append(target)
        if config.mode != "eval":
            problem = _checkpoint_problem(target, config.model_dir)
            if problem:
                problems.append(problem)
    cards: list[BenchmarkCard] = []
    tsv: dict[str, Path] = {}
    for name in dict.fromkeys(config.datasets):
        try:
            card = get_benchmark(name)
        except VlevalError as exc:
            problems.append(str(exc))
            missing_only = False
            continue
        cards.append(card)
        try:
            tsv[card.name] = Path(require_tsv(card, protocol, config.data_dir, verify_md5=config.verify_md5))
        except VlevalError as exc:
            problems.append(str(exc))
            missing_only = missing_only and isinstance(exc, DataMissingError)
    if config.mode != "infer":
        problems.extend(p for p in (_judge_problem(config, protocol, card) for card in cards) if p)
        missing_only = missing_only and not any(c.family in JUDGE_REQUIRED_FAMILIES for c in cards)
    plan = RunPlan(protocol, targets, cards, tsv, problems)
    if config.mode == "eval" and not config.dry_run:
        for target in targets:
            for card in cards:
                pred = plan.pred_file(Path(config.work_dir), target, card)
                if not pred.is_file():
                    problems.append(
                        f"no predictions for {target.name} on {card.name} at {pred}: run "
                        f"`vleval run --model {target.name} --data {card.name} --mode infer` first."
                    )
    if problems and not config.dry_run:
        head = "cannot start the run; nothing was done:" if len(problems) > 1 else "cannot start the run:"
        error = DataMissingError if missing_only else VlevalError
        raise error(head + "\n  - " + "\n  - ".join(problems))
    return plan


def get_protocol_checked(name: str) -> Protocol:
    try:
        return get_protocol(name)
    except ValueError as exc:
        raise VlevalError(str(exc)) from None


def _judge_problem(config: RunConfig, protocol: Protocol, card: BenchmarkCard) -> str | None:
    from vleval.judge.client import NO_JUDGE_SPECS

    if card.family not in JUDGE_REQUIRED_FAMILIES:
        return None
    spec = config.judge or protocol.judge_for(card) or ""
    fix = (
        "pass --judge MODEL --judge-base-url URL (any OpenAI-compatible server) or set OPENAI_API_KEY; "
        "or run with --mode infer now and `--mode eval` later."
    )
    if spec.strip().lower() in NO_JUDGE_SPECS:
        return f"{card.name} is scored by an LLM judge, but --judge {spec} disables it: {fix}"
    # the judge client reads these too (vleval.judge.client.resolve_judge)
    if not (config.judge_base_url or config.judge_api_key or os.environ.get("OPENAI_API_KEY")
            or os.environ.get("OPENAI_API_BASE")):  # fmt: skip
        return f"{card.name} is scored by an LLM judge ({spec}) and no judge endpoint or key is set: {fix}"
    return None


def _checkpoint_problem(target: ModelTarget, model_dir: Path | None) -> str | None:
    from vleval.models.download import missing_files, require_checkpoint

    if not target.from_path:
        try:
            require_checkpoint(target.card, model_dir)
        except VlevalError as exc:
            return str(exc)
        return None
    if not target.path.is_dir():
        return f"checkpoint folder {target.path} does not exist."
    missing = missing_files(target.path)
    if missing:
        return f"checkpoint folder {target.path} is incomplete: missing {', '.join(missing)}."
    return None


# --------------------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------------------
def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_evaluation(config: RunConfig) -> RunSummary:
    """Evaluate every model on every benchmark; the summary is complete on rank 0."""
    config.work_dir = Path(config.work_dir)
    info = init_dist()
    plan = plan_run(config)
    if config.dry_run:
        if info.is_main:
            print(dry_run_report(config, plan))
        return RunSummary(config.work_dir, plan.protocol.name, rank=info.rank)
    if not config.verify_md5 and info.is_main:
        _say(
            "vleval: WARNING: md5 checks are OFF (--skip-md5-check, or the demo's synthetic files): benchmark files "
            "are used as they are; "
            "scores from modified or partial files are not comparable to published numbers."
        )
    started = time.time()
    summary = RunSummary(config.work_dir, plan.protocol.name, rank=info.rank)
    for target in plan.models:
        for card in plan.datasets:
            summary.cells.append(
                CellResult(target.name, card.name, pred_file=plan.pred_file(config.work_dir, target, card))
            )
    digests = {t.name: checkpoint_digest(t.path) if t.path.is_dir() else "" for t in plan.models}
    if config.mode != "eval":
        _infer_all(config, plan, info, summary, digests)
    if not info.is_main:
        return summary
    if config.mode != "infer":
        for target in plan.models:
            for card in plan.datasets:
                _score(config, plan, target, card, summary.cell(target.name, card.name))
    for target in plan.models:
        manifest.write_run_json(
            config.work_dir / target.name / "run.json",
            config=config,
            plan=plan,
            target=target,
            checkpoint_digest=digests[target.name],
            cells=[c for c in summary.cells if c.model == target.name],
            world_size=info.world_size,
            started=started,
        )
    print(summary.table(), flush=True)
    print(f"outputs: {', '.join(str(config.work_dir / t.name) for t in plan.models)}", flush=True)
    for error in summary.errors:
        _say(f"vleval: scoring failed: {error}")
    return summary


def _use_cuda(config: RunConfig) -> bool:
    if config.device is not None:
        return config.device.startswith("cuda")
    import torch

    return torch.cuda.is_available()


def _infer_all(config: RunConfig, plan: RunPlan, info: DistInfo, summary: RunSummary, digests: dict) -> None:
    use_cuda = _use_cuda(config)
    if use_cuda and info.distributed:  # nccl needs this process's device before the group exists
        import torch

        first = plan.models[0].card if plan.models else None
        gpus = _gpus_for(info, first.gpus_per_task if first else 1)
        if gpus:
            torch.cuda.set_device(gpus[0])
    group = ProcessGroup(info, use_cuda=use_cuda, timeout_s=config.dist_timeout_s)
    try:
        group.require_agreement(_agreement_facts(config, plan, digests))
        run_id = group.broadcast(f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}" if info.is_main else None)
        for target in plan.models:
            backend_box: list[Any] = []

            def get_backend(target: ModelTarget = target, box: list[Any] = backend_box) -> Any:
                if not box:
                    box.append(_make_backend(config, target, info, use_cuda))
                return box[0]

            for card in plan.datasets:
                cell = summary.cell(target.name, card.name)
                outcome = _infer_one(config, plan, info, group, run_id, target, card, digests, get_backend)
                _fill(cell, outcome)
            if backend_box:  # free the model before loading the next one
                backend_box.clear()
                _release_memory(use_cuda)
    finally:
        group.close()


def _agreement_facts(config: RunConfig, plan: RunPlan, digests: dict[str, str]) -> dict[str, str]:
    """What every rank must see alike: rank 0 keys the samples, the others infer under those keys."""
    from vleval import __version__
    from vleval.runner.dist import quick_digest

    facts = {
        "the vleval version": __version__,
        "the protocol": plan.protocol.name,
        "CoT (--cot, USE_COT)": str(config.cot),
        "the backend": config.backend,
        "--max-new-tokens": str(config.max_new_tokens),
        "--dtype": str(config.dtype),
    }
    for target in plan.models:
        # the digest covers config and tensor layout; the weight samples tell a fine-tune from its base
        shards = sorted(target.path.glob("*.safetensors")) if target.path.is_dir() else []
        identity = hashlib.sha256(digests[target.name].encode())
        for shard in shards:
            identity.update(f"{shard.name}: {quick_digest(shard)}".encode())
        facts[f"the checkpoint of {target.name}"] = f"sha256 {identity.hexdigest()[:16]}"
    for card in plan.datasets:  # contents only: nodes may hold their copies under other paths
        facts[f"the benchmark file of {card.name}"] = quick_digest(plan.tsv[card.name])
    return facts


def _release_memory(use_cuda: bool) -> None:
    import gc

    gc.collect()
    if use_cuda:
        import torch

        torch.cuda.empty_cache()


def _gpus_for(info: DistInfo, card_gpus_per_task: int) -> list[int]:
    import torch

    n_visible = torch.cuda.device_count()
    if n_visible == 0:
        return []
    per_task = info.gpus_per_task or max(
        1, min(card_gpus_per_task, n_visible // max(1, info.local_world_size))
    )
    return assign_gpus(n_visible, info.local_rank, info.local_world_size, per_task)


def _backend_kwargs(config: RunConfig, target: ModelTarget, info: DistInfo, use_cuda: bool) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"dtype": config.dtype}
    if not use_cuda:
        kwargs["device"] = config.device or "cpu"
        return kwargs
    if config.device is not None and config.device != "cuda":
        kwargs["device"] = config.device
        return kwargs
    gpus = _gpus_for(info, target.card.gpus_per_task)
    if len(gpus) <= 1:
        kwargs["device"] = f"cuda:{gpus[0] if gpus else 0}"
        return kwargs
    from vleval.models.internvl.loader import split_device_map

    layout = split_device_map(target.card.llm_layers, len(gpus), target.card.llm_family)
    kwargs["device_map"] = {name: gpus[slot] for name, slot in layout.items()}
    return kwargs


def _make_backend(config: RunConfig, target: ModelTarget, info: DistInfo, use_cuda: bool) -> Any:
    kwargs = _backend_kwargs(config, target, info, use_cuda) | config.backend_options
    if config.backend_factory is not None:
        return config.backend_factory(target.path, kwargs)
    from vleval.models.backends.base import load_backend

    return load_backend(config.backend, target.path, **{k: v for k, v in kwargs.items() if v is not None})


def _infer_one(
    config: RunConfig,
    plan: RunPlan,
    info: DistInfo,
    group: ProcessGroup,
    run_id: str,
    target: ModelTarget,
    card: BenchmarkCard,
    digests: dict[str, str],
    get_backend: Callable[[], Any],
) -> DatasetOutcome:
    from vleval.datasets.loading import load_samples, load_table
    from vleval.datasets.predictions import RAW_PREDICTIONS_ATTR, read_prediction_file, write_prediction_file
    from vleval.models.internvl.prompts import build_request

    protocol = plan.protocol
    pred_file = plan.pred_file(config.work_dir, target, card)
    prompts_file = (
        pred_file.with_name(f"{target.name}_{card.name}_prompts.jsonl") if config.save_prompts else None
    )
    job = DatasetJob(
        model=target.card,
        model_id=f"{target.card.name}:{digests[target.name]}",
        card=card,
        protocol_name=protocol.name,
        cot=config.cot,
        backend_name=config.backend,
        progress_dir=plan.progress_dir(config.work_dir, target, card),
        pred_file=pred_file,
        prompts_file=prompts_file,
        max_new_tokens=config.max_new_tokens,
        batch_size=max(1, config.batch_size),
        verbose=config.verbose,
        progress_bar=config.progress_bar,
        wait_timeout_s=config.dist_timeout_s,
    )

    def samples() -> list:
        return load_samples(card, protocol, config.data_dir, verify_md5=config.verify_md5)

    def builder(sample: Any) -> Any:
        return build_request(sample, card, target.card, protocol, config.cot)

    def write(sample_list: list, predictions: dict) -> None:
        table = load_table(card, protocol, config.data_dir, verify_md5=config.verify_md5)
        write_prediction_file(pred_file, table, predictions)

    def existing() -> dict:
        if not pred_file.is_file():
            return {}
        frame = read_prediction_file(pred_file)
        raw = frame.attrs.get(RAW_PREDICTIONS_ATTR) or [str(v) for v in frame["prediction"]]
        return dict(zip(frame["index"], raw, strict=True))  # cells as written ('' stays '')

    return infer_dataset(
        job,
        info=info,
        group=group,
        run_id=run_id,
        load_samples=samples,
        builder=builder,
        get_backend=get_backend,
        write_predictions=write,
        import_existing=existing,
    )


def _fill(cell: CellResult, outcome: DatasetOutcome) -> None:
    cell.n_samples = outcome.n_samples
    cell.n_inferred = outcome.n_inferred
    cell.n_reused = outcome.n_reused
    cell.n_failed = outcome.n_failed
    cell.infer_s = outcome.seconds
    cell.notes.extend(outcome.issues)
    if outcome.n_retried:
        cell.notes.append(f"retried {outcome.n_retried} previously failed sample(s)")


def _score(
    config: RunConfig, plan: RunPlan, target: ModelTarget, card: BenchmarkCard, cell: CellResult
) -> None:
    from vleval.datasets.loading import load_table
    from vleval.datasets.scoring import evaluate
    from vleval.judge.cache import default_cache_dir
    from vleval.judge.client import make_judge

    protocol = plan.protocol
    started = time.monotonic()
    try:
        judge = make_judge(
            config.judge,
            protocol.judge_for(card),
            base_url=config.judge_base_url,
            api_key=config.judge_api_key,
            workers=config.judge_workers,
            retries=protocol.judge_retries,
            timeout=protocol.judge_timeout_s,
            cache_dir=default_cache_dir(config.work_dir),
        )
        table = load_table(card, protocol, config.data_dir, verify_md5=config.verify_md5)
        if cell.pred_file is None:
            raise VlevalError("no prediction file")
        if not cell.n_samples:
            cell.n_samples = len(table)
            cell.n_failed = _count_failures(cell.pred_file)
        result = evaluate(card, protocol, cell.pred_file, judge, table=table, seed=config.seed)
    except VlevalError as exc:
        cell.error = str(exc)
        return
    finally:
        cell.eval_s = time.monotonic() - started
    cell.headline = result.headline
    cell.headline_name = result.headline_name
    cell.files = [Path(f) for f in result.files]
    cell.notes.extend(result.notes)


def _count_failures(pred_file: Path) -> int:
    from vleval.datasets.predictions import read_prediction_file
    from vleval.runner.infer import FAILURE_PREFIX

    frame = read_prediction_file(pred_file)
    return sum(1 for v in frame["prediction"] if FAILURE_PREFIX in str(v))


# --------------------------------------------------------------------------------------------------
# dry run
# --------------------------------------------------------------------------------------------------
def dry_run_report(config: RunConfig, plan: RunPlan) -> str:
    from vleval.datasets.loading import load_table

    lines = [
        f"vleval run --dry-run: {len(plan.models)} model(s) x {len(plan.datasets)} benchmark(s), "
        f"protocol {plan.protocol.name}, mode {config.mode}, CoT {'on' if config.cot else 'off'}, "
        f"work dir {config.work_dir}"
    ]
    counts: dict[str, str] = {}
    for card in plan.datasets:
        if card.name not in plan.tsv:
            counts[card.name] = "data missing"
            continue
        try:
            counts[card.name] = (
                f"{len(load_table(card, plan.protocol, config.data_dir, verify_md5=False))} samples"
            )
        except VlevalError as exc:
            counts[card.name] = f"unreadable ({exc})"
    for target in plan.models:
        lines.append(f"{target.name} ({target.path})")
        for card in plan.datasets:
            pred = plan.pred_file(config.work_dir, target, card)
            state = load_progress(plan.progress_dir(config.work_dir, target, card))
            done = sum(1 for r in state.records.values() if r.ok)
            failed = sum(1 for r in state.records.values() if not r.ok)
            if pred.is_file():
                status = "predictions done" + (f" ({failed} failed, to retry)" if failed else "")
            elif done or failed:
                status = f"in progress: {done} finished, {failed} failed"
            else:
                status = "not started"
            lines.append(f"  {card.name:<22} {counts[card.name]:<16} {status}")
    if plan.problems:
        lines.append("missing (fetch before running):")
        lines.extend(f"  - {p}" for p in plan.problems)
    else:
        lines.append("everything needed is present.")
    return "\n".join(lines)
