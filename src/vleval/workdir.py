"""The one lister and reader of work directories, and the one reader and writer of ``run.json``.

A work dir (``docs/running.md``) holds one folder per model: ``<work-dir>/<model>/`` with the
predictions ``<model>_<benchmark>.xlsx`` (a VLMEvalKit work dir keeps them in ``T<date>...`` run folders
inside it), the result contract beside each (``<stem>_score.json`` or ``_vleval.json``,
``<stem>_rows.jsonl``: read through ``vleval.datasets.results``) and ``run.json`` (a ``RunManifest``).
Every consumer (report, results.json, compare, judge-audit and judge-calibrate, diff-protocols, the
settings reader) finds runs, benchmarks and records here; no other module opens ``run.json`` or walks a
work dir (``tests/test_workdir.py`` scans the sources so it stays so).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vleval.atomic import atomic_write
from vleval.datasets.predictions import PREDICTION_SUFFIXES
from vleval.datasets.registry import BENCHMARKS, benchmark_of_file
from vleval.datasets.results import ROWS_SUFFIX, plain, read_score, rows_path, score_record_path
from vleval.errors import DataCorruptError, DataMissingError, VlevalError
from vleval.types import (
    MANIFEST_SCHEMA,
    BenchmarkCard,
    ManifestBenchmark,
    ManifestModel,
    ManifestProtocol,
    ManifestScoring,
    RunManifest,
    ScoreRecord,
)

MANIFEST_FILE = "run.json"
# what `vleval diff-protocols --work-dir` leaves in a work dir (``protocol_diff.diff_file_name``)
PROTOCOL_DIFF_GLOB = "protocol_diff_*_vs_*.json"
# VLMEvalKit's own run directories inside <work-dir>/<model>/ (running.md section 2)
_REFERENCE_RUN_DIR = re.compile(r"^T\d{8}[-_]")


# --------------------------------------------------------------------------------------------------
# run.json
# --------------------------------------------------------------------------------------------------
def manifest_path(model_dir: Path) -> Path:
    return Path(model_dir) / MANIFEST_FILE


# fields added within schema 1, written only when set: a record without them keeps its layout
_ADDED_RUN_FIELDS = ("written_by",)
_ADDED_BENCHMARK_FIELDS = ("predictions_by", "scored_by", "prediction_md5", "prediction_bytes", "scoring")


def write_manifest(model_dir: Path, manifest: RunManifest) -> Path:
    """``<model_dir>/run.json`` (atomically: a kill never leaves half of it)."""
    path = manifest_path(model_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = _without_unset(plain(manifest), _ADDED_RUN_FIELDS)
    data["datasets"] = {
        name: _without_unset(entry, _ADDED_BENCHMARK_FIELDS) for name, entry in data["datasets"].items()
    }
    if isinstance(data.get("model"), dict):  # greedy: no sampling section, as schema 1 was first written
        data["model"] = _without_unset(data["model"], ("sampling",))
    return atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _without_unset(data: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if not (k in keys and v is None)}


def read_manifest(model_dir: Path) -> RunManifest | None:
    """The run record of one model folder; None where there is none (a VLMEvalKit run ``vleval eval``
    has not scored, a folder scored before ``eval`` wrote one). A file that is not JSON, or of a later
    schema, raises ``DataCorruptError`` naming it."""
    path = manifest_path(model_dir)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataCorruptError(f"{path}: not valid JSON ({exc}); rerun the run to rewrite it.") from None
    return manifest_from_json(data, str(path))


def manifest_from_json(data: Any, where: str = MANIFEST_FILE) -> RunManifest:
    """A ``RunManifest`` from run.json's content. A run.json without ``schema`` (written before the
    record was versioned) has the same layout; a section of the wrong type is read as absent, as the
    readers of that layout did; keys of a later minor addition are ignored; a later schema is refused."""
    if not isinstance(data, Mapping):
        raise DataCorruptError(f"{where}: not a run record (a JSON object); rerun the run to rewrite it.")
    schema = data.get("schema", MANIFEST_SCHEMA)
    if not isinstance(schema, int) or schema > MANIFEST_SCHEMA:
        raise DataCorruptError(
            f"{where}: run record schema {schema!r}, this vleval reads schema {MANIFEST_SCHEMA}; "
            "upgrade vleval to read it."
        )
    protocol = data.get("protocol")
    if isinstance(protocol, str):  # an early layout named the protocol only
        protocol = {"name": protocol}
    datasets = _mapping(data.get("datasets"))
    command = data.get("command")
    return RunManifest(
        command=[str(c) for c in command] if isinstance(command, list) else [],
        cwd=_text(data.get("cwd")),
        versions={str(k): str(v) for k, v in _mapping(data.get("versions")).items()},
        protocol=_typed(ManifestProtocol, protocol),
        model=_typed(ManifestModel, data.get("model")),
        datasets={
            str(name): entry
            for name, raw in datasets.items()
            if (entry := _typed(ManifestBenchmark, raw)) is not None
        },
        settings=_mapping(data.get("settings")),
        stand_in_judge=bool(data.get("stand_in_judge")),
        backend=data.get("backend") if isinstance(data.get("backend"), dict) else None,
        world_size=data.get("world_size") if isinstance(data.get("world_size"), int) else None,
        started=_text(data.get("started")),
        finished=_text(data.get("finished")),
        seconds=data.get("seconds") if isinstance(data.get("seconds"), int | float) else None,
        written_by=_choice(data.get("written_by"), ("run", "eval")),
    )


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _choice(value: Any, allowed: tuple[str, ...]) -> Any:
    return value if value in allowed else None


_LIST_FIELDS = {"result_files", "notes", "command"}
_DICT_OR_NONE = ("settings", "judge", "seconds", "estimate", "checkpoint")
_DICT = ("judge_options", "options", "versions")


def _typed(kind: type, value: Any) -> Any:
    """``kind`` from a JSON object's known keys (lists where lists belong); None for a non-object."""
    if not isinstance(value, Mapping):
        return None
    known = {f.name for f in dataclasses.fields(kind)}
    values = {k: v for k, v in value.items() if k in known}
    for name in _LIST_FIELDS & values.keys():
        values[name] = [str(v) for v in values[name]] if isinstance(values[name], list) else []
    for name in _DICT_OR_NONE:
        if name in values and not isinstance(values[name], dict):
            values[name] = None
    for name in _DICT:
        if name in values:
            values[name] = _mapping(values[name])
    if "versions" in values:
        values["versions"] = {str(k): str(v) for k, v in values["versions"].items()}
    for name, allowed in (("predictions_by", ("run", "elsewhere")), ("scored_by", ("run", "eval"))):
        if name in values:
            values[name] = _choice(values[name], allowed)
    if "prediction_bytes" in values and not isinstance(values["prediction_bytes"], int):
        values["prediction_bytes"] = None
    if "scoring" in values:
        values["scoring"] = _typed(ManifestScoring, values["scoring"])
    return kind(**values)


