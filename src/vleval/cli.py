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
from vleval.console import NO_PROGRESS_DEST, progress_scope
from vleval.errors import VlevalError

# (module, what it adds) in the order --help lists them
COMMAND_MODULES = (
    "vleval.runner.commands",  # run, slurm
    "vleval.datasets.commands",  # data list/download
    "vleval.workflows.eval_commands",  # eval
    "vleval.workflows.diff_commands",  # diff-protocols
    "vleval.models.commands",  # models list/download
    "vleval.report.commands",  # report, demo
    "vleval.report.export_commands",  # export (results.json, parquet)
    "vleval.workflows.compare_commands",  # compare
    "vleval.workflows.judge_commands",  # judge-audit
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
        # progress bars and phase lines: only on a terminal, never under the command's --no-progress
        with progress_scope(getattr(args, NO_PROGRESS_DEST, True)):
            return int(args.func(args) or 0)
    except VlevalError as exc:
        from vleval.transport import scrub  # here: only an error needs the HTTP stack's import time

        # the last guard: a message quoting a URL or a key says it without the credentials
        print(f"vleval: error: {scrub(str(exc))}", file=sys.stderr)
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


# A path that cannot be what the command needs there (a file where a folder goes, a folder where a file
# goes, a name too long): said in one line naming the path; the user picks another path or moves the thing.
_PATH_ERRORS = {
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, where a file is needed",
    errno.EEXIST: "something is already there (a file where a folder is needed?)",
    errno.ENAMETOOLONG: "a name in the path is longer than the file system allows (255 bytes)",
    errno.ELOOP: "the path runs into a symlink loop",
    errno.ENOENT: "no such file or folder",
}


def disk_error_message(exc: OSError) -> str | None:
    """One line for a full, read-only or forbidden folder, or a path that cannot be used (every command:
    run, eval, report, ...); None for other errors. Writes are atomic or append-only, so what was
    written before stays."""
    what = _DISK_ERRORS.get(exc.errno or 0)
    if what is None:
        return _path_error_message(exc)
    path = exc.filename or "a file of the work dir"
    return (
        f"cannot write {os.fsdecode(path)}: {what} ({exc.strerror}). Nothing already written was lost: "
        "free space or fix the folder's permissions, then run the same command again to continue."
    )



def _path_error_message(exc: OSError) -> str | None:
    what = _PATH_ERRORS.get(exc.errno or 0)
    if what is None or exc.filename is None:  # no path to name: an error of vleval itself, kept visible
        return None
    path = os.fsdecode(exc.filename)
    if len(path) > 200:  # a name over 255 bytes is the error itself: show its start and its length
        path = f"{path[:120]}... ({len(path)} characters)"
    return (
        f"cannot use {path}: {what} ({exc.strerror}). Choose another path (--work-dir, --out, --data-dir, "
        "...) or move what is in the way, then run the same command again."
    )


if __name__ == "__main__":
    sys.exit(main())
