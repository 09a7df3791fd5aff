"""`vleval report` and `vleval demo`: parse arguments and delegate."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from vleval.console import add_no_progress_option
from vleval.errors import VlevalError


def _default_data_dir() -> Path:
    # Same rule as the reference's LMUDataRoot; read here, at the edge, and passed down.
    env = os.environ.get("LMUData")
    return Path(env) if env and Path(env).is_dir() else Path.home() / "LMUData"


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report",
        help="write one self-contained HTML report (+ summary.md, summary.csv) for a work directory",
        description=(
            "Read every <model>/<model>_<benchmark>.xlsx and its result files under --work-dir and write "
            "one offline HTML file: scores against the published InternVL2.5 figures, per-category charts "
            "and a sample browser. With --compare A B: score changes and the samples whose verdict changed."
        ),
    )
    report.add_argument(
        "--work-dir",
        type=Path,
        action="append",
        help="directory `vleval run` wrote to (repeat it to merge runs, e.g. a direct and a CoT run)",
    )
    report.add_argument("--out", type=Path, help="HTML file to write (default: <work-dir>/report.html)")
    report.add_argument(
        "--threshold",
        type=float,
        default=1.0,
        help="highlight cells whose |ours - published| exceeds this many points (default 1.0)",
    )
    report.add_argument(
        "--compare", nargs=2, type=Path, metavar=("DIR_A", "DIR_B"), help="compare two work dirs"
    )
    report.add_argument(
        "--data-dir", type=Path, help="benchmark TSVs for image thumbnails (default $LMUData)"
    )
    report.add_argument(
        "--thumbnails", type=int, default=200, help="image thumbnails per benchmark (0 = none; default 200)"
    )
    add_no_progress_option(report)
    report.add_argument(
        "--prefer",
        choices=("complete", "newest"),
        default="complete",
        help="two complete runs with the same settings and different numbers: an error (complete, the "
        "default) or the newest one, stated on the cell (newest)",
    )
    report.add_argument(
        "--data", nargs="+", metavar="NAME", default=(), help="benchmark column order (default: the paper's)"
    )
    report.set_defaults(func=run_report)

    demo = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on a tiny random model and a mini benchmark suite (offline, ~1 min)",
        description=(
            "Builds (once, cached) a tiny random-weight InternVL2.5-architecture checkpoint and a mini "
            "suite of synthetic benchmark files, runs inference, scoring with a local stand-in judge, and "
            "writes the report. The model is random: its scores are at chance level. Cache: "
            "~/.cache/vleval/demo, or $VLEVAL_CACHE/demo when VLEVAL_CACHE is set."
        ),
    )
    demo.add_argument("--work-dir", type=Path, help="where to write the results (default: <cache>/work)")
    demo.add_argument("--fresh", action="store_true", help="rebuild the cached checkpoint, data and results")
    add_no_progress_option(demo)
    demo.set_defaults(func=run_demo)


def run_report(args: argparse.Namespace) -> int:
    from vleval.report.build import write_compare, write_report

    data_dir = args.data_dir or _default_data_dir()
    if args.compare:
        out = write_compare(
            args.compare[0], args.compare[1], args.out, data_dir=data_dir, thumbnails=args.thumbnails
        )
        print(f"comparison: {out}")
        return 0
    if not args.work_dir:
        raise VlevalError(
            "give --work-dir DIR (the directory `vleval run` wrote to) or --compare DIR_A DIR_B"
        )
    from vleval.report.summary import summary_table_text

    files = write_report(
        args.work_dir, args.out, threshold=args.threshold, data_dir=data_dir, thumbnails=args.thumbnails,
        prefer=args.prefer, order=args.data,
    )  # fmt: skip
    print(summary_table_text(files.summary))
    print(f"\nreport:  {files.html}\nsummary: {files.summary_md}, {files.summary_csv}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from vleval.workflows.demo import demo_cache_dir, run_demo_pipeline

    cache_env = os.environ.get("VLEVAL_CACHE")  # read once here, passed down
    cache = demo_cache_dir(Path(cache_env) if cache_env else None)
    result = run_demo_pipeline(cache, work_dir=args.work_dir, fresh=args.fresh)
    print(result.text)
    return 0
