"""-MPO answers are cut down to what follows 'Final answer:' before scoring (internvl25.md §6)."""

from __future__ import annotations

import pytest

from vleval.models.internvl.postprocess import extract_boxed, postprocess


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The dots are three.\nFinal answer: C", "C"),
        ("Reasoning...\nFinal answer:   B. Horse  \nMore text", "B. Horse"),  # rest of that line only
        ("final ANSWER: yes", "yes"),  # any case
        ("Step 1.\nAnswer: A\nFinal answer: B", "A"),  # first match anywhere wins
        ("Final answer:\n\nD", "D"),  # the gap may cross newlines
        ("  no marker here \n", "no marker here"),  # no match -> whole text, stripped
        ("Answer: \\boxed{C}", "\\boxed{C}"),
        ("Final answer:", ""),
    ],
)
def test_mpo_final_answer(text, expected):
    assert postprocess("mpo", text) == expected


def test_none_keeps_text_verbatim():
    assert postprocess("none", "  Final answer: A\n") == "  Final answer: A\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so Answer: \\boxed{42}", "42"),
        ("\\boxed{1} then \\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),  # last box, nested braces
        ("no box", "no box"),
        ("\\boxed{unclosed {", "\\boxed{unclosed {"),  # unbalanced -> whole text
        ("\\boxed{ B }", " B "),  # not stripped
    ],
)
def test_extract_boxed(text, expected):
    assert extract_boxed(text) == expected
    assert postprocess("boxed", text) == expected


def test_unknown_kind_is_rejected():
    with pytest.raises(ValueError, match="unknown post-processing 'final'"):
        postprocess("final", "x")
