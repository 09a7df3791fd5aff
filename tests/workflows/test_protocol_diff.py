"""`vleval diff-protocols` on the synthetic suite: predictions made to trip the quirks, judge answers
from a cache filled through the local judge server (real HTTP), every changed row attributed to
exactly one rule, and the rules' deltas adding up to the net delta."""

from __future__ import annotations

import ast
import functools
import math
import shutil
from pathlib import Path

import pytest

from vleval.cli import main
from vleval.datasets.loading import load_table
from vleval.datasets.predictions import write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import evaluate
from vleval.families.base import default_judge
from vleval.judge.cache import default_cache_dir
from vleval.judge.client import make_judge
from vleval.protocol import Quirk, get_protocol
from vleval.report.build import write_report
from vleval.report.protocol_diffs import find_protocol_diffs, protocol_diff_section
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.judge_server import JudgeServer, message_text, rule_based_answer
from vleval.workflows.protocol_diff import (
    INTERACTION,
    JUDGES,
    diff_benchmark,
    prediction_files,
    single_rule_variants,
)

# one benchmark per family
SUITE = ("MMBench_DEV_EN_V11", "MMStar", "MathVista_MINI", "HallusionBench", "OCRBench", "MMVet", "LLaVABench",
         "CRPE_RELATION")  # fmt: skip
MODEL = "M"
PAIRS = (("2024.12", "2026.08"), ("2026.08", "vleval-1"))
NEW_OPEN_JUDGE = "gpt-4.1-2025-04-14"
# words after 'The answer is' that the 2026.08 regex misreads as the option of their first letter
MISREAD = {"A": "apparent", "B": "bold", "C": "certain", "D": "definite"}


def _prediction(family: str, row: dict, i: int) -> str:
    """A prediction that trips this family's quirks on some rows."""
    answer = str(row.get("answer"))
    if family == "mcq":
        return [answer, f"The answer is {MISREAD.get(answer, 'apparent')}.", "", "I would rather not say"][
            i % 4
        ]
    if family == "crpe":  # per block of 4 rotations: all right / all text / one wrong letter
        block, rotation = divmod(i, 4)
        wrong = "B" if answer != "B" else "C"
        return [answer, "far from each other", wrong if rotation == 3 else answer][block % 3]
    if family == "mathvista":
        if row["question_type"] == "multi_choice":
            return str(row["answer_option"])
        if row["answer_type"] == "integer":
            return f"{answer}.0"  # '8.0' for 8
        if row["answer_type"] == "float":
            return f"{float(answer) + 0.04:.2f}"  # right to the row's precision (1 decimal)
        return answer  # a list answer, given exactly
    if family == "yorn":
        return "Fine. " * 33 + f"{answer}."  # the answer after the 32nd period
    if family == "ocrbench":
        return "" if i % 2 else ast.literal_eval(answer)[0]
    if family == "mmvet":
        return "" if i % 2 else answer
    if family == "llavabench":
        return "unsure" if i % 2 else "fine"
    raise AssertionError(family)


