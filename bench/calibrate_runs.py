"""Calibrate the time bill from finished runs: fit what a sample, a generated token and a TFLOP cost on
this device to the seconds that `vleval run` measured, and compare the bill's estimate with them.

    python bench/calibrate_runs.py WORK_DIR [WORK_DIR ...]                 # fit and print, write nothing
    python bench/calibrate_runs.py WORK_DIR ... --write --shape tiny      # store the fitted entry
    python bench/calibrate_runs.py WORK_DIR ... --check                   # only compare with the table

Every ``<work-dir>/<model>/run.json`` stores, per benchmark, the dry run's bill (``estimate``: FLOPs at
one-token and full-budget answers, the generation budget) beside the measured ``seconds.infer``. A
benchmark counts when all its samples were inferred by that run (nothing reused, nothing failed). The
tokens its answers really took are counted from the run's progress records (the raw answers, tokenized
by the checkpoint's tokenizer, plus the end token where the answer was not cut at the budget).

The fit (``vleval.cost.fit_calibration``) is non-negative least squares of the relative error of
``seconds = samples x a + tokens x b + TFLOP x c``; ``typical_new_tokens`` is the runs' mean answer
length, used for the bill's likely figure. ``--write`` replaces the (device, shape, "vleval run
defaults") entry of ``src/vleval/data/throughput_calibration.json`` (device: where this script runs,
which must be where the runs ran). The table printed: per benchmark,
measured seconds, the likely estimate under the fitted entry and under the table's current entry, and
their ratios (the goal: within 0.5x-2x).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from vleval.cost import (
    CALIBRATION_FILE,
    BenchmarkBill,
    Calibration,
    ModelDims,
    bill_estimate,
    device_label,
    fit_calibration,
    load_calibrations,
    pick_calibration,
    save_calibration,
)
from vleval.models.internvl.config import read_config
from vleval.models.internvl.tokenizer import load_tokenizer
from vleval.runner.progress import load_progress
from vleval.workdir import recorded_runs


def finished_cells(work_dir: Path) -> list[dict]:
    """One dict per benchmark fully inferred by a run under ``work_dir``: samples, tokens, flops, seconds."""
    cells = []
    for model_dir, run in recorded_runs(work_dir):
        model_path = Path(run.model.path if run.model is not None and run.model.path else "")
        dims = ModelDims.from_config(read_config(model_path))
        tokenizer = load_tokenizer(model_path)
        for name, cell in run.datasets.items():
            estimate, seconds, samples = cell.estimate, cell.seconds, cell.samples or 0
            if not estimate or not seconds or not samples or cell.inferred_this_run != samples:
                continue
            if cell.failed:
                continue
            folder = model_dir / ".progress" / f"{model_dir.name}_{name}"
            records = [r for r in load_progress(folder).records.values() if r.ok]
            tokens = sum(
                len(tokenizer(r.raw or "", add_special_tokens=False).input_ids)
                + (0 if r.hit_token_limit else 1)
                for r in records
            )
            low, high = estimate["flops"]
            budget = estimate["generation_budget"]
            share = (tokens - samples) / (budget - samples) if budget > samples else 0.0
            cells.append(
                {
                    "run": str(model_dir),
                    "benchmark": name,
                    "samples": samples,
                    "tokens": tokens,
                    "flops": low + max(0.0, share) * (high - low),
                    "budget": budget,
                    "flops_low": low,
                    "flops_high": high,
                    "seconds": seconds["infer"],
                    "llm_params": dims.llm_params,
                    "device": device_label(run.settings.get("device")),
                }
            )
    return cells


def _likely(cell: dict, calibration: Calibration | None) -> float | None:
    if calibration is None:
        return None
    # run.json keeps the bill's totals: one-token answers' FLOPs and what the full budget adds
    bill = BenchmarkBill(cell["benchmark"], samples=cell["samples"], generation_budget=cell["budget"],
                         vision_flops=cell["flops_low"], decode_flops_budget=cell["flops_high"] - cell["flops_low"])  # fmt: skip
    return bill_estimate(bill, calibration).likely


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dirs", nargs="+", type=Path)
    parser.add_argument("--shape", default="tiny", help="the entry's shape name (default tiny)")
    parser.add_argument("--write", action="store_true", help="store the fitted entry in the table")
    parser.add_argument("--check", action="store_true", help="no fit: compare the table's entry only")
    args = parser.parse_args(argv)

    cells = [c for w in args.work_dirs for c in finished_cells(w)]
    if not cells:
        print("no benchmark fully inferred by a run under these work dirs", file=sys.stderr)
        return 2
    device, llm_params = cells[0]["device"], cells[0]["llm_params"]
    current = pick_calibration(load_calibrations(), device, llm_params)
    fitted = None
    if not args.check:
        per_sample, per_token, per_tflop = fit_calibration(
            [(c["samples"], c["tokens"], c["flops"], c["seconds"]) for c in cells]
        )
        fitted = Calibration(
            device=device,
            shape=args.shape,
            llm_params=llm_params,
            achieved_tflops=round(1 / per_tflop, 6) if per_tflop > 0 else None,
            date=time.strftime("%Y-%m-%d"),
            mode="vleval run defaults",
            seconds_per_sample=round(per_sample, 5),
            seconds_per_token=round(per_token, 6),
            typical_new_tokens=round(sum(c["tokens"] for c in cells) / sum(c["samples"] for c in cells), 1),
            source=f"bench/calibrate_runs.py over {len(cells)} finished benchmark(s)",
        )
        print(f"fitted: {fitted}")
    print(f"{'benchmark':<22}{'samples':>8}{'tokens':>9}{'measured s':>11}{'fitted s':>10}{'ratio':>7}"
          f"{'table s':>10}{'ratio':>7}")  # fmt: skip
    for c in cells:
        fit_s, table_s = _likely(c, fitted), _likely(c, current)
        cols = [f"{c['benchmark']:<22}{c['samples']:>8}{c['tokens']:>9}{c['seconds']:>11.1f}"]
        for value in (fit_s, table_s):
            cols.append(
                f"{'-':>10}{'-':>7}" if value is None else f"{value:>10.1f}{value / c['seconds']:>7.2f}"
            )
        print("".join(cols))
    if args.write and fitted is not None:
        save_calibration(CALIBRATION_FILE, fitted)
        print(f"written: {CALIBRATION_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
