"""The reproduction verdict against published figures."""

from __future__ import annotations

from vleval.report.published import load_published
from vleval.stats.verdict import OurSettings, reproduction_verdict
from vleval.types import Interval

INTERVAL = Interval(low=60.0, high=66.0, method="bootstrap")


def test_inside_the_interval_is_consistent():
    verdict = reproduction_verdict(63.0, INTERVAL, 62.8)
    assert verdict.consistent is True and verdict.text == "consistent with published"


def test_outside_the_interval_says_by_how_much():
    verdict = reproduction_verdict(63.0, INTERVAL, 56.0)
    assert verdict.consistent is False
    assert verdict.text == "differs by +7.00 (outside the 95% interval)"


def test_missing_pieces():
    assert reproduction_verdict(63.0, INTERVAL, None).consistent is None
    assert reproduction_verdict(63.0, None, 56.0).text == "differs by +7.00 (no interval)"


def test_settings_known_to_differ_from_the_published_sources():
    published = load_published()
    mmmu = published[("InternVL2_5-8B", "MMMU_DEV_VAL")]
    settings = OurSettings(cot=False, judge="gpt-4o-mini", protocol="2024.12", backend="vllm", dtype="bfloat16",
                           md5_matches=True)  # fmt: skip
    verdict = reproduction_verdict(50.0, INTERVAL, mmmu.score, published_cot=mmmu.cot,
                                   published_metric=mmmu.metric, settings=settings)  # fmt: skip
    by_name = {c.name: c for c in verdict.checks}
    assert by_name["CoT"].status == "differs" and by_name["CoT"].published == "best of direct and CoT runs"
    assert by_name["backend"].status == "differs"
    assert by_name["protocol"].status == "same" and by_name["dtype"].status == "same"
    assert by_name["benchmark file md5"].status == "same"
    assert {c.name for c in verdict.differing} == {"CoT", "backend"}

    mmvet = published[("InternVL2_5-8B", "MMVet")]
    verdict = reproduction_verdict(50.0, INTERVAL, mmvet.score, published_metric=mmvet.metric,
                                   settings=OurSettings(judge="gpt-4o-mini"))  # fmt: skip
    judge = next(c for c in verdict.checks if c.name == "judge")
    assert (judge.published, judge.status) == ("gpt-4-turbo", "differs")


def test_best_of_direct_and_cot_matches_such_a_publication():
    mmmu = load_published()[("InternVL2_5-8B", "MMMU_DEV_VAL")]
    verdict = reproduction_verdict(50.0, INTERVAL, mmmu.score, published_cot=mmmu.cot,
                                   settings=OurSettings(cot=True, best_of_direct_and_cot=True))  # fmt: skip
    cot = next(c for c in verdict.checks if c.name == "CoT")
    assert (cot.ours, cot.status) == ("best of direct and CoT runs", "same")


def test_an_internvl35_thinking_run_is_judged_against_the_report():
    """OpenGVLab/InternVL#1202 reports 48.67 for InternVL3_5-8B-Thinking on MMMU val against the report's
    73.4: the verdict finds that figure for the -Thinking card and says by how much it differs."""
    from vleval.report.published import published_for

    mmmu = published_for(load_published(), "InternVL3_5-8B-Thinking", "MMMU_DEV_VAL")
    assert mmmu is not None and mmmu.thinking_mode and "2508.18265" in mmmu.source
    around = Interval(low=45.0, high=52.0, method="bootstrap")
    verdict = reproduction_verdict(
        48.67, around, mmmu.score, published_cot=mmmu.cot, published_metric=mmmu.metric
    )
    assert verdict.text == "differs by -24.73 (outside the 95% interval)"
    inside = reproduction_verdict(73.0, Interval(low=70.0, high=76.0, method="bootstrap"), mmmu.score)
    assert inside.consistent is True


def test_thinking_mode_is_checked_where_either_side_used_it():
    """The InternVL3.5 reasoning figures were made in thinking mode: a plain run against them differs in
    it, a -Thinking run matches; an InternVL2.5 figure's checklist has no thinking line at all."""
    published = load_published()
    mmmu = published[("InternVL3_5-8B", "MMMU_DEV_VAL")]

    def thinking_check(thinking, entry):
        verdict = reproduction_verdict(50.0, INTERVAL, entry.score, published_cot=entry.cot,
                                       settings=OurSettings(thinking=thinking))  # fmt: skip
        return next((c for c in verdict.checks if c.name == "thinking mode"), None), verdict

    check, verdict = thinking_check(False, mmmu)
    assert (check.ours, check.status) == ("off", "differs") and check in verdict.differing
    check, _ = thinking_check(True, mmmu)
    assert (check.ours, check.status) == ("on", "same")
    assert thinking_check(None, mmmu)[0].status == "unknown"
    mmstar = published[("InternVL3_5-8B", "MMStar")]
    assert thinking_check(False, mmstar)[0] is None
    assert thinking_check(True, mmstar)[0].status == "unknown"  # the sources do not say
    assert thinking_check(None, published[("InternVL2_5-8B", "MMMU_DEV_VAL")])[0] is None
