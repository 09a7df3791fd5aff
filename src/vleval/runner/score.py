"""Scoring beside inference: rank 0 scores each (model, benchmark) cell in a background thread while
the ranks infer the next one (see ``runner.run``). Each cell is scored with its own judge, closed when
the cell is done, on the table inference already read."""

from __future__ import annotations

import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from vleval.errors import JudgeUnavailableError, VlevalError
from vleval.families.base import default_judge
from vleval.judge.local import is_local_judge_spec, release_engines
from vleval.runner.config import CellResult, RunConfig, RunPlan
from vleval.runner.infer import BenchmarkCell
from vleval.types import FAILURE_PREFIX


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
        self._futures.append(self._pool.submit(score_cell, self.config, self.plan, bench, cell))

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


def score_cell(config: RunConfig, plan: RunPlan, bench: BenchmarkCell, cell: CellResult) -> None:
    """Score one cell with its own judge (closed when done), on the cell's already-read table."""
    from vleval.datasets.scoring import EvalResult, evaluate, last_judge_error
    from vleval.judge.client import resolve_judge
    from vleval.runner.seeds import pool_seed_results, seed_settings
    from vleval.workflows.bill import tally

    protocol = plan.protocol
    started = time.monotonic()
    judge = None
    try:
        choice = resolve_judge(
            config.judge, default_judge(protocol, bench.card), config.judge_settings().under(protocol)
        )
        judge = choice.judge
        if choice.missing_credentials and choice.reason:
            cell.notes.append(choice.reason)
            print(f"vleval: {bench.name}: {choice.reason}", file=sys.stderr, flush=True)
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
