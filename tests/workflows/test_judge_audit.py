"""``vleval judge-audit`` against the local stand-in judge server: a run scored with the server's default
rule is audited with a second, deliberately different rule; agreement, Cohen's kappa, the confusion,
the scores and the changed rows equal what this test works out by hand."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vleval.cli import main
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.protocol import get_protocol
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.judge_server import JudgeServer, message_text, rule_based_answer
from vleval.workflows.judge_audit import cohen_kappa

MODEL = "TinyVL"


def last_letter_rule(model: str, messages: list, temperature: float) -> str:
    """The second opinion: for MCQ matching, the LAST option letter the answer mentions (the default
    rule answers 'Z' when the answer names several); everything else as the default rule."""
    prompt = message_text(messages)
    if "several options of a single-choice question" not in prompt:
        return rule_based_answer(model, messages, temperature)
    options = prompt.rpartition("Options:")[2].partition("\nAnswer:")[0]
    letters = re.findall(r"(?:^|\s)([A-Z])\.\s", options)
    answer = prompt.rpartition("Answer:")[2].partition("Your output:")[0]
    mentioned = [t for t in re.sub(r"[.()\[\],:;!*#{}]", " ", answer).split() if t in letters]
    return mentioned[-1] if mentioned else "Z"


# Under 2026.08 a lone letter counts for the rules only among the last five tokens, so "X is what I
# would pick ..." goes to the judge; both rules read X. "X or Y, hard to tell": default 'Z', second Y.
PREDICTIONS = {
    0: "B is what I would pick given the picture shown here",  # judged: B / B
    1: "A or C, hard to tell",  # judged: Z / C
    2: "C is what I would pick given the picture shown here",  # judged: C / C
    3: "D or B, hard to tell",  # judged: Z / B
    4: "answer: A",  # the rules read A: not a judge decision
    5: "A is what I would pick given the picture shown here",  # judged: A / A
}
ORIGINAL = {0: "B", 1: "Z", 2: "C", 3: "Z", 4: "A", 5: "A"}
AUDIT = {0: "B", 1: "C", 2: "C", 3: "B", 4: "A", 5: "A"}


@pytest.fixture
def scored_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict]:
    """A work dir whose MMStar predictions were scored with the stand-in's default rule (scoring reads
    the prediction file's own columns: the synthetic TSV is not the protocol's file)."""
    data_dir = tmp_path / "LMUData"
    make_benchmark_tsv("MMStar", data_dir, n=6, seed=0)
    monkeypatch.setenv("LMUData", str(tmp_path / "empty"))
    card, protocol = get_benchmark("MMStar"), get_protocol("2026.08")
    table = load_table(card, protocol, root=data_dir, verify_md5=False)
    work = tmp_path / "work"
    pred = write_prediction_file(work / MODEL / f"{MODEL}_MMStar.xlsx", table, PREDICTIONS)
    with JudgeServer() as original:
        code = main(["eval", "--data", "MMStar", "--pred", str(pred), "--protocol", "2026.08", "--judge",
                     "gpt-4o-mini", "--judge-base-url", original.base_url])  # fmt: skip
        assert code == 0
        assert original.request_count == 5  # one call per row the rules could not read
    answers = dict(zip(table["index"], table["answer"], strict=True))
    return work, answers


def test_cohen_kappa_by_hand() -> None:
    assert cohen_kappa([("a", "a"), ("b", "b")]) == 1.0
    # observed 0.5, expected 0.5 (both raters half a / half b): no better than chance
    assert cohen_kappa([("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]) == 0.0
    assert cohen_kappa([("a", "a"), ("a", "a")]) is None  # one category only: undefined
    assert cohen_kappa([]) is None


def test_audit_reports_agreement_kappa_confusion_and_changed_rows(scored_run, capsys) -> None:
    work, answers = scored_run
    with JudgeServer(answer=last_letter_rule) as second:
        code = main(["judge-audit", "--work-dir", str(work), "--judge", "second-opinion", "--judge-base-url",
                     second.base_url])  # fmt: skip
        assert code == 0
        # the same five questions the original judge was asked, nothing from the first judge's cache
        assert second.request_count == 5
    out = capsys.readouterr().out
    report = json.loads((work / "judge_audit_second-opinion.json").read_text())
    assert len(report) == 1
    audit = report[0]
    assert (audit["model"], audit["dataset"]) == (MODEL, "MMStar")
    assert audit["original_judge"] == "gpt-4o-mini-2024-07-18" and audit["audit_judge"] == "second-opinion"

    # by hand: five judged rows (4 was read by the rules); decisions original B Z C Z A, audit B C C B A
    judged = [i for i in PREDICTIONS if i != 4]
    agreed = sum(ORIGINAL[i] == AUDIT[i] for i in judged)
    assert (audit["judged_rows"], audit["agreed"]) == (5, 3) == (len(judged), agreed)
    assert audit["agreement"] == pytest.approx(60.0)
    # Cohen's kappa: observed 3/5; chance = sum over categories of the two raters' shares:
    # original A1 B1 C1 Z2, audit A1 B2 C2 Z0 -> (1*1 + 1*2 + 1*2 + 2*0) / 25 = 0.2 -> (0.6-0.2)/0.8
    assert audit["kappa"] == pytest.approx(0.5)
    assert audit["confusion"] == {"A": {"A": 1}, "B": {"B": 1}, "C": {"C": 1}, "Z": {"B": 1, "C": 1}}
    changed = {c["index"]: (c["original"], c["audit"]) for c in audit["changed"]}
    assert changed == {1: ("Z", "C"), 3: ("Z", "B")}

    def accuracy(decisions: dict) -> float:
        return 100.0 * sum(decisions[i] == answers[i] for i in decisions) / len(decisions)

    assert audit["original_headline"] == pytest.approx(accuracy(ORIGINAL))
    assert audit["audit_headline"] == pytest.approx(accuracy(AUDIT))
    assert "agreement 60.0% (3/5), Cohen's kappa 0.500" in out
    # the run's own files are untouched; the audit's scoring lives under judge_audit/
    assert (work / MODEL / "judge_audit" / "second-opinion").is_dir()


def test_a_rotation_one_side_never_examined_is_a_change_not_a_decision() -> None:
    from vleval.types import RowResult
    from vleval.workflows.judge_audit import compare_rows

    original = [
        RowResult(0, "0", 1.0, "judge", extracted="A"),
        RowResult(1000000, "0", 0.0, "judge", extracted="B"),
    ]
    audit = [RowResult(0, "0", 0.0, "judge", extracted="Z"), RowResult(1000000, "0", None, "skipped")]
    pairs, changed = compare_rows(original, audit)
    assert pairs == [("A", "Z")]
    assert [(c.index, c.original, c.audit) for c in changed] == [(0, "A", "Z"), (1000000, "B", "(skipped)")]


def test_failed_audit_calls_are_counted_shown_and_exit_non_zero(scored_run, capsys) -> None:
    """Every audit call answered with an HTTP error (400: not retried, so the test is quick): no agreement is computed from the failures (today's 0.0 %
    and kappa 0.000), the failures are counted and shown, and the command exits 1."""
    work, _ = scored_run
    with JudgeServer(answer=last_letter_rule) as second:
        second.fail_next(10_000, 400)
        code = main(["judge-audit", "--work-dir", str(work), "--judge", "second-opinion", "--judge-base-url",
                     second.base_url, "--judge-workers", "5"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1
    audit = json.loads((work / "judge_audit_second-opinion.json").read_text())[0]
    # five rows, each asked again over the MCQ family's rounds: every request failed
    assert audit["failed_rows"] == 5 and audit["failed_calls"] >= 5
    assert audit["judged_rows"] == 0 and audit["agreement"] is None and audit["kappa"] is None
    assert f"FAILED: {audit['failed_calls']} audit judge call(s) got no answer" in captured.out
    assert "agreement 0.0%" not in captured.out and "no row was decided by both judges" in captured.out
    assert f"{audit['failed_calls']} audit judge call(s) failed" in captured.err


def test_the_audit_judge_keeps_the_deadlines_given(scored_run, capsys) -> None:
    """judge-audit takes the judge options every judge-taking command shares: a --judge-retry-budget
    of half a second stops each failing request after its first attempt, where the protocol's six
    attempts (2026.08) would be sent without it."""
    work, _ = scored_run
    with JudgeServer(answer=last_letter_rule) as second:
        second.fail_next(10_000, 503)  # retried, unlike a 400
        code = main(["judge-audit", "--work-dir", str(work), "--judge", "second-opinion", "--judge-base-url",
                     second.base_url, "--judge-workers", "5", "--judge-timeout", "5",
                     "--judge-retry-budget", "0.5"])  # fmt: skip
        sent = second.request_count
    capsys.readouterr()
    audit = json.loads((work / "judge_audit_second-opinion.json").read_text())[0]
    assert code == 1 and audit["failed_rows"] == 5 and audit["failed_calls"] >= 5
    assert sent == audit["failed_calls"]  # one attempt per failed request, not six


def test_agreement_leaves_out_rows_whose_call_failed() -> None:
    from vleval.types import RowResult
    from vleval.workflows.judge_audit import compare_rows

    original = [RowResult(i, str(i), 1.0, "judge", extracted="A") for i in range(4)]
    audit = [
        RowResult(0, "0", 1.0, "judge", extracted="A"),
        RowResult(1, "1", 0.0, "failed", extracted="Z"),
        RowResult(2, "2", 1.0, "judge", extracted="A"),
        RowResult(3, "3", 0.0, "judge", extracted="B"),
    ]
    pairs, changed = compare_rows(original, audit)
    assert pairs == [("A", "A"), ("A", "A"), ("A", "B")]  # row 1: the audit judge decided nothing
    assert [c.index for c in changed] == [1, 3]


def test_llavabench_decisions_are_the_judges_two_scores() -> None:
    """A LLaVA-Bench review gives GPT-4's answer a score too: a decision is both scores, so a judge
    that keeps the model's score but rates the reference answer differently is a change."""
    from vleval.types import RowResult
    from vleval.workflows.judge_audit import compare_rows

    original = [RowResult(i, str(i), 6.0, "judge", extra={"gpt4_score": 8.0}) for i in range(2)]
    audit = [
        RowResult(0, "0", 6.0, "judge", extra={"gpt4_score": 8.0}),
        RowResult(1, "1", 6.0, "judge", extra={"gpt4_score": 9.0}),
    ]
    pairs, changed = compare_rows(original, audit, "llavabench")
    assert pairs == [("8.0 6.0", "8.0 6.0"), ("8.0 6.0", "9.0 6.0")]
    assert [c.index for c in changed] == [1]


