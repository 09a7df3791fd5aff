"""The `vleval` command. Subcommands only parse arguments and delegate to their package.

Each package that owns commands exposes ``register(subparsers)`` in its ``commands`` module; this file
only collects them, so adding a command never means editing another package.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from vleval import __version__
from vleval.errors import VlevalError

# (module, what it adds) in the order --help lists them
COMMAND_MODULES = (
    "vleval.runner.commands",  # run, slurm
    "vleval.datasets.commands",  # data list/download
    "vleval.datasets.eval_commands",  # eval
    "vleval.datasets.diff_commands",  # diff-protocols
    "vleval.models.commands",  # models list/download
    "vleval.report.commands",  # report, demo
    "vleval.report.export_commands",  # export (results.json, parquet)
    "vleval.stats.commands",  # compare
    "vleval.judge.commands",  # judge-audit
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vleval",
        description=(
            "Evaluate InternVL2.5 checkpoints on multimodal benchmarks and reproduce the published "
            "numbers (VLMEvalKit protocol). Start with `vleval demo`."
        ),
    )
    parser.add_argument("--version", action="version", version=f"vleval {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:  # a package still being built: skip its commands
            if exc.name == module_name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        from vleval.envfile import ENV_FILE, load_env_file

        loaded = load_env_file()
        if loaded:  # the names only: a value never reaches any output
            print(f"vleval: read {', '.join(loaded)} from ./{ENV_FILE}", file=sys.stderr)
        return int(args.func(args) or 0)
    except VlevalError as exc:
        print(f"vleval: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        message = disk_error_message(exc)
        if message is None:
            raise
        print(f"vleval: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "vleval: interrupted; run the same command again to continue where it stopped.", file=sys.stderr
        )
        return 130


# Errors of the disk or folder rather than of vleval: said in one line, never as a traceback.
_DISK_ERRORS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EFBIG: "the file is too large for this file system",
}


def disk_error_message(exc: OSError) -> str | None:
    """One line for a full, read-only or forbidden folder (every command: run, eval, report, ...);
    None for other errors. Writes are atomic or append-only, so what was written before stays."""
    what = _DISK_ERRORS.get(exc.errno or 0)
    if what is None:
        return None
    path = exc.filename or "a file of the work dir"
    return (
        f"cannot write {os.fsdecode(path)}: {what} ({exc.strerror}). Nothing already written was lost: "
        "free space or fix the folder's permissions, then run the same command again to continue."
    )


if __name__ == "__main__":
    sys.exit(main())
