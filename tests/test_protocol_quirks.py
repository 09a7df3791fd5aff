"""One hand-made row per quirk: its effect under the pinned protocol that has it, and vleval-1's
behaviour (the fix for a bug, the same rule for a definition). ``CASES`` and ``Quirk`` stay in
one-to-one correspondence: a quirk without a case fails ``test_every_quirk_has_a_case``."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image

from vleval.datasets.loading import image_file_names, load_table
from vleval.datasets.matching import can_infer, process_punctuation
from vleval.datasets.predictions import prediction_texts, read_prediction_file, write_prediction_file
from vleval.datasets.registry import get_benchmark
from vleval.datasets.scoring import evaluate, score_frame
from vleval.families import crpe, mathvista, mcq, mmvet, vqa, yorn
from vleval.protocol import (
    BUGS,
    JUDGE_MODEL_IDS,
    PROTOCOLS,
    QUIRKS,
    Quirk,
    get_protocol,
)
from vleval.synthetic.benchmarks import make_benchmark_tsv
from vleval.synthetic.scripted_judge import ScriptedJudge
from vleval.types import JudgeRole, Sample

VLEVAL_1 = get_protocol("vleval-1")


@dataclass(frozen=True)
class Case:
    pinned: str  # the pinned protocol that has the quirk
    observe: Callable[[Any, Path], Any]  # (protocol, tmp_path) -> what the quirk changes
    reference: Any  # observed under the pinned protocol
    vleval: Any  # observed under vleval-1 (== reference for a definition)


# --------------------------------------------------------------------------------------------------
# the observations, one per quirk
# --------------------------------------------------------------------------------------------------
PETS = {"A": "cat", "B": "dog", "C": "bird"}
PLACES = {"A": "sky", "B": "sea", "C": "grass"}


def _mathvista_row(**row) -> dict[str, Any]:
    base = {"index": 1, "question": "q", "question_type": "free_form", "choices": None, "precision": None}
    return base | row


def _crpe_headline(protocol, tmp_path):
    data = pd.DataFrame(
        {
            "index": [1, 2, 3, 4],
            "category": ["subject"] * 4,
            "answer": ["A. a dog", "B. a dog", "C. a dog", "D. a dog"],
            "prediction": ["A", "B", "A", "D"],  # one rotation wrong
        }
    )
    return score_frame(
        data, get_benchmark("CRPE_RELATION"), protocol, None, stem=tmp_path / "M_CRPE"
    ).record.headline


def _llava_model_score(protocol, tmp_path):
    data = pd.DataFrame(
        [
            {
                "index": i,
                "question": "q",
                "caption": "c",
                "gpt4_ans": "g",
                "prediction": p,
                "category": "conv",
            }
            for i, p in [(1, "fine"), (2, "odd")]
        ]
    )
    judge = ScriptedJudge(lambda request, _: "8 6" if "fine" in request.prompt else "I cannot judge this.")
    result = score_frame(data, get_benchmark("LLaVABench"), protocol, judge, stem=tmp_path / "M_LLaVA")
    return float(result.tables["score"].iloc[0]["VLM Score"])


def _mmvet_max_tokens(protocol, tmp_path):
    judge = ScriptedJudge("1.0")
    mmvet.grade([{"question": "q", "answer": "a", "prediction": "a"}], protocol, judge)
    return judge.requests[0].max_tokens


def _mmvet_table(categories, scores, protocol):
    table, _, _ = mmvet.mmvet_acc(pd.DataFrame({"category": categories, "score": scores}), protocol)
    return table


def _empty_prediction(protocol, tmp_path):
    table = pd.DataFrame({"index": [1], "question": ["Which option?"]})
    path = write_prediction_file(tmp_path / "M_X.xlsx", table, {1: "None"})
    return prediction_texts(read_prediction_file(path, table), protocol)


def _image_file(protocol, tmp_path):
    sample = Sample(dataset="X", index=7, question="q", image_loader=lambda: [Image.new("RGB", (4, 4))])
    return image_file_names(sample, protocol)


CASES: dict[Quirk, Case] = {
    Quirk.MCQ_LAST_FIVE_TOKENS: Case(
        "2026.08",
        lambda p, _: can_infer("B is right because the picture shows it clearly enough", PETS, p),
        reference=None,
        vleval=None,
    ),
    Quirk.MCQ_TEXT_LENGTH_CAP: Case(
        "2026.08", lambda p, _: can_infer("I think it is a dog, surely", PETS, p), reference=None, vleval=None
    ),
    Quirk.MCQ_ANSWER_IS_REGEX: Case(
        "2026.08",
        lambda p, _: (
            can_infer("The answer is blue.", PLACES, p),
            can_infer("The answer is (C).", PLACES, p),
        ),
        reference=("B", "C"),
        vleval=(None, "C"),
    ),
    Quirk.MCQ_RANDOM_AFTER_JUDGE_FAILS: Case(
        "2026.08",
        lambda p, _: mcq.after_judge_failed(PETS, 1, p, seed=0)[2],
        reference="random",
        vleval="unparsed",
    ),
    Quirk.CRPE_SWAPPED_ARGS: Case(
        "2026.08",
        lambda p, _: crpe.is_correct("B", "The dog is on the left", p),
        reference=True,
        vleval=False,
    ),
    Quirk.CRPE_CIRCULAR_BLOCKS: Case("2026.08", _crpe_headline, reference=0.0, vleval=0.0),  # rows: 0.75,
    Quirk.MATHVISTA_LIST_NEVER_CORRECT: Case(
        "2026.08",
        lambda p, _: mathvista.post_check(
            _mathvista_row(answer_type="list", answer="[3, 5]", res="[3, 5]", prediction="[3, 5]"),
            p,
            prefetch=False,
        ),
        reference=False,
        vleval=True,
    ),
    Quirk.MATHVISTA_PREFETCH_ANY_LETTER: Case(
        "2026.08",
        lambda p, _: mathvista.post_check(
            _mathvista_row(
                question_type="multi_choice",
                answer_type="text",
                answer="1",
                answer_option="A",
                choices="['1', '2']",
                prediction="B",
            ),
            p,
            prefetch=True,
        ),
        reference="B",
        vleval="B",
    ),
    Quirk.MATHVISTA_ZERO_PREFETCH_FALSY: Case(
        "2026.08",
        lambda p, _: mathvista._prefetched(
            mathvista.post_check(
                _mathvista_row(answer_type="integer", answer="0", prediction="0"), p, prefetch=True
            ),
            p,
        ),
        reference=False,
        vleval=True,
    ),
    Quirk.MATHVISTA_INT_REJECTS_DECIMAL: Case(
        "2026.08",
        lambda p, _: mathvista.post_check(
            _mathvista_row(answer_type="integer", answer="8", res="8.0", prediction="It is 8.0"),
            p,
            prefetch=False,
        ),
        reference=False,
        vleval=True,
    ),
    Quirk.MATHVISTA_PRECISION_IGNORED: Case(
        "2026.08",
        lambda p, _: mathvista.post_check(
            _mathvista_row(answer_type="float", answer="3.14", precision=2.0, res="3.1416", prediction="pi"),
            p,
            prefetch=False,
        ),
        reference=False,
        vleval=True,
    ),
    Quirk.LLAVABENCH_UNPARSABLE_MINUS_ONE: Case("2026.08", _llava_model_score, reference=25.0, vleval=60.0),
    Quirk.MMVET_DIVIDE_BY_CAPABILITY_COUNT: Case(
        "2026.08",
        lambda p, _: list(_mmvet_table(["ocr,rec"], [1.0], p)["Category"]),
        reference=["rec", "ocr", "know", "gen", "spat", "math", "Overall"],
        vleval=["rec", "ocr", "Overall"],
    ),
    Quirk.MMVET_MAX_TOKENS_3: Case("2024.12", _mmvet_max_tokens, reference=3, vleval=2048),
    Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE: Case(
        "2026.08",
        lambda p, _: round(
            float(_mmvet_table(["ocr", "rec,ocr"], [1.0, 0.0], p).set_index("Category").loc["ocr", "acc"]), 2
        ),
        reference=66.67,
        vleval=50.0,
    ),
    Quirk.YORN_PERIOD_LIMIT_32: Case(
        "2026.08",
        lambda p, _: yorn.yorn_extraction("Fine. " * 33 + "Yes.", p),
        reference="Unknown",
        vleval="Yes",
    ),
    Quirk.PUNCT_PERIOD_AFTER_DIGIT_STRIPPED: Case(
        "2024.12", lambda p, _: process_punctuation("5. yes", p), reference="5 yes", vleval="5. yes"
    ),
    Quirk.CHARTQA_RELAXED_ARGS_SWAPPED: Case(
        "2024.12",
        lambda p, _: vqa.score_row(vqa.VQAMetric.RELAXED_ACCURACY, "95.2", ["100"], p).hit,
        reference=0.0,
        vleval=1.0,
    ),
    Quirk.EMPTY_PREDICTION_IS_NAN: Case("2026.08", _empty_prediction, reference=["nan"], vleval=["None"]),
    Quirk.JPEG_REENCODE_SINGLE_IMAGE: Case("2024.12", _image_file, reference=["7.jpg"], vleval=["7.png"]),
}


def test_every_quirk_has_a_case():
    assert set(CASES) == set(Quirk), "each quirk needs exactly one case here"


@pytest.mark.parametrize("quirk", list(Quirk), ids=lambda q: q.value)
def test_quirk_case(quirk, tmp_path):
    case = CASES[quirk]
    pinned = get_protocol(case.pinned)
    assert pinned.has(quirk)
    assert case.observe(pinned, tmp_path / "pinned") == case.reference
    assert case.observe(VLEVAL_1, tmp_path / "vleval") == case.vleval
    if QUIRKS[quirk].kind == "bug":
        assert case.vleval != case.reference, "a bug's case shows the fix changing the outcome"
        assert not VLEVAL_1.has(quirk)
    else:
        assert case.vleval == case.reference and VLEVAL_1.has(quirk)
        # the rule has an effect: the pinned protocol without it decides otherwise
        without = dataclasses.replace(pinned, quirks=pinned.quirks - {quirk})
        assert case.observe(without, tmp_path / "without") != case.reference


@pytest.fixture(autouse=True)
def _dirs(tmp_path):
    for name in ("pinned", "vleval", "without"):
        (tmp_path / name).mkdir()


def test_quirk_documentation_is_complete():
    for quirk, info in QUIRKS.items():
        assert info.label and info.reference and info.why and info.example, quirk
        assert bool(info.fix) == (info.kind == "bug"), f"{quirk}: a bug says its fix, a definition has none"


def test_vleval_1_is_2026_08_without_its_bugs():
    base = get_protocol("2026.08")
    assert VLEVAL_1.quirks == base.quirks - BUGS
    assert VLEVAL_1.fixed == BUGS
    assert all(QUIRKS[q].kind == "definition" for q in VLEVAL_1.quirks)
    # judges: dated snapshot ids, recorded with the date they were chosen
    for short in (VLEVAL_1.judges[role] for role in JudgeRole):
        assert JUDGE_MODEL_IDS[short][-10:-6] in ("2024", "2025", "2026")
    assert VLEVAL_1.judges_chosen


def test_pinned_protocols_keep_their_rules():
    """The pinned protocols have every quirk they had, and no fixes (their behaviour is unchanged)."""
    common = {
        Quirk.MCQ_RANDOM_AFTER_JUDGE_FAILS,
        Quirk.CRPE_SWAPPED_ARGS,
        Quirk.MATHVISTA_LIST_NEVER_CORRECT,
        Quirk.MATHVISTA_PREFETCH_ANY_LETTER,
        Quirk.MATHVISTA_ZERO_PREFETCH_FALSY,
        Quirk.MATHVISTA_INT_REJECTS_DECIMAL,
        Quirk.MATHVISTA_PRECISION_IGNORED,
        Quirk.LLAVABENCH_UNPARSABLE_MINUS_ONE,
        Quirk.MMVET_DIVIDE_BY_CAPABILITY_COUNT,
        Quirk.MMVET_SINGLE_CAPABILITY_COUNTED_TWICE,
        Quirk.YORN_PERIOD_LIMIT_32,
        Quirk.EMPTY_PREDICTION_IS_NAN,
    }
    old = {
        Quirk.MMVET_MAX_TOKENS_3,
        Quirk.JPEG_REENCODE_SINGLE_IMAGE,
        Quirk.PUNCT_PERIOD_AFTER_DIGIT_STRIPPED,
        Quirk.CHARTQA_RELAXED_ARGS_SWAPPED,  # new with the VQA family (issue 21)
    }
    new = {
        Quirk.MCQ_LAST_FIVE_TOKENS,
        Quirk.MCQ_TEXT_LENGTH_CAP,
        Quirk.MCQ_ANSWER_IS_REGEX,
        Quirk.CRPE_CIRCULAR_BLOCKS,
    }
    assert PROTOCOLS["2024.12"].quirks == common | old and not PROTOCOLS["2024.12"].fixed
    assert PROTOCOLS["2026.08"].quirks == common | new and not PROTOCOLS["2026.08"].fixed


def test_with_rule_of_moves_one_quirk():
    base = get_protocol("2026.08")
    moved = base.with_rule_of(VLEVAL_1, Quirk.MCQ_ANSWER_IS_REGEX)
    assert moved.quirks == base.quirks - {Quirk.MCQ_ANSWER_IS_REGEX}
    assert moved.fixed == {Quirk.MCQ_ANSWER_IS_REGEX}
    assert moved.fixes(Quirk.MCQ_ANSWER_IS_REGEX) and not base.fixes(Quirk.MCQ_ANSWER_IS_REGEX)
    back = VLEVAL_1.with_rule_of(base, Quirk.MCQ_ANSWER_IS_REGEX)
    assert back.has(Quirk.MCQ_ANSWER_IS_REGEX) and not back.fixes(Quirk.MCQ_ANSWER_IS_REGEX)
    judged = base.with_judges_of(VLEVAL_1)
    assert judged.judges[JudgeRole.OPEN] == VLEVAL_1.judges[JudgeRole.OPEN] and judged.quirks == base.quirks


def test_docs_list_every_quirk():
    page = (Path(__file__).resolve().parents[1] / "docs" / "protocols.md").read_text(encoding="utf-8")
    for quirk, info in QUIRKS.items():
        assert f"| `{quirk.value}` | {info.kind} |" in page, f"docs/protocols.md lacks {quirk.value}"


def test_vleval_1_marks_rows_nothing_could_read_as_unparsed(tmp_path, monkeypatch):
    """End to end: a row neither the rules nor the judge can match is a random draw under 2026.08
    (the protocol's fallback) and wrong, 'unparsed', under vleval-1."""
    monkeypatch.setenv("LMUData", str(tmp_path / "empty"))
    make_benchmark_tsv("MMStar", tmp_path / "data", n=2)
    card = get_benchmark("MMStar")
    table = load_table(card, get_protocol(), root=tmp_path / "data", verify_md5=False)
    pred = write_prediction_file(tmp_path / "M_MMStar.xlsx", table, {i: "no idea" for i in table["index"]})
    for name, decided in (("2026.08", "fallback"), ("vleval-1", "unparsed")):
        result = evaluate(
            card, get_protocol(name), pred, ScriptedJudge("I cannot tell"), out_dir=tmp_path / name
        )
        assert {r.decided_by for r in result.rows} == {decided}, name
    assert {r.score for r in result.rows} == {0.0}


def test_protocol_is_a_leaf_of_pinned_data():
    """Importing the protocols imports no benchmark family and no dataset code (issue 20): which judge a
    benchmark uses is its family's to say, which md5 a protocol checks is on the cards."""
    code = (
        "import sys, vleval.protocol; "
        "print(sorted(m for m in sys.modules if m.startswith(('vleval.families', 'vleval.datasets'))))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
    import ast
    import inspect

    import vleval.protocol

    tree = ast.parse(inspect.getsource(vleval.protocol))  # imports inside functions too
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    imported += [
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    ]
    assert [m for m in imported if m.startswith("vleval") and m != "vleval.types"] == []
