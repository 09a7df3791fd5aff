"""The benchmarks vleval evaluates: the cards every family declares (``vleval.families``), by name.

Each family module states its cards' sources (URL, md5, prompt style, tile budget).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from vleval.errors import VlevalError
from vleval.families.base import all_families
from vleval.types import BenchmarkCard

# every discovered family's cards, in discovery order (the order `vleval data list` prints)
BENCHMARKS: dict[str, BenchmarkCard] = {
    card.name: card for family in all_families().values() for card in family.cards()
}


def get_benchmark(name: str) -> BenchmarkCard:
    """The card registered under ``name`` (exact VLMEvalKit spelling); a VlevalError lists the known
    names and suggests close matches otherwise."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        pass
    by_lower = {key.lower(): key for key in BENCHMARKS}
    if name.lower() in by_lower:
        return BENCHMARKS[by_lower[name.lower()]]
    close = difflib.get_close_matches(name, list(BENCHMARKS), n=3, cutoff=0.5)
    hint = f" Did you mean {' or '.join(close)}?" if close else ""
    raise VlevalError(f"unknown benchmark {name!r}.{hint} Known benchmarks: {', '.join(BENCHMARKS)}.")


def benchmark_of_file(path: Path | str) -> BenchmarkCard | None:
    """The benchmark a ``<MODEL>_<DATASET>.xlsx|.tsv`` prediction file is named after (the longest
    registered name the stem ends with, so MMBench_DEV_EN_V11 is not read as a shorter name), or None."""
    stem = Path(path).stem
    for name in sorted(BENCHMARKS, key=len, reverse=True):
        if stem.endswith(f"_{name}"):
            return BENCHMARKS[name]
    return None


def benchmark_names() -> list[str]:
    """Registered names in registry order (the order `vleval data list` prints)."""
    return list(BENCHMARKS)
