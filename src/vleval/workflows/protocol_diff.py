"""What a change of rules does to a score, row by row: the same predictions scored under protocol A
and protocol B, and every row whose outcome changed attributed to the rule that changed it.

Method: score under A, under B, and under "A with one differing rule set as B has it" for each rule
that differs (a quirk on/off/fixed, ``Protocol.with_rule_of``; the judge models and judge request
settings together, ``Protocol.with_judges_of``). A rule's delta is its variant's headline minus A's.
A row that changed between A and B is attributed to the one rule whose variant alone gives it B's
outcome; a row that no single rule (or more than one) explains is an interaction, and so is
whatever of the net delta the rules' deltas do not add up to.

Judge answers come only from the judge cache (``vleval.judge.cache``; the cache of the run that
scored the predictions, ``find_judge_cache``): nothing is sent to an API. A request the cache does
not hold reads as a failed judge call and is counted. With ``judge="none"`` no judge is used:
benchmarks that need one are skipped, and rows not decided by the rules are not compared.

Every point of the net change is carried by a listed row: a row whose score changed but which is
not compared on both sides (decided by rule under one protocol and left to the judge under the
other, or a failed judge call on one side) is listed too, as a move ("decided by rule -> left to the
judge"), attributed like any other row to the one rule that moves it.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vleval.console import bar
from vleval.errors import DataMissingError, VlevalError
from vleval.families.base import default_judge, number
from vleval.judge.cache import CACHE_FILE_NAME, JudgeCache, default_cache_dir
from vleval.judge.client import NO_JUDGE_SPECS, OpenAIJudge
from vleval.protocol import JUDGE_FIELDS, JUDGE_MODEL_IDS, QUIRKS, Protocol, Quirk
from vleval.types import JUDGE_FAILURE_TEXT, BenchmarkCard, RowResult
from vleval.workdir import prediction_files_under

DIFF_SCHEMA = 1
JUDGES = "judges"  # the cause key of a change of judge models / judge request settings
INTERACTION = "interaction"
# how a row was decided that the rules alone decide (RowResult.decided_by; 'skipped' rows are the
# circular copies never examined, decided with their group)
RULE_DECIDED = frozenset({"rule", "skipped"})


@dataclass(frozen=True)
class Outcome:
    """A row's outcome: its score (1/0, or the graded value; None when not scored) and how it was
    decided (``RowResult.decided_by``)."""

    score: float | None
    decided_by: str

    @property
    def by_rule(self) -> bool:
        return self.decided_by in RULE_DECIDED


# how a row that is not compared on both sides was decided, for the listing of moves
_MOVE_SIDE = {"failed": "judge call failed"}


def _side(outcome: Outcome) -> str:
    if outcome.by_rule:
        return "decided by rule"
    return _MOVE_SIDE.get(outcome.decided_by, "left to the judge")


@dataclass
class Flip:
    index: str
    before: float | None  # under A
    after: float | None  # under B
    cause: str  # a quirk's value, JUDGES, or INTERACTION
    move: str | None = None  # a row not compared on both sides: "decided by rule -> left to the judge"

    @property
    def direction(self) -> str:
        if self.move is not None:
            return self.move
        labels = {(0.0, 1.0): "wrong -> right", (1.0, 0.0): "right -> wrong"}
        if (self.before, self.after) in labels:
            return labels[(self.before, self.after)]
        return "score up" if (self.after or 0.0) > (self.before or 0.0) else "score down"


@dataclass
class Cause:
    key: str
    label: str
    delta: float | None  # headline points (0-100) of A with this rule as B has it, minus A's
    flips: list[Flip] = field(default_factory=list)

    def summary(self) -> str:
        counts = Counter(f.direction for f in self.flips)
        rows = ", ".join(f"{n} row{'' if n == 1 else 's'} {d}" for d, n in sorted(counts.items())) or "0 rows"
        points = "n/a" if self.delta is None else f"{self.delta:+.2f} points"
        return f"{self.label}: {rows} ({points})"


@dataclass
class BenchmarkDiff:
    dataset: str
    protocol_a: str
    protocol_b: str
    headline_a: float | None  # 0-100
    headline_b: float | None
    causes: list[Cause] = field(default_factory=list)  # rules with an effect, in rule order
    interaction: Cause | None = None  # rows no single rule explains, and the unexplained delta
    no_effect: list[str] = field(default_factory=list)  # differing rules that changed nothing here
    not_compared: int = 0  # rows whose judge call failed, or (judge none) not decided by the rules
    judge_cache_misses: int = 0  # judge requests the cache lacked, over every scoring of the diff
    skipped: str | None = None  # why the benchmark was not compared

    @property
    def net(self) -> float | None:
        if self.headline_a is None or self.headline_b is None:
            return None
        return self.headline_b - self.headline_a

    @property
    def flips(self) -> list[Flip]:
        return [f for c in [*self.causes, *([self.interaction] if self.interaction else [])] for f in c.flips]


# --------------------------------------------------------------------------------------------------
# rules that differ between two protocols
# --------------------------------------------------------------------------------------------------
def differing_quirks(a: Protocol, b: Protocol) -> list[Quirk]:
    """Quirks set differently (on, off, fixed) in ``a`` and ``b``, in the quirk list's order."""
    return [q for q in Quirk if (a.has(q), a.fixes(q)) != (b.has(q), b.fixes(q))]


