"""``vleval models list`` and ``vleval models download``."""

from __future__ import annotations

import argparse
from pathlib import Path

from vleval.models.download import (
    HF_CACHE_WHERE,
    download_model,
    folder_size,
    hub_cache_dir,
    local_status,
    locate_checkpoint,
    model_dir_default,
)
from vleval.models.registry import MODELS, check_supported, get_model


def register(subparsers: argparse._SubParsersAction) -> None:
    models = subparsers.add_parser(
        "models",
        help="list the InternVL2.5 checkpoints and download them",
        description="The 14 InternVL2.5 checkpoints: what they are, whether they are on disk, how to get them.",
    )
    actions = models.add_subparsers(dest="models_command", metavar="ACTION")
    model_dir_help = "folder holding one sub-folder per model (default: $VLEVAL_MODEL_DIR or ./pretrained)"

    listing = actions.add_parser("list", help="show every model, its metadata and whether it is downloaded")
    listing.add_argument("--model-dir", type=Path, default=None, help=model_dir_help)
    listing.set_defaults(models_func=list_command)

    download = actions.add_parser(
        "download",
        help="download checkpoints from the Hugging Face Hub into <model-dir>/<name> (resumable)",
    )
    download.add_argument("names", nargs="+", metavar="NAME", help="model names, e.g. InternVL2_5-8B")
    download.add_argument("--model-dir", type=Path, default=None, help=model_dir_help)
    download.set_defaults(models_func=download_command)

    # One handler for the group, dispatching on the action: a default set on both the group and an
    # action parser is resolved differently across Python versions.
    models.set_defaults(func=lambda args: _dispatch(args, models))


def _dispatch(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    handler = getattr(args, "models_func", None)
    if handler is None:
        parser.print_help()
        return 0
    return handler(args)


def format_bytes(n_bytes: int) -> str:
    if n_bytes >= 1e9:
        return f"{n_bytes / 1e9:.1f} GB"
    if n_bytes >= 1e6:
        return f"{n_bytes / 1e6:.1f} MB"
    if n_bytes >= 1e3:
        return f"{n_bytes / 1e3:.1f} kB"
    return f"{n_bytes} B"


def models_table(model_dir: Path | None = None) -> str:
    """The ``models list`` text: one row per model, present or not."""
    root = model_dir if model_dir is not None else model_dir_default()
    header = ("MODEL", "LLM", "PARAMS", "DOWNLOAD", "GPUS/TASK", "STATUS", "ON DISK", "FOUND IN")
    rows = [header]
    for card in MODELS.values():
        status = local_status(card, root)
        on_disk = format_bytes(status.size_bytes) if status.state != "missing" else "-"
        rows.append(
            (
                card.name,
                card.llm_family,
                card.params,
                f"{card.download_gb:g} GB",
                str(card.gpus_per_task),
                status.state,
                on_disk,
                "-" if status.state == "missing" else f"{status.where}: {status.path}",
            )
        )
    widths = [max(len(row[col]) for row in rows) for col in range(len(header))]
    lines = [f"Model folder: {root.resolve()}; then the Hugging Face cache: {hub_cache_dir()}"]
    lines += [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def list_command(args: argparse.Namespace) -> int:
    print(models_table(args.model_dir))
    return 0


def download_command(args: argparse.Namespace) -> int:
    cards = [get_model(name) for name in args.names]  # all names checked before any download starts
    for card in cards:
        check_supported(card)  # no point downloading what cannot be evaluated
    for card in cards:
        found, where = locate_checkpoint(card, args.model_dir)
        if where == HF_CACHE_WHERE:  # no second copy: runs use the cached snapshot as it is
            print(f"{card.name}: already in the Hugging Face cache at {found}; vleval uses it from there.")
            continue
        print(f"Downloading {card.repo_id} ({card.download_gb:g} GB) ...", flush=True)
        path = download_model(card, args.model_dir)
        print(f"{card.name}: ready at {path} ({format_bytes(folder_size(path))})")
    return 0
