"""`vleval eval`: score a prediction file as the reference toolkit does."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from vleval.console import add_no_progress_option
from vleval.datasets.files import MD5_OFF_WARNING
from vleval.datasets.registry import BENCHMARKS, get_benchmark
from vleval.families.base import default_judge
from vleval.judge.settings import add_judge_options, judge_settings_from
from vleval.protocol import DEFAULT_PROTOCOL, PROTOCOLS, get_protocol
from vleval.types import EvalSettings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score a prediction file (reference-exact metrics and result files)",
        description=(
            "Score a prediction file (<MODEL>_<DATASET>.xlsx or .tsv with at least 'index' and "
            "'prediction') exactly as VLMEvalKit does under the chosen protocol, and write the "
            "reference's result files beside it (or into --work-dir), plus <stem>_score.json and a "
            "per-row <stem>_rows.jsonl."
        ),
    )
    parser.add_argument(
        "--data",
        default=None,
        metavar="NAME",
        help=f"benchmark: {', '.join(BENCHMARKS)} (default: read from a <MODEL>_<DATASET> file name)",
    )
    parser.add_argument(
        "--pred", required=True, type=Path, metavar="FILE", help="prediction file (.xlsx or .tsv)"
    )
    parser.add_argument(
        "--judge",
        default=None,
        metavar="MODEL|none",
        help="judge short name or model id (default: the protocol's judge for the benchmark); "
        "'none' = rule-based matching only (refused where the benchmark's metric needs a judge)",
    )
    add_judge_options(parser)
    parser.add_argument(
        "--protocol", default=DEFAULT_PROTOCOL, choices=sorted(PROTOCOLS), help="reference rules to reproduce"
    )
    parser.add_argument("--work-dir", type=Path, default=None, metavar="DIR", help="where result files go")
    parser.add_argument(
        "--data-dir", type=Path, default=None, metavar="DIR", help="benchmark TSVs ($LMUData)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the MCQ random fallback (recorded)")
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="score a prediction file that lacks some benchmark rows (the result is marked partial)",
    )
    parser.add_argument(
        "--skip-md5-check",
        action="store_true",
        help="use benchmark files whose md5 differs from the protocol's (scores not comparable)",
    )
    add_no_progress_option(parser)
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from vleval.datasets.scoring import evaluate, judge_failure_message, last_judge_error
    from vleval.report.format import censoring_text, figures_text, interval_text, score_text
    from vleval.settings import marks
    from vleval.workflows.bill import tally

    started = time.time()
    card = get_benchmark(args.data) if args.data is not None else _benchmark_from_name(args.pred)
    protocol = get_protocol(args.protocol)
    if args.skip_md5_check:
        print(MD5_OFF_WARNING, file=sys.stderr)
    out_dir = args.work_dir if args.work_dir is not None else Path(args.pred).parent
    judge = _make_judge(args, card, protocol, Path(out_dir))
    try:
        result = evaluate(
            card, protocol, args.pred, judge, seed=args.seed, out_dir=args.work_dir, data_dir=args.data_dir,
            allow_partial=args.allow_partial, verify_md5=not args.skip_md5_check,
            settings=_settings(args, card, protocol),
        )  # fmt: skip
        last_error = last_judge_error(judge)
        judge_tally = tally(judge)
    finally:
        close = getattr(judge, "close", None)
        if close is not None:
            close()
    record = result.record
    print(f"{card.name}  protocol {protocol.name}  judge {record.judge.model if record.judge else 'none'}")
    for mark in marks(record.settings):
        print(f"MARKED: {mark}")
    for name, table in result.tables.items():
        print(f"\n[{name}]")
        print(_format_table(table))
    print(f"\n{record.headline_name}: {score_text(record)}  ({record.headline_unit})")
    for line in (interval_text(record), censoring_text(record), *figures_text(record)):
        if line:
            print(f"  {line}")
    for name, value in record.native.items():
        print(f"  reference's {name}: {value:.4f}")
    counts = record.counts
    print(
        f"rows: {counts.total} ({counts.rule} by rule, {counts.judge} by judge, {counts.fallback} fallback, "
        f"{counts.failed} failed judge calls, {counts.unparsed} unparsed, {counts.skipped} not examined); "
        f"{counts.missing_predictions} without prediction"
    )
    for note in record.notes:
        print(f"note: {note}")
    print("files:")
    for path in result.files:
        print(f"  {path}")
    _record_run(args, card, protocol, Path(out_dir), result, judge_tally, started)
    if counts.failed:
        print(f"vleval: {judge_failure_message(record, last_error)}", file=sys.stderr)
        return 1
    return 0


def _record_run(
    args: argparse.Namespace, card, protocol, out_dir: Path, result, judge_tally, started: float
) -> None:
    """``run.json`` of the model folder the results went to (``runner.manifest.write_eval_manifest``):
    what this eval scored and how. A folder that is no model's (a loose folder of prediction files,
    which may hold several models') gets none; an earlier record that cannot be read is left as it is."""
    from vleval.datasets.files import tsv_path
    from vleval.errors import DataCorruptError
    from vleval.judge.settings import recorded_judge_options
    from vleval.runner.manifest import eval_scoring, write_eval_manifest
    from vleval.workdir import MANIFEST_FILE, model_folder_of

    pred = Path(args.pred)
    model = pred.stem[: -len(card.name) - 1] if pred.stem.endswith(f"_{card.name}") else None
    model_dir = model_folder_of(out_dir, model) if model else None
    if model_dir is None:
        print(f"note: no {MANIFEST_FILE} written: {out_dir} is not a model folder (<MODEL>/ holding "
              f"<MODEL>_{card.name}{pred.suffix})")  # fmt: skip
        return
    scoring = eval_scoring(
        list(sys.argv), [os.environ.get("OPENAI_API_KEY")], result.record, args.judge,
        recorded_judge_options(args),
        {"seed": args.seed, "verify_md5": not args.skip_md5_check, "allow_partial": args.allow_partial,
         "data_dir": str(args.data_dir) if args.data_dir is not None else None},
    )  # fmt: skip
    tsv = tsv_path(card, args.data_dir)
    try:
        written = write_eval_manifest(
            model_dir, card=card, protocol=protocol, pred_file=pred, tsv=tsv if tsv.is_file() else None,
            record=result.record, files=[Path(f) for f in result.files], judge_tally=judge_tally,
            scoring=scoring, started=started,
        )  # fmt: skip
    except DataCorruptError as exc:
        print(f"vleval: {MANIFEST_FILE} not updated (the scores above are written): {exc}", file=sys.stderr)
        return
    print(f"  {written}")