def judges_differ(a: Protocol, b: Protocol) -> bool:
    return any(getattr(a, name) != getattr(b, name) for name in JUDGE_FIELDS)


def single_rule_variants(
    card: BenchmarkCard, a: Protocol, b: Protocol, *, judge: str | None = None
) -> dict[str, Protocol]:
    """Cause key -> ``a`` with that one rule as ``b`` has it, for the rules that differ and act on
    ``card``'s scoring (the judge models only when each protocol uses its own judge)."""
    variants = {
        q.value: a.with_rule_of(b, q) for q in differing_quirks(a, b) if QUIRKS[q].acts_on(card.family)
    }
    if judge is None and judges_differ(a, b) and (default_judge(a, card) or default_judge(b, card)):
        variants[JUDGES] = a.with_judges_of(b)
    return variants


def cause_label(key: str) -> str:
    if key == JUDGES:
        return "judge models"
    if key == INTERACTION:
        return "interaction (no single rule)"
    return QUIRKS[Quirk(key)].label


# --------------------------------------------------------------------------------------------------
# judges that answer from the cache only
# --------------------------------------------------------------------------------------------------
class CacheOnlyJudge(OpenAIJudge):
    """The judge client with its cache and no API: a request the cache lacks reads as a failed call
    (``JUDGE_FAILURE_TEXT``) and is counted in ``misses``."""

    def __init__(self, model: str, short_name: str, cache: JudgeCache) -> None:
        super().__init__(model, short_name=short_name, base_url="http://judge-cache.invalid/v1", cache=cache)
        self.misses = 0

    def _ask_uncached(self, todo: dict[str, dict[str, Any]]) -> dict[str, str]:
        self.misses += len(todo)
        return dict.fromkeys(todo, JUDGE_FAILURE_TEXT)

    def close(self) -> None:  # the cache is shared by every variant; closed by its owner
        pass


def judge_model_id(short_or_id: str) -> str:
    return JUDGE_MODEL_IDS.get(short_or_id, short_or_id)


# --------------------------------------------------------------------------------------------------
# scoring one variant
# --------------------------------------------------------------------------------------------------
@dataclass
class _Scored:
    headline: float | None
    rows: dict[str, Outcome]
    misses: int


def _score(
    card: BenchmarkCard,
    protocol: Protocol,
    pred_file: Path,
    judge_spec: str | None,
    cache: JudgeCache | None,
    data_dir: Path | None,
    verify_md5: bool = True,
) -> _Scored:
    from vleval.datasets.scoring import evaluate

    short = judge_spec if judge_spec is not None else default_judge(protocol, card)
    judge = None
    if short is not None and short.lower() not in NO_JUDGE_SPECS and cache is not None:
        judge = CacheOnlyJudge(judge_model_id(short), short, cache)
    with tempfile.TemporaryDirectory(prefix="vleval-diff-") as out_dir:
        result = evaluate(
            card, protocol, pred_file, judge, out_dir=Path(out_dir), data_dir=data_dir, verify_md5=verify_md5
        )
    return _Scored(number(result.record.headline), _outcomes(result.rows), judge.misses if judge else 0)


def _outcomes(rows: Sequence[RowResult]) -> dict[str, Outcome]:
    """Outcome per row index, from the rows scoring returned."""
    return {str(r.index): Outcome(number(r.score), r.decided_by) for r in rows}


