"""`vleval export`: the work dir's ``results.json`` (written again from the files on disk) and the
optional exports for other tools (``vleval.report.results_file``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from vleval.report.trackers import TRACKERS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write <work-dir>/results.json (models x benchmarks x metrics) and optional exports",
        description=(
            "Write <work-dir>/results.json: every model x benchmark x metric with its interval, settings, "
            "judge, protocol and versions (schema: docs/results.md; `vleval run` writes it too). "
            "--parquet FILE: every scored row as one Parquet table (needs pyarrow: pip install "
            "'vleval[export]')."
        ),
    )
    parser.add_argument("--work-dir", type=Path, required=True, help="directory `vleval run` wrote to")
    parser.add_argument("--parquet", type=Path, metavar="FILE", help="per-sample Parquet file to write")
    parser.add_argument(
        "--inspect-log",
        type=Path,
        metavar="DIR",
        help="write one inspect_ai eval log (JSON) per model x benchmark into DIR, for `inspect view --log-dir DIR`",
    )
    parser.add_argument(
        "--log-to",
        choices=TRACKERS,
        default=None,
        help="also log every model's settings, scores with intervals and the work dir's report to an "
        "experiment tracker (pip install 'vleval[mlflow]' or 'vleval[wandb]')",
    )
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from vleval.errors import DataMissingError
    from vleval.report.results_file import export_parquet, write_results

    path = write_results(args.work_dir)
    if path is None:
        raise DataMissingError(
            f"{args.work_dir}: no scored benchmark found (<model>/<model>_<benchmark>_score.json); run "
            "`vleval run` or `vleval eval` first."
        )
    print(f"results: {path}")
    if args.parquet is not None:
        print(f"per-sample parquet: {export_parquet(args.work_dir, args.parquet)}")
    if args.inspect_log is not None:
        from vleval.report.inspect_log import export_inspect_logs

        logs = export_inspect_logs(args.work_dir, args.inspect_log)
        print(
            f"inspect_ai eval logs: {len(logs)} in {args.inspect_log} (inspect view --log-dir {args.inspect_log})"
        )
    if args.log_to is not None:
        from vleval.report.trackers import log_work_dir

        for line in log_work_dir(args.work_dir, args.log_to):
            print(f"logged to {line}")
    return 0
