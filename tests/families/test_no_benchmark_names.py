"""A benchmark is named in code only by the family module that owns it: what the reference decides by a
dataset name is a flag on the card or an attribute of the family, so adding a benchmark is one card. This
scans every string constant of ``src/vleval`` outside ``vleval/families/`` (docstrings and comments
excluded: citing the reference there is fine) for a registered benchmark name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import vleval
from vleval.datasets.registry import BENCHMARKS

PACKAGE = Path(vleval.__file__).parent
# modules allowed to name benchmarks (by the end of their path inside the package, so that a module that
# moves to another package keeps its exception), and why
ALLOWED = {
    "demo.py": "the demo's choice of benchmarks",
    "published.py": "the published figures",
}


def allowed(relative: str) -> bool:
    return any(relative == end or relative.endswith("/" + end) for end in ALLOWED)


def name_pattern(names: list[str]) -> re.Pattern[str]:
    """A benchmark name standing alone; not part of a longer word or of a code identifier the reference's
    sources use (``MMVet_acc``, ``MMVet.evaluate``), which a quirk's documentation cites."""
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    return re.compile(rf"(?<![A-Za-z0-9_])({alternatives})(?![A-Za-z0-9_]|\.\w)")


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def names_in(source: str, pattern: re.Pattern[str]) -> list[tuple[int, str]]:
    """(line, name) of each benchmark name in a string constant of ``source`` (f-string parts included),
    docstrings left out."""
    tree = ast.parse(source)
    skip = docstrings(tree)
    return [
        (node.lineno, match.group(1))
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
        for match in pattern.finditer(node.value)
    ]


PATTERN = name_pattern(list(BENCHMARKS))


def test_the_scan_sees_names_in_code_and_not_in_docstrings():
    source = '''"""Module doc naming MMStar."""
def f(card):
    """Function doc naming OCRBench."""
    # a comment naming HallusionBench
    if card.name == "MMStar" or f"{card.name}" == f"x-OCRBench":
        return "VK mmvet.py::MMVet_acc cites the reference"
'''
    assert names_in(source, PATTERN) == [(5, "MMStar"), (5, "OCRBench")]


@pytest.mark.parametrize(
    "path",
    [
        p
        for p in sorted(PACKAGE.rglob("*.py"))
        if p.relative_to(PACKAGE).parts[0] != "families" and not allowed(p.relative_to(PACKAGE).as_posix())
    ],
    ids=lambda p: p.relative_to(PACKAGE).as_posix(),
)
def test_no_module_outside_the_families_names_a_benchmark(path: Path):
    found = names_in(path.read_text(encoding="utf-8"), PATTERN)
    assert not found, (
        f"{path.relative_to(PACKAGE)} names benchmark(s) {found}: give the card a flag or the family an "
        "attribute and ask it (docs/adding-a-benchmark.md)"
    )


def test_the_scale_note_is_built_from_the_families():
    """The reports' scale note names exactly the benchmarks whose family gives them a scale of their own
    (it used to be a sentence naming three benchmarks, which a new benchmark would have made wrong)."""
    from vleval.families.base import all_families, scale_note

    note = scale_note()
    assert note.startswith("Scores and intervals on each benchmark's own scale: accuracies in percent")
    for family in all_families().values():
        for card in family.cards():
            named = re.search(rf"(?<![A-Za-z0-9_]){re.escape(card.name)}(?![A-Za-z0-9_])", note) is not None
            assert named == bool(family.scale_of(card)), card.name
            assert not family.scale_of(card) or family.scale_of(card) in note
