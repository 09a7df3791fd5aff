"""Option-order consistency of a circular benchmark (MMBench's CircularEval, Liu et al., "MMBench: Is
Your Multi-modal Model an All-around Player?", ECCV 2024): a question is asked once per rotation of its
options, and it counts only when every rotation is right. The consistency figure says how often a
model that gets a question right in one rotation gets it right in all of them.

The protocol examines a question's rotations in order and stops at the first wrong one (the
reference's ``eval_circular_group``), so what the rows show is, per question, the rotations up to and
including the first wrong one. Hence the figure is

    consistency = questions right in every rotation / questions right in at least one examined rotation

and a question wrong at its first examined rotation, whose later rotations were never examined, is
not counted (its other rotations are unknown). Its interval is the exact binomial (Clopper-Pearson)
interval over questions, each question one independent unit. No judge request is added: the figure
reads only the rows the protocol's own scoring produced.
"""

from __future__ import annotations

from collections.abc import Sequence

from vleval.stats.core import clopper_pearson
from vleval.types import Interval, RotationConsistency, RowResult


def rotation_consistency(rows: Sequence[RowResult]) -> RotationConsistency | None:
    """The consistency figure of a circular benchmark's rows (module doc); None when no question has
    more than one rotation or none was right in any examined rotation."""
    by_question: dict[str, list[RowResult]] = {}
    for row in rows:
        by_question.setdefault(str(row.unit), []).append(row)
    rotated = [members for members in by_question.values() if len(members) > 1]
    some_right = [m for m in rotated if any(r.score == 1.0 for r in m)]
    if not some_right:
        return None
    all_right = sum(1 for m in some_right if all(r.score == 1.0 for r in m))
    exact = clopper_pearson(all_right, len(some_right))
    return RotationConsistency(
        value=100.0 * all_right / len(some_right),
        consistent=all_right,
        right_somewhere=len(some_right),
        questions=len(rotated),
        interval=Interval(
            exact.low,
            exact.high,
            f"exact binomial (Clopper-Pearson) over {len(some_right)} questions right in at least one "
            "examined rotation",
        ),
    )