def _judge_answer(model: str, messages: list, temperature: float) -> str:
    """The local judge's rules, with an unparsable LLaVA review for 'unsure' answers and a lenient
    MM-Vet grader under vleval-1's open judge (so a change of judge flips rows)."""
    prompt = message_text(messages)
    if "[Assistant 2]\nunsure" in prompt:
        return "I cannot judge this answer."
    if model == NEW_OPEN_JUDGE and "Compare the ground truth and prediction" in prompt:
        return "1.0"
    return rule_based_answer(model, messages, temperature)


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory):
    """Predictions for the suite in the run layout, and a judge cache holding every answer the diffs
    ask for (filled by scoring each variant once through the local judge server)."""
    root = tmp_path_factory.mktemp("diff")
    work, data = root / "work", root / "data"
    empty = root / "lmu-empty"
    empty.mkdir()
    with pytest.MonkeyPatch.context() as mp, JudgeServer(_judge_answer) as server:
        mp.setenv("LMUData", str(empty))  # score the prediction files' own columns
        for name in SUITE:
            card = get_benchmark(name)
            make_benchmark_tsv(name, data, n=8, seed=3)
            table = load_table(card, get_protocol(), root=data, verify_md5=False)
            rows = table.drop(columns=["image"]).to_dict(orient="records")
            preds = {r["index"]: _prediction(card.family, r, i) for i, r in enumerate(rows)}
            pred = write_prediction_file(work / MODEL / f"{MODEL}_{name}.xlsx", table, preds)
            protocols = {}
            for a, b in PAIRS:
                pa, pb = get_protocol(a), get_protocol(b)
                protocols |= {a: pa, b: pb} | {p.name: p for p in single_rule_variants(card, pa, pb).values()}
            for protocol in protocols.values():
                short = default_judge(protocol, card)
                judge = None
                if short is not None:
                    judge = make_judge(
                        short, None, base_url=server.base_url, api_key="sk-test",
                        cache_dir=default_cache_dir(work),
                    )  # fmt: skip
                evaluate(card, protocol, pred, judge, out_dir=root / "warm" / protocol.name)
                if judge is not None:
                    judge.close()
    return work


@pytest.fixture
def no_lmudata(tmp_path, monkeypatch):
    monkeypatch.setenv("LMUData", str(tmp_path))


@functools.cache  # the diffs only read the work dir; several tests look at the same pair
def _diffs(work: Path, a: str, b: str, judge: str | None = None):
    pa, pb = get_protocol(a), get_protocol(b)
    return {
        card.name: diff_benchmark(card, pred, pa, pb, judge=judge, cache_dir=default_cache_dir(work))
        for card, pred in prediction_files(work)
    }


def _assert_accounted(diff) -> None:
    """Every changed row has exactly one cause; the deltas add up to the net delta."""
    for flip in diff.flips:
        assert flip.cause != INTERACTION, f"{diff.dataset}: row {flip.index} has no single cause"
    assert diff.interaction is None or not diff.interaction.flips
    total = sum(c.delta for c in diff.causes) + (diff.interaction.delta if diff.interaction else 0.0)
    assert math.isclose(total, diff.net, abs_tol=1e-9), diff.dataset
    assert diff.judge_cache_misses == 0, diff.dataset


def _flips(diff, quirk) -> list[str]:
    return [f.direction for c in diff.causes if c.key == getattr(quirk, "value", quirk) for f in c.flips]


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_every_changed_row_has_one_cause(work_dir, no_lmudata, a, b):
    diffs = _diffs(work_dir, a, b)
    assert set(diffs) == set(SUITE)
    for diff in diffs.values():
        assert diff.skipped is None and diff.headline_a is not None and diff.headline_b is not None
        _assert_accounted(diff)
    assert any(diff.flips for diff in diffs.values())


def test_2024_12_to_2026_08(work_dir, no_lmudata):
    diffs = _diffs(work_dir, "2024.12", "2026.08")
    # 'The answer is bold.' is read as B from 2026.08 on
    assert set(_flips(diffs["MMStar"], Quirk.MCQ_ANSWER_IS_REGEX)) == {"wrong -> right"}
    # one wrong rotation sinks the whole question: no row changes, the headline does
    crpe = next(c for c in diffs["CRPE_RELATION"].causes if c.key == Quirk.CRPE_CIRCULAR_BLOCKS.value)
    assert not crpe.flips and crpe.delta < 0


