"""A suite file: models x benchmarks with settings per benchmark, in one TOML file (VLMEvalKit's
``--config`` JSON, lmms-eval's task YAMLs), for ``vleval run --config``, ``vleval slurm --config`` and
the dry run. Examples per use case: docs/suites.md.

```toml
[suite]                      # what every benchmark gets
models = ["InternVL2_5-8B"]  # registry names, Hub repo ids or checkpoint folders (relative: to the file)
work_dir = "outputs"         # any option of `vleval run`, by its name with '_' or '-'
judge = "gpt-4o-mini"

[benchmarks.MMMU_DEV_VAL]    # one table per benchmark, in the order to run them
cot = true                   # CoT for MMMU only
[benchmarks.MMStar]
judge = "none"               # a judge per benchmark
[benchmarks.MathVista_MINI]
max_new_tokens = 1024        # a token budget per benchmark
```

Keys are the options of ``vleval run`` (``OPTIONS``: one schema for the command line, the suite file,
Slurm forwarding and run.json); a key the schema does not know, a value of the wrong type or an unknown
benchmark is refused in one line naming the file and the key. A benchmark table may set only the
settings that can differ between benchmarks of one run (``PER_BENCHMARK``). Benchmarks whose settings
are the same run together, as one ``vleval run``; the others run one after another into the same work
dir (each file is named after its benchmark). An option given on the command line wins over the file.
The tile budget of a benchmark is fixed by the protocol (``max_num`` per benchmark in the reference),
so no ``max_tiles`` key exists.
"""

from __future__ import annotations

import argparse
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vleval.errors import VlevalError
from vleval.runner.config import OPTIONS, Option, run_config_default

MAX_SUITE_BYTES = 1 << 20  # a suite file is a page of settings; this bounds the read
# settings that may differ between the benchmarks of a suite (the others are one per run)
PER_BENCHMARK = ("cot", "judge", "judge_base_url", "max_new_tokens", "limit", "judge_timeout_s")
_SUITE_ONLY = ("models",)
_NOT_IN_FILE = ("dry_run",)  # a command-line matter, not a suite's
_OPTIONS_BY_KEY: dict[str, Option] = {}
for _option in OPTIONS:
    if _option.field not in _NOT_IN_FILE:
        _OPTIONS_BY_KEY[_option.field] = _option
        _OPTIONS_BY_KEY[_option.flag.lstrip("-").replace("-", "_")] = _option


@dataclass
class SuiteGroup:
    """Benchmarks that run together: the same settings."""

    datasets: list[str]
    settings: dict[str, Any] = field(default_factory=dict)  # RunConfig field -> value


@dataclass
class Suite:
    path: Path
    models: list[str]
    settings: dict[str, Any]  # [suite]: RunConfig field -> value
    benchmarks: dict[str, dict[str, Any]]  # name -> its own settings (RunConfig fields)

    def groups(self) -> list[SuiteGroup]:
        """Benchmarks grouped by their settings, in file order of each group's first benchmark."""
        groups: list[SuiteGroup] = []
        for name, own in self.benchmarks.items():
            settings = {**self.settings, **own}
            for group in groups:
                if group.settings == settings:
                    group.datasets.append(name)
                    break
            else:
                groups.append(SuiteGroup([name], settings))
        return groups


def _where(path: Path, table: str, key: str | None = None) -> str:
    return f"{path}: [{table}]" + (f" {key}" if key else "")


def _value(path: Path, table: str, key: str, value: Any, option: Option) -> Any:
    """``value`` converted as the command line converts the option's text, or a one-line error."""
    default = run_config_default(option.field)
    where = _where(path, table, key)
    if option.switch:
        if not isinstance(value, bool):
            raise VlevalError(f"{where} must be true or false, not {value!r}.")
        return value
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise VlevalError(f"{where} must be a single {type(default).__name__ if default is not None else 'value'}, "
                          f"not {value!r}.")  # fmt: skip
    text = str(value)
    if option.choices is not None and text not in option.choices:
        raise VlevalError(f"{where} is {text!r}; use one of {', '.join(option.choices)}.")
    if option.type is None:
        return text
    try:
        return option.type(text)
    except (ValueError, TypeError, argparse.ArgumentTypeError) as exc:
        raise VlevalError(f"{where}: {exc}") from None