# --------------------------------------------------------------------------------------------------
# model folders and their prediction files
# --------------------------------------------------------------------------------------------------
def prediction_files(model_dir: Path) -> dict[str, Path]:
    """benchmark -> ``<model>_<benchmark>.xlsx`` in one model directory. A VLMEvalKit work dir keeps
    them in ``<model>/T<date>.../`` run folders: then the newest run folder holding each benchmark."""
    model_dir = Path(model_dir)
    model = model_dir.name
    found: dict[str, Path] = {}
    run_dirs = sorted(d for d in model_dir.iterdir() if d.is_dir() and _REFERENCE_RUN_DIR.match(d.name))
    for folder in [*run_dirs, model_dir]:  # later folders win: the model folder, else the newest run
        for path in sorted(folder.glob(f"{model}_*.xlsx")):
            benchmark = path.stem[len(model) + 1 :]
            if benchmark in BENCHMARKS:
                found[benchmark] = path
    return found


def model_dirs(work_dir: Path, flag: str = "--work-dir") -> list[Path]:
    """The model folders of ``work_dir`` that hold predictions, in name order. A missing folder, or a
    model folder given in its place, is refused in one line."""
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        raise DataMissingError(
            f"work directory {work_dir} does not exist; pass the {flag} that `vleval run` wrote to."
        )
    dirs = [d for d in sorted(work_dir.iterdir()) if d.is_dir() and prediction_files(d)]
    if not dirs:
        refuse_model_folder(work_dir, flag)
    return dirs


def model_folder_of(folder: Path, model: str) -> Path | None:
    """The model folder (``<work-dir>/<model>/``) that ``folder`` is, or holds predictions for as one of
    its VLMEvalKit ``T<date>`` run folders; None for a folder named otherwise (a loose folder of
    prediction files, which may hold several models': no run record belongs there)."""
    folder = Path(folder).resolve()
    if folder.name == model:
        return folder
    if _REFERENCE_RUN_DIR.match(folder.name) and folder.parent.name == model:
        return folder.parent
    return None


def recorded_runs(work_dir: Path) -> list[tuple[Path, RunManifest]]:
    """The model folders of ``work_dir`` that ``vleval run`` recorded (a ``run.json``), in name order,
    each with its run record."""
    found = []
    for model_dir in sorted(p for p in Path(work_dir).iterdir() if p.is_dir()):
        run = read_manifest(model_dir)
        if run is not None:
            found.append((model_dir, run))
    return found


def refuse_model_folder(work_dir: Path, flag: str = "--work-dir") -> None:
    """A model folder given where a work dir (the folder of model folders) is expected: say so and
    name its parent, instead of finding nothing in it (or nesting a new model folder inside)."""
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        return
    if manifest_path(work_dir).is_file() or prediction_files(work_dir):
        parent = work_dir.resolve().parent
        raise VlevalError(
            f"{flag} {work_dir} is the folder of one model (it holds that model's {MANIFEST_FILE} or "
            f"{work_dir.name}_<DATASET>.xlsx), not a work dir: pass its parent, {flag} {parent}"
        )


