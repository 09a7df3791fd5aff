"""`vleval diff-protocols`: the same predictions under two protocols, each changed row attributed to
the rule that changed it (``vleval.workflows.protocol_diff``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vleval.atomic import atomic_write
from vleval.console import add_no_progress_option
from vleval.datasets.files import MD5_OFF_WARNING
from vleval.datasets.registry import BENCHMARKS, get_benchmark
from vleval.errors import DataMissingError, VlevalError
from vleval.protocol import PROTOCOLS, get_protocol


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diff-protocols",
        help="score predictions under two protocols and attribute every changed row to a rule",
        description=(
            "Score the same predictions under protocol A and protocol B and report, per benchmark, the "
            "headline under each (0-100), the net difference, and every row whose outcome changed, "
            "attributed to the one rule (quirk or judge models) that changes it when switched alone; "
            "what no single rule explains is reported as interaction. Judge answers come only from "
            "the judge cache; nothing is sent to an API. Result files go to a temporary folder."
        ),
    )
    parser.add_argument("protocol_a", metavar="A", choices=sorted(PROTOCOLS), help="protocol A")
    parser.add_argument("protocol_b", metavar="B", choices=sorted(PROTOCOLS), help="protocol B")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--pred", type=Path, metavar="FILE", help="one prediction file (.xlsx or .tsv)")
    source.add_argument(
        "--work-dir", type=Path, metavar="DIR", help="every <MODEL>_<DATASET> prediction file under DIR"
    )
    parser.add_argument("--data", metavar="NAME", help=f"benchmark of --pred: {', '.join(BENCHMARKS)}")
    parser.add_argument(
        "--judge",
        default=None,
        metavar="MODEL|none",
        help="default: each protocol's own judge; a model = that judge under both; "
        "'none' = compare only rows the rules decide",
    )
    parser.add_argument(
        "--judge-cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="judge cache folder (default: where `vleval run` keeps it, <work-dir>/.judge_cache, or "
        "where `vleval eval` keeps it, beside the prediction file)",
    )
    parser.add_argument(
        "--skip-md5-check",
        action="store_true",
        help="use benchmark files whose md5 differs from the protocol's (scores not comparable)",
    )
    parser.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR", help="benchmark TSVs ($LMUData)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the diff as JSON (with --work-dir, default DIR/protocol_diff_A_vs_B.json, which "
        "`vleval report` shows)",
    )
    add_no_progress_option(parser)
    parser.set_defaults(func=run_diff)


def run_diff(args: argparse.Namespace) -> int:
    from vleval.workflows.protocol_diff import (
        diff_as_json,
        diff_benchmark,
        diff_file_name,
        find_judge_cache,
        format_diff,
        prediction_files,
    )

    a, b = get_protocol(args.protocol_a), get_protocol(args.protocol_b)
    if args.pred is not None:
        if args.data is None:
            raise VlevalError("--pred needs --data NAME (the benchmark the predictions are for).")
        targets = [(get_benchmark(args.data), args.pred)]
    else:
        targets = prediction_files(args.work_dir)
        if not targets:
            raise DataMissingError(f"no <MODEL>_<DATASET>.xlsx/.tsv prediction files under {args.work_dir}.")
    if args.skip_md5_check:
        print(MD5_OFF_WARNING, file=sys.stderr)
    diffs = []
    for card, pred in targets:
        cache_dir = args.judge_cache or find_judge_cache(pred, args.work_dir)
        diff = diff_benchmark(
            card, pred, a, b, judge=args.judge, cache_dir=cache_dir, data_dir=args.data_dir,
            verify_md5=not args.skip_md5_check,
        )  # fmt: skip
        if len(targets) > 1:
            diff.dataset = f"{diff.dataset} ({pred.stem.removesuffix('_' + card.name)})"
        diffs.append(diff)
        print(format_diff([diff]), flush=True)
    out_json = args.json
    if out_json is None and args.work_dir is not None:
        out_json = Path(args.work_dir) / diff_file_name(a.name, b.name)
    if out_json is not None:
        atomic_write(
            out_json, json.dumps(diff_as_json(a.name, b.name, diffs), indent=2, ensure_ascii=False) + "\n"
        )
        print(f"written: {out_json}")
    return 0