def _unknown(path: Path, table: str, key: str, known: list[str]) -> VlevalError:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return VlevalError(f"{_where(path, table, key)}: unknown key.{hint} Known: {', '.join(sorted(known))}.")


def _example_benchmark() -> str:
    """A registered benchmark name to show in messages."""
    from vleval.datasets.registry import BENCHMARKS

    return next(iter(BENCHMARKS))


def _settings(path: Path, table: str, values: dict[str, Any], allowed: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in values.items():
        option = _OPTIONS_BY_KEY.get(key.replace("-", "_"))
        if option is None or option.field not in allowed:
            if option is not None:
                raise VlevalError(
                    f"{_where(path, table, key)}: set it in [suite] (it is one per run); a benchmark may "
                    f"set {', '.join(PER_BENCHMARK)}."
                )
            raise _unknown(path, table, key, [*allowed, *(_SUITE_ONLY if table == "suite" else ())])
        out[option.field] = _value(path, table, key, value, option)
        if option.switch and key.replace("-", "_") != option.field:  # named as the flag: true = given
            default = run_config_default(option.field)
            out[option.field] = (not default) if out[option.field] else default
        if option.type is Path:
            out[option.field] = (path.parent / out[option.field]).resolve()  # relative to the file
    return out


def load_suite(path: Path | str) -> Suite:
    """Read and check a suite file; every error names the file and the key."""
    from vleval.datasets.registry import get_benchmark

    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise VlevalError(f"--config {path}: no such file.") from None
    if size > MAX_SUITE_BYTES:
        raise VlevalError(f"{path}: {size} bytes; a suite file is at most {MAX_SUITE_BYTES // 1024} KiB.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise VlevalError(f"{path}: not a TOML file ({exc}).") from None
    for key in data:
        if key not in ("suite", "benchmarks"):
            raise _unknown(path, key, key, ["suite", "benchmarks"]) from None
    suite = data.get("suite")
    if not isinstance(suite, dict):
        raise VlevalError(f'{path}: no [suite] table (it names the models: models = ["InternVL2_5-8B"]).')
    models = suite.get("models")
    if isinstance(models, str):
        models = [models]
    if not isinstance(models, list) or not models or not all(isinstance(m, str) and m for m in models):
        raise VlevalError(
            f'{_where(path, "suite", "models")} must be a list of model names, e.g. ["InternVL2_5-8B"].'
        )
    all_fields = [o.field for o in OPTIONS if o.field not in _NOT_IN_FILE]
    settings = _settings(path, "suite", {k: v for k, v in suite.items() if k != "models"}, all_fields)
    tables = data.get("benchmarks")
    if not isinstance(tables, dict) or not tables:
        raise VlevalError(
            f"{path}: no [benchmarks.NAME] table; add one per benchmark, e.g. [benchmarks.{_example_benchmark()}]."
        )
    benchmarks: dict[str, dict[str, Any]] = {}
    for name, own in tables.items():
        table = f"benchmarks.{name}"
        try:
            card = get_benchmark(name)
        except VlevalError as exc:
            raise VlevalError(f"{_where(path, table)}: {exc}") from None
        if not isinstance(own, dict):
            raise VlevalError(f"{_where(path, table)} must be a table of settings (or empty).")
        benchmarks[card.name] = _settings(path, table, own, list(PER_BENCHMARK))
    base = path.parent
    resolved = [str((base / m).resolve()) if m.startswith(".") else m for m in models]
    return Suite(path, resolved, settings, benchmarks)


def given_on_command_line(args: argparse.Namespace) -> dict[str, Any]:
    """The options of parsed ``vleval run`` arguments that differ from their defaults: they win over
    the suite file."""
    out = {}
    for option in OPTIONS:
        if hasattr(args, option.field):
            value = getattr(args, option.field)
            if value != run_config_default(option.field):
                out[option.field] = value
    return out