# --------------------------------------------------------------------------------------------------
# the diff
# --------------------------------------------------------------------------------------------------
def diff_benchmark(
    card: BenchmarkCard,
    pred_file: Path,
    a: Protocol,
    b: Protocol,
    *,
    judge: str | None = None,
    cache_dir: Path | None = None,
    data_dir: Path | None = None,
    verify_md5: bool = True,
) -> BenchmarkDiff:
    """Score ``pred_file`` under ``a``, ``b`` and ``a`` with each differing rule set as in ``b``.

    ``judge``: None = each protocol's own judge for the benchmark (answers from ``cache_dir``); a
    short name or model id = that judge under both; 'none' = rules only. ``verify_md5``: False
    accepts benchmark files whose md5 is not the protocol's (``--skip-md5-check``)."""
    no_judge = judge is not None and judge.lower() in NO_JUDGE_SPECS
    diff = BenchmarkDiff(card.name, a.name, b.name, None, None)
    needs_cache = not no_judge and bool(judge or default_judge(a, card) or default_judge(b, card))
    if needs_cache and (cache_dir is None or not (Path(cache_dir) / CACHE_FILE_NAME).is_file()):
        raise DataMissingError(
            f"{card.name}: no judge cache at {cache_dir} (diff-protocols reads judge answers only from "
            f"the cache; it looks beside the prediction file and in the run's work dir). Score the "
            f"predictions with `vleval eval` under both protocols first, pass "
            f"--judge-cache DIR, or --judge none to compare only the rows the rules decide."
        )
    cache = JudgeCache(cache_dir) if needs_cache and cache_dir is not None else None
    try:
        diff.no_effect = [
            f"{QUIRKS[q].label} (acts before scoring)"
            for q in differing_quirks(a, b)
            if QUIRKS[q].stage != "scoring"
        ]
        try:
            base = _score(card, a, pred_file, judge, cache, data_dir, verify_md5)
            other = _score(card, b, pred_file, judge, cache, data_dir, verify_md5)
        except VlevalError as exc:
            if not no_judge:
                raise
            diff.skipped = str(exc).split(". ")[0] + "."
            return diff
        diff.headline_a, diff.headline_b = base.headline, other.headline
        diff.judge_cache_misses = base.misses + other.misses
        variants = {
            key: _score(card, variant, pred_file, judge, cache, data_dir, verify_md5)
            for key, variant in bar(
                single_rule_variants(card, a, b, judge=judge).items(), desc=f"{card.name}: rules", unit="rule"
            )
        }
        _attribute(diff, base, other, variants, rules_only=no_judge)
    finally:
        if cache is not None:
            cache.close()
    return diff


def _attribute(
    diff: BenchmarkDiff, base: _Scored, other: _Scored, variants: dict[str, _Scored], *, rules_only: bool
) -> None:
    def comparable(outcome: Outcome) -> bool:
        # a failed judge call decided nothing; with rules only, neither did a judge or a fallback
        return outcome.decided_by != "failed" and (outcome.by_rule or not rules_only)

    compared = [
        i for i in base.rows if i in other.rows and comparable(base.rows[i]) and comparable(other.rows[i])
    ]
    diff.not_compared = len(set(base.rows) | set(other.rows)) - len(compared)
    compared_set = set(compared)
    # rows not compared whose score or way of deciding changed: they carry points of the net change
    moved = [
        i
        for i in base.rows
        if i in other.rows
        and i not in compared_set
        and (base.rows[i].score != other.rows[i].score or _side(base.rows[i]) != _side(other.rows[i]))
    ]
    causes = {
        key: Cause(key, cause_label(key), _delta(v.headline, base.headline)) for key, v in variants.items()
    }
    interaction = Cause(INTERACTION, cause_label(INTERACTION), None)
    for index in sorted(compared, key=_index_order):
        before, after = base.rows[index].score, other.rows[index].score
        # a row not scored on one side (an MMBench rotation never examined after its question failed)
        # did not change its outcome; the rotation whose reading changed is the one listed
        if before == after or before is None or after is None:
            continue
        explaining = [k for k, v in variants.items() if index in v.rows and v.rows[index].score == after]
        key = explaining[0] if len(explaining) == 1 else INTERACTION
        (causes[key] if key != INTERACTION else interaction).flips.append(Flip(index, before, after, key))
    for index in sorted(moved, key=_index_order):
        was, now = base.rows[index], other.rows[index]
        explaining = [
            k
            for k, v in variants.items()
            if index in v.rows and v.rows[index].score == now.score and _side(v.rows[index]) == _side(now)
        ]
        key = explaining[0] if len(explaining) == 1 else INTERACTION
        move = f"{_side(was)} -> {_side(now)}"
        if _side(was) == _side(now):  # both sides left to the judge or failed: the score still moved
            move = f"{_side(now)} (score changed)"
        flip = Flip(index, was.score, now.score, key, move=move)
        (causes[key] if key != INTERACTION else interaction).flips.append(flip)
    diff.judge_cache_misses += sum(v.misses for v in variants.values())
    diff.causes = [c for c in causes.values() if c.flips or (c.delta or 0.0) != 0.0]
    diff.no_effect += [c.label for c in causes.values() if c not in diff.causes]
    net = diff.net
    if net is not None and all(c.delta is not None for c in diff.causes):
        interaction.delta = net - sum(c.delta or 0.0 for c in diff.causes)
    if interaction.flips or (interaction.delta is not None and abs(interaction.delta) > 1e-9):
        diff.interaction = interaction