def test_2026_08_to_vleval_1(work_dir, no_lmudata):
    diffs = _diffs(work_dir, "2026.08", "vleval-1")
    assert set(_flips(diffs["MMStar"], Quirk.MCQ_ANSWER_IS_REGEX)) == {"right -> wrong"}
    assert set(_flips(diffs["CRPE_RELATION"], Quirk.CRPE_SWAPPED_ARGS)) == {"right -> wrong"}
    mathvista = diffs["MathVista_MINI"]
    for quirk in (
        Quirk.MATHVISTA_INT_REJECTS_DECIMAL,
        Quirk.MATHVISTA_PRECISION_IGNORED,
        Quirk.MATHVISTA_LIST_NEVER_CORRECT,
    ):
        assert set(_flips(mathvista, quirk)) == {"wrong -> right"}, quirk
    assert mathvista.net > 0
    # the lenient new open judge raises MM-Vet grades
    assert set(_flips(diffs["MMVet"], JUDGES)) == {"score up"}
    # unparsable LLaVA reviews no longer count as -1: the headline moves, no row's score does
    llava = next(
        c for c in diffs["LLaVABench"].causes if c.key == Quirk.LLAVABENCH_UNPARSABLE_MINUS_ONE.value
    )
    assert llava.delta != 0


def test_judge_none_compares_rule_decided_rows_only(work_dir, no_lmudata):
    diffs = _diffs(work_dir, "2026.08", "vleval-1", judge="none")
    for name in ("MathVista_MINI", "MMVet", "LLaVABench"):
        assert diffs[name].skipped and "judge" in diffs[name].skipped
    mmstar = diffs["MMStar"]
    assert mmstar.not_compared > 0  # rows left to the judge under either protocol
    assert set(_flips(diffs["CRPE_RELATION"], Quirk.CRPE_SWAPPED_ARGS)) == {"right -> wrong"}
    for diff in diffs.values():
        if not diff.skipped:
            _assert_accounted(diff)


def test_cli_on_a_work_dir_and_a_prediction_file(work_dir, no_lmudata, capsys):
    before = sorted(p.name for p in (work_dir / MODEL).iterdir())
    code = main(["diff-protocols", "2026.08", "vleval-1", "--work-dir", str(work_dir)])
    out = capsys.readouterr().out
    assert code == 0
    assert "CRPE argument order: " in out and "right -> wrong" in out and "points)" in out
    assert "MathVista '8.0' for an integer:" in out
    assert sorted(p.name for p in (work_dir / MODEL).iterdir()) == before  # nothing written there
    # the diff is left in the work dir for the report, which shows it with every number's protocol
    diffs = find_protocol_diffs([work_dir])
    assert [(d["protocol_a"], d["protocol_b"]) for d in diffs] == [("2026.08", "vleval-1")]
    html = protocol_diff_section(diffs)
    assert "Protocol 2026.08 → vleval-1" in html and "CRPE argument order: 12 rows right -&gt; wrong" in html
    assert "<span class='muted'>(2026.08)</span>" in html and "<span class='muted'>(vleval-1)</span>" in html
    pred = work_dir / MODEL / f"{MODEL}_CRPE_RELATION.xlsx"
    code = main(["diff-protocols", "2024.12", "2026.08", "--pred", str(pred), "--data", "CRPE_RELATION",
                 "--judge-cache", str(default_cache_dir(work_dir))])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "CRPE circular blocks of 4" in out and "headline" in out


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["diff-protocols", "2026.08", "vleval-1", "--work-dir", str(tmp_path)]) == 2
    assert "no <MODEL>_<DATASET>" in capsys.readouterr().err
    assert main(["diff-protocols", "2026.08", "vleval-1", "--pred", str(tmp_path / "x.xlsx")]) == 2
    assert "--data" in capsys.readouterr().err
    pred = tmp_path / "M_MMStar.xlsx"
    assert main(["diff-protocols", "2026.08", "vleval-1", "--pred", str(pred), "--data", "MMStar"]) == 2
    err = capsys.readouterr().err
    assert "no judge cache" in err and "--judge none" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / ".judge_cache").exists()


