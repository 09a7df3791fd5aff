"""``vleval run`` as a function: models x benchmarks, inferred (resumably, on all ranks) then scored
(on rank 0), with a summary table and ``run.json``.

Order of work: validate everything first (one error naming all that is missing and how to fetch it);
lock the model folders (one run per work dir); infer each (model, benchmark) across ranks; as soon as
one's predictions are merged, rank 0 scores it in a background thread (its judge calls are
network-bound) while all ranks infer the next one (compute-bound); the run ends when both are done.
Scoring happens on rank 0 only and outside any collective, so no rank waits on a long judge phase.
A run with failed samples or incomplete scores writes everything, then says so per benchmark.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vleval.errors import DataMissingError, JudgeUnavailableError, VlevalError
from vleval.judge.local import is_local_judge_spec, local_judge_problem, release_engines
from vleval.protocol import Protocol, get_protocol
from vleval.runner import manifest
from vleval.runner.config import (
    MODES,
    CellResult,
    RunConfig,
    RunPlan,
    RunSummary,
    backend_options,
)
from vleval.runner.dist import DistInfo, ProcessGroup, assign_gpus, init_dist
from vleval.runner.infer import BenchmarkCell, DatasetOutcome, infer_dataset
from vleval.runner.lock import WorkDirLocks
from vleval.runner.progress import load_progress
from vleval.runner.seeds import pool_seed_results, seed_cells, seed_settings, seeds_dry_run_line
from vleval.runner.targets import ModelTarget, checkpoint_digest, resolve_model
from vleval.types import FAILURE_PREFIX, BenchmarkCard

if TYPE_CHECKING:
    from vleval.datasets.scoring import EvalResult
    from vleval.models.verify import CheckpointCheck

__all__ = ["CellResult", "RunConfig", "RunPlan", "RunSummary", "plan_run", "run_evaluation"]


def _needs_judge(card: BenchmarkCard) -> bool:
    """Benchmarks scored only by an LLM judge (the reference asserts a working one): checked before any
    inference starts."""
    from vleval.families.base import family_of

    return family_of(card).judge_required


# --------------------------------------------------------------------------------------------------
# plan and validation
# --------------------------------------------------------------------------------------------------
def plan_run(config: RunConfig) -> RunPlan:
    """Resolve and check every model and benchmark; one error lists everything that is missing."""
    from vleval.datasets.files import require_tsv
    from vleval.datasets.registry import get_benchmark

    if config.mode not in MODES:
        raise VlevalError(f"unknown mode {config.mode!r}; use one of {', '.join(MODES)}")
    if not config.models or not config.datasets:
        raise VlevalError("name at least one model (--model) and one benchmark (--data)")
    protocol = get_protocol_checked(config.protocol)
    from vleval.report.collect import refuse_model_folder

    refuse_model_folder(Path(config.work_dir))  # would nest <model>/<model>/ and split the run's files
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
        problems.extend(p for p in [local_judge_problem(config.judge)] if p)
        missing_only = missing_only and not any(_needs_judge(c) for c in cards)
    problems.extend(_work_dir_problems(Path(config.work_dir), judged=config.mode != "infer"))
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


def _work_dir_problems(work_dir: Path, *, judged: bool) -> list[str]:
    """A work dir (or its judge cache folder) that is a file fails only when it is first written,
    perhaps after hours of inference: said before anything runs."""
    from vleval.judge.cache import default_cache_dir

    for folder, what in ((work_dir, "--work-dir"), (default_cache_dir(work_dir), "the judge cache folder")):
        try:
            if folder.exists() and not folder.is_dir():
                return [f"{what} {folder} is a file, not a folder: choose another --work-dir or move the file"]
        except OSError as exc:  # a name over 255 bytes, a symlink loop
            return [f"{what} {folder} cannot be used ({exc.strerror}): choose another --work-dir"]
        if not judged:
            break
    return []


def get_protocol_checked(name: str) -> Protocol:
    try:
        return get_protocol(name)
    except ValueError as exc:
        raise VlevalError(str(exc)) from None


def _judge_problem(config: RunConfig, protocol: Protocol, card: BenchmarkCard) -> str | None:
    from vleval.judge.cache import default_cache_dir
    from vleval.judge.client import resolve_judge

    if not _needs_judge(card) or is_local_judge_spec(config.judge):
        return None  # a local judge's folder is checked once, by local_judge_problem
    spec = config.judge or protocol.judge_for(card) or ""
    choice = resolve_judge(
        config.judge,
        protocol.judge_for(card),
        base_url=config.judge_base_url,
        api_key=config.judge_api_key,
        cache_dir=default_cache_dir(config.work_dir),
    )
    if choice.judge is not None:
        choice.judge.close()  # scoring makes its own, per benchmark
        return None
    fix = (
        "pass --judge MODEL --judge-base-url URL (any OpenAI-compatible server) or set OPENAI_API_KEY; "
        "or run with --mode infer now and `--mode eval` later."
    )
    if choice.missing_credentials:
        return f"{card.name} is scored by an LLM judge ({spec}) and no judge endpoint or key is set: {fix}"
    return f"{card.name} is scored by an LLM judge, but --judge {spec} disables it: {fix}"


def checkpoint_checks(config: RunConfig, plan: RunPlan) -> dict[str, CheckpointCheck | None]:
    """Each model's checkpoint against the registry (``vleval.models.verify``); None where the folder
    is absent (``--mode eval`` on predictions made elsewhere: not checked)."""
    from vleval.models.verify import verify_checkpoint

    return {t.name: verify_checkpoint(t.path, t.card) if t.path.is_dir() else None for t in plan.models}


def rule_only_lines(config: RunConfig, plan: RunPlan) -> list[str]:
    """One line per benchmark whose protocol names a judge that this run will not use (``--judge
    none``, or no endpoint or key): it is scored by the rules alone, and marked so."""
    from vleval.judge.client import resolve_judge
    from vleval.judge.info import protocol_judge_model
    from vleval.settings import RULE_ONLY_MARK

    if config.mode == "infer":
        return []
    lines = []
    for card in plan.datasets:
        named = plan.protocol.judge_for(card)
        if named is None or _needs_judge(card) or is_local_judge_spec(config.judge):
            continue  # a rule-based metric; or a judge-only one (refused without a judge by plan_run)
        choice = resolve_judge(
            config.judge, named, base_url=config.judge_base_url, api_key=config.judge_api_key
        )
        if choice.judge is not None:
            choice.judge.close()
            continue
        why = (
            "--judge none asks for none"
            if not choice.missing_credentials
            else "no judge endpoint or key is set"
        )
        lines.append(
            f"{card.name}: rule-only scoring; the protocol's judge ({protocol_judge_model(named)}) will not be "
            f"used ({why}). Answers the rules cannot read get the protocol's fallback instead of a judge "
            f"verdict, so the number is not the protocol's: it is marked '{RULE_ONLY_MARK}' and the score "
            "says how many rows that concerned."
        )
    return lines


def preflight_lines(config: RunConfig, plan: RunPlan, checks: dict[str, CheckpointCheck | None]) -> list[str]:
    """What the start of a run (and --dry-run) says about numbers that will not mean what their
    names say: checkpoints that are not the registered model, benchmarks scored without their judge."""
    lines = [check.line(name) for name, check in checks.items()
             if check is not None and (check.status == "unverified" or check.synthetic)]  # fmt: skip
    return lines + rule_only_lines(config, plan)


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
    try:
        missing = missing_files(target.path)
    except VlevalError as exc:  # a metadata file that is not a regular file, too large, or garbled
        return str(exc)
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
    from vleval.report.trackers import require_tracker

    require_tracker(config.log_to)  # a missing tracker package stops the run before it starts
    info = init_dist()
    plan = plan_run(config)
    if config.seeds > 1:
        from vleval.runner.seeds import check_seeds

        check_seeds(config.seeds, [t.card for t in plan.models])
    if config.mmstar_gain or config.llm_base is not None:
        from vleval.runner.gain import check_gain_options

        check_gain_options(config, [c.name for c in plan.datasets], info.world_size)
    if config.dry_run:
        if info.is_main:
            print(dry_run_report(config, plan))
        return RunSummary(config.work_dir, plan.protocol.name, rank=info.rank, blocked=list(plan.problems))
    if not config.verify_md5 and info.is_main:
        from vleval.datasets.files import MD5_OFF_WARNING

        _say(MD5_OFF_WARNING)
    checks = checkpoint_checks(config, plan)
    if info.is_main:
        for line in preflight_lines(config, plan, checks):
            _say(f"vleval: {line}")
    started = time.time()
    summary = RunSummary(config.work_dir, plan.protocol.name, rank=info.rank)
    for target in plan.models:
        for card in plan.datasets:
            summary.cells.append(
                CellResult(target.name, card.name, pred_file=plan.pred_file(config.work_dir, target, card))
            )
    digests = {t.name: checkpoint_digest(t.path) if t.path.is_dir() else "" for t in plan.models}
    locks = WorkDirLocks([config.work_dir / t.name for t in plan.models])
    scorer = Scorer(config, plan) if info.is_main and config.mode != "infer" else None
    backends: dict[str, dict[str, Any]] = {}
    try:
        if config.mode == "eval":
            if info.is_main:
                locks.acquire(_new_run_id())
                for target in plan.models:
                    for card in plan.datasets:
                        assert scorer is not None
                        cell = summary.cell(target.name, card.name)
                        cell.settings = manifest.eval_settings(
                            config, plan, target, card, digests[target.name], checks[target.name]
                        )
                        scorer.submit(_cell(config, plan, target, card, digests), cell)
        else:
            _infer_all(config, plan, info, summary, digests, locks, scorer, backends, checks)
        if scorer is not None:
            scorer.wait()
        if not info.is_main:
            return summary
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
                backend=backends.get(target.name),
                check=checks[target.name],
            )
    finally:
        if scorer is not None:
            scorer.close()
        locks.release()
    if config.mode != "infer":  # the work dir's one results file, all models (vleval.report.results_file)
        from vleval.report.results_file import write_results

        try:
            write_results(config.work_dir)
        except VlevalError as exc:  # another model's unreadable file: this run's own files are written
            _say(f"vleval: results.json not written: {exc}")
        else:
            if config.log_to:
                _log_to_tracker(config)
    print(summary.table(), flush=True)
    from vleval.report.format import figures_text

    for cell in summary.cells:  # MMStar's gain and leakage, MMBench's rotation consistency
        for line in figures_text(cell.record):
            print(f"{cell.model} {cell.dataset}: {line}", flush=True)
    print(f"outputs: {', '.join(str(config.work_dir / t.name) for t in plan.models)}", flush=True)
    for problem in summary.problems:
        _say(f"vleval: {problem}")
    return summary


def _log_to_tracker(config: RunConfig) -> None:
    """--log-to: the report, then every model of the work dir to the tracker. A tracker that fails
    loses nothing: the files are written, and `vleval export --log-to` logs them again."""
    from vleval.report.build import write_report
    from vleval.report.trackers import log_work_dir

    try:
        write_report([config.work_dir], data_dir=config.data_dir, thumbnails=0)
        for line in log_work_dir(config.work_dir, str(config.log_to)):
            _say(f"vleval: logged to {line}")
    except VlevalError as exc:  # says how to log the written files later
        _say(f"vleval: {exc}")


def _new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"


class Scorer:
    """Scores (model, benchmark) cells on rank 0 in one background thread, in the order they are
    submitted: a benchmark's scoring and judge calls (network-bound) run while the next benchmark
    infers (GPU-bound). Each cell's judge is closed and its table dropped when the cell is scored.
    A local judge (``--judge local:DIR``) needs the GPUs inference holds: its cells wait until
    ``wait``, after inference has released them."""

    def __init__(self, config: RunConfig, plan: RunPlan) -> None:
        self.config = config
        self.plan = plan
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vleval-score")
        self._futures: list[Future[None]] = []
        self._deferred: list[tuple[BenchmarkCell, CellResult]] | None = (
            [] if is_local_judge_spec(config.judge) else None
        )

    def submit(self, bench: BenchmarkCell, cell: CellResult) -> None:
        if self._deferred is not None:
            self._deferred.append((bench, cell))
            return
        self._futures.append(self._pool.submit(_score, self.config, self.plan, bench, cell))

    def check(self) -> None:
        """Raise, in the caller's thread, what a finished scoring raised (VlevalErrors are kept per
        cell; anything else is a bug or an interrupt and stops the run)."""
        for future in self._futures:
            if future.done():
                future.result()

    def wait(self) -> None:
        deferred, self._deferred = self._deferred or [], None
        for bench, cell in deferred:
            self.submit(bench, cell)
        for future in self._futures:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        release_engines()  # a local judge's model, loaded once for all benchmarks


def _use_cuda(config: RunConfig) -> bool:
    if config.device is not None:
        return config.device.startswith("cuda")
    import torch

    return torch.cuda.is_available()


def _infer_all(
    config: RunConfig,
    plan: RunPlan,
    info: DistInfo,
    summary: RunSummary,
    digests: dict[str, str],
    locks: WorkDirLocks,
    scorer: Scorer | None,
    backends: dict[str, dict[str, Any]],
    checks: dict[str, CheckpointCheck | None],
) -> None:
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
        run_id = group.broadcast(_new_run_id() if info.is_main else None)
        # rank 0 locks the model folders for the whole run; the other ranks of this run work under
        # its lock, and all ranks stop together when another run holds one
        refusal = None
        if info.is_main:
            try:
                locks.acquire(run_id)
            except VlevalError as exc:
                refusal = str(exc)
        refusal = group.broadcast(refusal)
        if refusal:
            raise VlevalError(refusal)
        for target in plan.models:
            box: list[Any] = []

            def get_backend(target: ModelTarget = target, box: list[Any] = box) -> Any:
                if not box:
                    box.append(_make_backend(config, target, info, use_cuda))
                return box[0]

            try:
                for card in plan.datasets:
                    cell = summary.cell(target.name, card.name)
                    bench = _cell(config, plan, target, card, digests)
                    _fill(
                        cell,
                        infer_dataset(bench, info=info, group=group, run_id=run_id, get_backend=get_backend),
                    )
                    for seeded in seed_cells(bench, config.seeds):  # --seeds: the other seeds' passes
                        _fill_seed(cell, seeded, infer_dataset(seeded, info=info, group=group, run_id=run_id,
                                                               get_backend=get_backend))  # fmt: skip
                    if config.mmstar_gain and info.is_main:  # MMStar's text-only / LLM-base passes
                        from vleval.runner.gain import run_gain_passes

                        cell.notes.extend(run_gain_passes(config, bench, get_backend()))
                    if info.is_main and cell.n_inferred:
                        cell.estimate = _estimate(config, plan, target, bench)
                    if scorer is not None:
                        cell.settings = manifest.eval_settings(
                            config, plan, target, card, digests[target.name], checks[target.name]
                        )
                        scorer.check()
                        scorer.submit(bench, cell)
                    else:
                        bench.release()
            finally:
                if box:  # free the model before loading the next one
                    describe = getattr(box[0], "describe", None)
                    backends[target.name] = describe() if callable(describe) else {}
                    close = getattr(box[0], "close", None)
                    if callable(close):
                        close()
                    box.clear()
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
        "--limit": str(config.limit),
        "--seeds": str(config.seeds),
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
    kwargs = _backend_kwargs(config, target, info, use_cuda) | backend_options(config)
    if config.backend_factory is not None:
        return config.backend_factory(target.path, kwargs)
    from vleval.models.backends.base import load_backend

    return load_backend(config.backend, target.path, **{k: v for k, v in kwargs.items() if v is not None})


def _cell(
    config: RunConfig, plan: RunPlan, target: ModelTarget, card: BenchmarkCard, digests: dict[str, str]
) -> BenchmarkCell:
    pred_file = plan.pred_file(config.work_dir, target, card)
    prompts_file = (
        pred_file.with_name(f"{target.name}_{card.name}_prompts.jsonl") if config.save_prompts else None
    )
    return BenchmarkCell(
        model=target.card,
        model_id=f"{target.card.name}:{digests[target.name]}",
        card=card,
        protocol=plan.protocol,
        tsv=plan.tsv[card.name],
        cot=config.cot,
        backend_name=config.backend,
        progress_dir=plan.progress_dir(config.work_dir, target, card),
        pred_file=pred_file,
        prompts_file=prompts_file,
        max_new_tokens=config.max_new_tokens,
        max_image_pixels=config.max_image_pixels,
        batch_size=max(1, config.batch_size),
        limit=config.limit,
        verbose=config.verbose,
        progress_bar=config.progress_bar,
        wait_timeout_s=config.dist_timeout_s,
    )


def _estimate(
    config: RunConfig, plan: RunPlan, target: ModelTarget, bench: BenchmarkCell
) -> dict[str, Any] | None:
    """The dry run's time bill for a benchmark that was inferred, for run.json beside the measured
    time (from the samples the cell already read; None when the checkpoint cannot be read for it)."""
    from vleval.cost import cell_estimate

    try:
        return cell_estimate(bench.card, bench.samples, model_path=target.path, model_card=target.card,
                             protocol=plan.protocol, cot=config.cot, max_new_tokens=config.max_new_tokens,
                             device=config.device)  # fmt: skip
    except (VlevalError, OSError, ValueError, KeyError):
        return None


def _fill(cell: CellResult, outcome: DatasetOutcome) -> None:
    cell.n_samples = outcome.n_samples
    cell.n_inferred = outcome.n_inferred
    cell.n_reused = outcome.n_reused
    cell.n_failed = outcome.n_failed
    cell.infer_s = outcome.seconds
    cell.notes.extend(outcome.issues)
    if outcome.n_retried:
        cell.notes.append(f"retried {outcome.n_retried} previously failed sample(s)")
    if outcome.hit_token_limit:
        cell.notes.append(f"{len(outcome.hit_token_limit)} prediction(s) stopped at the token limit")
    if outcome.over_context:
        shown = ", ".join(map(str, outcome.over_context[:5])) + (", ..." if len(outcome.over_context) > 5 else "")
        cell.notes.append(
            f"{len(outcome.over_context)} prompt(s) longer than the model's context length (index {shown}): "
            "their predictions are unreliable"
        )


def _fill_seed(cell: CellResult, seeded: BenchmarkCell, outcome: DatasetOutcome) -> None:
    """A further seed's pass (``--seeds``): its samples counted with the cell's, its notes named."""
    cell.n_inferred += outcome.n_inferred
    cell.n_reused += outcome.n_reused
    cell.n_failed += outcome.n_failed
    cell.infer_s += outcome.seconds
    seed = f"seed {seeded.sampling_seed}"
    cell.notes.extend(f"{seed}: {issue}" for issue in outcome.issues)
    if outcome.hit_token_limit:
        cell.notes.append(f"{seed}: {len(outcome.hit_token_limit)} prediction(s) stopped at the token limit")


def _score(config: RunConfig, plan: RunPlan, bench: BenchmarkCell, cell: CellResult) -> None:
    """Score one cell with its own judge (closed when done), on the cell's already-read table."""
    from vleval.datasets.scoring import evaluate, last_judge_error
    from vleval.judge.bill import tally
    from vleval.judge.cache import default_cache_dir
    from vleval.judge.client import resolve_judge

    protocol = plan.protocol
    started = time.monotonic()
    judge = None
    try:
        choice = resolve_judge(
            config.judge,
            protocol.judge_for(bench.card),
            base_url=config.judge_base_url,
            api_key=config.judge_api_key,
            workers=config.judge_workers,
            retries=protocol.judge_retries,
            timeout=config.judge_timeout_s or protocol.judge_timeout_s,
            cache_dir=default_cache_dir(config.work_dir),
            **({"retry_budget_s": config.judge_retry_budget_s} if config.judge_retry_budget_s else {}),
        )
        judge = choice.judge
        if choice.missing_credentials and choice.reason:
            cell.notes.append(choice.reason)
            _say(f"vleval: {bench.name}: {choice.reason}")
        if not cell.n_samples:  # --mode eval: the counts come from the prediction file
            cell.n_samples = len(bench.table)
            texts, _ = bench.existing_predictions()
            cell.n_failed = sum(1 for v in texts.values() if FAILURE_PREFIX in str(v))

        def score(cell_of_seed: BenchmarkCell) -> EvalResult:
            return evaluate(
                cell_of_seed.card,
                protocol,
                cell_of_seed.pred_file,
                judge,
                table=bench.table,
                seed=config.seed,
                hit_token_limit=cell_of_seed.token_limit_hits(),
                subset=bench.subset,
                settings=seed_settings(cell.settings, cell_of_seed, config.seeds),
            )

        result = score(bench)
        pool_seed_results(bench, config.seeds, result, score, bootstrap_seed=config.seed)  # --seeds
        if config.mmstar_gain:
            from vleval.runner.gain import score_gain

            score_gain(config, bench, judge, result)
        cell.judge_error = last_judge_error(judge)
    except JudgeUnavailableError:
        raise  # the judge refuses the key or does not answer: the run stops (Scorer.check)
    except VlevalError as exc:
        cell.error = str(exc)
        return
    finally:
        cell.judge = tally(judge)
        if judge is not None:
            judge.close()
        bench.release()
        cell.eval_s = time.monotonic() - started
    cell.record = result.record
    cell.headline = result.record.headline
    cell.headline_name = result.record.headline_name
    cell.files = [Path(f) for f in result.files]
    cell.notes.extend(result.record.notes)


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
    if config.limit is not None:
        lines.append(
            f"--limit {config.limit}: the first {config.limit} question(s) of each benchmark; the scores will "
            "be marked 'subset of N/M' and are not comparable to published figures"
        )
    if config.seeds > 1:
        lines.append(seeds_dry_run_line(config.seeds))
    counts: dict[str, str] = {}
    for card in plan.datasets:
        if card.name not in plan.tsv:
            counts[card.name] = _file_problem(card, plan.protocol, config)
            continue
        try:
            counts[card.name] = _sample_count(card, plan.protocol, config)
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
        present = [card for card in plan.datasets if card.name in plan.tsv]
        if config.mode != "eval" and present:  # prompt tokens, FLOPs, estimated time (vleval.cost)
            from vleval.cost import time_bill

            lines.extend(
                time_bill(model_path=target.path, model_card=target.card, cards=present, protocol=plan.protocol,
                          data_dir=config.data_dir, cot=config.cot, max_new_tokens=config.max_new_tokens,
                          device=config.device, limit=config.limit)
            )  # fmt: skip
    if config.mode != "infer":  # judge calls, tokens and the judge model, per benchmark (vleval.judge.bill)
        from vleval.judge.bill import dry_run_bill

        present = [card for card in plan.datasets if card.name in plan.tsv]
        absent = {card.name: counts[card.name] for card in plan.datasets if card.name not in plan.tsv}
        lines.extend(
            dry_run_bill(present, plan.protocol, config.judge, len(plan.models),
                         lambda card: load_table(card, plan.protocol, config.data_dir, verify_md5=False,
                                                 limit=config.limit), unavailable=absent)
        )  # fmt: skip
    warnings = preflight_lines(config, plan, checkpoint_checks(config, plan))
    if warnings:
        lines.append("numbers that will not be what their names say:")
        lines.extend(f"  - {w}" for w in warnings)
    if plan.problems:
        lines.append("missing (fetch or fix before running; the run would stop here):")
        lines.extend(f"  - {p}" for p in plan.problems)
    else:
        lines.append("everything needed is present.")
    return "\n".join(lines)


def _file_problem(card: BenchmarkCard, protocol: Protocol, config: RunConfig) -> str:
    """Why a benchmark's file cannot be used, in a word or two: absent, or there with another md5."""
    from vleval.datasets.files import file_state

    try:
        state = file_state(card, protocol, config.data_dir).state
    except (VlevalError, OSError):
        return "data missing"
    return "md5 mismatch" if state == "md5_mismatch" else "data missing"


def _sample_count(card: BenchmarkCard, protocol: Protocol, config: RunConfig) -> str:
    """``1000 samples``, or under ``--limit`` ``40 of 1000 samples (20/500 questions)``."""
    from vleval.datasets.loading import load_table
    from vleval.datasets.subset import limit_table

    table = load_table(card, protocol, config.data_dir, verify_md5=False)
    _, subset = limit_table(table, card, protocol, config.limit)
    if subset is None:
        return f"{len(table)} samples"
    return f"{subset.rows} of {subset.of_rows} samples ({subset.questions}/{subset.of_questions} questions)"
