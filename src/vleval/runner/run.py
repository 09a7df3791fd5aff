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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vleval.errors import DataMissingError, VlevalError
from vleval.families.base import default_judge
from vleval.judge.local import is_local_judge_spec, local_judge_problem
from vleval.protocol import Protocol, get_protocol
from vleval.runner import manifest
from vleval.runner.config import (
    MODES,
    CellResult,
    RunConfig,
    RunPlan,
    RunSummary,
)
from vleval.runner.dist import DistInfo, ProcessGroup, init_dist
from vleval.runner.dry_run import dry_run_report
from vleval.runner.infer import BenchmarkCell, DatasetOutcome, infer_dataset
from vleval.runner.lock import WorkDirLocks
from vleval.runner.placement import gpus_for, make_backend, release_memory, uses_cuda
from vleval.runner.score import Scorer
from vleval.runner.seeds import seed_cells
from vleval.runner.targets import ModelTarget, checkpoint_digest, resolve_model
from vleval.types import BenchmarkCard

if TYPE_CHECKING:
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
    from vleval.workdir import refuse_model_folder

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
    from vleval.judge.client import resolve_judge

    if not _needs_judge(card) or is_local_judge_spec(config.judge):
        return None  # a local judge's folder is checked once, by local_judge_problem
    spec = config.judge or default_judge(protocol, card) or ""
    choice = resolve_judge(config.judge, default_judge(protocol, card), config.judge_settings())
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
    from vleval.families.base import default_judge
    from vleval.judge.client import resolve_judge
    from vleval.judge.info import protocol_judge_model
    from vleval.settings import RULE_ONLY_MARK

    if config.mode == "infer":
        return []
    lines = []
    for card in plan.datasets:
        named = default_judge(plan.protocol, card)
        if named is None or _needs_judge(card) or is_local_judge_spec(config.judge):
            continue  # a rule-based metric; or a judge-only one (refused without a judge by plan_run)
        choice = resolve_judge(config.judge, named, config.judge_settings())
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

        check_gain_options(config, list(plan.datasets), info.world_size)
    if config.dry_run:
        if info.is_main:
            warnings = preflight_lines(config, plan, checkpoint_checks(config, plan))
            print(dry_run_report(config, plan, warnings))
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
                config.work_dir / target.name,
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
    use_cuda = uses_cuda(config)
    if use_cuda and info.distributed:  # nccl needs this process's device before the group exists
        import torch

        first = plan.models[0].card if plan.models else None
        gpus = gpus_for(info, first.gpus_per_task if first else 1)
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
                    box.append(make_backend(config, target, info, use_cuda))
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
                    release_memory(use_cuda)
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
