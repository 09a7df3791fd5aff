"""The contract every benchmark family keeps (one test suite run against each discovered family and
card, like shared model tests): it is discovered (in this package or through an entry point), its
cards resolve, extraction is pure, aggregating its rows gives its headline, the one writer produces
the reference's file names, vleval's files round-trip through the typed records, the family's reader
of the reference's own files finds the same headline (runs made with VLMEvalKit); a judged family
declares the judge profile its dry-run bill is computed from, and the bill matches the calls scoring
makes; its synthetic rows load, its right answers score full marks, and its stand-in judge rule
answers every prompt its scoring sends.

Data: synthetic benchmark files (``vleval.synthetic``), half the rows answered right; the judge is the
local stand-in's rule-based answers, in process."""

from __future__ import annotations

import collections
import copy
import dataclasses
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from vleval.datasets.loading import load_table
from vleval.datasets.predictions import prediction_texts, read_prediction_file, write_prediction_file
from vleval.datasets.registry import BENCHMARKS
from vleval.datasets.results import plain, read_rows, read_score, score_record_path
from vleval.datasets.scoring import evaluate, judge_prompt
from vleval.errors import VlevalError
from vleval.families.base import (
    HEADLINE,
    BenchmarkFamily,
    all_families,
    default_judge,
    family_modules,
    family_of,
)
from vleval.protocol import JUDGE_MODEL_IDS, PROTOCOLS, get_protocol
from vleval.stats.metrics import Metric
from vleval.stats.scores import category_key
from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting, right_answer
from vleval.synthetic.judge_server import rule_based_answer
from vleval.synthetic.scripted_judge import ScriptedJudge, stand_in_judge
from vleval.types import JUDGE_FAILURE_TEXT, JudgeProfile
from vleval.workflows.bill import CHARS_PER_TOKEN, dry_run_bill, estimate_bill

SCORED = sorted(name for name, card in BENCHMARKS.items() if card.has_answers)
FAMILIES = all_families()
JUDGED = [name for name in SCORED if family_of(name).judge_profile is not None]


@pytest.fixture(scope="module", params=[(n, p) for n in SCORED for p in PROTOCOLS], ids=lambda p: "-".join(p))
def scored(request, tmp_path_factory):
    """(card, protocol, judge, table, prediction file, result) per benchmark and pinned protocol."""
    name, protocol_name = request.param
    root = tmp_path_factory.mktemp(name)
    tsv = make_benchmark_tsv(name, root / "data", n=8, seed=3)
    protocol = protocol_accepting(get_protocol(protocol_name), {name: tsv})
    card = BENCHMARKS[name]
    table = load_table(card, protocol, root=root / "data")
    predictions = {
        row["index"]: right_answer(card, row) if k % 2 == 0 else "Z"
        for k, row in enumerate(table.to_dict(orient="records"))
    }
    pred = write_prediction_file(root / "work" / f"M_{name}.xlsx", table, predictions)
    short = family_of(card).default_judge(protocol, card)
    judge = stand_in_judge(short) if short else None
    result = evaluate(card, protocol, pred, judge, table=table)
    return card, protocol, judge, table, pred, result


def test_every_card_has_a_family_and_every_family_cards():
    from vleval.families.base import default_judge

    families = all_families()
    assert sorted(families) == sorted(module.rsplit(".", 1)[1] for module in family_modules())
    for card in BENCHMARKS.values():
        assert family_of(card) is families[card.family] is family_of(card.name)
    for family in families.values():
        assert family.cards(), family
        assert {card.family for card in family.cards()} == {family.name}, family  # no card of another
        if family.judge_required:
            assert family.judge_role is not None, family
        for protocol in PROTOCOLS.values():
            for card in family.cards():
                judge = family.default_judge(protocol, card)
                assert judge == default_judge(protocol, card)  # the helper the other modules call
                assert (judge is None) == (family.judge_role is None)
                assert judge is None or judge in JUDGE_MODEL_IDS


def test_extraction_is_pure(scored, tmp_path):
    """Scoring the same table twice gives the same rows and leaves the table untouched."""
    card, protocol, judge, table, pred, result = scored
    data = read_prediction_file(pred, table)
    data["prediction"] = prediction_texts(data, protocol)
    before = copy.deepcopy(data)
    family = family_of(card)
    judge_again = stand_in_judge(judge.short_name) if judge else None
    first = family.score(data, card, protocol, judge_again, seed=0)
    second = family.score(data, card, protocol, judge_again, seed=0)
    pd.testing.assert_frame_equal(data, before)
    assert plain(first.rows) == plain(second.rows) == plain(result.rows)
    assert first.headline == pytest.approx(result.record.headline, nan_ok=True)


