"""``vleval judge-audit``: re-score a finished run with another judge and compare decisions."""

from __future__ import annotations

import argparse
from pathlib import Path

from vleval.console import add_no_progress_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "judge-audit",
        help="re-ask a finished run's judge questions with another judge; agreement, kappa, score change",
        description=(
            "For every benchmark of --work-dir that a judge helped score, score the same predictions again "
            "with --judge J (into <work-dir>/<model>/judge_audit/<J>/; the run's own files are not touched) "
            "and report per benchmark: agreement of the judged rows' decisions (percent and Cohen's kappa), "
            "the confusion of decisions, the score under J next to the original, and the rows that changed. "
            "Also written to <work-dir>/judge_audit_<J>.json."
        ),
    )
    parser.add_argument("--work-dir", required=True, type=Path, help="the finished run's work dir")
    parser.add_argument(
        "--judge",
        required=True,
        metavar="MODEL|local:DIR",
        help="the judge to compare: an API model (short name or id) or local:DIR (open weights)",
    )
    parser.add_argument(
        "--judge-base-url",
        default=None,
        metavar="URL",
        help="OpenAI-compatible endpoint (or $OPENAI_API_BASE)",
    )
    parser.add_argument("--judge-workers", type=int, default=16, metavar="N", help="parallel judge requests")
    parser.add_argument("--data", nargs="+", default=None, metavar="NAME", help="only these benchmarks")
    parser.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR", help="benchmark TSVs ($LMUData)"
    )
    add_no_progress_option(parser)
    parser.set_defaults(func=run_audit)


def run_audit(args: argparse.Namespace) -> int:
    from vleval.judge.audit import audit_dir_name, audit_work_dir, format_audit, write_audit

    audits = audit_work_dir(
        args.work_dir,
        args.judge,
        base_url=args.judge_base_url,
        workers=args.judge_workers,
        data_dir=args.data_dir,
        datasets=args.data,
    )
    print(format_audit(audits))
    if audits:
        path = write_audit(
            args.work_dir / f"judge_audit_{audit_dir_name(audits[0].audit_judge)}.json", audits
        )
        print(f"written: {path}")
    return 0