def prediction_files_under(work_dir: Path) -> list[tuple[BenchmarkCard, Path]]:
    """``<MODEL>_<DATASET>.xlsx|.tsv`` prediction files anywhere under ``work_dir`` (the run layout
    ``<work-dir>/<MODEL>/``, or a folder of prediction files), each with its benchmark; result files
    do not match."""
    found = []
    for path in sorted(Path(work_dir).rglob("*")):
        if path.suffix.lower() not in PREDICTION_SUFFIXES or path.name.startswith("."):
            continue
        card = benchmark_of_file(path)
        if card is not None:
            found.append((card, path))
    return found


def protocol_diff_files(work_dir: Path) -> list[Path]:
    """The protocol diffs ``vleval diff-protocols --work-dir`` left in ``work_dir``, oldest first."""
    return sorted(Path(work_dir).glob(PROTOCOL_DIFF_GLOB), key=lambda p: p.stat().st_mtime)


def prediction_file_of(stem: Path) -> Path | None:
    """The prediction file ``<stem>.xlsx`` (or ``.tsv``) of a scored stem, when it is there."""
    for suffix in PREDICTION_SUFFIXES:
        path = stem.with_name(stem.name + suffix)
        if path.is_file():
            return path
    return None


# --------------------------------------------------------------------------------------------------
# scored benchmarks (vleval's result contract)
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoredFiles:
    """One benchmark vleval scored in one model folder: its prediction file and result contract."""

    model: str
    card: BenchmarkCard
    pred_file: Path
    score_file: Path
    rows_file: Path | None  # None: scored before per-row results existed

    def record(self) -> ScoreRecord:
        return read_score(self.score_file)


def scored_files(model_dir: Path) -> list[ScoredFiles]:
    """The benchmarks of one model folder that vleval scored, in benchmark-name order (predictions not
    scored yet, or scored by VLMEvalKit only, are left out)."""
    out = []
    for benchmark, pred_file in sorted(prediction_files(model_dir).items()):
        stem = pred_file.with_suffix("")
        score_file = score_record_path(stem)
        if score_file is None:
            continue
        rows = rows_path(stem)
        out.append(
            ScoredFiles(Path(model_dir).name, BENCHMARKS[benchmark], pred_file, score_file,
                        rows if rows.is_file() else None)
        )  # fmt: skip
    return out


def holds_rows(path: Path) -> bool:
    """Whether ``path`` holds per-row results (``*_rows.jsonl``) itself: a model folder, or a folder
    ``vleval eval`` scored into."""
    return any(Path(path).glob(f"*{ROWS_SUFFIX}"))


def folders_with_rows(path: Path) -> list[Path]:
    """``[path]`` when it holds per-row results itself, else its sub-folders that do (a work dir)."""
    path = Path(path)
    if not path.is_dir():
        raise DataMissingError(f"{path}: no such directory (give a work directory or a model folder in one).")
    if holds_rows(path):
        return [path]
    return sorted(p for p in path.iterdir() if p.is_dir() and holds_rows(p))


def rows_stems(folder: Path) -> list[Path]:
    """The stems (``<folder>/<model>_<benchmark>``) of every ``_rows.jsonl`` in ``folder``, in name order."""
    return [p.with_name(p.name[: -len(ROWS_SUFFIX)]) for p in sorted(Path(folder).glob(f"*{ROWS_SUFFIX}"))]


# --------------------------------------------------------------------------------------------------
# the other sampling seeds of a several-seed run (``vleval run --seeds N``, ``vleval.runner.seeds``)
# --------------------------------------------------------------------------------------------------
SEEDS_FOLDER = "seeds"


def seed_folder(model_dir: Path, seed: int) -> Path:
    """Where sampling seed ``seed`` (1 or more) of a several-seed run keeps its files:
    ``<model>/seeds/seed<k>/``, under the same names as seed 0's (the model folder's own)."""
    return Path(model_dir) / SEEDS_FOLDER / f"seed{seed}"


def seed_rows_files(stem: Path, seeds: Sequence[int]) -> list[Path]:
    """The per-row results of a scored stem's other sampling seeds: one file per seed of ``seeds``
    after the first (the seeds its score record lists; the first is the stem's own rows), in that
    order; none for a one-seed run. A listed seed whose rows file is absent (the ``seeds/`` folder
    was not copied with the results) is refused in one line: its score's mean cannot be paired."""
    stem = Path(stem)
    files = [rows_path(seed_folder(stem.parent, seed) / stem.name) for seed in list(seeds)[1:]]
    missing = [path for path in files if not path.is_file()]
    if missing:
        raise DataMissingError(
            f"{stem.name}: its score is the mean of sampling seeds {', '.join(map(str, seeds))}, but "
            f"{missing[0]} is missing; copy the run's {SEEDS_FOLDER}/ folder with its results."
        )
    return files
