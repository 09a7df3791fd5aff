"""`vleval compare`: parse arguments and delegate to ``vleval.workflows.compare``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vleval.console import add_no_progress_option
from vleval.stats.core import DEFAULT_RESAMPLES


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="is run B really better than run A? paired tests per benchmark, flipped samples",
        description=(
            "Compare two scored runs (two work directories, or two model folders of one work directory) "
            "benchmark by benchmark: the paired difference B - A on the samples both scored, its 95%% "
            "interval (paired bootstrap over scoring units: circular question groups, question and figure "
            "groups, rows elsewhere), a paired test (exact McNemar for right/wrong units, "
            "bootstrap for graded scores) with Holm-adjusted p-values, the smallest difference the sample "
            "size can detect (80%% power), and the units that flipped. Refuses runs made with a different "
            "protocol, benchmark file, CoT setting, rule-only scoring, stand-in judge, synthetic checkpoint "
            "or subset unless --allow-different-settings; lists every other setting that differs."
        ),
    )
    parser.add_argument(
        "a", type=Path, metavar="A", help="baseline: a work directory or a model folder in one"
    )
    parser.add_argument(
        "b", type=Path, metavar="B", help="candidate: a work directory or a model folder in one"
    )
    parser.add_argument(
        "--data", nargs="+", metavar="NAME", help="only these benchmarks (default: all both scored)"
    )
    parser.add_argument(
        "--allow-different-settings",
        action="store_true",
        help="compare even when protocol, benchmark file md5 or CoT differ (the differences are printed first)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="bootstrap seed (default 0; recorded in the output)"
    )
    parser.add_argument(
        "--resamples",
        type=int,
        default=DEFAULT_RESAMPLES,
        help=f"bootstrap resamples (default {DEFAULT_RESAMPLES})",
    )
    parser.add_argument(
        "--flips", type=int, default=50, metavar="N", help="flipped units to print (default 50)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the full comparison as JSON")
    add_no_progress_option(parser)
    parser.set_defaults(func=run_compare)


def run_compare(args: argparse.Namespace) -> int:
    from vleval.atomic import atomic_write
    from vleval.errors import VlevalError
    from vleval.workflows.compare import compare_runs, comparison_json, render_text

    if args.resamples < 1 or args.flips < 0:
        raise VlevalError("--resamples must be at least 1 and --flips at least 0.")
    if args.json:  # its folder is made first, so a path that cannot be used fails before the bootstrap
        args.json.parent.mkdir(parents=True, exist_ok=True)
    comparison = compare_runs(
        args.a,
        args.b,
        datasets=args.data,
        allow_different_settings=args.allow_different_settings,
        seed=args.seed,
        resamples=args.resamples,
    )
    print(render_text(comparison, max_flips=args.flips), end="")
    if args.json:
        atomic_write(args.json, json.dumps(comparison_json(comparison), indent=2, ensure_ascii=False) + "\n")
        print(f"json: {args.json}")
    return 0
