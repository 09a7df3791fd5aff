"""The contract every benchmark family keeps (one test suite run against each family, like shared
model tests): its cards resolve, extraction is pure, aggregating its rows gives its headline, the one
writer produces the reference's file names, vleval's files round-trip through the typed records, and
the family's reader of the reference's own files finds the same headline (runs made with VLMEvalKit).

Data: synthetic benchmark files (``vleval.synthetic``), half the rows answered right; the judge is the
local stand-in's rule-based answers, in process."""

from __future__ import annotations

import copy
import math

import pandas as pd
import pytest

from vleval.datasets.loading import load_table
from vleval.datasets.predictions import prediction_texts, read_prediction_file, write_prediction_file
from vleval.datasets.registry import BENCHMARKS
from vleval.datasets.results import plain, read_rows, read_score, score_record_path
from vleval.datasets.scoring import evaluate
from vleval.families.base import HEADLINE, all_families, family_modules, family_of
from vleval.protocol import JUDGE_MODEL_IDS, PROTOCOLS, get_protocol
from vleval.stats.scores import category_key
from vleval.synthetic.benchmarks import make_benchmark_tsv, protocol_accepting, right_answer
from vleval.synthetic.scripted_judge import stand_in_judge

SCORED = sorted(name for name, card in BENCHMARKS.items() if card.has_answers)


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
        row["index"]: right_answer(row) if k % 2 == 0 else "Z"
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
        assert card in family_of(card).cards()
    for family in families.values():
        assert family.cards(), family
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
    if not family.graded:  # half the rows answered right: both kinds are there to aggregate
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
