"""Scored synthetic benchmarks for the before/after interval tests (imported by name: conftest puts
this folder on sys.path): every scored benchmark of the registry, under the protocols whose scoring
differs for it, with predictions right on a fixed pattern of rows; judged families use the local
stand-in judge's rule-based answers, in process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import BENCHMARKS
from vleval.datasets.scoring import EvalResult, evaluate
from vleval.families.base import default_judge
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting, right_answer
from vleval.synthetic.scripted_judge import stand_in_judge

# (benchmark, protocol, synthetic questions): enough units for every category to vary, few enough
# that the old per-resample aggregation stays quick; CRPE under both (blocks of 4 in 2026.08 only)
CASES = [
    *[(name, "2024.12", 48) for name in sorted(BENCHMARKS) if BENCHMARKS[name].has_answers],
    ("CRPE_RELATION", "2026.08", 48),
    ("MMVet", "vleval-1", 48),
]


def wrong(k: int) -> bool:
    return ((k // 4) % 3 == 0 and k % 4 == 2) or k % 13 == 3


def case_id(case: tuple[str, str, int]) -> str:
    return f"{case[0]}-{case[1]}"


def score_case(case: tuple[str, str, int], root: Path, is_wrong: Callable[[int], bool] = wrong) -> EvalResult:
    """Rows right except where ``is_wrong(position)``: by default every third block of 4 rows' third row
    and every 13th row (about 84%; some circular blocks and groups wholly right, some not)."""
    name, protocol_name, n = case
    tsv = make_benchmark_tsv(name, root / "data", n=n, seed=11)
    protocol = protocol_accepting(get_protocol(protocol_name), {name: tsv})
    card = BENCHMARKS[name]
    table = load_table(card, protocol, root=root / "data")
    predictions = {
        row["index"]: right_answer(card, row) if not is_wrong(k) else "Z"
        for k, row in enumerate(table.to_dict(orient="records"))
    }
    pred = write_prediction_file(root / "work" / f"M_{name}.xlsx", table, predictions)
    short = default_judge(protocol, card)
    return evaluate(card, protocol, pred, stand_in_judge(short) if short else None, table=table)
