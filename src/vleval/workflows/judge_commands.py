"""``vleval judge-audit``: re-score a finished run with another judge and compare decisions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vleval.console import add_no_progress_option
from vleval.judge.settings import add_judge_options, judge_settings_from


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "judge-audit",
        help="re-ask a finished run's judge questions with another judge; agreement, kappa, score change",
        description=(
            "For every benchmark of --work-dir that a judge helped score, score the same predictions again "
            "with --judge J (into <work-dir>/<model>/judge_audit/<J>/; the run's own files are not touched) "
            "and report per benchmark: agreement of the decisions of the rows both judges decided (percent and "
            "Cohen's kappa), "
            "the confusion of decisions, the score under J next to the original, and the rows that changed. "
            "Also written to <work-dir>/judge_audit_<J>.json. Exits 1 when any audit judge call failed."
        ),
    )
    parser.add_argument("--work-dir", required=True, type=Path, help="the finished run's work dir")
    parser.add_argument(
        "--judge",
        required=True,
        metavar="MODEL|local:DIR",
        help="the judge to compare: an API model (short name or id) or local:DIR (open weights)",
    )
    add_judge_options(parser)
    parser.add_argument("--data", nargs="+", default=None, metavar="NAME", help="only these benchmarks")
    parser.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR", help="benchmark TSVs ($LMUData)"
    )
    add_no_progress_option(parser)
    parser.set_defaults(func=run_audit)
    _register_calibrate(subparsers)


def run_audit(args: argparse.Namespace) -> int:
    from vleval.workflows.judge_audit import audit_dir_name, audit_work_dir, format_audit, write_audit

    audits = audit_work_dir(
        args.work_dir, args.judge, judge_settings_from(args), data_dir=args.data_dir, datasets=args.data
    )
    print(format_audit(audits))
    if audits:
        path = write_audit(
            args.work_dir / f"judge_audit_{audit_dir_name(audits[0].audit_judge)}.json", audits
        )
        print(f"written: {path}")
    failed = sum(a.failed_calls for a in audits)
    if failed:
        print(
            f"vleval: judge-audit: {failed} audit judge call(s) failed; the agreement leaves those rows out. "
            "Run the same command again to retry them.",
            file=sys.stderr,
        )
        return 1
    return 0


def _register_calibrate(subparsers: argparse._SubParsersAction) -> None:
    from vleval.workflows.judge_calibrate import DEFAULT_SUBSET

    parser = subparsers.add_parser(
        "judge-calibrate",
        help="a cheap judge on every row, the protocol's judge on a sample: the PPI-corrected score",
        description=(
            "For every judged benchmark of --work-dir: score every row with the cheap judge (--local-judge), "
            "a seeded random sample of scoring units (whole circular groups, stratified by category) with "
            "the protocol's own judge, and report the local-judge score, the prediction-powered (PPI++) "
            "estimate of the protocol judge's score with its interval, the interval a full protocol-judge "
            "run would give, and the effective sample size. The judge bill of the sample and of a full run "
            "is printed before the protocol's judge gets any request; answers are cached in the work dir. "
            "Written to <work-dir>/judge_calibrate_<judge>.json and to the cheap judge's score record."
        ),
    )
    parser.add_argument("--work-dir", required=True, type=Path, help="the finished run's work dir")
    parser.add_argument(
        "--local-judge",
        required=True,
        metavar="local:DIR|MODEL",
        help="the cheap judge asked about every row: open weights (local:DIR) or an API model",
    )
    parser.add_argument(
        "--local-judge-base-url", default=None, metavar="URL", help="endpoint of an API --local-judge"
    )
    parser.add_argument(
        "--subset",
        default=DEFAULT_SUBSET,
        metavar="N|P%",
        help=f"scoring units the protocol's judge is asked about: a number or a share (default {DEFAULT_SUBSET})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (recorded)")
    # the protocol's judge's endpoint and pacing; the cheap judge's endpoint is --local-judge-base-url
    add_judge_options(parser)
    parser.add_argument("--data", nargs="+", default=None, metavar="NAME", help="only these benchmarks")
    parser.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR", help="benchmark TSVs ($LMUData)"
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="score with the cheap judge and print the bill; ask nothing else",
    )
    parser.set_defaults(func=run_calibrate)


def run_calibrate(args: argparse.Namespace) -> int:
    from vleval.workflows.judge_calibrate import (
        calibrate_work_dir,
        calibration_file,
        format_calibrations,
        local_model_name,
        write_calibrations,
    )

    results = calibrate_work_dir(
        args.work_dir, args.local_judge, judge_settings_from(args), subset=args.subset, seed=args.seed,
        local_base_url=args.local_judge_base_url, data_dir=args.data_dir, datasets=args.data,
        dry_run=args.dry_run,
    )  # fmt: skip
    print(format_calibrations(results))
    if results and not args.dry_run:
        path = write_calibrations(
            calibration_file(args.work_dir, local_model_name(results, args.local_judge)), results
        )
        print(f"written: {path}")
    return 0