def test_aggregating_the_rows_gives_the_headline(scored):
    card, _, _, _, _, result = scored
    family = family_of(card)
    headline = result.record.headline
    assert headline is not None and 0 <= headline <= 100
    assert family.aggregate(result.rows)[HEADLINE] == pytest.approx(headline)
    assert result.rows and all(row.unit for row in result.rows)
    if not family.metric.graded:  # half the rows answered right: both kinds are there to aggregate
        assert {row.score for row in result.rows if row.score is not None} == {0.0, 1.0}


def test_the_writer_produces_the_reference_file_names(scored):
    card, _, judge, _, pred, result = scored
    family = family_of(card)
    expected = [f"{pred.stem}{suffix}" for suffix in family.reference_files(card, judge and judge.short_name)]
    assert result.record.reference_files == expected
    names = [p.name for p in result.files]
    vleval_json = "_vleval.json" if "_score.json" in family.reference_files(card, None) else "_score.json"
    assert names == [*expected, f"{pred.stem}{vleval_json}", f"{pred.stem}_rows.jsonl"]
    assert all(p.is_file() for p in result.files)


def test_score_and_rows_round_trip_through_the_typed_records(scored):
    _, _, _, _, pred, result = scored
    stem = pred.with_suffix("")
    path = score_record_path(stem)
    assert path is not None and path in result.files
    assert plain(read_score(path)) == plain(result.record)
    assert plain(read_rows(stem.with_name(stem.name + "_rows.jsonl"))) == plain(result.rows)
    counts = result.record.counts
    assert (
        counts.total
        == len(result.rows)
        == sum(getattr(counts, k) for k in ("rule", "judge", "fallback", "failed", "unparsed", "skipped"))
    )
    assert result.record.complete and not result.record.partial


def test_the_reference_files_alone_give_the_same_headline(scored):
    """A run made with VLMEvalKit has only these files: the report reads the same number from them."""
    card, _, judge, _, pred, result = scored
    from_reference = family_of(card).read_reference(pred.with_suffix(""), judge.model if judge else None)
    assert from_reference is not None
    assert from_reference.headline == pytest.approx(result.record.headline)
    assert from_reference.categories.keys() == result.record.categories.keys()
    for key, value in result.record.categories.items():
        assert math.isclose(from_reference.categories[key], value, rel_tol=1e-9), key


def test_each_reported_category_gets_its_interval(scored):
    """Every per-category value is recomputed from that category's rows (the family's category sums
    give it too) and gets a bootstrap interval around it; only a category with no rows here (an OCRBench group missing from 8 rows) has none."""
    card, protocol, _, _, _, result = scored
    family = family_of(card)
    by_category = family.category_rows(result.rows)
    for name, value in result.record.categories.items():
        members = by_category.get(name)
        if not members:
            assert category_key(name) not in result.record.intervals
            continue
        assert family.category_value(members, protocol) == pytest.approx(value), name
        interval = result.record.intervals[category_key(name)]
        assert interval.low - 1e-9 <= value <= interval.high + 1e-9, name
        # exact where the category counts right units, else its units within each headline resample
        assert interval.method.endswith(f"category {name!r}") or interval.method.endswith(
            f"category {name!r}: its units within each resample"
        )
        assert interval.low < interval.high, name  # never zero-width


# --------------------------------------------------------------------------------------------------
# what every family implements, and its discovery
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES.values(), ids=str)
def test_every_family_implements_what_scoring_and_the_report_call(family):
    """The base class only raises for these (and aggregates through the family's metric): a family missing
    one would fail at a user's run."""
    for method in ("score", "reference_files", "read_reference"):
        assert getattr(type(family), method) is not getattr(BenchmarkFamily, method), (family, method)
    assert isinstance(family.metric, Metric), family


