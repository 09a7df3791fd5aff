"""`vleval data list` and `vleval data download`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vleval.datasets.files import data_root, download, file_state, protocols_pinning
from vleval.datasets.registry import BENCHMARKS, get_benchmark
from vleval.errors import VlevalError
from vleval.protocol import DEFAULT_PROTOCOL, PROTOCOLS, get_protocol

_STATE_LABELS = {"present": "present", "missing": "missing", "md5_mismatch": "md5 mismatch"}


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser(
        "data",
        help="list and download benchmark files",
        description=(
            "Benchmark files live in $LMUData (if set and existing) or ~/LMUData as <NAME>.tsv, the "
            "layout VLMEvalKit uses, so existing downloads are reused."
        ),
    )
    actions = data.add_subparsers(dest="data_command", metavar="ACTION")

    def show_help(_: argparse.Namespace) -> int:
        data.print_help()
        return 0

    data.set_defaults(func=show_help)

    listing = actions.add_parser(
        "list",
        help="show every benchmark with its state (present / missing / md5 mismatch) and size",
        description="Show every registered benchmark: task type, file state, size and path.",
    )
    _common_options(listing)
    listing.set_defaults(func=run_list)

    fetch = actions.add_parser(
        "download",
        help="download benchmark files (resumable, md5-verified)",
        description=(
            "Download benchmark TSVs with a progress bar. An interrupted download resumes from its "
            ".part file; the file is kept only if its md5 matches the protocol's, and replaces any "
            "existing file atomically. Files already present with the right md5 are skipped."
        ),
    )
    fetch.add_argument(
        "names",
        nargs="+",
        metavar="NAME",
        help=f"benchmark names, or 'all'. Known: {', '.join(BENCHMARKS)}",
    )
    _common_options(fetch)
    fetch.add_argument("--quiet", action="store_true", help="no progress bar")
    fetch.set_defaults(func=run_download)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--protocol",
        default=DEFAULT_PROTOCOL,
        choices=list(PROTOCOLS),
        help=f"which pinned md5s to check against (default {DEFAULT_PROTOCOL})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data directory (default: $LMUData if it exists, else ~/LMUData)",
    )


def _human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def run_list(args: argparse.Namespace) -> int:
    protocol = get_protocol(args.protocol)
    root = args.data_dir or data_root()
    rows = [("NAME", "TASK", "STATE", "SIZE", "PATH")]
    for card in BENCHMARKS.values():
        state = file_state(card, protocol, root)
        label = _STATE_LABELS[state.state]
        if state.state == "md5_mismatch" and (pinned_by := protocols_pinning(card, state.md5 or "")):
            label += f" ({'/'.join(pinned_by)} file)"
        rows.append((card.name, card.task_type, label, _human_size(state.size), str(state.path)))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
        )
    print(
        f"\ndata directory: {root} (protocol {protocol.name}); fetch files with `vleval data download NAME`"
    )
    return 0


def run_download(args: argparse.Namespace) -> int:
    protocol = get_protocol(args.protocol)
    root = args.data_dir or data_root()
    names = list(BENCHMARKS) if any(n.lower() == "all" for n in args.names) else args.names
    cards = [get_benchmark(name) for name in names]  # unknown names fail before any download
    failures: list[str] = []
    for card in cards:
        before = file_state(card, protocol, root)
        if before.state == "present":
            print(f"{card.name}: already present ({before.path})")
            continue
        try:
            path = download(card, protocol, root, progress=not args.quiet)
        except VlevalError as exc:
            failures.append(str(exc))
            print(f"{card.name}: failed", file=sys.stderr)
            continue
        note = " (replaced the file whose md5 did not match)" if before.state == "md5_mismatch" else ""
        print(f"{card.name}: downloaded to {path}{note}")
    if failures:
        raise VlevalError(" ".join(failures) if len(failures) == 1 else "\n".join(failures))
    return 0