def _delta(value: float | None, base: float | None) -> float | None:
    return None if value is None or base is None else value - base


def _index_order(index: str) -> tuple[int, float, str]:
    try:
        return (0, float(index), index)
    except ValueError:
        return (1, 0.0, index)


# --------------------------------------------------------------------------------------------------
# finding prediction files, and the report
# --------------------------------------------------------------------------------------------------
def find_judge_cache(pred_file: Path, work_dir: Path | None = None) -> Path:
    """The judge cache that scored ``pred_file``: ``vleval run`` keeps it in its work dir
    (``<work-dir>/.judge_cache``, the predictions in ``<work-dir>/<MODEL>/``), ``vleval eval`` beside
    the prediction file. The first of these (``work_dir``'s first when given) that holds a cache;
    when none does, the run's place (for the error message)."""
    pred_dir = Path(pred_file).parent
    places = [Path(work_dir)] if work_dir is not None else []
    places += [pred_dir, pred_dir.parent]
    for place in places:
        if (default_cache_dir(place) / CACHE_FILE_NAME).is_file():
            return default_cache_dir(place)
    return default_cache_dir(places[0] if work_dir is not None else pred_dir.parent)


def prediction_files(work_dir: Path) -> list[tuple[BenchmarkCard, Path]]:
    """The prediction files under ``work_dir`` with their benchmarks (``vleval.workdir``)."""
    return prediction_files_under(work_dir)


def format_diff(diffs: Iterable[BenchmarkDiff], *, max_rows: int = 20) -> str:
    lines: list[str] = []
    for d in diffs:
        lines.append(f"{d.dataset}  protocol {d.protocol_a} -> {d.protocol_b}")
        if d.skipped:
            lines.append(f"  not compared: {d.skipped}")
            lines.append("")
            continue
        net = "n/a" if d.net is None else f"{d.net:+.2f}"
        lines.append(f"  headline {_fmt(d.headline_a)} -> {_fmt(d.headline_b)} (net {net} points)")
        for cause in [*d.causes, *([d.interaction] if d.interaction else [])]:
            lines.append(f"  {cause.summary()}")
            for flip in cause.flips[:max_rows]:
                lines.append(
                    f"    row {flip.index}: {flip.direction} ({_fmt(flip.before)} -> {_fmt(flip.after)})"
                )
            if len(cause.flips) > max_rows:
                lines.append(f"    ... {len(cause.flips) - max_rows} more (--json lists every row)")
        if not d.causes and not d.interaction:
            lines.append("  no row changed")
        if d.no_effect:
            lines.append(f"  no effect here: {', '.join(d.no_effect)}")
        if d.not_compared:
            lines.append(
                f"  not compared: {d.not_compared} row(s) (judge call failed, or --judge none and not decided "
                "by rule; those whose score or way of deciding changed are listed above)"
            )
        if d.judge_cache_misses:
            lines.append(
                f"  judge cache: {d.judge_cache_misses} request(s) not in the cache, read as failed judge calls"
            )
        lines.append("")
    return "\n".join(lines)


def diff_file_name(protocol_a: str, protocol_b: str) -> str:
    """Where ``diff-protocols --work-dir`` leaves its diff for ``vleval report``."""
    return f"protocol_diff_{protocol_a}_vs_{protocol_b}.json"


def diff_as_json(protocol_a: str, protocol_b: str, diffs: Iterable[BenchmarkDiff]) -> dict[str, Any]:
    """The diff as JSON (``schema`` 1): per benchmark the headlines, net, and each cause's summary,
    points and flipped rows."""
    benchmarks = []
    for d in diffs:
        causes = [*d.causes, *([d.interaction] if d.interaction else [])]
        benchmarks.append(
            {
                "dataset": d.dataset,
                "headline_a": d.headline_a,
                "headline_b": d.headline_b,
                "net": d.net,
                "causes": [
                    {
                        "key": c.key,
                        "label": c.label,
                        "summary": c.summary(),
                        "delta": c.delta,
                        "rows": [
                            {
                                "index": f.index,
                                "before": f.before,
                                "after": f.after,
                                "direction": f.direction,
                                "move": f.move,
                            }
                            for f in c.flips
                        ],
                    }
                    for c in causes
                ],
                "no_effect": d.no_effect,
                "not_compared": d.not_compared,
                "judge_cache_misses": d.judge_cache_misses,
                "skipped": d.skipped,
            }
        )
    return {
        "schema": DIFF_SCHEMA,
        "protocol_a": protocol_a,
        "protocol_b": protocol_b,
        "benchmarks": benchmarks,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"
