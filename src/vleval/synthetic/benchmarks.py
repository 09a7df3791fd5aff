"""Synthetic benchmark TSVs in the reference format, for every registered benchmark.

One factory for tests, ``vleval demo`` and benches: ``make_benchmark_tsv(name, root, n, seed)`` writes
``{root}/{name}.tsv`` with the columns the reference reads for that benchmark (docs/
benchmark-protocol.md), PIL-drawn images of varied size and mode (tiny, wide, tall; RGB/RGBA/P/LA; PNG and
JPEG) and rows that point at another row's image by index. Same (name, n, seed) -> same bytes.

The rows are the benchmark's family's (``BenchmarkFamily.synthetic_rows``, built from the shared pieces
in ``vleval.synthetic.rows``); this module seeds them, writes them and makes a protocol accept them.
``n`` is the number of distinct questions: MMBench writes one row per option rotation of each
question (indices offset by 1,000,000 per rotation), CRPE writes 4 rows per question.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from vleval.errors import VlevalError
from vleval.protocol import Protocol
from vleval.synthetic.rows import Row
from vleval.types import BenchmarkCard


def benchmark_rows(name: str, n: int = 8, seed: int = 0) -> list[Row]:
    """The synthetic rows of benchmark ``name`` (before writing), from its family's builder seeded by
    (name, seed)."""
    from vleval.datasets.registry import BENCHMARKS
    from vleval.families.base import family_of

    card = BENCHMARKS.get(name)
    if card is None:
        raise VlevalError(f"no synthetic builder for {name!r}; known: {', '.join(BENCHMARKS)}")
    if n < 1:
        raise VlevalError(f"n must be at least 1, got {n}")
    return family_of(card).synthetic_rows(card, random.Random(f"{name}:{seed}"), n)


def make_benchmark_tsv(name: str, root: Path | str, n: int = 8, seed: int = 0) -> Path:
    """Write ``{root}/{name}.tsv`` in the reference format; deterministic given (name, n, seed)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.tsv"
    pd.DataFrame(benchmark_rows(name, n, seed)).to_csv(path, sep="\t", index=False, lineterminator="\n")
    return path


def make_benchmark_tsvs(names: Iterable[str], root: Path | str, n: int = 8, seed: int = 0) -> dict[str, Path]:
    return {name: make_benchmark_tsv(name, root, n, seed) for name in names}


def protocol_accepting(protocol: Protocol, files: dict[str, Path]) -> Protocol:
    """``protocol`` with md5 overrides for these synthetic files, so the md5-checked paths
    (``require_tsv``, ``data list``) accept them; the registry itself is untouched."""
    from vleval.datasets.files import md5_of_file

    overrides = dict(protocol.md5_overrides)
    overrides.update({name: md5_of_file(Path(path)) for name, path in files.items()})
    return dataclasses.replace(protocol, name=f"{protocol.name}+synthetic", md5_overrides=overrides)


def right_answer(card: BenchmarkCard | str, row: dict) -> str:
    """A prediction the reference's rules read as right for a synthetic ``row`` of benchmark ``card``
    (tests and benches that need predictions of a known accuracy): its family's ``right_answer``."""
    from vleval.datasets.registry import get_benchmark
    from vleval.families.base import family_of

    card = get_benchmark(card) if isinstance(card, str) else card
    return family_of(card).right_answer(card, row)