def test_report_shows_the_diff_and_labels_vleval_1_numbers(work_dir, no_lmudata, tmp_path, capsys):
    """A run scored under vleval-1, then diffed: the HTML report says the number is not the
    reference's rules and shows the rows that flip, by cause, each headline with its protocol."""
    run = tmp_path / "run"
    pred = run / MODEL / f"{MODEL}_CRPE_RELATION.xlsx"
    pred.parent.mkdir(parents=True)
    shutil.copyfile(work_dir / MODEL / pred.name, pred)
    evaluate(get_benchmark("CRPE_RELATION"), get_protocol("vleval-1"), pred, None)
    assert main(["diff-protocols", "2026.08", "vleval-1", "--work-dir", str(run)]) == 0
    capsys.readouterr()
    html = write_report([run], out=tmp_path / "report.html").html.read_text(encoding="utf-8")
    assert "protocol vleval-1 is not the reference's rules" in html
    assert "<h2>Protocol differences</h2>" in html and "Protocol 2026.08 → vleval-1" in html
    assert "CRPE argument order: 12 rows right -&gt; wrong (-37.50 points)" in html


def test_pred_in_the_run_layout_finds_the_runs_judge_cache(work_dir, no_lmudata, capsys):
    """The README's `--pred outputs/M/M_MMStar.xlsx` example: `vleval run` keeps the judge cache in
    the work dir, one folder above the prediction file; diff-protocols finds it without --judge-cache."""
    pred = work_dir / MODEL / f"{MODEL}_MMStar.xlsx"
    code = main(["diff-protocols", "2024.12", "2026.08", "--pred", str(pred), "--data", "MMStar"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "MCQ 'answer is X' regex: 2 rows wrong -> right" in captured.out
    assert "judge cache:" not in captured.out  # every judge answer came from the run's cache


def test_skip_md5_check_accepts_a_benchmark_file_of_another_md5(work_dir, tmp_path, capsys):
    data = tmp_path / "lmu"
    make_benchmark_tsv("MMStar", data, n=8, seed=3)  # the synthetic file: not the protocol's md5
    pred = work_dir / MODEL / f"{MODEL}_MMStar.xlsx"
    args = ["diff-protocols", "2024.12", "2026.08", "--pred", str(pred), "--data", "MMStar",
            "--data-dir", str(data)]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "md5" in err and len(err.strip().splitlines()) == 1
    assert main([*args, "--skip-md5-check"]) == 0
    captured = capsys.readouterr()
    assert "md5 checks are OFF" in captured.err and "headline" in captured.out


def test_rows_moving_between_rule_and_judge_carry_the_net_change(tmp_path, no_lmudata, capsys):
    """--judge none, 2024.12 -> 2026.08: a lone letter early in the answer is read by the rules under
    2024.12 and left to the judge under 2026.08 (so, with no judge, not scored right). Those rows are
    listed under the lone-letter rule as moves, and the listed rows carry the whole net change."""
    data = tmp_path / "data"
    card = get_benchmark("MMStar")
    make_benchmark_tsv("MMStar", data, n=8, seed=3)
    table = load_table(card, get_protocol(), root=data, verify_md5=False)
    answers = dict(zip(table["index"], table["answer"], strict=True))
    early = "{} is what I would pick given the picture shown here"
    preds = {i: (early.format(a) if n < 3 else a) for n, (i, a) in enumerate(answers.items())}
    pred = write_prediction_file(tmp_path / "run" / MODEL / f"{MODEL}_MMStar.xlsx", table, preds)
    diff = diff_benchmark(card, pred, get_protocol("2024.12"), get_protocol("2026.08"), judge="none")
    lone = next(c for c in diff.causes if c.key == Quirk.MCQ_LAST_FIVE_TOKENS.value)
    assert [f.direction for f in lone.flips] == ["decided by rule -> left to the judge"] * 3
    assert [f.before for f in lone.flips] == [1.0] * 3 and all(f.after == 0.0 for f in lone.flips)
    carried = sum((f.after or 0.0) - (f.before or 0.0) for f in diff.flips) * 100 / len(answers)
    assert diff.net == pytest.approx(-37.5) and carried == pytest.approx(diff.net)
    assert main(["diff-protocols", "2024.12", "2026.08", "--pred", str(pred), "--data", "MMStar",
                 "--judge", "none"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert (
        "MCQ lone letter only near the end: 3 rows decided by rule -> left to the judge (-37.50 points)"
        in out
    )