def test_mathvista_confusion_groups_free_form_answers_as_right_or_wrong() -> None:
    from vleval.types import RowResult
    from vleval.workflows.judge_audit import confusion_of, confusion_pairs

    extracted = [
        ("3.5", "3.5", 1.0, 1.0),
        ("12", "13", 1.0, 0.0),
        ("x+1", "x + 1", 0.0, 0.0),
        ("7", "7", 0.0, 0.0),
    ]
    original = [
        RowResult(i, str(i), a_score, "judge", extracted=a) for i, (a, _, a_score, _) in enumerate(extracted)
    ]
    audit = [
        RowResult(i, str(i), b_score, "judge", extracted=b) for i, (_, b, _, b_score) in enumerate(extracted)
    ]
    pairs, grouping = confusion_pairs(original, audit, "mathvista")
    assert grouping == "right/wrong against the answer"
    assert confusion_of(pairs) == {"right": {"right": 1, "wrong": 1}, "wrong": {"wrong": 2}}
    # elsewhere the decisions themselves, the rarest grouped once there are too many to read
    many = [(str(i), str(i)) for i in range(12)] + [("0", "0")] * 3
    table = confusion_of(many, max_labels=4)
    assert table == {"(other)": {"(other)": 9}, "0": {"0": 4}, "1": {"1": 1}, "10": {"10": 1}}
