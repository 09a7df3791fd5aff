"""The layers point one way: the capabilities (``datasets``, ``families``, ``judge``, ``models``,
``stats``) never import a layer above them (``workflows``, ``runner``, ``report``, ``cli``), not even
inside a function, where a cycle would only show when that function first runs; and the leaves they all
use (types, errors, protocol, transport, console, settings, atomic writes) import only each other.
Work dirs are read through ``vleval.workdir`` by the layers above only: a capability gets typed records
(rows, score records, the run manifest) handed to it, so it never imports the reader either.
Workflows and the runner combine capabilities; a capability that needs something from above has it in
the wrong layer."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vleval

PACKAGE = Path(vleval.__file__).parent
CAPABILITIES = ("datasets", "families", "judge", "models", "stats")
ABOVE = ("workflows", "runner", "report", "cli")
# read by workflows, report and runner only (it lists and opens work dirs; capabilities get its records)
WORK_DIR_READER = ("workdir",)
LEAVES = ("types", "errors", "protocol", "transport", "console", "settings", "atomic", "__version__")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str) -> list[tuple[int, str]]:
    """(line, module) of every import anywhere in ``source`` (top level, in functions, relative ones
    resolved against ``module``, and ``importlib.import_module("...")`` with a literal name)."""
    found = []
    package = module.split(".")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # from ..runner import x, inside vleval.judge.local -> vleval.runner
                base = ".".join(package[: len(package) - node.level] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def upward_imports(source: str, module: str, above: tuple[str, ...] = ABOVE) -> list[str]:
    return [
        f"{module}:{line} imports {name}"
        for line, name in imported_modules(source, module)
        if name.split(".")[0] == "vleval" and len(name.split(".")) > 1 and name.split(".")[1] in above
    ]


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_no_capability_imports_a_layer_above_it(capability: str) -> None:
    violations = []
    for path in sorted((PACKAGE / capability).rglob("*.py")):
        violations += upward_imports(path.read_text(encoding="utf-8"), module_name(path))
    assert violations == [], f"{capability} must not import workflows/runner/report/cli:\n" + "\n".join(
        violations
    )


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_no_capability_reads_work_dirs(capability: str) -> None:
    violations = []
    for path in sorted((PACKAGE / capability).rglob("*.py")):
        violations += upward_imports(path.read_text(encoding="utf-8"), module_name(path), WORK_DIR_READER)
    assert violations == [], (
        f"{capability} must not import vleval.workdir (a workflow reads the work dir and passes the "
        "records):\n" + "\n".join(violations)
    )


def test_the_work_dir_rule_sees_every_way_of_importing_the_reader() -> None:
    source = (
        "from vleval.workdir import read_manifest\n"
        "def f():\n"
        "    from ..workdir import rows_stems\n"
        "    import vleval.workdir\n"
        "from vleval.workflows.compare import compare_runs\n"
    )
    assert upward_imports(source, "vleval.stats.compare", WORK_DIR_READER) == [
        "vleval.stats.compare:1 imports vleval.workdir.read_manifest",
        "vleval.stats.compare:3 imports vleval.workdir.rows_stems",
        "vleval.stats.compare:4 imports vleval.workdir",
    ]


def test_the_scan_sees_imports_inside_functions_relative_and_by_name() -> None:
    # the checks the real tree passes must catch each way of importing upwards
    source = (
        "import json\n"
        "from vleval.types import RowResult\n"
        "def f():\n"
        "    from vleval.runner.targets import checkpoint_digest\n"
        "class C:\n"
        "    def g(self):\n"
        "        from ..report import format\n"
        "        import vleval.workflows.bill\n"
        "        importlib.import_module('vleval.cli')\n"
    )
    assert upward_imports(source, "vleval.judge.local") == [
        "vleval.judge.local:4 imports vleval.runner.targets.checkpoint_digest",
        "vleval.judge.local:7 imports vleval.report.format",
        "vleval.judge.local:8 imports vleval.workflows.bill",
        "vleval.judge.local:9 imports vleval.cli",
    ]


def test_the_scan_covers_every_capability_package() -> None:
    # a renamed package would make the first test pass by scanning nothing
    for capability in CAPABILITIES:
        assert len(list((PACKAGE / capability).rglob("*.py"))) > 1, capability


@pytest.mark.parametrize(
    "leaf",
    [
        *[name for name in LEAVES if name != "__version__"],
    ],
)
def test_leaves_import_only_leaves(leaf: str) -> None:
    source = (PACKAGE / f"{leaf}.py").read_text(encoding="utf-8")
    inward = [
        f"vleval.{leaf}:{line} imports {name}"
        for line, name in imported_modules(source, f"vleval.{leaf}")
        if name.startswith("vleval.") and name.split(".")[1] not in LEAVES
    ]
    assert inward == []
