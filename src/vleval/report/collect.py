"""Read a finished work directory (reference layout) into plain records for the report.

Layout read (``docs/running.md``): ``<work-dir>/<model>/<model>_<data>.xlsx`` predictions, the
reference's result tables beside them, ``<stem>_score.json`` (headline, protocol, judge),
``<stem>_rows.jsonl`` (per-row verdicts), ``<model>_<data>_prompts.jsonl`` (full prompts) and
``<work-dir>/<model>/run.json`` (settings and versions). Files that are missing are skipped and the
report says what it could not show; nothing here imports a model or a scorer.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from vleval.errors import DataMissingError
from vleval.protocol import JUDGE_MODEL_IDS, PROTOCOLS
from vleval.report.headline import FAMILY_BY_BENCHMARK, Headline, family_of, read_headline

OPTION_LETTERS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
FAILURE_MARKERS = ("Failed to obtain answer",)  # reference failure texts (API judge and SKIP_ERR)


@dataclass
class RunSettings:
    cot: bool | None = None
    judge: str | None = None
    protocol: str | None = None
    version: str | None = None  # vleval version that produced the files
    judge_endpoint: str | None = None  # base URL when the run recorded one

    @property
    def judge_is_local(self) -> bool:
        """The judge answered from this machine (e.g. the demo's deterministic stand-in)."""
        return bool(self.judge_endpoint) and any(
            host in str(self.judge_endpoint) for host in ("127.0.0.1", "localhost", "[::1]")
        )

    def describe(self) -> str:
        cot = {True: "CoT on", False: "CoT off", None: "CoT ?"}[self.cot]
        judge = self.judge or "?"
        if self.judge_is_local and not judge.startswith("none"):
            judge += f" (served locally at {self.judge_endpoint})"
        return " · ".join(
            [cot, f"judge {judge}", f"protocol {self.protocol or '?'}", f"vleval {self.version or '?'}"]
        )


@dataclass
class SampleRecord:
    index: str
    category: str = ""
    question: str = ""
    options: dict[str, str] = field(default_factory=dict)
    answer: str = ""
    prediction: str = ""
    extracted: str = ""
    hit: bool | None = None
    verdict: str = ""  # judge log / score as the scorer recorded it
    failed: bool = False
    prompt: str = ""
    tiles: list[int] = field(default_factory=list)
    image: str = ""  # data: URI thumbnail


@dataclass
class BenchmarkRun:
    model: str
    benchmark: str
    work_dir: Path
    pred_file: Path
    settings: RunSettings
    headline: Headline | None
    samples: list[SampleRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> float | None:
        return self.headline.score if self.headline else None

    @property
    def n_failed(self) -> int:
        return sum(s.failed for s in self.samples)


# --------------------------------------------------------------------------------------------------
# small tolerant readers (other areas write these files; accept the spellings they may choose)
# --------------------------------------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    if not path.is_file():
        return records
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:  # a truncated last line from an interrupted run: skip it
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def _first(mapping: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in mapping and mapping[key] is not None:
            return mapping[key]
    return None


def _deep_first(obj: Any, *keys: str, depth: int = 3) -> Any:
    """First value under any of ``keys``, searching nested dicts breadth-first (run.json layouts vary)."""
    level = [obj]
    for _ in range(depth):
        nxt = []
        for item in level:
            if not isinstance(item, dict):
                continue
            found = _first(item, *keys)
            if found is not None:
                return found
            nxt.extend(v for v in item.values() if isinstance(v, dict))
        level = nxt
    return None


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("0", "false", "no", "off"):
        return False
    return None


def _judge_name(value: Any) -> str | None:
    if isinstance(value, dict):
        value = _first(value, "model", "name", "short_name")
    return None if value is None else str(value)


# scorer family -> Protocol attribute naming its default judge (VK run.py::get_judge_kwargs)
_JUDGE_ATTRIBUTE = {
    "mcq": "mcq_judge",
    "mmmu": "mcq_judge",
    "yorn": "mcq_judge",
    "mathvista": "mathvista_judge",
    "mmvet": "open_judge",
    "llavabench": "open_judge",
}


def _default_judge(benchmark: str, protocol: str | None) -> str | None:
    """The judge a run used when it did not record one: rule-based families have none; otherwise the
    protocol's default, marked as such."""
    family = family_of(benchmark)
    if family in ("ocrbench", "crpe"):
        return "none (rule-based)"
    if protocol not in PROTOCOLS or family not in _JUDGE_ATTRIBUTE:
        return None
    short = getattr(PROTOCOLS[protocol], _JUDGE_ATTRIBUTE[family])
    return f"{JUDGE_MODEL_IDS.get(short, short)} (protocol default, not recorded)"


def read_settings(run_json: dict[str, Any], score_json: dict[str, Any], benchmark: str) -> RunSettings:
    """Settings for one benchmark run: its ``_score.json`` first, then the model's ``run.json``."""
    per_dataset = _deep_first(run_json, "datasets", "benchmarks") or {}
    dataset_entry = per_dataset.get(benchmark, {}) if isinstance(per_dataset, dict) else {}
    sources = [score_json, dataset_entry if isinstance(dataset_entry, dict) else {}, run_json]

    def look(*keys: str) -> Any:
        for source in sources:
            found = _deep_first(source, *keys)
            if found is not None:
                return found
        return None

    protocol = look("protocol")
    if isinstance(protocol, dict):
        protocol = protocol.get("name")
    version = look("vleval_version", "vleval")
    if version is None:
        versions = look("versions")
        version = versions.get("vleval") if isinstance(versions, dict) else None
    judge = _judge_name(look("judge_model", "judge"))
    if judge is None and "judge_model" in score_json and family_of(benchmark) not in ("ocrbench", "crpe"):
        judge = "none (exact matching)"  # scoring recorded that it ran without a judge
    if judge is None:
        judge = _default_judge(benchmark, None if protocol is None else str(protocol))
    endpoint = look("judge_base_url", "base_url")
    return RunSettings(
        cot=_bool(look("cot", "use_cot")),
        judge=judge,
        protocol=None if protocol is None else str(protocol),
        version=None if version is None else str(version),
        judge_endpoint=None if endpoint is None else str(endpoint),
    )


# --------------------------------------------------------------------------------------------------
# finding prediction files
# --------------------------------------------------------------------------------------------------
def _known_benchmarks() -> set[str]:
    names = set(FAMILY_BY_BENCHMARK)
    try:
        from vleval.datasets.registry import BENCHMARKS

        names |= set(BENCHMARKS)
    except Exception:  # registry not available: the names above are enough
        pass
    return names


# VLMEvalKit's own run directories inside <work-dir>/<model>/ (running.md section 2)
_REFERENCE_RUN_DIR = re.compile(r"^T\d{8}[-_]")


def find_prediction_files(model_dir: Path) -> dict[str, Path]:
    """benchmark -> ``<model>_<benchmark>.xlsx`` in one model directory. A VLMEvalKit work dir keeps
    them in ``<model>/T<date>.../`` run folders: then the newest run folder holding each benchmark."""
    model = model_dir.name
    known = _known_benchmarks()
    found: dict[str, Path] = {}
    run_dirs = sorted(d for d in model_dir.iterdir() if d.is_dir() and _REFERENCE_RUN_DIR.match(d.name))
    for folder in [*run_dirs, model_dir]:  # later folders win: the model folder, else the newest run
        for path in sorted(folder.glob(f"{model}_*.xlsx")):
            benchmark = path.stem[len(model) + 1 :]
            if benchmark in known:
                found[benchmark] = path
    return found


def model_dirs(work_dir: Path) -> list[Path]:
    if not work_dir.is_dir():
        raise DataMissingError(
            f"work directory {work_dir} does not exist; pass the --work-dir that `vleval run` wrote to."
        )
    dirs = [d for d in sorted(work_dir.iterdir()) if d.is_dir() and find_prediction_files(d)]
    return dirs


# --------------------------------------------------------------------------------------------------
# samples
# --------------------------------------------------------------------------------------------------
def _collapse_image_tokens(prompt: str) -> str:
    """The templated prompt repeats <IMG_CONTEXT> 256 times per tile: show the count instead."""
    return re.sub(
        r"(?:<IMG_CONTEXT>)+",
        lambda m: f"<IMG_CONTEXT>×{len(m.group(0)) // len('<IMG_CONTEXT>')}",
        prompt,
    )


def _rows_by_index(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {_text(r.get("index")): r for r in records if r.get("index") is not None}


def _fallback_verdicts(stem: Path) -> dict[str, dict[str, Any]]:
    """Per-row hit/log from the reference's own judge record files, when no ``_rows.jsonl`` exists."""
    verdicts: dict[str, dict[str, Any]] = {}
    for path in sorted(stem.parent.glob(stem.name + "_*.xlsx")):
        try:
            table = pd.read_excel(path)
        except Exception:  # not a readable table: ignore, it is only a fallback
            continue
        if "index" not in table.columns:
            continue
        if not {"hit", "score", "extracted", "res"} & set(table.columns):
            continue
        for record in table.to_dict("records"):
            entry = verdicts.setdefault(_text(record["index"]), {})
            for key in ("hit", "score", "extracted", "res", "log"):
                if key in record and _text(record[key]) != "":
                    entry.setdefault(key, record[key])
    return verdicts


def _tiles(value: Any) -> list[int]:
    if not isinstance(value, list | tuple):
        return []
    try:
        return [int(t) for t in value]
    except (TypeError, ValueError):
        return []


def _hit_from(row: dict[str, Any]) -> bool | None:
    hit = _first(row, "hit", "correct", "is_correct")
    if hit is None:
        score = _first(row, "score")
        number = None
        try:
            number = float(score)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            pass
        if number is not None and not math.isnan(number) and number in (0.0, 1.0):
            return bool(number)
        return None
    return _bool(hit)


def read_samples(
    pred_file: Path, *, images: dict[str, str] | None = None
) -> tuple[list[SampleRecord], list[str]]:
    """One record per prediction row, joined with verdicts and prompts; also notes on what is missing."""
    notes: list[str] = []
    stem = pred_file.with_suffix("")
    try:
        table = pd.read_excel(pred_file)
    except Exception as exc:  # a corrupt or locked file: say so, keep the rest of the report
        return [], [f"could not read {pred_file.name}: {exc}"]
    table.columns = [c if c in OPTION_LETTERS else str(c).lower() for c in table.columns]
    rows = _rows_by_index(_read_jsonl(stem.with_name(stem.name + "_rows.jsonl")))
    if not rows:
        rows = _fallback_verdicts(stem)
        if not rows:
            notes.append("no per-row verdicts (_rows.jsonl) found: hit/miss unknown")
    prompts = _rows_by_index(_read_jsonl(stem.with_name(stem.name + "_prompts.jsonl")))
    samples = []
    for record in table.to_dict("records"):
        index = _text(record.get("index"))
        verdict = rows.get(index, {})
        prompt = prompts.get(index, {})
        prediction = _text(record.get("prediction"))
        error = _first(verdict, "error") or _first(prompt, "error")
        log = _first(verdict, "log", "judge_log", "judge", "verdict")
        score = _first(verdict, "score", "gpt4_score")
        verdict_text = " · ".join(
            part for part in (f"score {_text(score)}" if score is not None else "", _text(log)) if part
        )
        samples.append(
            SampleRecord(
                index=index,
                category=_text(_first(record, "category", "l2-category", "task")),
                question=_text(record.get("question")),
                options={k: _text(record[k]) for k in OPTION_LETTERS if k in record and _text(record[k])},
                answer=_text(_first(record, "answer", "answer_option")),
                prediction=prediction,
                extracted=_text(_first(verdict, "extracted", "extracted_answer", "pred", "res", "opt")),
                hit=_hit_from(verdict),
                verdict=verdict_text,
                failed=bool(error) or any(marker in prediction for marker in FAILURE_MARKERS),
                prompt=_collapse_image_tokens(_text(_first(prompt, "prompt", "text", "query"))),
                tiles=_tiles(_first(prompt, "tiles", "tiles_per_image")),
                image=(images or {}).get(index, ""),
            )
        )
    if not prompts:
        notes.append("prompts not saved (run with --save-prompts to see them here)")
    return samples, notes


# --------------------------------------------------------------------------------------------------
# whole work directory
# --------------------------------------------------------------------------------------------------
def collect_runs(work_dir: Path, *, thumbnails: Any = None) -> list[BenchmarkRun]:
    """Every model x benchmark run under ``work_dir``.

    ``thumbnails`` is a callable (benchmark, run_json) -> {index: data URI} (see ``images.py``);
    None means no images.
    """
    runs = []
    for model_dir in model_dirs(work_dir):
        run_json = _read_json(model_dir / "run.json")
        for benchmark, pred_file in find_prediction_files(model_dir).items():
            stem = pred_file.with_suffix("")
            # vleval's summary is _score.json, or _vleval.json where the reference owns _score.json
            score_json = _read_json(stem.with_name(stem.name + "_score.json"))
            score_json.update(_read_json(stem.with_name(stem.name + "_vleval.json")))
            settings = read_settings(run_json, score_json, benchmark)
            headline = read_headline(benchmark, stem, settings.judge)
            notes = []
            if headline is None:
                headline = _headline_from_score_json(score_json)
                if headline is None:
                    notes.append("not scored yet (no result files found)")
            images = thumbnails(benchmark, run_json) if thumbnails else None
            samples, sample_notes = read_samples(pred_file, images=images)
            notes.extend(sample_notes)
            datasets = run_json.get("datasets")
            recorded = datasets.get(benchmark) if isinstance(datasets, dict) else None
            if isinstance(recorded, dict) and recorded.get("error"):
                notes.append(f"scoring failed: {recorded['error']}")
            if score_json.get("notes"):
                notes.extend(str(n) for n in score_json["notes"])
            runs.append(
                BenchmarkRun(
                    model=model_dir.name,
                    benchmark=benchmark,
                    work_dir=work_dir,
                    pred_file=pred_file,
                    settings=settings,
                    headline=headline,
                    samples=samples,
                    notes=notes,
                )
            )
    return runs


def _headline_from_score_json(score_json: dict[str, Any]) -> Headline | None:
    value = _first(score_json, "headline_percent", "headline")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    name = _text(_first(score_json, "headline_name")) or "headline"
    scale = _text(_first(score_json, "headline_scale", "scale"))
    percent = number * 100 if scale == "fraction" or (not scale and number <= 1.0) else number
    return Headline(score=percent, label=f"{name} from _score.json (0-100)", native=f"{name} {number}")