PLUGIN = """
from vleval.families.base import BenchmarkFamily
from vleval.types import BenchmarkCard

CARDS = (
    BenchmarkCard(name="ACME_VQA", url="https://example.invalid/ACME_VQA.tsv", md5="0" * 32,
                  task_type="VQA", family="acme", required_columns=("index", "question", "answer")),
)


class AcmeFamily(BenchmarkFamily):
    name = "acme"
    listing_order = 5

    def synthetic_rows(self, card, rng, n):
        return [{"index": i, "question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(n)]


FAMILY = AcmeFamily()
"""


def _installed_plugin(root: Path) -> Path:
    """A third-party package declaring a family, installed the way pip leaves one: its module and a
    ``*.dist-info`` whose ``entry_points.txt`` names it in the ``vleval.families`` group."""
    root.mkdir()
    (root / "acme_family.py").write_text(PLUGIN)
    info = root / "acme_vleval-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-vleval\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[vleval.families]\nacme = acme_family\n")
    return root


def test_a_family_of_another_package_is_discovered_through_its_entry_point(tmp_path, monkeypatch):
    root = _installed_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    family_modules.cache_clear()
    try:
        assert family_modules()[-1] == "acme_family"
        families = all_families()
        assert list(families)[0] == "acme"  # placed by its listing order
        card = families["acme"].cards()[0]
        assert family_of(card) is families["acme"] and card.name == "ACME_VQA"
    finally:
        family_modules.cache_clear()
        sys.modules.pop("acme_family", None)
    # a fresh process (what a user runs) lists its benchmark and writes its synthetic file
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    script = (
        "from vleval.synthetic.benchmarks import make_benchmark_tsv; import sys;"
        f"make_benchmark_tsv('ACME_VQA', {str(tmp_path / 'data')!r}, n=3);"
        "from vleval.cli import main; sys.exit(main(['data', 'list', '--data-dir', sys.argv[1]]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    listed = [line.split() for line in done.stdout.splitlines()]
    assert ["ACME_VQA", "VQA"] == listed[1][:2]  # first: its listing order
    assert (tmp_path / "data" / "ACME_VQA.tsv").read_text().splitlines()[1] == "0\tWhat is 0 + 1?\t1"


# --------------------------------------------------------------------------------------------------
# the judge profile and the bill computed from it
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("family", FAMILIES.values(), ids=str)
def test_a_judged_family_declares_the_profile_its_bill_comes_from(family):
    profile = family.judge_profile
    if family.judge_role is None:
        assert profile is None, family  # a rule-based family is billed "no judge"
        return
    assert isinstance(profile, JudgeProfile), f"{family}: a judged family must declare judge_profile"
    for card in family.cards():  # each card's own profile (BLINK: its own matching prompt)
        profile = family.judge_profile_of(card)
        assert isinstance(profile, JudgeProfile), card.name
        assert profile.templates and all(judge_prompt(name).strip() for name in profile.templates)
        assert profile.rounds >= 1 and profile.answer_tokens >= 1


def test_a_judged_family_without_a_profile_is_billed_unknown_not_no_judge(tmp_path, monkeypatch):
    """The bill must not silently read "no judge calls" for a family that will call one."""
    tsv = make_benchmark_tsv("MMVet", tmp_path, n=2)
    protocol = protocol_accepting(get_protocol("2024.12"), {"MMVet": tsv})
    card = BENCHMARKS["MMVet"]
    monkeypatch.setattr(type(family_of(card)), "judge_profile", None)
    with pytest.raises(
        VlevalError, match="MMVet: family 'mmvet' has a judge role but declares no judge_profile"
    ):
        estimate_bill(card, protocol, load_table(card, protocol, root=tmp_path), None)
    lines = dry_run_bill([card], protocol, None, 1, lambda c: load_table(c, protocol, root=tmp_path))
    assert "no judge calls" not in "\n".join(lines)
    assert lines[-1].startswith("  total: unknown (MMVet not billed)")


def test_the_bill_counts_the_calls_scoring_makes(scored):
    """With the stand-in judge: the calls made equal the bill where it is exact (every row asked), and
    stay within it where it is a bound (only rows the rules cannot read)."""
    card, protocol, judge, table, _, result = scored
    bill = estimate_bill(card, protocol, table, None)
    if judge is None:
        assert bill.judge is None and bill.calls == bill.max_calls == 0
        return
    assert bill.judge == judge.model
    asked = sum(row.decided_by in ("judge", "fallback", "failed") for row in result.rows)
    if bill.exact:
        assert len(judge.requests) == bill.calls == len(table)
    else:
        assert asked <= bill.calls and len(judge.requests) <= bill.max_calls
        assert (
            bill.calls == len(table) and bill.max_calls == len(table) * family_of(card).judge_profile.rounds
        )


def _scored_with_unreadable_answers(name: str, protocol_name: str, tmp_path: Path):
    """``name``'s synthetic rows answered in ways the rules cannot read, scored with the protocol's
    judge stood in for: that judge (its requests) and the scoring result."""
    card = BENCHMARKS[name]
    tsv = make_benchmark_tsv(name, tmp_path / "data", n=10, seed=1)
    protocol = protocol_accepting(get_protocol(protocol_name), {name: tsv})
    table = load_table(card, protocol, root=tmp_path / "data")
    predictions = {
        row["index"]: UNREADABLE[k % len(UNREADABLE)].format(right_answer(card, row))
        for k, row in enumerate(table.to_dict(orient="records"))
    }
    pred = write_prediction_file(tmp_path / "work" / f"M_{name}.xlsx", table, predictions)
    judge = stand_in_judge(default_judge(protocol, card))
    return protocol, table, judge, evaluate(card, protocol, pred, judge, table=table)


@pytest.mark.parametrize("name", JUDGED)
def test_the_bill_sizes_the_prompts_scoring_sends(name, tmp_path):
    """Answers the rules cannot read, so the judge is asked: the bill's prompt size per call (its card's
    own templates, ``judge_profile_of``, plus the row's text and an assumed prediction) is about that of
    the prompts sent, never well below (BLINK billed with the MCQ family's shorter English template
    came to half of BLINK's own) nor far above. The Chinese MMBench is billed as the English: a
    character of Chinese is about a token, not a quarter of one."""
    card = BENCHMARKS[name]
    protocol, table, judge, _ = _scored_with_unreadable_answers(name, "2024.12", tmp_path)
    sent = [len(request.prompt) + len(request.system or "") for request in judge.requests]
    assert sent
    bill = estimate_bill(card, protocol, table, None)
    billed = bill.prompt_tokens * CHARS_PER_TOKEN / bill.calls
    assert 0.8 <= billed / (sum(sent) / len(sent)) <= 3.0, (billed, sent)


@pytest.mark.parametrize("name", JUDGED)
def test_the_profile_rounds_are_the_calls_a_row_gets_from_a_judge_that_never_answers(name, tmp_path):
    """Answers the rules cannot read and a judge whose every call fails: each asked prompt is sent
    exactly ``rounds`` times, so the bill's upper bound (rows x rounds) is the real worst case."""
    card = BENCHMARKS[name]
    profile = family_of(card).judge_profile
    tsv = make_benchmark_tsv(name, tmp_path / "data", n=6, seed=2)
    protocol = protocol_accepting(get_protocol("vleval-1"), {name: tsv})
    table = load_table(card, protocol, root=tmp_path / "data")
    predictions = {index: f"unreadable {k}" for k, index in enumerate(table["index"])}
    pred = write_prediction_file(tmp_path / "work" / f"M_{name}.xlsx", table, predictions)
    judge = ScriptedJudge(JUDGE_FAILURE_TEXT, short_name=default_judge(protocol, card))
    evaluate(card, protocol, pred, judge, table=table)
    per_prompt = collections.Counter(request.prompt for request in judge.requests)
    assert per_prompt and set(per_prompt.values()) == {profile.rounds}
    bill = estimate_bill(card, protocol, table, None)
    assert len(judge.requests) <= bill.max_calls
    if profile.every_row:
        assert len(judge.requests) == bill.max_calls


# --------------------------------------------------------------------------------------------------
# synthetic rows, right answers and the stand-in judge
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_synthetic_rows_carry_the_card_columns_and_load(name, tmp_path):
    card = BENCHMARKS[name]
    tsv = make_benchmark_tsv(name, tmp_path / "a", n=5, seed=1)
    assert set(card.required_columns) <= set(pd.read_csv(tsv, sep="\t", nrows=1).columns)
    protocol = protocol_accepting(get_protocol(), {name: tsv})
    table = load_table(card, protocol, root=tmp_path / "a")
    assert len(table) >= 5
    assert make_benchmark_tsv(name, tmp_path / "b", n=5, seed=1).read_bytes() == tsv.read_bytes()
    assert make_benchmark_tsv(name, tmp_path / "c", n=5, seed=2).read_bytes() != tsv.read_bytes()


@pytest.mark.parametrize("family", FAMILIES.values(), ids=str)
def test_a_card_the_family_has_no_builder_for_is_refused(family):
    """A card added to a family without its own synthetic builder gets an error naming it, never
    another benchmark's rows."""
    card = dataclasses.replace(family.cards()[0], name="NEW_CARD")
    with pytest.raises(
        VlevalError, match=f"no synthetic builder for 'NEW_CARD' \\(family '{family.name}'\\)"
    ):
        family.synthetic_rows(card, random.Random(0), 2)


@pytest.mark.parametrize("name", SCORED)
def test_right_answers_score_full_marks(name, tmp_path):
    """Under vleval-1 (no reference bug makes a row never right, as MathVista's list answers are under
    the pinned protocols) every row answered with ``right_answer`` is read as right, by the rules or
    the stand-in judge. A graded family's stand-in judge grades the answer it reads, so there the right
    answer gets at least the grade of a wrong one on every row (LLaVA-Bench's stand-in grades every
    review alike)."""
    card = BENCHMARKS[name]
    family = family_of(card)
    tsv = make_benchmark_tsv(name, tmp_path / "data", n=8, seed=4)
    protocol = protocol_accepting(get_protocol("vleval-1"), {name: tsv})
    table = load_table(card, protocol, root=tmp_path / "data")
    rows = table.to_dict(orient="records")
    short = default_judge(protocol, card)

    def scored_rows(answer):
        pred = write_prediction_file(
            tmp_path / answer.__name__ / f"M_{name}.xlsx", table, {row["index"]: answer(row) for row in rows}
        )
        return evaluate(card, protocol, pred, stand_in_judge(short) if short else None, table=table).rows

    def right(row):
        return right_answer(card, row)

    def wrong(row):
        return "Z"

    found = scored_rows(right)
    assert {row.decided_by for row in found} <= {"rule", "judge"}
    if not family.metric.graded:
        assert {row.score for row in found} == {1.0}
        return
    assert all(row.score is not None for row in found)
    worse = {row.index: row.score for row in scored_rows(wrong)}
    assert all(row.score >= worse[row.index] for row in found)


# answers the rules of most families cannot read, so the judge is asked about them
UNREADABLE = ("I think it is {} but maybe not", "no idea", "A or B", "Yes and no", "perhaps {}, perhaps Z")


@pytest.mark.parametrize(("name", "protocol_name"), [(n, p) for n in JUDGED for p in PROTOCOLS])
def test_the_stand_in_judge_answers_every_prompt_the_family_sends(name, protocol_name, tmp_path):
    """Each prompt scoring sends is answered by the family's own stand-in rule (no other family's rule
    claims it first), the server's responder gives that same answer, and scoring reads it (no row
    falls back or fails)."""
    card = BENCHMARKS[name]
    family = family_of(card)
    _, _, judge, result = _scored_with_unreadable_answers(name, protocol_name, tmp_path)
    assert judge.requests
    for request in judge.requests:
        own = family.stand_in_judge(request.prompt)
        assert own is not None, request.prompt[-300:]
        claimed = [f for f in FAMILIES.values() if f.stand_in_judge(request.prompt) is not None]
        assert claimed[0] is family
        assert rule_based_answer("m", [{"role": "user", "content": request.prompt}], 0.0) == own
    assert not [row.index for row in result.rows if row.decided_by in ("failed", "unparsed")]


def test_the_reference_row_records_round_trip(scored):
    """A family that reads per-row verdicts from the reference's judge record (a run made with
    VLMEvalKit) reads back the verdicts its own scoring wrote there: one per row, or one per scoring
    unit where the reference records a question as a whole (MMBench's circular groups)."""
    card, _, _, _, pred, result = scored
    family = family_of(card)
    if type(family).reference_rows is BenchmarkFamily.reference_rows:
        return
    read = family.reference_rows(pred.with_suffix(""))
    assert read
    by_unit = collections.defaultdict(list)
    for row in result.rows:
        if row.score is not None:  # a rotation never examined (after a wrong one) has none
            by_unit[row.unit].append(row.score)
    by_index = {row.index: row.score for row in result.rows}
    for row in read:
        unit = by_unit.get(str(row.index))
        expected = min(unit) if unit and len(unit) > 1 else by_index[row.index]
        assert row.score == expected, row.index