def _benchmark_from_name(pred: Path):
    from vleval.datasets.registry import benchmark_of_file
    from vleval.errors import VlevalError

    card = benchmark_of_file(pred)
    if card is None:
        raise VlevalError(
            f"{pred}: the file name does not end in _<DATASET> of a known benchmark "
            f"(<MODEL>_<DATASET>.xlsx); pass --data NAME ({', '.join(BENCHMARKS)})."
        )
    print(f"vleval: --data {card.name} (from the file name)", file=sys.stderr)
    return card
def _settings(args: argparse.Namespace, card, protocol) -> EvalSettings:
    """What ``vleval eval`` knows of how the predictions were made: its own options, versions and the
    benchmark file it scores against; the rest (CoT, token budget, checkpoint) is read from the
    ``run.json`` beside the predictions when there is one (``vleval.settings.settings_of``), else shown
    as not recorded."""
    from vleval.datasets.files import cached_md5, tsv_path
    from vleval.runner.manifest import versions

    found = versions()
    tsv = tsv_path(card, args.data_dir)
    md5 = cached_md5(tsv) if tsv.is_file() else None
    return EvalSettings(
        protocol=protocol.name,
        data_md5=md5,
        data_md5_matches=None if md5 is None else md5 == protocol.md5_for(card),
        verify_md5=not args.skip_md5_check,
        seed=args.seed,
        vleval_version=found["vleval"],
        transformers_version=found["transformers"],
        torch_version=found["torch"],
    )


def _make_judge(args: argparse.Namespace, card, protocol, out_dir: Path):

    default = default_judge(protocol, card)
    if default is None and args.judge is None:
        return None  # rule-based metric
    from vleval.judge.cache import default_cache_dir
    from vleval.judge.client import make_judge

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        judge = make_judge(
            args.judge, default, judge_settings_from(args, cache_dir=default_cache_dir(out_dir)).under(protocol)
        )
    for warning in caught:
        print(f"warning: {warning.message}")
    return judge


def _format_table(table: pd.DataFrame) -> str:
    shown = table if table.shape[1] <= 12 else table.iloc[:, :12]
    text = shown.to_string(index=False, float_format=lambda v: f"{v:.4f}")
    if shown is not table:
        text += f"\n({table.shape[1] - 12} more columns in the csv)"
    return text
