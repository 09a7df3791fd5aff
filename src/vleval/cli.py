"""The `vleval` command. Subcommands only parse arguments and delegate to their package.

Each package that owns commands exposes ``register(subparsers)`` in its ``commands`` module; this file
only collects them, so adding a command never means editing another package.
"""

from __future__ import annotations

import argparse
import importlib
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
        return int(args.func(args) or 0)
    except VlevalError as exc:
        print(f"vleval: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "vleval: interrupted; run the same command again to continue where it stopped.", file=sys.stderr
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
